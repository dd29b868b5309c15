/**
 * Readers for what a loopback OTLP receiver (test/support/otlp-receiver.ts) got from one or more opencode
 * processes. Cumulative metrics are re-sent on every export (each turn's flush, then shutdown), so a counter's value
 * is the latest point of each series; two processes (`opencode run --continue`) each have their own series, even
 * with the same attributes, so what they sent is kept apart as one {@link Segment} per process.
 */
import type { FlatLog, FlatMetric, FlatSpan, HistogramValue, ReceivedRequest, Receiver } from "../support/otlp-receiver.ts"

/** What the receiver got from one opencode process. */
export interface Segment {
  readonly requests: ReadonlyArray<ReceivedRequest>
  readonly metrics: ReadonlyArray<FlatMetric>
  readonly logs: ReadonlyArray<FlatLog>
  readonly spans: ReadonlyArray<FlatSpan>
}

/** Takes what the receiver holds as one process's segment and clears it for the next process. */
export const takeSegment = (receiver: Receiver): Segment => {
  const segment = { requests: [...receiver.requests], metrics: receiver.metrics(), logs: receiver.logs(), spans: receiver.spans() }
  receiver.clear()
  return segment
}

export const bigintReplacer = (_key: string, value: unknown): unknown => (typeof value === "bigint" ? value.toString() : value)

type Filter = Readonly<Record<string, string | boolean>>
const matches = (attributes: FlatMetric["attributes"], filter: Filter) => Object.entries(filter).every(([k, v]) => attributes[k] === v)
const seriesKey = (m: FlatMetric) =>
  `${m.name}\u0000${JSON.stringify(Object.entries(m.attributes).sort(([a], [b]) => a.localeCompare(b)), bigintReplacer)}`

/**
 * The latest point (by timeUnixNano) of each series of `name` in one process's segment. A cumulative stream is a
 * series and its start time: a stream that restarted (see {@link restartedSeries}) counts with both accumulations.
 */
export const latestPoints = (segment: Pick<Segment, "metrics">, name: string): Array<FlatMetric> => {
  const series = new Map<string, FlatMetric>()
  for (const m of segment.metrics) {
    if (m.name !== name) continue
    const key = `${seriesKey(m)}\u0000${m.type === "gauge" ? "" : m.startTimeUnixNano}`
    const seen = series.get(key)
    if (seen === undefined || m.timeUnixNano >= seen.timeUnixNano) series.set(key, m)
  }
  return [...series.values()]
}

/** A counter's total: the latest point of every matching series, summed over the processes. */
export const counterTotal = (segments: ReadonlyArray<Segment>, name: string, filter: Filter = {}): number =>
  segments
    .flatMap((s) => latestPoints(s, name))
    .filter((m) => matches(m.attributes, filter))
    .reduce((n, m) => n + (typeof m.value === "number" ? m.value : Number.NaN), 0)

/** A histogram's count and sum: the latest point of every matching series, summed over the processes. */
export const histogramTotals = (segments: ReadonlyArray<Segment>, name: string, filter: Filter = {}) => {
  let count = 0
  let sum = 0
  for (const m of segments.flatMap((s) => latestPoints(s, name)).filter((p) => matches(p.attributes, filter))) {
    const v = m.value as HistogramValue
    count += v.count
    sum += v.sum ?? 0
  }
  return { count, sum }
}

/**
 * Series whose points in one process do not all share one start time. Cumulative points of one series restate the
 * same accumulation, so they must; a second start time would mean a reset (and a sum of latest points too small).
 */
export const restartedSeries = (segment: Segment): Array<string> => {
  const starts = new Map<string, Set<bigint>>()
  for (const m of segment.metrics) {
    if (m.type === "gauge") continue
    const key = seriesKey(m)
    starts.set(key, (starts.get(key) ?? new Set()).add(m.startTimeUnixNano))
  }
  return [...starts.entries()].filter(([, s]) => s.size > 1).map(([k]) => k.replace("\u0000", " "))
}

export const allLogs = (segments: ReadonlyArray<Segment>) => segments.flatMap((s) => s.logs)
export const allSpans = (segments: ReadonlyArray<Segment>) => segments.flatMap((s) => s.spans)

export const eventsNamed = (segments: ReadonlyArray<Segment>, name: string) =>
  allLogs(segments).filter((l) => l.attributes["event.name"] === name)

/** Every span's parent is another received span (same trace), or it is a root; every span has ended. */
export const spanTreeProblems = (spans: ReadonlyArray<FlatSpan>): Array<string> => {
  const ids = new Set(spans.map((s) => `${s.traceId}/${s.spanId}`))
  const problems: Array<string> = []
  if (ids.size !== spans.length) problems.push(`${spans.length - ids.size} span(s) received twice`)
  for (const s of spans) {
    if (s.parentSpanId !== "" && !ids.has(`${s.traceId}/${s.parentSpanId}`)) problems.push(`${s.name}: parent ${s.parentSpanId} not received`)
    if (s.endTimeUnixNano === 0n) problems.push(`${s.name}: no end time`)
    if (s.endTimeUnixNano < s.startTimeUnixNano) problems.push(`${s.name}: ends before it starts`)
  }
  return problems
}

/** Every string the receiver decoded (bodies of all requests), as one JSON text, for searching. */
export const decodedText = (segments: ReadonlyArray<Segment>): string =>
  JSON.stringify(
    segments.flatMap((s) => s.requests.map((r) => r.body)),
    (key, value) => (value instanceof Uint8Array ? Buffer.from(value).toString("hex") : bigintReplacer(key, value)),
  )
