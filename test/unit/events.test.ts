/**
 * The events of issue #14 item 6 over recorded fixtures: compaction, api_retries_exhausted, assistant_response,
 * session.count's start_type and tool_result's tool_use_id and tool_input_size_bytes, each as often as its
 * opencode counterpart happened, with opencode's own figures (`opencode export`).
 */
import { describe, expect, test } from "bun:test"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { Effect, Layer } from "effect"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import { counterTotal, eventsNamed, loadFixture, replay, truthToolCalls, type Fixture } from "../lib/fixtures.ts"

/** Every run of a fixture, each through a fresh test layer (a fresh opencode process). */
const receive = async (fixture: Fixture, settings: Record<string, string> = {}) => {
  const runs: Array<Array<(typeof fixture.lines)[number]>> = []
  for (const line of fixture.lines) {
    if (line.hook === "fixture.run.start") runs.push([])
    else runs.at(-1)?.push(line)
  }
  const metrics: Array<ReadonlyArray<ResourceMetrics>> = []
  const logs: Array<ReadableLogRecord> = []
  for (const lines of runs) {
    const program = Effect.gen(function* () {
      yield* replay(lines)
      const memory = yield* MemoryExporter
      return { metrics: yield* memory.metrics, logs: yield* memory.logs }
    })
    const layer = Telemetry.layerTest(settings).pipe(Layer.provideMerge(OpencodeLog.layerSilent))
    const result = await Effect.runPromise(Effect.provide(program, layer))
    metrics.push(result.metrics)
    logs.push(...result.logs)
  }
  return { metrics, logs }
}

const messagesOf = (fixture: Fixture) => fixture.sessions.flatMap((s) => s.messages)
const textOf = (m: ReturnType<typeof messagesOf>[number]) =>
  m.parts
    .filter((p) => p.type === "text" && (p as { synthetic?: boolean }).synthetic !== true)
    .map((p) => String((p as { text?: string }).text ?? ""))
    .filter((t) => t !== "")
    .join("\n")

describe("compaction (auto, in opencode run)", () => {
  const fixture = loadFixture("compaction")
  const received = receive(fixture)

  test("one event per summary message, with its own tokens and cost, trigger auto, the context it summarised", async () => {
    const { logs } = await received
    const summaries = messagesOf(fixture).filter((m) => m.info.role === "assistant" && (m.info as { summary?: boolean }).summary === true)
    expect(summaries).toHaveLength(1)
    const events = eventsNamed(logs, "compaction")
    expect(events).toHaveLength(1)
    const event = events[0]!.attributes
    const summary = summaries[0]!.info
    // The call before the compaction: its whole context.
    const before = messagesOf(fixture).filter((m) => m.info.role === "assistant")[0]!.info.tokens!
    expect(event).toMatchObject({
      trigger: "auto",
      success: true,
      "message.id": summary.id,
      input_tokens: summary.tokens!.input,
      output_tokens: summary.tokens!.output,
      cost_usd: summary.cost!,
      pre_tokens: before.input + before.output + before.reasoning + before.cache.read + before.cache.write,
      post_tokens: summary.tokens!.output,
    })
    expect(event["error"]).toBeUndefined()
  })

  test("the claude-code profile: the string success, body claude_code.compaction", async () => {
    const { logs } = await receive(fixture, { OPENCODE_PROFILE: "claude-code" })
    const event = logs.find((l) => l.body === "claude_code.compaction")!
    expect([event.attributes["trigger"], event.attributes["success"]]).toEqual(["auto", "true"])
  })
})

describe("api_retries_exhausted", () => {
  test("six 429s: one event, 6 attempts, the final error; beside the api_error", async () => {
    const fixture = loadFixture("retries-exhausted")
    const { logs } = await receive(fixture)
    const failed = messagesOf(fixture).filter((m) => m.info.error !== undefined)
    expect(failed).toHaveLength(1)
    const events = eventsNamed(logs, "api_retries_exhausted")
    expect(events.map((e) => [e.attributes["message.id"], e.attributes["total_attempts"], e.attributes["status_code"], e.attributes["error.type"]])).toEqual([
      [failed[0]!.info.id, 6, "429", "APIError"],
    ])
    expect(Number(events[0]!.attributes["total_retry_duration_ms"])).toBeGreaterThanOrEqual(0)
    expect(eventsNamed(logs, "api_error")).toHaveLength(1)
  })

  test("retries that end in a success are not exhausted; an error without retries neither", async () => {
    for (const name of ["retry", "error", "text"]) {
      const { logs } = await receive(loadFixture(name))
      expect([name, eventsNamed(logs, "api_retries_exhausted")]).toEqual([name, []])
    }
  })
})

describe("assistant_response", () => {
  const scenarios = ["text", "write-edit", "subagent", "continue", "compaction", "error"]

  test("one per finished assistant message with text, its length; no text by default", async () => {
    for (const name of scenarios) {
      const fixture = loadFixture(name)
      const { logs } = await receive(fixture)
      const withText = messagesOf(fixture).filter((m) => m.info.role === "assistant" && textOf(m) !== "")
      const events = eventsNamed(logs, "assistant_response")
      expect([name, events.map((e) => e.attributes["message.id"]).sort()]).toEqual([name, withText.map((m) => m.info.id).sort()])
      for (const m of withText) {
        const event = events.find((e) => e.attributes["message.id"] === m.info.id)!
        expect([name, event.attributes["response_length"], event.attributes["response"]]).toEqual([name, textOf(m).length, undefined])
      }
    }
  })

  test("OPENCODE_LOG_ASSISTANT_RESPONSES=1: the text itself; OPENCODE_LOG_USER_PROMPTS=1 alone does not send it", async () => {
    const fixture = loadFixture("write-edit")
    const texts = messagesOf(fixture).filter((m) => m.info.role === "assistant").map(textOf).filter((t) => t !== "")
    const on = await receive(fixture, { OPENCODE_LOG_ASSISTANT_RESPONSES: "1" })
    expect(eventsNamed(on.logs, "assistant_response").map((e) => e.attributes["response"])).toEqual(texts)
    const prompts = await receive(fixture, { OPENCODE_LOG_USER_PROMPTS: "1" })
    expect(eventsNamed(prompts.logs, "assistant_response").map((e) => e.attributes["response"])).toEqual(texts.map(() => undefined))
  })
})

describe("session.count start_type", () => {
  test("fresh for every session opencode created (subagents too); continue in the process that resumed one", async () => {
    for (const name of ["text", "subagent", "continue"]) {
      const fixture = loadFixture(name)
      const { metrics } = await receive(fixture)
      const byRun = metrics.map((m) => ({
        fresh: counterTotal(m, "opencode.session.count", { start_type: "fresh" }),
        continue: counterTotal(m, "opencode.session.count", { start_type: "continue" }),
        total: counterTotal(m, "opencode.session.count"),
      }))
      const expected =
        name === "continue"
          ? [{ fresh: 1, continue: 0, total: 1 }, { fresh: 0, continue: 1, total: 1 }]
          : [{ fresh: fixture.sessions.length, continue: 0, total: fixture.sessions.length }]
      expect([name, byRun]).toEqual([name, expected])
    }
  })
})

describe("tool_result: tool_use_id and tool_input_size_bytes", () => {
  test("the callID under Claude Code's name, and the size of the arguments as JSON, not the arguments", async () => {
    for (const name of ["write-edit", "commits", "permission-reject"]) {
      const fixture = loadFixture(name)
      const { logs } = await receive(fixture)
      const results = eventsNamed(logs, "tool_result")
      const calls = truthToolCalls(fixture)
      expect(results.map((r) => r.attributes["tool_use_id"]).sort()).toEqual(calls.map((c) => c.callID).sort())
      for (const c of calls) {
        const event = results.find((r) => r.attributes["tool_use_id"] === c.callID)!
        const input = (c.state as { input?: unknown } | undefined)?.input ?? {}
        expect(event.attributes["tool_input_size_bytes"]).toBe(Buffer.byteLength(JSON.stringify(input), "utf8"))
        expect(event.attributes["tool_input"]).toBeUndefined()
      }
    }
  })
})
