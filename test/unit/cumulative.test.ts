/**
 * Cumulative metrics cost only what changed: each export carries the series recorded since the previous one,
 * with running totals and a stable start time; memory is bounded by idle time and a series limit.
 */
import { describe, expect, test } from "bun:test"
import type { HrTime } from "@opentelemetry/api"
import { resourceFromAttributes } from "@opentelemetry/resources"
import {
  AggregationTemporality,
  DataPointType,
  type Histogram,
  type MetricData,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics"
import { Effect } from "effect"
import { CumulativeState } from "../../src/exporters/cumulative.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import { Instruments } from "../../src/services/Instruments.ts"
import { effectTest } from "../lib/effect.ts"

const resource = resourceFromAttributes({ "service.name": "test" })
const scope = { name: "scope", version: "1" }
const time = (s: number): HrTime => [s, 0]

const sum = (points: Array<[Record<string, string>, number]>, at: number): MetricData => ({
  descriptor: { name: "c", description: "", unit: "", valueType: 1 },
  aggregationTemporality: AggregationTemporality.DELTA,
  dataPointType: DataPointType.SUM,
  isMonotonic: true,
  dataPoints: points.map(([attributes, value]) => ({ attributes, value, startTime: time(at - 1), endTime: time(at) })),
})
const histogram = (values: Array<number>, at: number): MetricData => ({
  descriptor: { name: "h", description: "", unit: "ms", valueType: 1 },
  aggregationTemporality: AggregationTemporality.DELTA,
  dataPointType: DataPointType.HISTOGRAM,
  dataPoints: [
    {
      attributes: {},
      startTime: time(at - 1),
      endTime: time(at),
      value: {
        buckets: { boundaries: [10], counts: [values.filter((v) => v <= 10).length, values.filter((v) => v > 10).length] },
        count: values.length,
        sum: values.reduce((a, b) => a + b, 0),
        min: Math.min(...values),
        max: Math.max(...values),
      },
    },
  ],
})
const gauge = (value: number, at: number): MetricData => ({
  descriptor: { name: "g", description: "", unit: "", valueType: 1 },
  aggregationTemporality: AggregationTemporality.DELTA,
  dataPointType: DataPointType.GAUGE,
  dataPoints: [{ attributes: {}, value, startTime: time(at - 1), endTime: time(at) }],
})
const collection = (...metrics: Array<MetricData>): ResourceMetrics => ({ resource, scopeMetrics: [{ scope, metrics }] })
const points = (out: ResourceMetrics) =>
  out.scopeMetrics.flatMap((s) => s.metrics.flatMap((m) => m.dataPoints.map((p) => ({ name: m.descriptor.name, temporality: m.aggregationTemporality, ...p }))))

describe("CumulativeState", () => {
  test("exports running totals of the changed series only, from their first start time", () => {
    const state = new CumulativeState()
    const first = points(state.add(collection(sum([[{ s: "a" }, 2], [{ s: "b" }, 5]], 10))))
    expect(first.map((p) => [p.attributes["s"], p.value])).toEqual([["a", 2], ["b", 5]])
    const second = points(state.add(collection(sum([[{ s: "a" }, 3]], 20))))
    expect(second).toHaveLength(1)
    expect(second[0]).toMatchObject({ value: 5, startTime: time(9), endTime: time(20), temporality: AggregationTemporality.CUMULATIVE })
    expect(points(state.add(collection()))).toHaveLength(0)
    expect(points(state.snapshot(resource)).map((p) => p.value)).toEqual([5, 5])
  })

  test("attribute order does not split a series", () => {
    const state = new CumulativeState()
    state.add(collection(sum([[{ x: "1", y: "2" }, 1]], 1)))
    const out = points(state.add(collection(sum([[{ y: "2", x: "1" }, 1]], 2))))
    expect(out.map((p) => p.value)).toEqual([2])
    expect(state.size).toBe(1)
  })

  test("histograms add buckets, count and sum and keep the extremes; gauges keep the last value", () => {
    const state = new CumulativeState()
    state.add(collection(histogram([5, 20], 1), gauge(7, 1)))
    const out = points(state.add(collection(histogram([1, 30, 8], 2), gauge(3, 2))))
    const h = out.find((p) => p.name === "h")!.value as Histogram
    expect(h).toEqual({ buckets: { boundaries: [10], counts: [3, 2] }, count: 5, sum: 64, min: 1, max: 30 })
    expect(out.find((p) => p.name === "g")!.value).toBe(3)
  })

  test("forgets idle series and the oldest past the limit; a forgotten series restarts from 0", () => {
    let now = 0
    const state = new CumulativeState({ maxSeries: 2, idleMs: 1_000, now: () => now })
    state.add(collection(sum([[{ s: "a" }, 1], [{ s: "b" }, 1], [{ s: "c" }, 1]], 1)))
    expect(state.size).toBe(2)
    expect(points(state.snapshot(resource)).map((p) => p.attributes["s"])).toEqual(["b", "c"])
    now = 500
    state.add(collection(sum([[{ s: "c" }, 1]], 2)))
    now = 1_200
    expect(points(state.snapshot(resource)).map((p) => p.attributes["s"])).toEqual(["c"])
    const restarted = points(state.add(collection(sum([[{ s: "a" }, 4]], 30))))
    expect(restarted[0]).toMatchObject({ value: 4, startTime: time(29) })
  })
})

describe("through the layer", () => {
  const cumulative = effectTest(Telemetry.layerTest())
  cumulative("a flush re-sends only the sessions that changed since the last one", () =>
    Effect.gen(function* () {
      const instruments = yield* Instruments
      const memory = yield* MemoryExporter
      for (const session of ["s1", "s2", "s3"]) yield* instruments.count("session.count", 1, { "session.id": session })
      yield* instruments.count("token.usage", 10, { "session.id": "s1", type: "input" })
      yield* memory.metrics
      yield* instruments.count("token.usage", 5, { "session.id": "s1", type: "input" })
      const exports = yield* memory.metrics
      const last = points(exports.at(-1)!)
      expect(last.map((p) => [p.name, p.attributes["session.id"], p.value])).toEqual([["opencode.token.usage", "s1", 15]])
      expect(last[0]!.temporality).toBe(AggregationTemporality.CUMULATIVE)
    }),
  )

  const delta = effectTest(Telemetry.layerTest({ OPENCODE_OTLP_METRICS_TEMPORALITY: "delta" }))
  delta("with delta temporality each export carries what was recorded since the last", () =>
    Effect.gen(function* () {
      const instruments = yield* Instruments
      const memory = yield* MemoryExporter
      yield* instruments.count("token.usage", 10, { type: "input" })
      yield* memory.metrics
      yield* instruments.count("token.usage", 5, { type: "input" })
      const last = points((yield* memory.metrics).at(-1)!)
      expect(last.map((p) => [p.value, p.temporality])).toEqual([[5, AggregationTemporality.DELTA]])
    }),
  )
})
