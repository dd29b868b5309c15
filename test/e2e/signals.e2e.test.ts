/**
 * Every signal, exactly right, on the real opencode CLI: each scenario of test/support/scenarios.ts (the ones the
 * fixtures were recorded from) runs the pinned opencode with the plugin loaded from src/plugin.ts, exporting to a
 * loopback receiver over each OTLP protocol. What arrived is compared with opencode's own accounting
 * (`opencode export` of every session) and with git.
 *
 * Each opencode process is one segment of what the receiver got (`continue` has two processes, each with its own
 * cumulative series); a counter's value is the latest point of each series, summed over the processes.
 */
import { describe, expect, test } from "bun:test"
import { join } from "node:path"
import { REPO_ROOT } from "../support/opencode.ts"
import { startReceiver, type Protocol } from "../support/otlp-receiver.ts"
import { runScenario, SCENARIOS, type Scenario, type ScenarioResult } from "../support/scenarios.ts"
import {
  assistantMessages,
  truthCompleted,
  truthCost,
  truthErrored,
  truthLines,
  truthTokens,
  truthToolCalls,
  type Exported,
  type ExportedSession,
} from "../lib/fixtures.ts"
import {
  allSpans,
  counterTotal,
  decodedText,
  eventsNamed,
  histogramTotals,
  restartedSeries,
  spanTreeProblems,
  takeSegment,
  type Segment,
} from "../lib/received.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
const PROTOCOLS: ReadonlyArray<Protocol> = ["grpc", "http/protobuf", "http/json"]
const TIMEOUT = 120_000
const metric = (suffix: string) => `opencode.${suffix}`

interface Observed {
  readonly result: ScenarioResult
  /** What the receiver got, per opencode process (run). */
  readonly segments: ReadonlyArray<Segment>
  /** opencode's accounting. */
  readonly truth: Exported
}

/** Runs a scenario with the plugin exporting to a fresh receiver; the receiver's requests are split per run. */
const observe = async (protocol: Protocol, scenario: Scenario): Promise<Observed> => {
  const receiver = await startReceiver({ protocol, lifetimeMs: 5 * 60_000 })
  const segments: Array<Segment> = []
  try {
    const result = await runScenario(scenario, {
      plugins: [PLUGIN],
      env: { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_ENDPOINT: receiver.url, OPENCODE_OTLP_PROTOCOL: protocol },
      // The plugin flushes in dispose, before opencode exits: all of a process's data is in by now.
      onRunEnd: () => segments.push(takeSegment(receiver)),
    })
    const failed = result.exports.filter((e) => (e as { exportFailed?: boolean }).exportFailed === true)
    if (failed.length > 0) throw new Error(`opencode export failed: ${JSON.stringify(failed)}`)
    return { result, segments, truth: { sessions: result.exports as Array<ExportedSession> } }
  } finally {
    await receiver.stop()
  }
}

/** A rich description of a run, for failure messages. */
const explain = (o: Observed) =>
  o.result.runs
    .map((r) => `run ${r.run}: exit ${r.result.exitCode} ${r.result.durationMs} ms\n${r.result.logs.split("\n").filter((l) => /level=(WARN|ERROR)/.test(l)).join("\n")}`)
    .join("\n")

const isRetryable = (status: number) => status === 429 || status >= 500

describe.each(PROTOCOLS)("%s", (protocol) => {
  describe.each(SCENARIOS.map((s) => [s.name, s] as const))("%s", (name, scenario) => {
    let observed: Promise<Observed> | undefined
    /** The scenario runs once, when its first test needs it. */
    const get = () => (observed ??= observe(protocol, scenario))

    test(
      "opencode exits as expected; every export was accepted, from every process",
      async () => {
        const o = await get()
        expect(o.result.exitCodes, explain(o)).toEqual(scenario.expect.exitCodes)
        expect(o.result.runs.map((r) => r.result.timedOut)).toEqual(scenario.runs.map(() => false))
        expect(o.result.sessionIDs).toHaveLength(scenario.expect.sessions)
        expect(o.segments).toHaveLength(scenario.runs.length)
        for (const segment of o.segments) {
          expect(segment.requests.filter((r) => !r.accepted).map((r) => r.error ?? r.response)).toEqual([])
          expect(new Set(segment.requests.map((r) => r.signal))).toEqual(new Set(["traces", "metrics", "logs"]))
          expect(restartedSeries(segment)).toEqual([])
          for (const m of segment.metrics) if (m.type !== "gauge") expect([m.name, m.temporality]).toEqual([m.name, "cumulative"])
        }
      },
      TIMEOUT,
    )

    test(
      "sessions: session.count and session.created per session opencode created; every exported session has events",
      async () => {
        const o = await get()
        const sessions = o.result.sessionIDs
        // One start per session opencode created, and one per later process that continued a session.
        const continued = scenario.runs.filter((r) => r.args?.includes("--continue")).length
        expect(counterTotal(o.segments, metric("session.count"), { start_type: "fresh" })).toBe(sessions.length)
        expect(counterTotal(o.segments, metric("session.count"), { start_type: "continue" })).toBe(continued)
        expect(counterTotal(o.segments, metric("session.count"))).toBe(sessions.length + continued)
        const created = eventsNamed(o.segments, "session.created")
        expect(created.map((l) => String(l.attributes["session.id"])).sort()).toEqual([...sessions].sort())
        const logSessions = new Set(o.segments.flatMap((s) => s.logs.map((l) => String(l.attributes["session.id"]))))
        expect(logSessions).toEqual(new Set(o.truth.sessions.map((s) => s.info.id)))
        // Subagents name their parent.
        for (const s of o.truth.sessions) {
          const event = created.find((l) => l.attributes["session.id"] === s.info.id)
          expect(event?.attributes["session.parent_id"]).toBe(s.info.parentID)
        }
        expect(eventsNamed(o.segments, "user_prompt")).toHaveLength(scenario.runs.length)
      },
      TIMEOUT,
    )

    test(
      "tokens by type, cost, messages, api_request and api_error equal opencode's accounting",
      async () => {
        const o = await get()
        const tokens = truthTokens(o.truth)
        for (const [type, value] of Object.entries(tokens))
          expect([type, counterTotal(o.segments, metric("token.usage"), { type })]).toEqual([type, value])
        const cost = truthCost(o.truth)
        const exported = counterTotal(o.segments, metric("cost.usage"))
        expect(Math.abs(exported - cost)).toBeLessThanOrEqual(Math.max(cost, 1e-12) * 1e-9)
        const completed = truthCompleted(o.truth)
        const errored = truthErrored(o.truth)
        expect(counterTotal(o.segments, metric("message.count"))).toBe(completed.length)
        expect(counterTotal(o.segments, metric("model.usage"))).toBe(completed.length)
        const requests = eventsNamed(o.segments, "api_request")
        expect(requests.map((l) => String(l.attributes["message.id"])).sort()).toEqual(completed.map((m) => m.info.id).sort())
        // Each api_request carries its message's own numbers.
        for (const m of completed) {
          const event = requests.find((l) => l.attributes["message.id"] === m.info.id)!
          expect([event.attributes["input_tokens"], event.attributes["output_tokens"], event.attributes["cost_usd"]]).toEqual([
            m.info.tokens!.input,
            m.info.tokens!.output,
            m.info.cost!,
          ])
          expect(event.attributes["session.id"]).toBe(m.session)
        }
        const errors = eventsNamed(o.segments, "api_error")
        expect(errors.map((l) => String(l.attributes["message.id"])).sort()).toEqual(errored.map((m) => m.info.id).sort())
      },
      TIMEOUT,
    )

    test(
      "tool calls: one tool_result and one tool.duration point each, failures as opencode recorded them; decisions",
      async () => {
        const o = await get()
        const calls = truthToolCalls(o.truth)
        const failed = calls.filter((c) => c.state?.status === "error")
        const results = eventsNamed(o.segments, "tool_result")
        expect(results.map((l) => String(l.attributes["call.id"])).sort()).toEqual(calls.map((c) => String(c.callID)).sort())
        for (const c of calls) {
          const event = results.find((l) => l.attributes["call.id"] === c.callID)!
          expect([c.callID, event.attributes["tool_name"], event.attributes["success"]]).toEqual([
            c.callID,
            c.tool,
            c.state?.status === "completed",
          ])
        }
        expect(histogramTotals(o.segments, metric("tool.duration")).count).toBe(calls.length)
        expect(histogramTotals(o.segments, metric("tool.duration"), { success: false }).count).toBe(failed.length)

        const decisions = eventsNamed(o.segments, "tool_decision").map((d) => [d.attributes["tool_name"], d.attributes["decision"], d.attributes["source"]])
        const withDecision = results.map((l) => [l.attributes["tool_name"], l.attributes["success"], l.attributes["decision_type"]])
        if (name === "permission-once") {
          expect(decisions).toEqual([["bash", "accept", "user_temporary"]])
          expect(withDecision).toEqual([["bash", true, "accept"]])
        } else if (name === "permission-reject") {
          expect(decisions).toEqual([["bash", "reject", "user_reject"]])
          expect(withDecision).toEqual([["bash", false, "reject"]])
        } else expect(decisions).toEqual([])
      },
      TIMEOUT,
    )

    test(
      "lines of code per edit, and commits with git's shas",
      async () => {
        const o = await get()
        const lines = truthLines(o.truth)
        expect(counterTotal(o.segments, metric("lines_of_code.count"), { type: "added" })).toBe(lines.added)
        expect(counterTotal(o.segments, metric("lines_of_code.count"), { type: "removed" })).toBe(lines.removed)
        if (name === "write-edit") expect(lines).toEqual({ added: 5, removed: 1 })

        const made = o.result.git.shas.slice(0, -1) // the repo starts with one commit
        if (name === "commits") expect(made).toHaveLength(2)
        expect(counterTotal(o.segments, metric("commit.count"))).toBe(made.length)
        const shas = eventsNamed(o.segments, "commit").map((l) => String(l.attributes["commit.sha"]))
        expect(shas).toHaveLength(made.length)
        // Each event names a distinct commit of the log (git prints abbreviated shas).
        const resolved = shas.map((sha) => made.filter((full) => sha.length >= 7 && full.startsWith(sha)))
        expect(resolved.map((r) => r.length)).toEqual(shas.map(() => 1))
        expect(new Set(resolved.map((r) => r[0])).size).toBe(made.length)
      },
      TIMEOUT,
    )

    test(
      "retries and errors",
      async () => {
        const o = await get()
        const injected = scenario.script.filter((s) => s.status !== undefined && isRetryable(s.status)).length
        if (name === "retry") expect(injected).toBe(2)
        // opencode retries a call 5 times at most (its SessionRetry policy): a sixth failure ends it.
        expect(counterTotal(o.segments, metric("retry.count"))).toBe(Math.min(injected, 5))
        const exhausted = eventsNamed(o.segments, "api_retries_exhausted")
        const sessionErrors = eventsNamed(o.segments, "session.error")
        const apiErrors = eventsNamed(o.segments, "api_error")
        if (name === "retries-exhausted") {
          expect(exhausted.map((l) => [l.attributes["message.id"], l.attributes["total_attempts"], l.attributes["status_code"]])).toEqual(
            truthErrored(o.truth).map((m) => [m.info.id, 6, "429"]),
          )
          expect(sessionErrors.map((l) => [l.attributes["error.type"], l.attributes["status_code"]])).toEqual([["APIError", "429"]])
          expect(apiErrors.map((l) => l.attributes["message.id"])).toEqual(truthErrored(o.truth).map((m) => m.info.id))
          return
        }
        expect(exhausted).toEqual([])
        if (name === "error") {
          expect(sessionErrors.map((l) => [l.attributes["error.type"], l.attributes["status_code"]])).toEqual([["APIError", "400"]])
          expect(apiErrors.map((l) => [l.attributes["error.type"], l.attributes["status_code"]])).toEqual([["APIError", "400"]])
          expect(truthErrored(o.truth).map((m) => m.info.error?.data?.statusCode)).toEqual([400])
        } else {
          expect(sessionErrors).toEqual([])
          expect(apiErrors).toEqual([])
        }
      },
      TIMEOUT,
    )

    test(
      "compaction, assistant_response and tool_use_id as opencode recorded them",
      async () => {
        const o = await get()
        const messages = assistantMessages(o.truth)
        const summaries = messages.filter((m) => (m.info as { summary?: boolean }).summary === true)
        if (name === "compaction") expect(summaries).toHaveLength(1)
        const compactions = eventsNamed(o.segments, "compaction")
        expect(compactions.map((l) => [l.attributes["message.id"], l.attributes["trigger"], l.attributes["output_tokens"], l.attributes["cost_usd"]])).toEqual(
          summaries.map((m) => [m.info.id, "auto", m.info.tokens!.output, m.info.cost!]),
        )
        const withText = messages.filter((m) => m.parts.some((p) => p.type === "text" && String((p as { text?: string }).text ?? "") !== ""))
        const responses = eventsNamed(o.segments, "assistant_response")
        expect(responses.map((l) => String(l.attributes["message.id"])).sort()).toEqual(withText.map((m) => m.info.id).sort())
        expect(responses.filter((l) => l.attributes["response"] !== undefined)).toEqual([])
        const results = eventsNamed(o.segments, "tool_result")
        expect(results.map((l) => l.attributes["tool_use_id"])).toEqual(results.map((l) => l.attributes["call.id"]))
      },
      TIMEOUT,
    )

    test(
      "spans: one trace per turn, rooted at its invoke_agent span; one tool span per call, one chat span per LLM call",
      async () => {
        const o = await get()
        const spans = allSpans(o.segments)
        expect(spanTreeProblems(spans)).toEqual([])
        const sessionSpans = spans.filter((s) => s.name.startsWith("invoke_agent"))
        expect([...new Set(sessionSpans.map((s) => String(s.attributes["session.id"])))].sort()).toEqual([...o.result.sessionIDs].sort())
        const prompts = eventsNamed(o.segments, "user_prompt").length
        const subagents = eventsNamed(o.segments, "session.created").filter((l) => l.attributes["session.parent_id"] !== undefined).length
        expect(sessionSpans).toHaveLength(prompts + subagents)
        // A main session's turn is its trace's root; every span lies within a turn.
        const byId = new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]))
        const rootOf = (s: (typeof spans)[number]): (typeof spans)[number] => {
          const parent = s.parentSpanId === "" ? undefined : byId.get(`${s.traceId}/${s.parentSpanId}`)
          return parent === undefined ? s : rootOf(parent)
        }
        for (const s of spans) expect([s.name, rootOf(s).name.startsWith("invoke_agent")]).toEqual([s.name, true])
        for (const turn of sessionSpans.filter((s) => s.attributes["session.kind"] === "main")) expect(turn.parentSpanId).toBe("")

        const calls = truthToolCalls(o.truth)
        const toolSpans = spans.filter((s) => s.name.startsWith("execute_tool "))
        expect(toolSpans.map((s) => `${s.name} ${s.attributes["gen_ai.tool.call.id"]}`).sort()).toEqual(
          calls.map((c) => `execute_tool ${c.tool} ${c.callID}`).sort(),
        )

        const messages = assistantMessages(o.truth)
        const chatSpans = spans.filter((s) => s.name.startsWith("chat "))
        expect(chatSpans.map((s) => `${s.name} ${s.attributes["gen_ai.response.id"]}`).sort()).toEqual(
          messages.map((m) => `chat ${m.info.modelID} ${m.info.id}`).sort(),
        )
        expect(chatSpans.every((s) => s.kind === "CLIENT")).toBe(true)

        if (name === "subagent") {
          const child = o.truth.sessions.find((s) => s.info.parentID !== undefined)!
          const childSpan = sessionSpans.find((s) => s.attributes["session.id"] === child.info.id)!
          const taskSpan = toolSpans.find((s) => s.name === "execute_tool task")!
          expect(childSpan.parentSpanId).toBe(taskSpan.spanId)
          expect(childSpan.traceId).toBe(taskSpan.traceId)
          expect(childSpan.attributes["session.parent_id"]).toBe(child.info.parentID!)
        }
      },
      TIMEOUT,
    )

    test(
      "no prompt text and no file content in anything exported",
      async () => {
        const o = await get()
        const text = decodedText(o.segments)
        expect(text.length).toBeGreaterThan(0)
        const secrets = scenario.runs.map((r) => r.prompt)
        for (const step of scenario.script) {
          const args = step.toolCall?.arguments ?? {}
          for (const key of ["content", "newString", "oldString"]) {
            const value = args[key]
            if (typeof value !== "string") continue
            secrets.push(value, ...value.split("\n").filter((l) => l.length >= 8))
          }
        }
        for (const secret of secrets) expect(text.includes(JSON.stringify(secret).slice(1, -1)), secret).toBe(false)
      },
      TIMEOUT,
    )
  })
})
