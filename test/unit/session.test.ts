import { describe, expect } from "bun:test"
import { Effect } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { endAllSessions, handleChatMessage, handleEvent, handleToolBefore } from "../../src/handlers/index.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { effectTest } from "../lib/effect.ts"
import { counterTotal } from "../lib/fixtures.ts"

const created = (id: string, extra: Record<string, unknown> = {}) => ({
  type: "session.created",
  properties: { sessionID: id, info: { id, projectID: "p", directory: "/tmp/x", title: "New session", time: { created: 1_700_000_000_000, updated: 1_700_000_000_000 }, ...extra } },
})

const sumOf = (metrics: ReadonlyArray<ResourceMetrics>, name: string, type?: string) =>
  counterTotal(metrics, name, type === undefined ? {} : { type })

describe("session lifecycle", () => {
  const it = effectTest(Telemetry.layerTest())

  it("session.created counts once and emits the event; each prompt's turn is one span, ended by its session.idle", () =>
    Effect.gen(function* () {
      yield* handleEvent(created("ses_1"))
      yield* handleEvent(created("ses_1")) // re-sent: not counted again
      const memory = yield* MemoryExporter
      // No span outlives its turn: nothing is open between turns, so nothing waits for the session's end.
      for (const turn of [1, 2]) {
        yield* handleChatMessage({ sessionID: "ses_1" }, { message: { agent: "build" }, parts: [{ type: "text", text: `turn ${turn}` }] })
        yield* handleEvent({ type: "session.status", properties: { sessionID: "ses_1", status: { type: "busy" } } })
        yield* handleEvent({ type: "session.idle", properties: { sessionID: "ses_1" } })
        expect((yield* memory.spans).map((s) => s.name)).toEqual(Array(turn).fill("invoke_agent build"))
      }
      expect(sumOf(yield* memory.metrics, "opencode.session.count")).toBe(1)
      const logs = yield* memory.logs
      expect(logs.map((l) => l.attributes["event.name"])).toEqual(["session.created", "user_prompt", "session.idle", "user_prompt", "session.idle"])
      expect(logs[0]!.attributes["session.id"]).toBe("ses_1")
      expect(logs[0]!.attributes["event.sequence"]).toBe(1)
      const spans = yield* memory.spans
      expect(spans.map((s) => [s.attributes["session.id"], s.attributes["gen_ai.conversation.id"], s.attributes["gen_ai.agent.name"]])).toEqual([
        ["ses_1", "ses_1", "build"],
        ["ses_1", "ses_1", "build"],
      ])
      // Each turn carries its prompt's id, as its events do.
      const promptIds = logs.filter((l) => l.attributes["event.name"] === "user_prompt").map((l) => String(l.attributes["prompt.id"]))
      expect(spans.map((s) => String(s.attributes["prompt.id"]))).toEqual(promptIds)
      expect(spans.every((s) => s.parentSpanContext === undefined)).toBe(true)
      yield* endAllSessions()
      expect(yield* memory.spans).toHaveLength(2)
    }),
  )

  it("a late event of a session already ended is no new start: session.count stays one per session", () =>
    Effect.gen(function* () {
      yield* handleEvent(created("ses_late"))
      yield* handleEvent({ type: "session.deleted", properties: { sessionID: "ses_late", info: created("ses_late").properties.info } })
      // An abort's last reports can come after the deletion.
      yield* handleEvent({ type: "session.status", properties: { sessionID: "ses_late", status: { type: "busy" } } })
      // A session this process never saw created is a resumed one: it counts, as `continue`.
      yield* handleEvent({ type: "session.status", properties: { sessionID: "ses_resumed", status: { type: "busy" } } })
      const metrics = yield* (yield* MemoryExporter).metrics
      expect(counterTotal(metrics, "opencode.session.count", { "session.id": "ses_late" })).toBe(1)
      expect(counterTotal(metrics, "opencode.session.count", { "session.id": "ses_resumed", start_type: "continue" })).toBe(1)
      expect(sumOf(metrics, "opencode.session.count")).toBe(2)
    }),
  )

  it("skips events with an unexpected shape without failing", () =>
    Effect.gen(function* () {
      yield* handleEvent({ type: "session.created", properties: { info: { id: 42 } } })
      yield* handleEvent(null)
      yield* handleEvent({ type: "catalog.updated" })
      const memory = yield* MemoryExporter
      expect(sumOf(yield* memory.metrics, "opencode.session.count")).toBe(0)
    }),
  )
})

describe("settings reach the instruments", () => {
  const it = effectTest(
    Telemetry.layerTest({
      OPENCODE_METRIC_PREFIX: "claude_code.",
      OPENCODE_METRIC_ATTRIBUTES: "team=platform",
      OPENCODE_EXCLUDE_METRICS_ATTRIBUTES: "session.id",
      OPENCODE_SPAN_ATTRIBUTES: "span.only=yes",
      OPENCODE_DISABLE_LOGS: "1",
    }),
  )
  it("prefix, metric-only and span-only attributes, exclusions and disabled logs", () =>
    Effect.gen(function* () {
      yield* handleEvent(created("ses_2"))
      yield* handleChatMessage({ sessionID: "ses_2" }, { message: {}, parts: [{ type: "text", text: "hi" }] })
      yield* handleEvent({ type: "session.deleted", properties: { sessionID: "ses_2", info: created("ses_2").properties.info } })
      const memory = yield* MemoryExporter
      const metrics = yield* memory.metrics
      const point = metrics.at(-1)!.scopeMetrics[0]!.metrics.find((m) => m.descriptor.name === "claude_code.session.count")!.dataPoints[0]!
      expect(point.attributes).toEqual({ team: "platform", start_type: "fresh" })
      expect(yield* memory.logs).toHaveLength(0)
      const span = (yield* memory.spans)[0]!
      expect(span.attributes["span.only"]).toBe("yes")
      expect(span.attributes["team"]).toBeUndefined()
    }),
  )
})

describe("a write that overwrites a file", () => {
  const it = effectTest(Telemetry.layerTest())
  it("counts the lines it changed, from the file's content before the write", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "otel-write-"))
      try {
        writeFileSync(join(dir, "notes.txt"), "a\nb\nc\n")
        yield* handleEvent(created("ses_w"))
        const args = { filePath: "notes.txt", content: "a\nB\nc\nd\n" }
        yield* handleToolBefore({ tool: "write", sessionID: "ses_w", callID: "call_1" }, { args }, dir)
        const part = (state: Record<string, unknown>) => ({
          type: "message.part.updated",
          properties: { part: { id: "prt_1", sessionID: "ses_w", messageID: "msg_1", type: "tool", callID: "call_1", tool: "write", state } },
        })
        yield* handleEvent(part({ status: "running", input: args, time: { start: 1 } }))
        yield* handleEvent(part({ status: "completed", input: args, output: "Wrote file successfully.", metadata: { exists: true }, time: { start: 1, end: 2 } }))
        const memory = yield* MemoryExporter
        const metrics = yield* memory.metrics
        expect(sumOf(metrics, "opencode.lines_of_code.count", "added")).toBe(2)
        expect(sumOf(metrics, "opencode.lines_of_code.count", "removed")).toBe(1)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }),
  )
})

describe("content opt-ins", () => {
  const secretPrompt = "Refactor the billing module, the password is hunter2"
  const bashPart = (state: Record<string, unknown>) => ({
    type: "message.part.updated",
    properties: { part: { id: "prt_b", sessionID: "ses_c", messageID: "msg_b", type: "tool", callID: "call_b", tool: "bash", state } },
  })
  const scenario = Effect.gen(function* () {
    yield* handleEvent(created("ses_c"))
    yield* handleChatMessage({ sessionID: "ses_c" }, { message: { id: "msg_u" }, parts: [{ type: "text", text: secretPrompt }] })
    const input = { command: `cat secrets.txt && echo ${"x".repeat(600)}`, description: "Read" }
    yield* handleEvent(bashPart({ status: "running", input, time: { start: 1 } }))
    yield* handleEvent(bashPart({ status: "completed", input, output: "TOOL-OUTPUT-TEXT", metadata: { exit: 0 }, time: { start: 1, end: 2 } }))
    yield* endAllSessions()
    const memory = yield* MemoryExporter
    return { logs: yield* memory.logs, spans: yield* memory.spans }
  })

  effectTest(Telemetry.layerTest())("off by default: no prompt text, no tool parameters or content", () =>
    Effect.gen(function* () {
      const { logs, spans } = yield* scenario
      const exported = JSON.stringify([logs.map((l) => l.attributes), spans.map((s) => s.attributes)])
      expect(exported).not.toContain("hunter2")
      expect(exported).not.toContain("secrets.txt")
      expect(exported).not.toContain("TOOL-OUTPUT-TEXT")
    }),
  )

  effectTest(
    Telemetry.layerTest({ OPENCODE_LOG_USER_PROMPTS: "1", OPENCODE_LOG_TOOL_DETAILS: "1", OPENCODE_LOG_TOOL_CONTENT: "1" }),
  )("on: the prompt, bounded tool parameters, and tool content on spans", () =>
    Effect.gen(function* () {
      const { logs, spans } = yield* scenario
      const prompt = logs.find((l) => l.attributes["event.name"] === "user_prompt")!
      expect(prompt.attributes["prompt"]).toBe(secretPrompt)
      const result = logs.find((l) => l.attributes["event.name"] === "tool_result")!
      const parameters = JSON.parse(String(result.attributes["tool_parameters"]))
      expect(parameters.bash_command.startsWith("cat secrets.txt")).toBe(true)
      expect(parameters.bash_command.length).toBeLessThan(600) // values over 512 characters are cut
      const tool = spans.find((s) => s.name === "execute_tool bash")!
      expect(tool.attributes["gen_ai.tool.call.result"]).toBe("TOOL-OUTPUT-TEXT")
      expect(String(tool.attributes["gen_ai.tool.call.arguments"])).toContain("secrets.txt")
    }),
  )
})

describe("Claude Code's extra metrics", () => {
  const it = effectTest(Telemetry.layerTest())
  const bash = (callID: string, command: string, exit: number) => {
    const part = (state: Record<string, unknown>) => ({
      type: "message.part.updated",
      properties: { part: { id: `prt_${callID}`, sessionID: "ses_x", messageID: "msg_x", type: "tool", callID, tool: "bash", state } },
    })
    return [
      part({ status: "running", input: { command }, time: { start: 1 } }),
      part({ status: "completed", input: { command }, output: "", metadata: { exit, output: "" }, time: { start: 1, end: 2 } }),
    ]
  }

  it("pull_request.count: gh pr create / glab mr create that succeeded", () =>
    Effect.gen(function* () {
      yield* handleEvent(created("ses_x"))
      for (const e of [
        ...bash("c1", "gh pr create --fill", 0),
        ...bash("c2", "glab mr create -t x", 0),
        ...bash("c3", "gh pr create --fill", 1), // failed: not counted
        ...bash("c4", "gh pr list", 0),
      ])
        yield* handleEvent(e)
      const memory = yield* MemoryExporter
      expect(sumOf(yield* memory.metrics, "opencode.pull_request.count")).toBe(2)
    }),
  )

  it("code_edit_tool.decision: edit permissions with the file's language, never its path", () =>
    Effect.gen(function* () {
      yield* handleEvent(created("ses_x"))
      const asked = (id: string, permission: string, filepath?: string) => ({
        type: "permission.asked",
        properties: { id, sessionID: "ses_x", permission, patterns: [], always: [], metadata: filepath ? { filepath, diff: "" } : {} },
      })
      const replied = (id: string, reply: string) => ({ type: "permission.replied", properties: { sessionID: "ses_x", requestID: id, reply } })
      for (const e of [
        asked("per_1", "edit", "/repo/secret-dir/app.ts"),
        replied("per_1", "once"),
        asked("per_2", "edit", "/repo/notes.md"),
        replied("per_2", "reject"),
        asked("per_3", "bash"),
        replied("per_3", "always"),
      ])
        yield* handleEvent(e)
      const memory = yield* MemoryExporter
      const metrics = yield* memory.metrics
      const points = metrics.at(-1)!.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === "opencode.code_edit_tool.decision")!.dataPoints
      expect(points.map((p) => [p.attributes["decision"], p.attributes["source"], p.attributes["language"], p.value]).sort()).toEqual([
        ["accept", "user_temporary", "TypeScript", 1],
        ["reject", "user_reject", "Markdown", 1],
      ])
      expect(JSON.stringify(metrics)).not.toContain("secret-dir")
    }),
  )

  it("active_time.total: busy to idle, in seconds, type=cli", () =>
    Effect.gen(function* () {
      yield* handleEvent(created("ses_x"))
      yield* handleEvent({ type: "session.status", properties: { sessionID: "ses_x", status: { type: "busy" } } })
      yield* Effect.sleep("120 millis")
      yield* handleEvent({ type: "session.idle", properties: { sessionID: "ses_x" } })
      const memory = yield* MemoryExporter
      const seconds = sumOf(yield* memory.metrics, "opencode.active_time.total", "cli")
      expect(seconds).toBeGreaterThanOrEqual(0.1)
      expect(seconds).toBeLessThan(30)
    }),
  )
})

describe("the claude-code profile", () => {
  effectTest(Telemetry.layerTest({ OPENCODE_PROFILE: "claude-code" }))("Claude Code's prefix, units and event bodies", () =>
    Effect.gen(function* () {
      yield* handleEvent(created("ses_cc"))
      yield* handleChatMessage({ sessionID: "ses_cc" }, { message: {}, parts: [{ type: "text", text: "hi" }] })
      const memory = yield* MemoryExporter
      const metrics = (yield* memory.metrics).at(-1)!.scopeMetrics.flatMap((s) => s.metrics)
      const count = metrics.find((m) => m.descriptor.name === "claude_code.session.count")!
      // Claude Code sets no unit on its count metrics.
      expect(count.descriptor.unit).toBe("")
      const logs = yield* memory.logs
      expect(logs.map((l) => [l.body, l.attributes["event.name"]])).toEqual([
        ["claude_code.session.created", "session.created"],
        ["claude_code.user_prompt", "user_prompt"],
      ])
    }),
  )
})

describe("app.version (OTEL_METRICS_INCLUDE_VERSION)", () => {
  const withVersion = (id: string) => ({
    type: "session.created",
    properties: { info: { id, version: "1.18.33", time: { created: Date.now() } } },
  })
  const attributesSeen = Effect.gen(function* () {
    yield* handleEvent(withVersion("ses_v"))
    yield* handleChatMessage({ sessionID: "ses_v" }, { message: {}, parts: [{ type: "text", text: "hi" }] })
    yield* endAllSessions()
    const memory = yield* MemoryExporter
    const metrics = (yield* memory.metrics).at(-1)!.scopeMetrics.flatMap((s) => s.metrics)
    const point = metrics.find((m) => m.descriptor.name === "opencode.session.count")!.dataPoints[0]!
    const log = (yield* memory.logs)[0]!
    const span = (yield* memory.spans)[0]!
    return { metric: point.attributes["app.version"], event: log.attributes["app.version"], span: span.attributes["app.version"] }
  })
  effectTest(Telemetry.layerTest())("off by default", () =>
    Effect.gen(function* () {
      expect(yield* attributesSeen).toEqual({ metric: undefined, event: undefined, span: undefined })
    }),
  )
  effectTest(Telemetry.layerTest({ OPENCODE_METRICS_INCLUDE_VERSION: "true" }))("on: opencode's version on metrics and events", () =>
    Effect.gen(function* () {
      expect(yield* attributesSeen).toEqual({ metric: "1.18.33", event: "1.18.33", span: undefined })
    }),
  )
})

describe("turns", () => {
  const it = effectTest(Telemetry.layerTest())
  const assistant = (id: string, sessionID: string, extra: Record<string, unknown>) => ({
    type: "message.updated",
    properties: {
      info: {
        id,
        sessionID,
        role: "assistant",
        modelID: "m",
        providerID: "fake",
        cost: 0.001,
        tokens: { input: 10, output: 2, reasoning: 0, cache: { read: 0, write: 0 } },
        time: { created: 1_700_000_000_100 },
        ...extra,
      },
    },
  })
  const bash = (sessionID: string, state: Record<string, unknown>) => ({
    type: "message.part.updated",
    properties: { part: { id: "prt_a", sessionID, messageID: "msg_a", type: "tool", callID: "call_a", tool: "bash", state } },
  })

  it("a call reported finished just after its turn's idle (an abort) ends its own span, with its own status; no new turn", () =>
    Effect.gen(function* () {
      yield* handleEvent(created("ses_a"))
      yield* handleChatMessage({ sessionID: "ses_a" }, { message: {}, parts: [{ type: "text", text: "run it" }] })
      yield* handleEvent(assistant("msg_a", "ses_a", {}))
      yield* handleEvent(bash("ses_a", { status: "running", input: { command: "sleep 5" }, time: { start: 1 } }))
      yield* handleEvent({ type: "session.idle", properties: { sessionID: "ses_a" } })
      yield* handleEvent(bash("ses_a", { status: "completed", input: { command: "sleep 5" }, output: "aborted", metadata: { exit: null }, time: { start: 1, end: 2 } }))
      yield* handleEvent(assistant("msg_a", "ses_a", { error: { name: "MessageAbortedError", data: {} }, time: { created: 1_700_000_000_100, completed: 1_700_000_000_200 } }))
      const memory = yield* MemoryExporter
      const spans = yield* memory.spans
      expect(spans.filter((s) => s.name.startsWith("invoke_agent"))).toHaveLength(1)
      const tool = spans.find((s) => s.name === "execute_tool bash")!
      // opencode recorded the call completed: its span says so, as its tool_result does.
      expect(tool.status.code).not.toBe(2)
      expect(spans.some((s) => s.name === "tool.execution")).toBe(true)
      expect(spans.find((s) => s.name === "chat m")!.status.message).toBe("MessageAbortedError")
    }),
  )

  it("work outside any prompt (a compaction) is a turn of its own, named after its agent, with no prompt's id", () =>
    Effect.gen(function* () {
      yield* handleEvent(created("ses_c"))
      yield* handleChatMessage({ sessionID: "ses_c" }, { message: { agent: "build" }, parts: [{ type: "text", text: "hi" }] })
      yield* handleEvent({ type: "session.idle", properties: { sessionID: "ses_c" } })
      yield* handleEvent({ type: "session.status", properties: { sessionID: "ses_c", status: { type: "busy" } } })
      yield* handleEvent(assistant("msg_c", "ses_c", { agent: "compaction", mode: "compaction", time: { created: 1_700_000_000_300, completed: 1_700_000_000_400 } }))
      yield* handleEvent({ type: "session.idle", properties: { sessionID: "ses_c" } })
      const memory = yield* MemoryExporter
      const turns = (yield* memory.spans).filter((s) => s.name.startsWith("invoke_agent"))
      expect(turns.map((t) => [t.name, typeof t.attributes["prompt.id"]])).toEqual([
        ["invoke_agent build", "string"],
        ["invoke_agent compaction", "undefined"],
      ])
      const request = (yield* memory.logs).find((l) => l.attributes["event.name"] === "api_request")!
      expect(request.attributes["prompt.id"]).toBeUndefined()
    }),
  )
})
