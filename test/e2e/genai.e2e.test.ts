/**
 * The GenAI conventions' client metrics on the real opencode CLI: scenarios of test/support/scenarios.ts run with
 * the plugin exporting to a loopback receiver; the histograms' counts and sums must equal `opencode export`,
 * counted as the conventions count (input with cached tokens, output with reasoning). Each protocol once (the
 * multi-call write-edit scenario), the error scenario on HTTP/protobuf, and the latest set on HTTP/JSON.
 */
import { describe, expect, test } from "bun:test"
import { join } from "node:path"
import { REPO_ROOT } from "../support/opencode.ts"
import { startReceiver, type HistogramValue, type Protocol } from "../support/otlp-receiver.ts"
import { runScenario, scenarioNamed } from "../support/scenarios.ts"
import { assistantMessages, truthErrored, truthTokens, type Exported, type ExportedSession } from "../lib/fixtures.ts"
import { counterTotal, histogramTotals, latestPoints, takeSegment, type Segment } from "../lib/received.ts"
import { GENAI_METRICS } from "../../src/signals.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
const TIMEOUT = 120_000

const observe = async (protocol: Protocol, scenario: string, env: Record<string, string> = {}) => {
  const receiver = await startReceiver({ protocol, lifetimeMs: 5 * 60_000 })
  const segments: Array<Segment> = []
  try {
    const result = await runScenario(scenarioNamed(scenario), {
      plugins: [PLUGIN],
      env: { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_ENDPOINT: receiver.url, OPENCODE_OTLP_PROTOCOL: protocol, ...env },
      onRunEnd: () => segments.push(takeSegment(receiver)),
    })
    const truth: Exported = { sessions: result.exports as Array<ExportedSession> }
    return { segments, truth }
  } finally {
    await receiver.stop()
  }
}

/** The conventions' counts of opencode's split. */
const conventionTotals = (truth: Exported) => {
  const t = truthTokens(truth)
  return { input: t.input + t.cacheRead + t.cacheCreation, output: t.output + t.reasoning, reasoning: t.reasoning, cacheRead: t.cacheRead }
}
const names = (segments: ReadonlyArray<Segment>) => new Set(segments.flatMap((s) => s.metrics.map((m) => m.name)))

describe.each(["grpc", "http/protobuf", "http/json"] as const)("%s, write-edit", (protocol) => {
  test(
    "gen_ai.client.token.usage and gen_ai.client.operation.duration equal opencode export, one point per call",
    async () => {
      const { segments, truth } = await observe(protocol, "write-edit")
      const calls = assistantMessages(truth).length
      const totals = conventionTotals(truth)
      expect(calls).toBeGreaterThan(1)
      expect(totals.reasoning).toBeGreaterThan(0)
      expect(histogramTotals(segments, "gen_ai.client.token.usage", { "gen_ai.token.type": "input" })).toEqual({ count: calls, sum: totals.input })
      expect(histogramTotals(segments, "gen_ai.client.token.usage", { "gen_ai.token.type": "output" })).toEqual({ count: calls, sum: totals.output })
      const duration = histogramTotals(segments, "gen_ai.client.operation.duration")
      expect(duration.count).toBe(calls)
      const seconds = assistantMessages(truth).reduce((n, m) => n + (m.info.time.completed! - m.info.time.created) / 1000, 0)
      expect(duration.sum).toBeCloseTo(seconds, 6)
      // The conventions' buckets, fixed names, and no session.id.
      const points = segments.flatMap((s) => [...latestPoints(s, "gen_ai.client.token.usage"), ...latestPoints(s, "gen_ai.client.operation.duration")])
      for (const p of points) {
        expect(p.attributes["session.id"]).toBeUndefined()
        expect(p.attributes["gen_ai.operation.name"]).toBe("chat")
        const spec = GENAI_METRICS[p.name as "gen_ai.client.token.usage"]
        expect((p.value as HistogramValue).explicitBounds).toEqual([...spec.buckets])
      }
      expect(names(segments).has("gen_ai.client.inference.duration")).toBe(false)
    },
    TIMEOUT,
  )
})

describe("http/protobuf, error", () => {
  test(
    "the failed call is timed with error.type; its tokens count as opencode's export says",
    async () => {
      const { segments, truth } = await observe("http/protobuf", "error")
      const errored = truthErrored(truth)
      expect(errored.length).toBeGreaterThan(0)
      const calls = assistantMessages(truth).length
      expect(histogramTotals(segments, "gen_ai.client.operation.duration").count).toBe(calls)
      for (const name of new Set(errored.map((m) => m.info.error!.name)))
        expect(histogramTotals(segments, "gen_ai.client.operation.duration", { "error.type": name }).count).toBe(errored.filter((m) => m.info.error!.name === name).length)
      expect(histogramTotals(segments, "gen_ai.client.token.usage", { "gen_ai.token.type": "input" })).toEqual({ count: calls, sum: conventionTotals(truth).input })
    },
    TIMEOUT,
  )
})

describe("http/json, write-edit, OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental", () => {
  test(
    "the latest set instead of the default one, equal to opencode export",
    async () => {
      const { segments, truth } = await observe("http/json", "write-edit", { OTEL_SEMCONV_STABILITY_OPT_IN: "http,gen_ai_latest_experimental" })
      const calls = assistantMessages(truth).length
      const totals = conventionTotals(truth)
      const emitted = names(segments)
      for (const [metric, spec] of Object.entries(GENAI_METRICS)) expect({ metric, emitted: emitted.has(metric) }).toEqual({ metric, emitted: spec.semconv === "latest" })
      expect(histogramTotals(segments, "gen_ai.client.inference.duration").count).toBe(calls)
      expect(histogramTotals(segments, "gen_ai.client.inference.operation.input_tokens")).toEqual({ count: calls, sum: totals.input })
      expect(histogramTotals(segments, "gen_ai.client.inference.operation.output_tokens")).toEqual({ count: calls, sum: totals.output })
      expect(counterTotal(segments, "gen_ai.client.inference.usage.input_tokens", { "gen_ai.token.modality": "unknown" })).toBe(totals.input)
      expect(counterTotal(segments, "gen_ai.client.inference.usage.output_tokens")).toBe(totals.output)
      expect(counterTotal(segments, "gen_ai.client.inference.usage.reasoning.output_tokens")).toBe(totals.reasoning)
      expect(counterTotal(segments, "gen_ai.client.inference.usage.cache_read.input_tokens")).toBe(totals.cacheRead)
    },
    TIMEOUT,
  )
})
