/**
 * A failed tool's error text never leaves the machine by default: the tool_result event and the tool spans carry
 * a content-free description of it; OPENCODE_LOG_TOOL_DETAILS=1 adds the text, bounded. Provider errors keep
 * their message, bounded, and never their response body.
 */
import { describe, expect, test } from "bun:test"
import { Effect, Layer } from "effect"
import { endAllSessions, handleEvent } from "../../src/handlers/index.ts"
import { describeToolError, ERROR_TEXT_LIMIT, GENERIC_TOOL_ERROR } from "../../src/handlers/errors.ts"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import { EVENTS, SPANS } from "../../src/signals.ts"
import { effectTest } from "../lib/effect.ts"
import { eventsNamed, loadFixture, replay } from "../lib/fixtures.ts"

const MARKER = "PLANTED-7f3a"

/**
 * `state.error` of failed tool parts as opencode 1.18.33 wrote them (recorded with the real CLI: the marker
 * stands where a path, an argument or a server's message was), and the description exported for each.
 */
const OBSERVED: ReadonlyArray<readonly [string, string, string]> = [
  ["permission rejected", "The user rejected permission to use this specific tool call.", "The user rejected permission to use this specific tool call."],
  [
    "permission rejected with feedback",
    `The user rejected permission to use this specific tool call with the following feedback: ${MARKER}`,
    "The user rejected permission to use this specific tool call, with feedback.",
  ],
  [
    "permission denied by a rule",
    `The user has specified a rule which prevents you from using this specific tool call. Here are some of the relevant rules [{"permission":"bash","pattern":"${MARKER}","action":"deny"}]`,
    "The user has specified a rule which prevents you from using this specific tool call.",
  ],
  ["aborted", "Tool execution aborted", "Tool execution aborted"],
  ["subagent failed", `Tool execution failed: ${MARKER}`, "Tool execution failed"],
  [
    "edit: oldString not found",
    "Could not find oldString in the file. It must match exactly, including whitespace, indentation, and line endings.",
    "Could not find oldString in the file.",
  ],
  [
    "edit: several matches",
    "Found multiple exact matches for oldString. Provide more surrounding context or set replaceAll to true.",
    "Found multiple matches for oldString.",
  ],
  ["edit of a missing file", `File /tmp/project/missing-${MARKER}.txt not found`, "File not found."],
  ["read of a missing file", `File not found: /tmp/project/missing-${MARKER}.txt\n\nDid you mean one of these?\n/tmp/project/${MARKER}.md`, "File not found."],
  [
    "invalid arguments (schema)",
    `The read tool was called with invalid arguments: SchemaError(Expected number | undefined, got "${MARKER}"\n  at ["offset"]).\nPlease rewrite the input so it satisfies the expected schema.`,
    "The tool was called with invalid arguments.",
  ],
  ["write failure", `BadResource: FileSystem.writeFile (/tmp/project/README.md/${MARKER}.txt)`, "BadResource: FileSystem.writeFile"],
  ["MCP tool threw", `MCP error -32603: server says ${MARKER}`, "MCP error -32603"],
  ["MCP tool returned isError", `server says ${MARKER}`, GENERIC_TOOL_ERROR],
  ["webfetch transport", `Transport error (GET http://127.0.0.1:9/${MARKER})`, "Transport error"],
  ["glob", "ripgrep execution failed", GENERIC_TOOL_ERROR],
  ["Node system error", `ENOENT: no such file or directory, open '/tmp/${MARKER}'`, "ENOENT"],
  ["an error class", `TypeError: Cannot read properties of undefined (reading '${MARKER}')`, "TypeError"],
  ["a marker posing as an opening", `${MARKER}: File not found: x`, GENERIC_TOOL_ERROR],
]

describe("describeToolError: opencode's own messages kept, nothing the tool saw", () => {
  for (const [name, text, description] of OBSERVED)
    test(name, () => {
      expect(describeToolError(text)).toBe(description)
      expect(description).not.toContain(MARKER)
      expect(description.length).toBeLessThanOrEqual(100)
    })
  test("a long or odd text gives a short description", () => {
    expect(describeToolError(`${"x".repeat(100_000)}`)).toBe(GENERIC_TOOL_ERROR)
    expect(describeToolError(`${"A".repeat(200)}Error: boom`)).toBe(GENERIC_TOOL_ERROR)
    expect(describeToolError("")).toBe(GENERIC_TOOL_ERROR)
  })
})

const created = (id: string) => ({
  type: "session.created",
  properties: { sessionID: id, info: { id, projectID: "p", directory: "/tmp/x", title: "t", time: { created: 1_700_000_000_000, updated: 1_700_000_000_000 } } },
})

const editPart = (state: Record<string, unknown>) => ({
  type: "message.part.updated",
  properties: { part: { id: "prt_e", sessionID: "ses_e", messageID: "msg_e", type: "tool", callID: "call_e", tool: "edit", state } },
})

/** An edit whose oldString (the marker) is quoted back in a long error text, then a provider error. */
const failingCalls = (errorText: string) =>
  Effect.gen(function* () {
    yield* handleEvent(created("ses_e"))
    const input = { filePath: "notes.txt", oldString: MARKER, newString: "y" }
    yield* handleEvent(editPart({ status: "running", input, time: { start: 1 } }))
    yield* handleEvent(editPart({ status: "error", input, error: errorText, time: { start: 1, end: 2 } }))
    yield* endAllSessions()
    const memory = yield* MemoryExporter
    const logs = yield* memory.logs
    const spans = yield* memory.spans
    return {
      result: logs.find((l) => l.attributes["event.name"] === "tool_result")!,
      tool: spans.find((s) => s.name === "execute_tool edit")!,
      execution: spans.find((s) => s.name === "tool.execution")!,
      exported: JSON.stringify([
        logs.map((l) => [l.body, l.attributes]),
        spans.map((s) => [s.name, s.attributes, s.status, s.events]),
      ]),
    }
  })

/** Longer than the bound, with the marker at the start (kept on opt-in) and at the end (cut). */
const LONG_ERROR = `Error: no match for ${MARKER} in notes.txt: ${"z".repeat(3_000)} END-${MARKER}`

describe("a failed tool's error, by default", () => {
  effectTest(Telemetry.layerTest())("tool_result and spans carry a description; the text is nowhere", () =>
    Effect.gen(function* () {
      const { result, tool, execution, exported } = yield* failingCalls(LONG_ERROR)
      expect(result.attributes["success"]).toBe(false)
      expect(result.attributes["error"]).toBe("Error")
      expect(tool.status).toEqual({ code: 2, message: "Error" })
      expect(execution.status).toEqual({ code: 2, message: "Error" })
      expect(exported).not.toContain(MARKER)
      expect(exported).not.toContain("notes.txt")
    }),
  )
  effectTest(Telemetry.layerTest({ OPENCODE_LOG_TOOL_CONTENT: "1" }))(
    "with OPENCODE_LOG_TOOL_CONTENT only: the text on the tool span's result, the event still a description",
    () =>
      Effect.gen(function* () {
        const { result, tool } = yield* failingCalls(LONG_ERROR)
        expect(result.attributes["error"]).toBe("Error")
        expect(tool.attributes["gen_ai.tool.call.result"]).toBe(LONG_ERROR)
        expect(tool.status.message).toBe("Error")
      }),
  )
})

describe("a failed tool's error, with OPENCODE_LOG_TOOL_DETAILS=1", () => {
  effectTest(Telemetry.layerTest({ OPENCODE_LOG_TOOL_DETAILS: "1" }))("the text on tool_result, first 1,000 characters; spans keep the description", () =>
    Effect.gen(function* () {
      const { result, tool } = yield* failingCalls(LONG_ERROR)
      const error = String(result.attributes["error"])
      expect(error.startsWith(`Error: no match for ${MARKER}`)).toBe(true)
      expect(error).toBe(`${LONG_ERROR.slice(0, ERROR_TEXT_LIMIT)}…[truncated]`)
      expect(error).not.toContain(`END-${MARKER}`)
      expect(tool.status.message).toBe("Error")
      expect(tool.attributes["gen_ai.tool.call.result"]).toBeUndefined()
    }),
  )
  effectTest(Telemetry.layerTest({ OPENCODE_LOG_TOOL_DETAILS: "1" }))("a short text is exported whole", () =>
    Effect.gen(function* () {
      const { result } = yield* failingCalls(`MCP error -32603: ${MARKER}`)
      expect(result.attributes["error"]).toBe(`MCP error -32603: ${MARKER}`)
    }),
  )
})

describe("provider errors: the message, bounded; never the response body", () => {
  const erroredMessage = (message: string) => ({
    type: "message.updated",
    properties: {
      sessionID: "ses_p",
      info: {
        id: "msg_p",
        sessionID: "ses_p",
        role: "assistant",
        modelID: "m",
        providerID: "fake",
        cost: 0,
        tokens: { input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } },
        time: { created: 1_700_000_000_000, completed: 1_700_000_000_100 },
        error: {
          name: "APIError",
          data: {
            message,
            statusCode: 400,
            isRetryable: false,
            responseHeaders: { "x-request": `header-${MARKER}` },
            responseBody: `{"echo":"body-${MARKER}"}`,
            metadata: { url: `http://127.0.0.1:1/url-${MARKER}` },
          },
        },
      },
    },
  })
  effectTest(Telemetry.layerTest())("api_error and session.error: first 1,000 characters of the message", () =>
    Effect.gen(function* () {
      const message = `Bad request: ${"q".repeat(5_000)}`
      yield* handleEvent(created("ses_p"))
      yield* handleEvent(erroredMessage(message))
      yield* handleEvent({ type: "session.error", properties: { sessionID: "ses_p", error: erroredMessage(message).properties.info.error } })
      yield* endAllSessions()
      const memory = yield* MemoryExporter
      const logs = yield* memory.logs
      const errors = logs.filter((l) => l.attributes["event.name"] === "api_error" || l.attributes["event.name"] === "session.error")
      expect(errors.map((l) => l.attributes["event.name"])).toEqual(["api_error", "session.error"])
      for (const log of errors) {
        expect(log.attributes["error"]).toBe(`${message.slice(0, ERROR_TEXT_LIMIT)}…[truncated]`)
        expect(log.attributes["status_code"]).toBe("400")
      }
      const exported = JSON.stringify([logs.map((l) => l.attributes), (yield* memory.spans).map((s) => [s.attributes, s.status])])
      expect(exported).not.toContain(MARKER)
    }),
  )
})

describe("recorded: opencode's permission-reject run", () => {
  test("the reject's fixed sentence is the tool_result error", async () => {
    const program = Effect.gen(function* () {
      yield* replay(loadFixture("permission-reject").lines)
      const memory = yield* MemoryExporter
      return { logs: yield* memory.logs, spans: yield* memory.spans }
    })
    const layer = Telemetry.layerTest().pipe(Layer.provideMerge(OpencodeLog.layerSilent))
    const { logs, spans } = await Effect.runPromise(Effect.provide(program, layer))
    const sentence = "The user rejected permission to use this specific tool call."
    expect(eventsNamed(logs, "tool_result").map((l) => l.attributes["error"])).toEqual([sentence])
    expect(spans.find((s) => s.name === "execute_tool bash")?.status.message).toBe(sentence)
  })
})

test("the catalog says what error carries and its bound", () => {
  const bound = `${ERROR_TEXT_LIMIT.toLocaleString("en-US")} characters`
  expect(EVENTS.tool_result.when).toContain(bound)
  expect(EVENTS.tool_result.when).toContain("OTEL_LOG_TOOL_DETAILS=1")
  expect(EVENTS.api_error.attributes.join(" ")).toContain(bound)
  expect(EVENTS["session.error"].attributes.join(" ")).toContain(bound)
  expect(SPANS.tool.when).toContain("description")
})
