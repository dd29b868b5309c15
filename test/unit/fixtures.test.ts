/**
 * Every handler, driven by event sequences recorded from the real opencode CLI (test/fixtures, `npm run record`),
 * through the test layer with in-memory exporters. The numbers must equal opencode's own accounting
 * (`opencode export`, recorded beside each run) and git's.
 */
import { describe, expect, test } from "bun:test"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import { COMMON_EVENT_ATTRIBUTES, EVENTS } from "../../src/signals.ts"
import {
  counterTotal,
  eventsNamed,
  gaugeValues,
  histogramTotals,
  loadFixture,
  replay,
  spanTreeProblems,
  truthCompleted,
  truthCost,
  truthErrored,
  truthLines,
  truthTokens,
  truthToolCalls,
  type Fixture,
} from "../lib/fixtures.ts"

interface Received {
  /** Metrics per run (each run is its own opencode process, with its own plugin instance). */
  readonly metrics: ReadonlyArray<ReadonlyArray<ResourceMetrics>>
  readonly logs: ReadonlyArray<ReadableLogRecord>
  readonly logsByRun: ReadonlyArray<ReadonlyArray<ReadableLogRecord>>
  readonly spans: ReadonlyArray<ReadableSpan>
}

/** Replays each run of a fixture through a fresh test layer, as a fresh opencode process would. */
const receive = async (fixture: Fixture, options: { repeatEvents?: boolean; settings?: Record<string, string> } = {}): Promise<Received> => {
  const runs: Array<Array<(typeof fixture.lines)[number]>> = []
  for (const line of fixture.lines) {
    if (line.hook === "fixture.run.start") runs.push([])
    else runs.at(-1)?.push(line)
  }
  const metrics: Array<ReadonlyArray<ResourceMetrics>> = []
  const logs: Array<ReadableLogRecord> = []
  const logsByRun: Array<ReadonlyArray<ReadableLogRecord>> = []
  const spans: Array<ReadableSpan> = []
  for (const lines of runs) {
    const program = Effect.gen(function* () {
      yield* replay(lines, options)
      const memory = yield* MemoryExporter
      return { metrics: yield* memory.metrics, logs: yield* memory.logs, spans: yield* memory.spans }
    })
    const layer = Telemetry.layerTest(options.settings ?? {}).pipe(Layer.provideMerge(OpencodeLog.layerSilent))
    const result = await Effect.runPromise(Effect.provide(program, layer))
    metrics.push(result.metrics)
    logs.push(...result.logs)
    logsByRun.push(result.logs)
    spans.push(...result.spans)
  }
  return { metrics, logs, logsByRun, spans }
}

const total = (r: Received, name: string, filter: Record<string, string> = {}) =>
  r.metrics.reduce((n, m) => n + counterTotal(m, name, filter), 0)
const histogram = (r: Received, name: string) =>
  r.metrics.reduce((acc, m) => {
    const h = histogramTotals(m, name)
    return { count: acc.count + h.count, sum: acc.sum + h.sum }
  }, { count: 0, sum: 0 })

/**
 * Session starts as Claude Code counts them: per process (run), each session it worked on. A session it did not
 * see created (opencode run --continue) starts there too.
 */
const sessionStarts = (fixture: Fixture) =>
  fixture.meta.runs
    .map((_, run) => {
      const ids = fixture.lines
        .filter((l) => l.run === run)
        .map((l) => (l as { properties?: { sessionID?: unknown }; input?: { sessionID?: unknown } }).properties?.sessionID ?? (l as { input?: { sessionID?: unknown } }).input?.sessionID)
      return new Set(ids.filter((id) => typeof id === "string")).size
    })
    .reduce((a, b) => a + b, 0)

const SCENARIOS = ["text", "write-edit", "commits", "retry", "error", "permission-once", "permission-reject", "subagent", "continue", "skill", "compaction", "retries-exhausted"] as const

const prefix = (name: string) => `opencode.${name}`
const hrMs = (t: readonly [number, number]) => t[0] * 1e3 + t[1] / 1e6

describe.each(SCENARIOS)("recorded scenario %s", (name) => {
  const fixture = loadFixture(name)
  const received = receive(fixture)

  test("tokens by type, cost, messages and errors equal opencode's accounting", async () => {
    const r = await received
    const tokens = truthTokens(fixture)
    for (const [type, value] of Object.entries(tokens)) expect([type, total(r, prefix("token.usage"), { type })]).toEqual([type, value])
    const cost = truthCost(fixture)
    const exported = total(r, prefix("cost.usage"))
    expect(Math.abs(exported - cost)).toBeLessThanOrEqual(Math.max(cost, 1e-12) * 1e-9)
    expect(total(r, prefix("message.count"))).toBe(truthCompleted(fixture).length)
    expect(total(r, prefix("model.usage"))).toBe(truthCompleted(fixture).length)
    expect(eventsNamed(r.logs, "api_request")).toHaveLength(truthCompleted(fixture).length)
    expect(eventsNamed(r.logs, "api_error")).toHaveLength(truthErrored(fixture).length)
    const cacheReads = fixture.sessions.flatMap((s) => s.messages).filter((m) => (m.info.tokens?.cache.read ?? 0) > 0).length
    expect(total(r, prefix("cache.count"), { type: "cacheRead" })).toBe(cacheReads)
  })

  test("sessions, prompts, tools and lines of code", async () => {
    const r = await received
    const created = fixture.lines.filter((l) => l.hook === "event" && l.type === "session.created").length
    expect(total(r, prefix("session.count"), { start_type: "fresh" })).toBe(created)
    expect(total(r, prefix("session.count"))).toBe(sessionStarts(fixture))
    expect(new Set(r.logs.map((l) => l.attributes["session.id"]))).toEqual(new Set(fixture.sessions.map((s) => s.info.id)))
    expect(eventsNamed(r.logs, "user_prompt")).toHaveLength(fixture.meta.runs.length)
    const calls = truthToolCalls(fixture)
    expect(eventsNamed(r.logs, "tool_result")).toHaveLength(calls.length)
    expect(eventsNamed(r.logs, "tool_result").filter((l) => l.attributes["success"] === false)).toHaveLength(
      calls.filter((c) => c.state?.status === "error").length,
    )
    expect(histogram(r, prefix("tool.duration")).count).toBe(calls.length)
    const lines = truthLines(fixture)
    expect(total(r, prefix("lines_of_code.count"), { type: "added" })).toBe(lines.added)
    expect(total(r, prefix("lines_of_code.count"), { type: "removed" })).toBe(lines.removed)
  })

  test("every span has its parent and an end; one turn (invoke_agent) per prompt and per subagent session, each its trace's root", async () => {
    const r = await received
    expect(spanTreeProblems(r.spans)).toEqual([])
    const turns = r.spans.filter((s) => s.name.startsWith("invoke_agent"))
    const subagents = eventsNamed(r.logs, "session.created").filter((l) => l.attributes["session.parent_id"] !== undefined)
    expect(turns).toHaveLength(eventsNamed(r.logs, "user_prompt").length + subagents.length)
    // A main session's turn is a root; a subagent's nests under the task call that spawned it.
    const byId = new Map(r.spans.map((s) => [s.spanContext().spanId, s]))
    for (const turn of turns) {
      const parent = turn.parentSpanContext === undefined ? undefined : byId.get(turn.parentSpanContext.spanId)
      expect([turn.attributes["session.kind"], parent?.name]).toEqual(
        turn.attributes["session.kind"] === "subagent" ? ["subagent", "execute_tool task"] : ["main", undefined],
      )
    }
    // Every other span lies within a turn.
    const rootOf = (s: (typeof r.spans)[number]): (typeof r.spans)[number] => {
      const parent = s.parentSpanContext === undefined ? undefined : byId.get(s.parentSpanContext.spanId)
      return parent === undefined ? s : rootOf(parent)
    }
    for (const s of r.spans) expect([s.name, rootOf(s).name.startsWith("invoke_agent")]).toEqual([s.name, true])
    const toolSpans = r.spans.filter((s) => s.name.startsWith("execute_tool "))
    expect(new Set(toolSpans.map((s) => s.attributes["gen_ai.tool.call.id"])).size).toBe(toolSpans.length)
    expect(toolSpans).toHaveLength(truthToolCalls(fixture).length)
    expect(r.spans.filter((s) => s.name.startsWith("chat "))).toHaveLength(truthCompleted(fixture).length + truthErrored(fixture).length)
  })

  test("events carry their catalogued attributes, a per-session sequence and the prompt.id", async () => {
    const r = await received
    for (const log of r.logs) {
      const event = String(log.attributes["event.name"]) as keyof typeof EVENTS
      // Catalog entries may carry a note: "prompt (OTEL_LOG_USER_PROMPTS=1 only)".
      const allowed = new Set<string>([...COMMON_EVENT_ATTRIBUTES, ...EVENTS[event].attributes.map((a) => a.split(" ")[0]!)])
      expect(Object.keys(log.attributes).filter((k) => !allowed.has(k))).toEqual([])
      expect(log.body).toBe(event)
    }
    // Sequences are 1, 2, 3, ... within each session and process.
    for (const logs of r.logsByRun) {
      const bySession = new Map<string, Array<number>>()
      for (const log of logs) {
        const key = String(log.attributes["session.id"])
        bySession.set(key, [...(bySession.get(key) ?? []), Number(log.attributes["event.sequence"])])
      }
      for (const seqs of bySession.values()) expect(seqs).toEqual(seqs.map((_, i) => i + 1))
    }
    // Everything after a prompt belongs to it.
    for (const log of r.logs.filter((l) => ["api_request", "api_error", "tool_result"].includes(String(l.attributes["event.name"]))))
      expect(typeof log.attributes["prompt.id"]).toBe("string")
  })

  test("re-sent events change nothing", async () => {
    const once = await received
    const twice = await receive(fixture, { repeatEvents: true })
    for (const metric of ["token.usage", "cost.usage", "message.count", "lines_of_code.count", "commit.count", "retry.count", "session.count"])
      expect([metric, total(twice, prefix(metric))]).toEqual([metric, total(once, prefix(metric))])
    expect(twice.logs.length).toBe(once.logs.length)
    expect(twice.spans.length).toBe(once.spans.length)
  })

  test("the prompt text is exported nowhere by default", async () => {
    const r = await received
    const exported = JSON.stringify([r.logs.map((l) => [l.body, l.attributes]), r.spans.map((s) => [s.name, s.attributes])])
    for (const run of fixture.meta.runs) expect(exported).not.toContain(run.prompt)
  })
})

describe("scenario specifics", () => {
  test("commits: two commits through bash are counted, with their shas", async () => {
    const fixture = loadFixture("commits")
    const r = await receive(fixture)
    const madeBySession = fixture.meta.git!.commits - 1 // the test repo starts with one commit
    expect(total(r, prefix("commit.count"))).toBe(madeBySession)
    const shas = eventsNamed(r.logs, "commit").map((l) => String(l.attributes["commit.sha"]))
    expect(shas).toHaveLength(madeBySession)
    for (const sha of shas) expect(fixture.meta.git!.log.some((line) => line.startsWith(sha.slice(0, 7)))).toBe(true)
  })

  test("retry: each distinct retry attempt is counted once", async () => {
    const fixture = loadFixture("retry")
    const r = await receive(fixture)
    const injected = (fixture.meta.script ?? []).filter((s) => s.status !== undefined).length
    expect(injected).toBe(2)
    expect(total(r, prefix("retry.count"))).toBe(injected)
  })

  test("error: an api_error with the status code, a session.error, and the session still gets its duration", async () => {
    const r = await receive(loadFixture("error"))
    const errors = eventsNamed(r.logs, "api_error")
    expect(errors).toHaveLength(1)
    expect(errors[0]!.attributes["status_code"]).toBe("400")
    expect(errors[0]!.attributes["error.type"]).toBe("APIError")
    expect(eventsNamed(r.logs, "session.error")).toHaveLength(1)
    expect(eventsNamed(r.logs, "session.idle")).toHaveLength(1) // opencode sends two idles after an error
    expect(histogram(r, prefix("session.duration")).count).toBe(1)
    expect(total(r, prefix("message.count"))).toBe(0)
  })

  test("permission answered once: an accept decision, and the tool ran", async () => {
    const r = await receive(loadFixture("permission-once"))
    const decisions = eventsNamed(r.logs, "tool_decision")
    expect(decisions.map((d) => [d.attributes["tool_name"], d.attributes["decision"], d.attributes["source"]])).toEqual([
      ["bash", "accept", "user_temporary"],
    ])
    const results = eventsNamed(r.logs, "tool_result")
    expect(results.map((l) => [l.attributes["success"], l.attributes["decision_type"]])).toEqual([[true, "accept"]])
  })

  test("permission rejected: a reject decision, and the tool's result is a failure", async () => {
    const r = await receive(loadFixture("permission-reject"))
    const decisions = eventsNamed(r.logs, "tool_decision")
    expect(decisions.map((d) => [d.attributes["tool_name"], d.attributes["decision"], d.attributes["source"]])).toEqual([
      ["bash", "reject", "user_reject"],
    ])
    const results = eventsNamed(r.logs, "tool_result")
    expect(results.map((l) => [l.attributes["success"], l.attributes["decision_type"]])).toEqual([[false, "reject"]])
  })

  test("subagent: its session nests under the task tool call, shares the prompt.id, and is no user_prompt", async () => {
    const fixture = loadFixture("subagent")
    const r = await receive(fixture)
    const child = fixture.sessions.find((s) => s.info.parentID !== undefined)!
    const sessionSpans = r.spans.filter((s) => s.name.startsWith("invoke_agent"))
    const childSpan = sessionSpans.find((s) => s.attributes["session.id"] === child.info.id)!
    const taskSpan = r.spans.find((s) => s.name === "execute_tool task")!
    expect(childSpan.parentSpanContext?.spanId).toBe(taskSpan.spanContext().spanId)
    // GenAI names: invoke_agent {agent}, the main session's agent learnt from its prompt.
    expect(sessionSpans.map((s) => s.name).sort()).toEqual(["invoke_agent build", "invoke_agent general"])
    expect(childSpan.spanContext().traceId).toBe(taskSpan.spanContext().traceId)
    expect(eventsNamed(r.logs, "user_prompt")).toHaveLength(1)
    const promptIds = new Set(r.logs.map((l) => l.attributes["prompt.id"]).filter((p) => p !== undefined))
    expect(promptIds.size).toBe(1)
    expect(total(r, prefix("session.count"))).toBe(2)
  })

  test("continue: two prompts in one session across two processes, a fresh start then a continued one, two prompt ids", async () => {
    const fixture = loadFixture("continue")
    const r = await receive(fixture)
    expect(total(r, prefix("session.count"))).toBe(2)
    expect(r.metrics.map((m) => [counterTotal(m, prefix("session.count"), { start_type: "fresh" }), counterTotal(m, prefix("session.count"), { start_type: "continue" })])).toEqual([
      [1, 0],
      [0, 1],
    ])
    const prompts = eventsNamed(r.logs, "user_prompt")
    expect(prompts).toHaveLength(2)
    expect(new Set(prompts.map((p) => p.attributes["prompt.id"])).size).toBe(2)
    expect(new Set(prompts.map((p) => p.attributes["session.id"])).size).toBe(1)
  })

  test("write-edit: the gauge holds the session's running lines, per type", async () => {
    const fixture = loadFixture("write-edit")
    const r = await receive(fixture)
    const lines = truthLines(fixture)
    expect(gaugeValues(r.metrics[0]!, prefix("lines_of_code.total"), { type: "added" })).toEqual([lines.added])
    expect(gaugeValues(r.metrics[0]!, prefix("lines_of_code.total"), { type: "removed" })).toEqual([lines.removed])
    expect(lines).toEqual({ added: 5, removed: 1 })
  })
})

describe("switches stop only what they name", () => {
  test("OPENCODE_DISABLE_TRACES=tool: no tool spans; LLM and session spans intact, still parented", async () => {
    const r = await receive(loadFixture("write-edit"), { settings: { OPENCODE_DISABLE_TRACES: "tool" } })
    expect(r.spans.filter((s) => s.name.startsWith("execute_tool "))).toHaveLength(0)
    expect(r.spans.filter((s) => s.name.startsWith("chat "))).toHaveLength(3)
    expect(spanTreeProblems(r.spans)).toEqual([])
    expect(eventsNamed(r.logs, "tool_result")).toHaveLength(2) // events unaffected
  })

  test("OPENCODE_DISABLE_TRACES=session,llm: tool spans become roots, nothing dangles", async () => {
    const r = await receive(loadFixture("write-edit"), { settings: { OPENCODE_DISABLE_TRACES: "session,llm" } })
    expect(r.spans.map((s) => s.name).sort()).toEqual(["execute_tool edit", "execute_tool write", "tool.execution", "tool.execution"])
    expect(spanTreeProblems(r.spans)).toEqual([])
  })

  test("OPENCODE_DISABLE_METRICS stops only those metrics; OPENCODE_DISABLE_LOGS only the events", async () => {
    const fixture = loadFixture("write-edit")
    const r = await receive(fixture, { settings: { OPENCODE_DISABLE_METRICS: "token.usage,tool.duration", OPENCODE_DISABLE_LOGS: "1" } })
    expect(total(r, prefix("token.usage"))).toBe(0)
    expect(histogram(r, prefix("tool.duration")).count).toBe(0)
    expect(total(r, prefix("message.count"))).toBe(truthCompleted(fixture).length)
    expect(r.logs).toHaveLength(0)
    expect(r.spans.length).toBeGreaterThan(0)
  })
})

describe("Claude Code's trace shape", () => {
  test("one turn per prompt, holding its LLM calls; a permission wait under the tool", async () => {
    const r = await receive(loadFixture("permission-once"))
    const byId = new Map(r.spans.map((s) => [s.spanContext().spanId, s]))
    const turns = r.spans.filter((s) => s.name.startsWith("invoke_agent"))
    expect(turns).toHaveLength(1)
    for (const chat of r.spans.filter((s) => s.name.startsWith("chat ")))
      expect(byId.get(chat.parentSpanContext!.spanId)!.name).toBe(turns[0]!.name)
    const blocked = r.spans.filter((s) => s.name === "tool.blocked_on_user")
    expect(blocked).toHaveLength(1)
    expect(byId.get(blocked[0]!.parentSpanContext!.spanId)!.name).toBe("execute_tool bash")
    expect(blocked[0]!.attributes["decision"]).toBe("accept")
    const execution = r.spans.filter((s) => s.name === "tool.execution")
    expect(execution).toHaveLength(1)
    expect(byId.get(execution[0]!.parentSpanContext!.spanId)!.name).toBe("execute_tool bash")
    // Within the tool's span (a replay mixes recorded and current clocks, so only the containment is checked).
    const tool = byId.get(execution[0]!.parentSpanContext!.spanId)!
    expect(hrMs(execution[0]!.startTime)).toBeGreaterThanOrEqual(hrMs(tool.startTime))
    expect(hrMs(execution[0]!.endTime)).toBeLessThanOrEqual(hrMs(tool.endTime))
    expect(spanTreeProblems(r.spans)).toEqual([])
  })

  test("a rejected call has no tool.execution", async () => {
    const r = await receive(loadFixture("permission-reject"))
    expect(r.spans.filter((s) => s.name === "tool.execution")).toHaveLength(0)
    expect(r.spans.filter((s) => s.name === "tool.blocked_on_user")).toHaveLength(1)
  })

  test("claude-code profile: SigNoz-style log queries match (body claude_code.api_request with model and cost_usd)", async () => {
    const r = await receive(loadFixture("write-edit"), { settings: { OPENCODE_PROFILE: "claude-code" } })
    const requests = r.logs.filter((l) => l.body === "claude_code.api_request")
    expect(requests).toHaveLength(3)
    for (const l of requests) {
      expect(l.attributes["model"]).toBe("m")
      expect(typeof l.attributes["cost_usd"]).toBe("number")
    }
    const results = r.logs.filter((l) => l.body === "claude_code.tool_result")
    expect(results.map((l) => [l.attributes["tool_name"], l.attributes["success"]])).toEqual([
      ["Write", "true"],
      ["Edit", "true"],
    ])
    // Claude Code's resource: its service name, delta temporality (dashboards for it sum raw samples).
    expect(r.logs.every((l) => l.resource.attributes["service.name"] === "claude-code")).toBe(true)
    expect(total(r, "claude_code.token.usage")).toBeGreaterThan(0)
  })

  test("continue: one turn per prompt, in each process, each a root", async () => {
    const r = await receive(loadFixture("continue"))
    const turns = r.spans.filter((s) => s.name.startsWith("invoke_agent"))
    expect(turns).toHaveLength(2)
    expect(turns.every((t) => t.parentSpanContext === undefined)).toBe(true)
  })
})
