/**
 * The GenAI conventions' client metrics, over recorded opencode runs (test/fixtures) through the test layer: one
 * input and one output point per assistant message, sums equal to `opencode export` counted as the conventions
 * count (cached input in input, reasoning in output), durations, error.type, the opt-in set, the disable switch.
 */
import { describe, expect, test } from "bun:test"
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { ConfigProvider, Effect, Layer } from "effect"
import * as Config from "../../src/services/Config.ts"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import { GENAI_METRICS } from "../../src/signals.ts"
import { prometheusName } from "../../src/exporters/prometheus.ts"
import { assistantMessages, counterTotal, histogramTotals, loadFixture, replay, truthErrored, truthTokens, type Fixture } from "../lib/fixtures.ts"

/** Each run of a fixture through a fresh test layer, as a fresh opencode process would; the metrics of every run. */
const receive = async (fixture: Fixture, settings: Record<string, string> = {}) => {
  const runs: Array<Array<(typeof fixture.lines)[number]>> = []
  for (const line of fixture.lines) {
    if (line.hook === "fixture.run.start") runs.push([])
    else runs.at(-1)?.push(line)
  }
  const metrics: Array<ReadonlyArray<ResourceMetrics>> = []
  for (const lines of runs) {
    const program = Effect.gen(function* () {
      yield* replay(lines, { repeatEvents: true })
      return yield* (yield* MemoryExporter).metrics
    })
    const layer = Telemetry.layerTest(settings).pipe(Layer.provideMerge(OpencodeLog.layerSilent))
    metrics.push(await Effect.runPromise(Effect.provide(program, layer)))
  }
  return metrics
}

const histogram = (runs: ReadonlyArray<ReadonlyArray<ResourceMetrics>>, name: string, filter: Record<string, string> = {}) =>
  runs.reduce((t, m) => {
    const h = histogramTotals(m, name, filter)
    return { count: t.count + h.count, sum: t.sum + h.sum }
  }, { count: 0, sum: 0 })
const counter = (runs: ReadonlyArray<ReadonlyArray<ResourceMetrics>>, name: string, filter: Record<string, string> = {}) =>
  runs.reduce((n, m) => n + counterTotal(m, name, filter), 0)
const names = (runs: ReadonlyArray<ReadonlyArray<ResourceMetrics>>) =>
  new Set(runs.flatMap((m) => m.flatMap((c) => c.scopeMetrics.flatMap((s) => s.metrics.map((x) => x.descriptor.name)))))
const pointAttributes = (runs: ReadonlyArray<ReadonlyArray<ResourceMetrics>>, name: string) =>
  runs.flatMap((m) => m.flatMap((c) => c.scopeMetrics.flatMap((s) => s.metrics.filter((x) => x.descriptor.name === name).flatMap((x) => x.dataPoints.map((p) => p.attributes)))))

/** The conventions' counts of opencode's split: input with cache reads and writes, output with reasoning. */
const conventionTotals = (fixture: Fixture) => {
  const t = truthTokens(fixture)
  return { input: t.input + t.cacheRead + t.cacheCreation, output: t.output + t.reasoning, reasoning: t.reasoning, cacheRead: t.cacheRead, cacheWrite: t.cacheCreation }
}
const totalSeconds = (fixture: Fixture) =>
  assistantMessages(fixture).reduce((n, m) => n + (m.info.time.completed === undefined ? 0 : (m.info.time.completed - m.info.time.created) / 1000), 0)

describe.each(["text", "write-edit", "retry", "subagent", "continue", "error"] as const)("recorded scenario %s", (name) => {
  const fixture = loadFixture(name)
  const calls = assistantMessages(fixture).length
  const truth = conventionTotals(fixture)

  test("gen_ai.client.token.usage: one input and one output point per LLM call, sums as the conventions count", async () => {
    const runs = await receive(fixture)
    expect(calls).toBeGreaterThan(0)
    expect(histogram(runs, "gen_ai.client.token.usage", { "gen_ai.token.type": "input" })).toEqual({ count: calls, sum: truth.input })
    expect(histogram(runs, "gen_ai.client.token.usage", { "gen_ai.token.type": "output" })).toEqual({ count: calls, sum: truth.output })
  })

  test("gen_ai.client.operation.duration: one point per LLM call, in seconds", async () => {
    const runs = await receive(fixture)
    const h = histogram(runs, "gen_ai.client.operation.duration")
    expect(h.count).toBe(calls)
    // Messages completed are timed by opencode's own times; a failed one without completion by its end as seen.
    if (truthErrored(fixture).length === 0) expect(h.sum).toBeCloseTo(totalSeconds(fixture), 6)
    expect(histogram(runs, "gen_ai.client.operation.duration", { "error.type": "APIError" }).count).toBe(
      truthErrored(fixture).filter((m) => m.info.error?.name === "APIError").length,
    )
  })

  test("with gen_ai_latest_experimental: the latest set instead, with the same totals", async () => {
    const runs = await receive(fixture, { OPENCODE_SEMCONV_STABILITY_OPT_IN: "http, gen_ai_latest_experimental" } as never)
    const emitted = names(runs)
    for (const [metric, spec] of Object.entries(GENAI_METRICS)) expect({ metric, emitted: emitted.has(metric) }).toEqual({ metric, emitted: spec.semconv === "latest" })
    expect(histogram(runs, "gen_ai.client.inference.duration").count).toBe(calls)
    expect(histogram(runs, "gen_ai.client.inference.operation.input_tokens")).toEqual({ count: calls, sum: truth.input })
    expect(histogram(runs, "gen_ai.client.inference.operation.output_tokens")).toEqual({ count: calls, sum: truth.output })
    expect(counter(runs, "gen_ai.client.inference.usage.input_tokens", { "gen_ai.token.modality": "unknown" })).toBe(truth.input)
    expect(counter(runs, "gen_ai.client.inference.usage.output_tokens")).toBe(truth.output)
    expect(counter(runs, "gen_ai.client.inference.usage.cache_read.input_tokens")).toBe(truth.cacheRead)
    expect(counter(runs, "gen_ai.client.inference.usage.cache_write.input_tokens")).toBe(truth.cacheWrite)
    expect(counter(runs, "gen_ai.client.inference.usage.reasoning.output_tokens")).toBe(truth.reasoning)
  })
})

describe("GenAI metrics", () => {
  test("the conventions' attributes, no session.id (even when session ids are on), fixed names in the claude-code profile", async () => {
    const fixture = loadFixture("text")
    for (const settings of [{}, { OPENCODE_PROFILE: "claude-code" }]) {
      const runs = await receive(fixture, settings as never)
      const points = pointAttributes(runs, "gen_ai.client.token.usage")
      expect(points.length).toBe(2 * assistantMessages(fixture).length)
      for (const p of points) {
        expect(p["session.id"]).toBeUndefined()
        expect(p["gen_ai.operation.name"]).toBe("chat")
        expect(p["gen_ai.provider.name"]).toBe(assistantMessages(fixture)[0]!.info.providerID!)
        expect(p["gen_ai.request.model"]).toBe(assistantMessages(fixture)[0]!.info.modelID!)
        expect(p["gen_ai.response.model"]).toBe(assistantMessages(fixture)[0]!.info.modelID!)
      }
    }
  })

  test("the error fixture's failed call carries error.type on the duration, and its tokens still count", async () => {
    const fixture = loadFixture("error")
    const errored = truthErrored(fixture)
    expect(errored.length).toBeGreaterThan(0)
    const runs = await receive(fixture)
    const failed = pointAttributes(runs, "gen_ai.client.operation.duration").filter((p) => p["error.type"] !== undefined)
    expect(failed.map((p) => p["error.type"]).sort()).toEqual(errored.map((m) => m.info.error!.name).sort())
    // token.usage carries no error.type (the conventions' attributes for it do not include it).
    expect(pointAttributes(runs, "gen_ai.client.token.usage").every((p) => p["error.type"] === undefined)).toBe(true)
  })

  test("OPENCODE_DISABLE_METRICS takes full GenAI names; OPENCODE_METRIC_ATTRIBUTES and exclusions apply", async () => {
    const fixture = loadFixture("text")
    const runs = await receive(fixture, {
      OPENCODE_DISABLE_METRICS: "gen_ai.client.token.usage",
      OPENCODE_METRIC_ATTRIBUTES: "team=core",
      OPENCODE_EXCLUDE_METRICS_ATTRIBUTES: "gen_ai.response.model",
    } as never)
    const emitted = names(runs)
    expect(emitted.has("gen_ai.client.token.usage")).toBe(false)
    expect(emitted.has("gen_ai.client.operation.duration")).toBe(true)
    expect(emitted.has("opencode.token.usage")).toBe(true)
    for (const p of pointAttributes(runs, "gen_ai.client.operation.duration")) {
      expect(p["team"]).toBe("core")
      expect(p["gen_ai.response.model"]).toBeUndefined()
    }
  })

  test("unknown OTEL_SEMCONV_STABILITY_OPT_IN entries are ignored; OPENCODE_SEMCONV_STABILITY_OPT_IN wins", async () => {
    const fromEnv = (env: Record<string, string>) =>
      Effect.runPromise(
        Effect.map(Config.decodeFromEnv(), (c) => ({ latest: c.semconv.genAiLatest, problems: c.problems.length })).pipe(
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { OPENCODE_ENABLE_TELEMETRY: "1", ...env } }))),
        ),
      )
    expect(await fromEnv({})).toEqual({ latest: false, problems: 0 })
    expect(await fromEnv({ OTEL_SEMCONV_STABILITY_OPT_IN: "http,gen_ai_latest_experimental,nonsense" })).toEqual({ latest: true, problems: 0 })
    expect(await fromEnv({ OTEL_SEMCONV_STABILITY_OPT_IN: "http/dup,database" })).toEqual({ latest: false, problems: 0 })
    expect(await fromEnv({ OTEL_SEMCONV_STABILITY_OPT_IN: "gen_ai_latest_experimental", OPENCODE_SEMCONV_STABILITY_OPT_IN: "http" })).toEqual({
      latest: false,
      problems: 0,
    })
    const fixture = loadFixture("text")
    expect(names(await receive(fixture, { OPENCODE_SEMCONV_STABILITY_OPT_IN: "http,database" } as never)).has("gen_ai.client.token.usage")).toBe(true)
    expect(names(await receive(fixture, { OPENCODE_SEMCONV_STABILITY_OPT_IN: "gen_ai_latest_experimental" } as never)).has("gen_ai.client.token.usage")).toBe(false)
  })

  test("a Prometheus endpoint names them as a Collector does", () => {
    const named = Object.fromEntries(Object.entries(GENAI_METRICS).map(([name, spec]) => [name, prometheusName(name, spec.unit, spec.kind === "counter")]))
    expect(named["gen_ai.client.token.usage"]).toBe("gen_ai_client_token_usage")
    expect(named["gen_ai.client.operation.duration"]).toBe("gen_ai_client_operation_duration_seconds")
    expect(named["gen_ai.client.inference.duration"]).toBe("gen_ai_client_inference_duration_seconds")
    expect(named["gen_ai.client.inference.usage.input_tokens"]).toBe("gen_ai_client_inference_usage_input_tokens_total")
    expect(named["gen_ai.client.inference.usage.cache_read.input_tokens"]).toBe("gen_ai_client_inference_usage_cache_read_input_tokens_total")
  })
})
