/**
 * What an OpenTelemetry Collector's `prometheus` exporter serves for the OTLP metrics the plugin sent, written
 * here from the documented rules (the OpenTelemetry "Prometheus and OpenMetrics compatibility" specification and
 * the Prometheus OTLP translator the Collector uses, default `UnderscoreEscapingWithSuffixes` strategy), as an
 * independent reference: it does not use the plugin's own Prometheus exporter (src/exporters/prometheus.ts).
 *
 * The pipeline modelled is the one the public Collector-path dashboards assume (anthropics/claude-code-monitoring-
 * guide, ColeMurray/claude-code-otel, 0x7067/claude-code-metrics, ...):
 *
 *   OTLP receiver -> [deltatocumulative processor, for delta sums and histograms] -> prometheus exporter
 *
 * with the exporter's defaults: no `namespace`, suffixes on, `resource_to_telemetry_conversion` off (a series'
 * labels are its point attributes plus `job`/`instance` from the resource and the scope labels; every other
 * resource attribute goes to `target_info` only), and `send_timestamps: true` as in the monitoring guide's config
 * (a sample carries its latest point's time).
 *
 * Over time (collectorStates): the exporter knows a series only once a point of it arrived, and serves it from that
 * first value on (a delta stream's first delta, a cumulative stream's first point); there is no 0 sample before it.
 * So Prometheus's increase()/rate() over a series never count its first value.
 *
 * Metric names:
 * - the OTLP name is cut into tokens at every character outside [A-Za-z0-9:] (so dots, dashes and repeated
 *   underscores all become one `_`);
 * - the unit is split at `/` into a main and a "per" unit; a part holding `{...}` (an annotation such as `{token}`)
 *   contributes nothing; known UCUM units are spelled out (ms -> milliseconds, s -> seconds, By -> bytes, `1` -> none,
 *   ...), a per unit becomes `per_<word>` (s -> second, ...); unknown units (USD, tokens) stay as written, case kept;
 * - the unit word is appended unless the name already has it as a token;
 * - a monotonic sum (a counter) gets `total` as its last token (an existing `total` token moves to the end);
 *   a gauge with unit `1` gets `ratio`; non-monotonic sums are gauges;
 * - histograms are served as `<name>_bucket{le}`, `<name>_sum`, `<name>_count` (the name with its unit, no total).
 *
 * Label names: every character outside [A-Za-z0-9_] becomes `_`; a leading digit gets `key_` in front.
 * Label values: strings as they are, booleans `true`/`false`, numbers in decimal.
 */
import type { AttributeValue, Attributes, FlatMetric, HistogramValue } from "../support/otlp-receiver.ts"

/** UCUM units the translator spells out (main unit). */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  d: "days",
  h: "hours",
  min: "minutes",
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  By: "bytes",
  KiBy: "kibibytes",
  MiBy: "mebibytes",
  GiBy: "gibibytes",
  TiBy: "tibibytes",
  KBy: "kilobytes",
  MBy: "megabytes",
  GBy: "gigabytes",
  TBy: "terabytes",
  m: "meters",
  V: "volts",
  A: "amperes",
  J: "joules",
  W: "watts",
  g: "grams",
  Cel: "celsius",
  Hz: "hertz",
  "1": "",
  "%": "percent",
}

/** The "per" unit words (`requests/s` -> `per_second`). */
const PER_UNIT_WORDS: Readonly<Record<string, string>> = {
  s: "second",
  m: "minute",
  h: "hour",
  d: "day",
  w: "week",
  mo: "month",
  y: "year",
}

export type PromKind = "counter" | "gauge" | "histogram"

/** The Prometheus kind of an OTLP metric point, as the translator decides it. */
export const promKind = (m: Pick<FlatMetric, "type" | "isMonotonic">): PromKind | undefined =>
  m.type === "sum" ? (m.isMonotonic === true ? "counter" : "gauge") : m.type === "gauge" ? "gauge" : m.type === "histogram" ? "histogram" : undefined

const tokens = (s: string) => s.split(/[^A-Za-z0-9:]+/).filter((t) => t !== "")
const cleanUnit = (u: string) => u.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_+|_+$/g, "")
const hasAnnotation = (u: string) => u.includes("{") || u.includes("}")

/** The unit word(s) the translator appends for an OTLP unit: [main, per] (either may be ""). */
export const unitSuffixes = (unit: string): [string, string] => {
  const [mainPart = "", perPart] = unit.split(/\/(.*)/s)
  const main = mainPart === "" || hasAnnotation(mainPart) ? "" : cleanUnit(UNIT_WORDS[mainPart] ?? mainPart)
  const per = perPart === undefined || perPart === "" || hasAnnotation(perPart) ? "" : cleanUnit(PER_UNIT_WORDS[perPart] ?? perPart)
  return [main, per === "" ? "" : `per_${per}`]
}

/** The Prometheus metric family name the Collector's prometheus exporter gives an OTLP metric. */
export const collectorMetricName = (name: string, unit: string, kind: PromKind): string => {
  let parts = tokens(name)
  const [main, per] = unitSuffixes(unit)
  if (main !== "" && !parts.includes(main)) parts.push(main)
  if (per !== "" && !parts.includes(per)) parts.push(per)
  if (kind === "counter") parts = [...parts.filter((t) => t !== "total"), "total"]
  if (unit === "1" && kind === "gauge") parts = [...parts.filter((t) => t !== "ratio"), "ratio"]
  const joined = parts.join("_")
  return /^[0-9]/.test(joined) ? `_${joined}` : joined
}

/** A Prometheus label name for an OTLP attribute key. */
export const collectorLabelName = (key: string): string => {
  const sanitized = key.replace(/[^A-Za-z0-9_]/g, "_")
  return /^[0-9]/.test(sanitized) ? `key_${sanitized}` : sanitized
}

export const labelValue = (v: AttributeValue): string =>
  typeof v === "string" ? v : typeof v === "boolean" || typeof v === "number" || typeof v === "bigint" ? String(v) : JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x))

const labelsOf = (attributes: Attributes): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(attributes)) if (v !== undefined && v !== null) out[collectorLabelName(k)] = labelValue(v)
  return out
}

/** One Prometheus sample (a series' current value) as the exporter serves it. */
export interface PromSample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
  /** The time of the stream's latest point (ms): what the exporter stamps the sample with under `send_timestamps`. */
  readonly timestampMs?: number
}

export interface PromFamily {
  readonly name: string
  readonly kind: PromKind
  readonly samples: ReadonlyArray<PromSample>
}

/** What the exporter serves after one export arrived: `timeMs` is that export's point time. */
export interface CollectorState {
  readonly timeMs: number
  readonly families: ReadonlyArray<PromFamily>
}

interface Stream {
  readonly family: string
  readonly kind: PromKind
  readonly labels: Record<string, string>
  value: number
  histogram?: { count: number; sum: number; bounds: number[]; buckets: number[] }
  lastTime: bigint
}

const byTime = (a: FlatMetric, b: FlatMetric) => (a.timeUnixNano < b.timeUnixNano ? -1 : a.timeUnixNano > b.timeUnixNano ? 1 : 0)

/**
 * The deltatocumulative processor and the exporter's accumulator: per stream (resource, scope, metric, point
 * attributes) a delta point adds to the stream's running sum, a cumulative point replaces the stream's value.
 */
const accumulate = (streams: Map<string, Stream>, m: FlatMetric) => {
  const kind = promKind(m)
  if (kind === undefined) return
  const family = collectorMetricName(m.name, m.unit, kind)
  const job = typeof m.resource["service.namespace"] === "string" ? `${m.resource["service.namespace"]}/${labelValue(m.resource["service.name"])}` : labelValue(m.resource["service.name"] ?? "")
  const labels: Record<string, string> = {
    ...labelsOf(m.attributes),
    job,
    instance: labelValue(m.resource["service.instance.id"] ?? ""),
    otel_scope_name: m.scope.name,
    ...(m.scope.version === "" ? {} : { otel_scope_version: m.scope.version }),
  }
  const key = JSON.stringify([family, Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))])
  const delta = m.temporality === "delta"
  let s = streams.get(key)
  if (s === undefined) {
    s = { family, kind, labels, value: 0, lastTime: 0n }
    streams.set(key, s)
  }
  s.lastTime = m.timeUnixNano
  if (kind === "histogram") {
    const h = m.value as HistogramValue
    if (!delta || s.histogram === undefined) s.histogram = { count: h.count, sum: h.sum ?? 0, bounds: [...h.explicitBounds], buckets: [...h.bucketCounts] }
    else {
      s.histogram.count += h.count
      s.histogram.sum += h.sum ?? 0
      s.histogram.buckets = s.histogram.buckets.map((b, i) => b + (h.bucketCounts[i] ?? 0))
    }
  } else {
    const v = m.value as number
    s.value = delta && kind === "counter" ? s.value + v : v
  }
}

/** What is served for the streams seen so far: each stream's current value, stamped with its latest point's time. */
const served = (streams: ReadonlyMap<string, Stream>): Array<PromFamily> => {
  const families = new Map<string, { kind: PromKind; samples: PromSample[] }>()
  for (const s of streams.values()) {
    const f = families.get(s.family) ?? { kind: s.kind, samples: [] }
    families.set(s.family, f)
    const timestampMs = Number(s.lastTime / 1_000_000n)
    if (s.kind !== "histogram" || s.histogram === undefined) {
      f.samples.push({ name: s.family, labels: s.labels, value: s.value, timestampMs })
      continue
    }
    const h = s.histogram
    let running = 0
    h.bounds.forEach((le, i) => {
      running += h.buckets[i] ?? 0
      f.samples.push({ name: `${s.family}_bucket`, labels: { ...s.labels, le: String(le) }, value: running, timestampMs })
    })
    f.samples.push({ name: `${s.family}_bucket`, labels: { ...s.labels, le: "+Inf" }, value: h.count, timestampMs })
    f.samples.push({ name: `${s.family}_sum`, labels: s.labels, value: h.sum, timestampMs })
    f.samples.push({ name: `${s.family}_count`, labels: s.labels, value: h.count, timestampMs })
  }
  return [...families.entries()].map(([name, f]) => ({ name, kind: f.kind, samples: f.samples }))
}

/** What the exporter serves once every point has arrived. */
export const collectorFamilies = (metrics: ReadonlyArray<FlatMetric>): Array<PromFamily> => {
  const streams = new Map<string, Stream>()
  for (const m of [...metrics].sort(byTime)) accumulate(streams, m)
  return served(streams)
}

/**
 * What the exporter serves over time: one state per export (the points of one export share their time), in
 * arrival order. A stream appears in the state of its first export, at its first value (a delta stream's first
 * delta, a cumulative stream's first point): nothing before it, as with a real Collector, whose exporter knows a
 * stream only once a point of it arrived. A scrape of each state in turn is what Prometheus stores of a real run.
 */
export const collectorStates = (metrics: ReadonlyArray<FlatMetric>): Array<CollectorState> => {
  const streams = new Map<string, Stream>()
  const states: Array<CollectorState> = []
  const ordered = [...metrics].sort(byTime)
  for (let i = 0; i < ordered.length; i++) {
    accumulate(streams, ordered[i]!)
    const next = ordered[i + 1]
    if (next === undefined || next.timeUnixNano !== ordered[i]!.timeUnixNano) states.push({ timeMs: Number(ordered[i]!.timeUnixNano / 1_000_000n), families: served(streams) })
  }
  return states
}

/** `target_info`: one gauge per resource, its attributes (minus service.name/instance.id, which are job/instance). */
export const targetInfo = (metrics: ReadonlyArray<FlatMetric>): PromFamily => {
  const seen = new Map<string, PromSample>()
  for (const m of metrics) {
    const { "service.name": name, "service.instance.id": instance, ...rest } = m.resource
    const labels = { ...labelsOf(rest), job: labelValue(name ?? ""), instance: labelValue(instance ?? "") }
    seen.set(JSON.stringify(labels), { name: "target_info", labels, value: 1 })
  }
  return { name: "target_info", kind: "gauge", samples: [...seen.values()] }
}

const escapeValue = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

/**
 * The families as Prometheus text exposition (format 0.0.4), every sample stamped (the exporter's
 * `send_timestamps: true`, as in the monitoring guide's Collector config) with its own time, or `timestampMs`.
 */
export const exposition = (families: ReadonlyArray<PromFamily>, timestampMs: number): string => {
  const lines: Array<string> = []
  for (const f of families) {
    lines.push(`# TYPE ${f.name} ${f.kind}`)
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeValue(v)}"`)
        .join(",")
      lines.push(`${s.name}{${labels}} ${s.value} ${s.timestampMs ?? timestampMs}`)
    }
  }
  return `${lines.join("\n")}\n`
}
