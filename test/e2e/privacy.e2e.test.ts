/**
 * A failed tool's own error text stays on the machine unless the user opts in. The real opencode CLI runs tool
 * calls that fail with errors quoting a planted marker (a missing file's path, arguments that break the tool's
 * schema, an MCP server's messages) plus an edit whose oldString is the marker; by default the marker is nowhere
 * in what the OTLP receiver decodes, and the failures are still described. With OPENCODE_LOG_TOOL_DETAILS=1 the
 * tool_result events carry the error texts, bounded. The model's reply quotes the marker too: assistant_response
 * carries its length, never its text, unless OPENCODE_LOG_ASSISTANT_RESPONSES=1 (test/e2e/events.e2e.test.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test"
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import { startFakeLlm } from "../support/fake-llm.ts"
import { createOpencodeHome, REPO_ROOT, removeOpencodeHome, runOpencode, type OpencodeHome } from "../support/opencode.ts"
import { startReceiver, type Receiver } from "../support/otlp-receiver.ts"
import { bigintReplacer } from "../lib/received.ts"

const PLUGIN_SOURCE = join(REPO_ROOT, "src", "plugin.ts")
const MARKER = "PRIVACY-MARKER-5d1c"

/**
 * A stdio MCP server (newline-delimited JSON-RPC) with two tools that fail quoting their argument: `iserror`
 * returns an isError result, `throws` a JSON-RPC error.
 */
const MCP_SERVER = `
import { createInterface } from "node:readline"
const send = (message) => process.stdout.write(JSON.stringify(message) + "\\n")
const schema = { type: "object", properties: { q: { type: "string" } } }
createInterface({ input: process.stdin }).on("line", (line) => {
  let message
  try { message = JSON.parse(line) } catch { return }
  if (message.id === undefined) return
  const reply = (result) => send({ jsonrpc: "2.0", id: message.id, result })
  if (message.method === "initialize")
    return reply({ protocolVersion: message.params?.protocolVersion ?? "2024-11-05", capabilities: { tools: {} }, serverInfo: { name: "privacy", version: "1" } })
  if (message.method === "tools/list")
    return reply({ tools: [{ name: "iserror", description: "fails", inputSchema: schema }, { name: "throws", description: "fails", inputSchema: schema }] })
  if (message.method === "tools/call" && message.params.name === "throws")
    return send({ jsonrpc: "2.0", id: message.id, error: { code: -32603, message: "server could not open " + message.params.arguments?.q } })
  if (message.method === "tools/call")
    return reply({ isError: true, content: [{ type: "text", text: "server could not read " + message.params.arguments?.q }] })
  reply({})
})
`

/** The failing calls, in order, and the description each gets by default. */
const CALLS = [
  { call: { name: "edit", arguments: { filePath: "README.md", oldString: `${MARKER}-old`, newString: "new" } }, described: "Could not find oldString in the file." },
  { call: { name: "read", arguments: { filePath: `missing-${MARKER}.txt` } }, described: "File not found." },
  { call: { name: "read", arguments: { filePath: "README.md", offset: `${MARKER}-offset` } }, described: "The tool was called with invalid arguments." },
  { call: { name: "privacy_iserror", arguments: { q: `${MARKER}-iserror` } }, described: "tool error" },
  { call: { name: "privacy_throws", arguments: { q: `${MARKER}-throws` } }, described: "MCP error -32603" },
] as const

let home: OpencodeHome
let mcpServer: string

beforeAll(async () => {
  home = await createOpencodeHome()
  mcpServer = join(home.root, "mcp-server.mjs")
  await writeFile(mcpServer, MCP_SERVER)
})

afterAll(async () => {
  if (home) await removeOpencodeHome(home)
})

/** One opencode run of the failing calls with the plugin exporting to a fresh receiver; returns what arrived. */
const runFailingCalls = async (settings: Record<string, string>) => {
  const receiver: Receiver = await startReceiver({ protocol: "http/protobuf" })
  const llm = await startFakeLlm({ script: [...CALLS.map(({ call }) => ({ toolCall: call })), { text: `All failed: ${MARKER}-reply.` }] })
  try {
    const result = await runOpencode({
      prompt: "Try the tools.",
      llmUrl: llm.url,
      home,
      plugins: [PLUGIN_SOURCE],
      // The MCP server runs under the Bun that runs this test.
      config: { mcp: { privacy: { type: "local", command: [process.execPath, mcpServer] } } },
      env: { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_ENDPOINT: receiver.url, OPENCODE_OTLP_PROTOCOL: "http/protobuf", ...settings },
    })
    expect(result.exitCode).toBe(0)
    const results = receiver.logs().filter((l) => l.attributes["event.name"] === "tool_result")
    return {
      requests: [...receiver.requests],
      results: results.map((l) => ({ tool: l.attributes["tool_name"], success: l.attributes["success"], error: l.attributes["error"] })),
      replies: receiver.logs().filter((l) => l.attributes["event.name"] === "assistant_response").map((l) => [l.attributes["response_length"], l.attributes["response"]]),
      toolSpans: receiver.spans().filter((s) => s.name.startsWith("execute_tool ")),
      llmRequests: llm.requests.filter((r) => r.kind === "script").length,
    }
  } finally {
    await llm.stop()
    await receiver.stop()
  }
}

test(
  "by default: every failure is described, and the marker is in nothing exported",
  async () => {
    const received = await runFailingCalls({})
    // Every scripted call was made and answered (the model got each tool's error back).
    expect(received.llmRequests).toBe(CALLS.length + 1)
    expect(received.results).toEqual(CALLS.map(({ call, described }) => ({ tool: call.name, success: false, error: described })))
    expect(received.toolSpans.map((s) => [s.name, s.status.code, s.status.message])).toEqual(
      CALLS.map(({ call, described }) => [`execute_tool ${call.name}`, "ERROR", described]),
    )
    // The reply's length only.
    expect(received.replies).toEqual([[`All failed: ${MARKER}-reply.`.length, undefined]])
    expect(received.requests.length).toBeGreaterThan(0)
    expect(received.requests.every((r) => r.accepted)).toBe(true)
    expect(JSON.stringify(received.requests.map((r) => r.body), bigintReplacer)).not.toContain(MARKER)
  },
  120_000,
)

test(
  "with OPENCODE_LOG_TOOL_DETAILS=1: tool_result carries the error texts (bounded), spans still only the description",
  async () => {
    const received = await runFailingCalls({ OPENCODE_LOG_TOOL_DETAILS: "1" })
    expect(received.results.map((r) => [r.tool, r.success])).toEqual(CALLS.map(({ call }) => [call.name, false]))
    const errors = received.results.map((r) => String(r.error))
    // opencode's fixed sentence for a missing oldString quotes nothing; the others quote what they were given.
    expect(errors[0]).toStartWith("Could not find oldString in the file.")
    expect(errors[1]).toContain(`missing-${MARKER}.txt`)
    expect(errors[2]).toContain(`${MARKER}-offset`)
    expect(errors[3]).toContain(`server could not read ${MARKER}-iserror`)
    expect(errors[4]).toContain(`server could not open ${MARKER}-throws`)
    for (const error of errors) expect(error.length).toBeLessThanOrEqual(1_000 + "…[truncated]".length)
    expect(received.toolSpans.map((s) => s.status.message)).toEqual(CALLS.map(({ described }) => described))
    // Tool details are not the reply: its text still stays home.
    expect(received.replies.map(([, text]) => text)).toEqual([undefined])
  },
  120_000,
)
