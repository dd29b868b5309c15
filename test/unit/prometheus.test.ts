/**
 * The Prometheus pull endpoint's text exposition, in both namings: the Collector's (default profile) and
 * OpenTelemetry JS's (claude-code profile, what Claude Code's own /metrics serves).
 */
import { describe, expect, test } from "bun:test"
import type { Attributes, HrTime } from "@opentelemetry/api"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { AggregationTemporality, DataPointType, MeterProvider, type MetricData, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { PullReader, serialize } from "../../src/exporters/prometheus.ts"

const time: HrTime = [1, 0]
const point = <T>(attributes: Attributes, value: T) => ({ attributes, value, startTime: time, endTime: time })
const descriptor = (name: string, unit = "", description = "d") => ({ name, description, unit, valueType: 1 })

const counter = (name: string, unit: string, points: Array<[Attributes, number]>, description = "d"): MetricData => ({
  descriptor: descriptor(name, unit, description),
  aggregationTemporality: AggregationTemporality.CUMULATIVE,
  dataPointType: DataPointType.SUM,
  isMonotonic: true,
  dataPoints: points.map(([a, v]) => point(a, v)),
})
const upDown = (name: string, unit: string, points: Array<[Attributes, number]>): MetricData => ({
  descriptor: descriptor(name, unit),
  aggregationTemporality: AggregationTemporality.CUMULATIVE,
  dataPointType: DataPointType.SUM,
  isMonotonic: false,
  dataPoints: points.map(([a, v]) => point(a, v)),
})
const gauge = (name: string, unit: string, points: Array<[Attributes, number]>): MetricData => ({
  descriptor: descriptor(name, unit),
  aggregationTemporality: AggregationTemporality.CUMULATIVE,
  dataPointType: DataPointType.GAUGE,
  dataPoints: points.map(([a, v]) => point(a, v)),
})
const histogram = (name: string, unit: string, attributes: Attributes): MetricData => ({
  descriptor: descriptor(name, unit),
  aggregationTemporality: AggregationTemporality.CUMULATIVE,
  dataPointType: DataPointType.HISTOGRAM,
  dataPoints: [
    point(attributes, {
      buckets: { boundaries: [10, 100], counts: [1, 2, 1] },
      sum: 250.5,
      count: 4,
      min: 1,
      max: 200,
    }),
  ],
})

const collection = (resource: Attributes, metrics: Array<MetricData>): ResourceMetrics => ({
  resource: resourceFromAttributes(resource),
  scopeMetrics: [{ scope: { name: "test" }, metrics }],
})
const lines = (text: string) => text.split("\n").filter((l) => l !== "")
/** A valid text-format line: a comment, or `name{label="value",...} value` with each label name once. */
const valid = (line: string) => {
  if (/^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) return true
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? \S+$/.exec(line)
  if (m === null) return false
  const names = [...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)].map((x) => x[1])
  return new Set(names).size === names.length
}

const resource = {
  "service.name": "opencode",
  "service.namespace": "dev",
  "service.instance.id": "abc-1",
  "service.version": "1.2.3",
  "host.arch": "arm64",
}

describe("metric names", () => {
  const metrics = [
    counter("claude_code.token.usage", "tokens", [[{}, 1]]),
    counter("claude_code.active_time.total", "s", [[{}, 2]]),
    counter("weird..name-x", "", [[{}, 3]]),
    counter("ns:sub.count", "", [[{}, 4]]),
  ]
  test("collector: tokens, unit suffix, total moved to the end, ':' kept", () => {
    const text = serialize(collection(resource, metrics), "collector")
    expect(lines(text).filter((l) => !l.startsWith("#") && !l.startsWith("target_info"))).toEqual([
      "claude_code_token_usage_tokens_total 1",
      "claude_code_active_time_seconds_total 2",
      "weird_name_x_total 3",
      "ns:sub_count_total 4",
    ])
    expect(text).toContain("# TYPE claude_code_token_usage_tokens_total counter")
  })
  test("otel-js: no unit, _total unless present, no ':' and no repeated underscores", () => {
    const text = serialize(collection(resource, metrics), "otel-js")
    expect(lines(text).filter((l) => !l.startsWith("#") && !l.startsWith("target_info"))).toEqual([
      "claude_code_token_usage_total 1",
      "claude_code_active_time_total 2",
      "weird_name_x_total 3",
      "ns_sub_count_total 4",
    ])
    expect(text).toContain("# TYPE claude_code_active_time_total counter")
  })
})

describe("labels", () => {
  const points: Array<[Attributes, number]> = [[{ "session.id": "a", session_id: "b", "tool-name": "bash", "9lives": "x", _private: "p" }, 1]]
  test("collector: colliding keys merged with ';' in the order of the original keys, Collector label rules", () => {
    const text = serialize(collection({}, [counter("c", "", points)]), "collector")
    // "session.id" < "session_id": a's value first. Digit -> key_, lone leading underscore -> key_.
    expect(lines(text)).toContain('c_total{key_9lives="x",key_private="p",session_id="a;b",tool_name="bash"} 1')
    for (const l of lines(text)) expect([l, valid(l)]).toEqual([l, true])
  })
  test("otel-js: colliding keys merged, OpenTelemetry JS's sanitizer for keys", () => {
    const text = serialize(collection({}, [counter("c", "", [[{ "user..id": "u", "session.id": "a", session_id: "b" }, 1]])]), "otel-js")
    expect(lines(text)).toContain('c_total{user_id="u",session_id="a;b"} 1')
    for (const l of lines(text)) expect([l, valid(l)]).toEqual([l, true])
  })
  test("values: backslash, double quote and newline escaped; non-strings as the exporters write them", () => {
    for (const naming of ["collector", "otel-js"] as const) {
      const text = serialize(collection({}, [counter("c", "", [[{ a: 'x\\y"z\nw', b: true, c: 1.5, d: ["p", "q"] }, 1]])]), naming)
      expect(lines(text)).toContain('c_total{a="x\\\\y\\"z\\nw",b="true",c="1.5",d="[\\"p\\",\\"q\\"]"} 1')
    }
  })
  test("merged values are escaped too", () => {
    const text = serialize(collection({}, [counter("c", "", [[{ "k.x": 'a"', k_x: "b\\" }, 1]])]), "collector")
    expect(lines(text)).toContain('c_total{k_x="a\\";b\\\\"} 1')
  })
})

describe("target_info", () => {
  const withDuplicates = { ...resource, service_name: "other" }
  test("otel-js: every resource attribute as a label, colliding keys merged", () => {
    const text = serialize(collection(withDuplicates, []), "otel-js")
    expect(lines(text)).toEqual([
      "# HELP target_info Target metadata",
      "# TYPE target_info gauge",
      'target_info{service_name="opencode;other",service_namespace="dev",service_instance_id="abc-1",service_version="1.2.3",host_arch="arm64"} 1',
    ])
  })
  test("otel-js: served for an empty resource too, as OpenTelemetry JS does", () => {
    expect(lines(serialize(collection({}, []), "otel-js"))).toEqual(["# HELP target_info Target metadata", "# TYPE target_info gauge", "target_info 1"])
  })
  test("collector: job = namespace/name, instance = service.instance.id, the rest as labels", () => {
    const text = serialize(collection(withDuplicates, []), "collector")
    expect(lines(text)).toEqual([
      "# HELP target_info Target metadata",
      "# TYPE target_info gauge",
      'target_info{host_arch="arm64",instance="abc-1",job="dev/opencode",service_name="other",service_version="1.2.3"} 1',
    ])
  })
  test("collector: job without a namespace; none at all without service.name and service.instance.id", () => {
    expect(lines(serialize(collection({ "service.name": "opencode" }, []), "collector"))).toContain('target_info{job="opencode"} 1')
    expect(serialize(collection({ "host.arch": "arm64" }, []), "collector")).not.toContain("target_info")
    expect(serialize(collection({}, []), "collector")).not.toContain("target_info")
  })
})

describe("histograms and gauges", () => {
  test("collector: _bucket with cumulative counts and le, _sum, _count; unit in the name", () => {
    const text = serialize(collection({}, [histogram("opencode.tool.duration", "ms", { "tool.name": "bash" })]), "collector")
    expect(lines(text)).toEqual([
      "# HELP opencode_tool_duration_milliseconds d",
      "# TYPE opencode_tool_duration_milliseconds histogram",
      'opencode_tool_duration_milliseconds_bucket{tool_name="bash",le="10"} 1',
      'opencode_tool_duration_milliseconds_bucket{tool_name="bash",le="100"} 3',
      'opencode_tool_duration_milliseconds_bucket{tool_name="bash",le="+Inf"} 4',
      'opencode_tool_duration_milliseconds_sum{tool_name="bash"} 250.5',
      'opencode_tool_duration_milliseconds_count{tool_name="bash"} 4',
    ])
  })
  test("otel-js: no unit in the name; an attribute that collides with le does not duplicate it", () => {
    const text = serialize(collection({}, [histogram("claude_code.tool.duration", "ms", { le: "x" })]), "otel-js")
    expect(lines(text).filter((l) => !l.startsWith("#") && !l.startsWith("target_info"))).toEqual([
      'claude_code_tool_duration_bucket{le="10"} 1',
      'claude_code_tool_duration_bucket{le="100"} 3',
      'claude_code_tool_duration_bucket{le="+Inf"} 4',
      'claude_code_tool_duration_sum{le="x"} 250.5',
      'claude_code_tool_duration_count{le="x"} 4',
    ])
  })
  test("gauges and non-monotonic sums are gauges, without _total", () => {
    const metrics = [gauge("opencode.context.ratio", "1", [[{ m: "x" }, 0.5]]), upDown("opencode.sessions.active", "{session}", [[{}, 2]])]
    for (const naming of ["collector", "otel-js"] as const) {
      const text = serialize(collection({}, metrics), naming)
      expect(text).toContain("# TYPE opencode_context_ratio gauge\nopencode_context_ratio{m=\"x\"} 0.5\n")
      expect(text).toContain("# TYPE opencode_sessions_active gauge\nopencode_sessions_active 2\n")
    }
  })
  test("otel-js: an empty description is 'description missing', as OpenTelemetry JS writes it", () => {
    const text = serialize(collection({}, [counter("c", "", [[{}, 1]], "")]), "otel-js")
    expect(text).toContain("# HELP c_total description missing\n# TYPE c_total counter\n")
  })
})

test("through a MeterProvider and the PullReader: cumulative totals, valid exposition in both namings", async () => {
  const reader = new PullReader()
  const provider = new MeterProvider({ resource: resourceFromAttributes(resource), readers: [reader] })
  const meter = provider.getMeter("test")
  const tokens = meter.createCounter("claude_code.token.usage", { unit: "tokens" })
  tokens.add(3, { "session.id": "s", session_id: "t", type: "input" })
  const first = await reader.scrape()
  tokens.add(4, { "session.id": "s", session_id: "t", type: "input" })
  meter.createHistogram("claude_code.tool.duration", { unit: "ms" }).record(5, { tool: 'a"b' })
  const second = await reader.scrape()
  expect(serialize(first, "otel-js")).toContain('claude_code_token_usage_total{session_id="s;t",type="input"} 3\n')
  const otel = serialize(second, "otel-js")
  const collector = serialize(second, "collector")
  expect(otel).toContain('claude_code_token_usage_total{session_id="s;t",type="input"} 7\n')
  expect(collector).toContain('claude_code_token_usage_tokens_total{session_id="s;t",type="input"} 7\n')
  expect(collector).toContain('claude_code_tool_duration_milliseconds_count{tool="a\\"b"} 1\n')
  for (const text of [otel, collector]) for (const l of lines(text)) expect([l, valid(l)]).toEqual([l, true])
  await provider.shutdown()
})
