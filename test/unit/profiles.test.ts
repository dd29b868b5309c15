/**
 * What each profile puts on the wire, so that dashboards made for Claude Code (claude-code profile) and for the
 * seed plugin (default profile) work unchanged: service name, temporality, event bodies, tool names, the type of
 * `success`, and the resource both profiles share (service.version = opencode's, one service.instance.id each).
 */
import { describe, expect, test } from "bun:test"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { endAllSessions, handleChatMessage, handleEvent } from "../../src/handlers/index.ts"
import { toolParameters } from "../../src/handlers/content.ts"
import { learnHost } from "../../src/host/opencodeHost.ts"
import { opencodeVersion } from "../../src/host/opencodeVersion.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { claudeCodeToolName } from "../../src/naming/toolNames.ts"
import * as Config from "../../src/services/Config.ts"
import { makeResource, MemoryExporter } from "../../src/services/Exporter.ts"
import { effectTest } from "../lib/effect.ts"

const on = { OPENCODE_ENABLE_TELEMETRY: "1" }
const decode = (raw: Config.RawSettings, host?: Config.Host) => Config.decodeSettings({ ...on, ...raw }, undefined, {}, host).config

describe("profile settings", () => {
  test("default profile: service opencode, cumulative, opencode. names, bare event bodies", () => {
    const c = decode({})
    expect([c.profile, c.serviceName, c.metrics.temporality, c.metrics.prefix, c.eventPrefix]).toEqual([
      "opencode",
      "opencode",
      "cumulative",
      "opencode.",
      "",
    ])
  })
  test("claude-code profile: Claude Code's service name, delta temporality, prefix and bodies", () => {
    const c = decode({ OPENCODE_PROFILE: "claude-code" })
    expect([c.profile, c.serviceName, c.metrics.temporality, c.metrics.prefix, c.eventPrefix]).toEqual([
      "claude-code",
      "claude-code",
      "delta",
      "claude_code.",
      "claude_code.",
    ])
  })
  test("what the user sets wins over the profile's defaults", () => {
    const c = decode({ OPENCODE_PROFILE: "claude-code", OPENCODE_SERVICE_NAME: "my-agents", OPENCODE_OTLP_METRICS_TEMPORALITY: "cumulative" })
    expect([c.serviceName, c.metrics.temporality]).toEqual(["my-agents", "cumulative"])
  })
  test("the prefix claude_code. alone switches the claude-code profile on, unless OPENCODE_PROFILE says otherwise", () => {
    const alone = decode({ OPENCODE_METRIC_PREFIX: "claude_code." })
    expect([alone.profile, alone.serviceName, alone.metrics.temporality, alone.eventPrefix]).toEqual(["claude-code", "claude-code", "delta", "claude_code."])
    const pinned = decode({ OPENCODE_METRIC_PREFIX: "claude_code.", OPENCODE_PROFILE: "opencode" })
    expect([pinned.profile, pinned.serviceName, pinned.metrics.prefix, pinned.eventPrefix]).toEqual(["opencode", "opencode", "claude_code.", ""])
    expect(decode({ OPENCODE_METRIC_PREFIX: "acme." }).profile).toBe("opencode")
  })
})

describe("the resource, in both profiles", () => {
  for (const profile of Config.PROFILES)
    test(`${profile}: service.version is opencode's, service.instance.id one per instance`, () => {
      const a = makeResource(decode({ OPENCODE_PROFILE: profile }, { opencodeVersion: "1.18.33" })).attributes
      const b = makeResource(decode({ OPENCODE_PROFILE: profile }, { opencodeVersion: "1.18.33" })).attributes
      expect(a["service.version"]).toBe("1.18.33")
      expect(typeof a["service.instance.id"]).toBe("string")
      expect(a["service.instance.id"]).not.toBe(b["service.instance.id"])
      expect(a["opencode.plugin.name"]).toBe("opencode-plugin-opentelemetry")
    })
  test("an instance id given by the entry is kept; an unknown opencode version is left out, not guessed", () => {
    const r = makeResource(decode({}, { instanceId: "abc" })).attributes
    expect(r["service.instance.id"]).toBe("abc")
    expect("service.version" in r).toBe(false)
  })
  test("OTEL_RESOURCE_ATTRIBUTES overrides service.version", () => {
    const r = makeResource(decode({ OPENCODE_RESOURCE_ATTRIBUTES: "service.version=9.9.9" }, { opencodeVersion: "1.18.33" })).attributes
    expect(r["service.version"]).toBe("9.9.9")
  })
  test("opencode's version: the @opencode-ai/plugin package opencode installs into its config directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "otel-version-"))
    try {
      expect(opencodeVersion({ XDG_CONFIG_HOME: dir })).toBeUndefined()
      const pkg = join(dir, "opencode", "node_modules", "@opencode-ai", "plugin")
      mkdirSync(pkg, { recursive: true })
      writeFileSync(join(pkg, "package.json"), "{not json")
      expect(opencodeVersion({ XDG_CONFIG_HOME: dir })).toBeUndefined()
      writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "@opencode-ai/plugin", version: "1.18.33" }))
      expect(opencodeVersion({ XDG_CONFIG_HOME: dir })).toBe("1.18.33")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("Claude Code's tool names", () => {
  test("built-in tools, MCP tools and others", () => {
    const names: Array<[string, string]> = [
      ["bash", "Bash"],
      ["edit", "Edit"],
      ["write", "Write"],
      ["read", "Read"],
      ["glob", "Glob"],
      ["grep", "Grep"],
      ["task", "Task"],
      ["webfetch", "WebFetch"],
      ["todowrite", "TodoWrite"],
      ["list", "LS"],
      ["apply_patch", "Edit"],
      ["plan_exit", "ExitPlanMode"],
      ["github_create_issue", "mcp__github__create_issue"],
      ["myplugintool", "Myplugintool"],
    ]
    for (const [opencode, claude] of names) expect([opencode, claudeCodeToolName(opencode)]).toEqual([opencode, claude])
  })
  test("a built-in tool with an underscore is not taken for an MCP tool", () => {
    expect(toolParameters("apply_patch", {})).toEqual({})
    expect(toolParameters("github_create_issue", {})).toEqual({ mcp_server_name: "github", mcp_tool_name: "create_issue" })
  })
})

const created = (id: string) => ({
  type: "session.created",
  properties: { sessionID: id, info: { id, projectID: "p", directory: "/tmp/x", title: "t", time: { created: 1_700_000_000_000, updated: 1_700_000_000_000 } } },
})
const bashPart = (sessionID: string, state: Record<string, unknown>) => ({
  type: "message.part.updated",
  properties: { part: { id: "prt_b", sessionID, messageID: "msg_b", type: "tool", callID: "call_b", tool: "bash", state } },
})

/** One prompt and one bash call; what the events, the tool span and the tool.duration point say. */
const oneTurn = Effect.gen(function* () {
  yield* handleEvent(created("ses_p"))
  yield* handleChatMessage(
    { sessionID: "ses_p" },
    { message: { id: "msg_u", agent: "build", model: { providerID: "fake", modelID: "m" } }, parts: [{ type: "text", text: "hi" }] },
  )
  const input = { command: "ls", description: "list" }
  yield* handleEvent(bashPart("ses_p", { status: "running", input, time: { start: 1 } }))
  yield* handleEvent(bashPart("ses_p", { status: "completed", input, output: "a\n", metadata: { exit: 0 }, time: { start: 1, end: 3 } }))
  yield* handleEvent({ type: "session.idle", properties: { sessionID: "ses_p" } })
  yield* endAllSessions()
  const memory = yield* MemoryExporter
  const logs = yield* memory.logs
  const spans = yield* memory.spans
  const metrics = (yield* memory.metrics).flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics))
  const duration = metrics.find((m) => m.descriptor.name.endsWith("tool.duration"))!.dataPoints[0]!
  const event = (name: string) => logs.find((l) => l.attributes["event.name"] === name)!
  const tool = spans.find((s) => s.name.startsWith("execute_tool"))!
  return {
    bodies: logs.map((l) => l.body),
    prompt: event("user_prompt").attributes,
    idle: event("session.idle").attributes,
    result: event("tool_result").attributes,
    tool: { name: tool.name, toolName: tool.attributes["gen_ai.tool.name"] },
    point: duration.attributes,
  }
})

describe("on the wire", () => {
  effectTest(Telemetry.layerTest())("default profile: bare bodies, opencode's tool names, a boolean success", () =>
    Effect.gen(function* () {
      const seen = yield* oneTurn
      expect(seen.bodies).toEqual(["session.created", "user_prompt", "tool_result", "session.idle"])
      expect([seen.result["tool_name"], seen.result["success"]]).toEqual(["bash", true])
      expect([seen.point["tool_name"], seen.point["success"]]).toEqual(["bash", true])
      expect(seen.tool).toEqual({ name: "execute_tool bash", toolName: "bash" })
    }),
  )
  effectTest(Telemetry.layerTest({ OPENCODE_PROFILE: "claude-code" }))(
    "claude-code profile: claude_code. bodies, Claude Code's tool names, success as a string",
    () =>
      Effect.gen(function* () {
        const seen = yield* oneTurn
        expect(seen.bodies).toEqual(["claude_code.session.created", "claude_code.user_prompt", "claude_code.tool_result", "claude_code.session.idle"])
        expect([seen.result["tool_name"], seen.result["success"]]).toEqual(["Bash", "true"])
        expect([seen.point["tool_name"], seen.point["success"]]).toEqual(["Bash", "true"])
        expect(seen.tool).toEqual({ name: "execute_tool Bash", toolName: "Bash" })
      }),
  )
  for (const profile of Config.PROFILES)
    effectTest(Telemetry.layerTest({ OPENCODE_PROFILE: profile }))(
      `${profile}: user_prompt carries model and provider; session.idle's totals do not reuse api_request's names`,
      () =>
        Effect.gen(function* () {
          const seen = yield* oneTurn
          const model = profile === "claude-code" ? "m" : "fake/m"
          expect([seen.prompt["model"], seen.prompt["provider"], seen.prompt["agent"]]).toEqual([model, "fake", "build"])
          for (const perCall of ["input_tokens", "output_tokens", "cost_usd", "duration_ms", "cache_read_tokens", "message_count"])
            expect([perCall, perCall in seen.idle]).toEqual([perCall, false])
          for (const total of ["total_input_tokens", "total_tokens", "total_cost_usd", "total_messages", "session_duration_ms"])
            expect([total, total in seen.idle]).toEqual([total, true])
        }),
    )
})

describe("permissions in the claude-code profile", () => {
  const asked = (id: string, permission: string, extra: Record<string, unknown> = {}) => ({
    type: "permission.asked",
    properties: { id, sessionID: "ses_q", permission, patterns: [], always: [], metadata: {}, ...extra },
  })
  const replied = (id: string, reply: string) => ({ type: "permission.replied", properties: { sessionID: "ses_q", requestID: id, reply } })
  effectTest(Telemetry.layerTest({ OPENCODE_PROFILE: "claude-code" }))(
    "decisions name the tool as Claude Code does; a permission that is no tool keeps opencode's name",
    () =>
      Effect.gen(function* () {
        yield* handleEvent(created("ses_q"))
        // The write's tool part is seen first: its decision names Write, not the edit permission's class.
        yield* handleEvent({
          type: "message.part.updated",
          properties: {
            part: { id: "prt_w", sessionID: "ses_q", messageID: "msg_w", type: "tool", callID: "call_w", tool: "write", state: { status: "running", input: {}, time: { start: 1 } } },
          },
        })
        for (const e of [
          asked("per_1", "edit", { metadata: { filepath: "/repo/a.ts", diff: "" }, tool: { messageID: "msg_w", callID: "call_w" } }),
          replied("per_1", "once"),
          asked("per_2", "bash"),
          replied("per_2", "reject"),
          asked("per_3", "external_directory"),
          replied("per_3", "once"),
        ])
          yield* handleEvent(e)
        const memory = yield* MemoryExporter
        const decisions = (yield* memory.logs).filter((l) => l.attributes["event.name"] === "tool_decision").map((l) => l.attributes["tool_name"])
        expect(decisions).toEqual(["Write", "Bash", "external_directory"])
        const metrics = (yield* memory.metrics).flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics))
        const edits = metrics
          .filter((m) => m.descriptor.name === "claude_code.code_edit_tool.decision")
          .flatMap((m) => m.dataPoints.map((p) => [p.attributes["tool_name"], p.attributes["language"]]))
        expect(edits).toEqual([["Write", "TypeScript"]])
      }),
  )
})

describe("MCP tools, once opencode named its MCP servers", () => {
  test("only a configured server's prefix makes an MCP tool; the longest wins", () => {
    const servers = new Set(["github", "my_docs"])
    expect(claudeCodeToolName("github_create_issue", servers)).toBe("mcp__github__create_issue")
    expect(claudeCodeToolName("my_docs_search", servers)).toBe("mcp__my_docs__search")
    // A custom tool file's export (`<file>_<export>`) is no MCP tool.
    expect(claudeCodeToolName("deploy_staging", servers)).toBe("Deploy_staging")
    expect(toolParameters("deploy_staging", {}, servers)).toEqual({})
    expect(toolParameters("my_docs_search", {}, servers)).toEqual({ mcp_server_name: "my_docs", mcp_tool_name: "search" })
  })
})

describe("what opencode says about itself (learnHost)", () => {
  test("opencode's version from /global/health; its MCP servers as tool-id prefixes", async () => {
    const client = {
      _client: { get: async (o: { url: string }) => (o.url === "/global/health" ? { data: { healthy: true, version: "1.18.33" } } : {}) },
      mcp: { status: async () => ({ data: { github: { status: "connected" }, "docs.site": { status: "failed" } } }) },
    }
    const host = learnHost(client, "1.0.0")
    expect(await host.version).toBe("1.18.33")
    await new Promise((r) => setTimeout(r, 0))
    expect([...(host.mcpServers() ?? [])]).toEqual(["github", "docs_site"])
  })
  test("a failing, odd or missing answer leaves the fallback; settle() never waits", async () => {
    expect(await learnHost({ _client: { get: async () => ({ data: { version: "not a version" } }) } }, "1.0.0").version).toBe("1.0.0")
    expect(await learnHost({ _client: { get: async () => Promise.reject(new Error("down")) } }, "1.0.0").version).toBe("1.0.0")
    expect(await learnHost(undefined, undefined).version).toBeUndefined()
    const pending = learnHost({ _client: { get: () => new Promise(() => undefined) } }, "1.0.0")
    pending.settle()
    expect(await pending.version).toBe("1.0.0")
    expect(pending.mcpServers()).toBeUndefined()
  })
})

test("learnHost never throws, whatever the client", async () => {
  const hostile = new Proxy({}, { get: () => { throw new Error("hostile getter") } })
  const host = learnHost(hostile, "1.0.0")
  expect(await host.version).toBe("1.0.0")
  expect(host.mcpServers()).toBeUndefined()
})
