/**
 * Cumulative metrics that cost only what changed.
 *
 * The OpenTelemetry SDK's cumulative storage keeps every series it has ever seen and exports all of them on
 * every collection: with `session.id` on the points, each flush re-sends every session the process has seen,
 * and the work and bytes of a flush grow with the sessions behind it. Here the SDK collects in delta (it
 * forgets a series once collected), and this state keeps one running total per series: each export carries
 * only the series that changed since the previous one, as cumulative points with a stable start time. A
 * series left out of an export is unchanged, not reset (OTLP allows gaps; backends keep the last value).
 *
 * Memory is bounded: a series untouched for `idleMs`, or the oldest past `maxSeries`, is forgotten after its
 * last value went out; if it changes again it restarts from 0 with a new start time, as after a restart.
 */
import type { Attributes, HrTime } from "@opentelemetry/api"
import {
  AggregationTemporality,
  DataPointType,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricDescriptor,
  type ResourceMetrics,
  type ScopeMetrics,
} from "@opentelemetry/sdk-metrics"

interface Series {
  readonly key: string
  readonly metric: MetricState
  readonly attributes: Attributes
  readonly startTime: HrTime
  endTime: HrTime
  value: number | Histogram
  touchedMs: number
}

interface MetricState {
  readonly id: string
  readonly scope: ScopeMetrics["scope"]
  readonly descriptor: MetricDescriptor
  readonly dataPointType: DataPointType
  readonly isMonotonic: boolean
}

export interface CumulativeOptions {
  readonly maxSeries: number
  readonly idleMs: number
  readonly now?: () => number
}

/** A series that reports nothing for this long is forgotten (the plugin releases idle sessions after 30 minutes too). */
export const SERIES_IDLE_MS = 30 * 60_000
/** About 600 sessions' series with session.id on the points. */
export const MAX_SERIES = 10_000

export class CumulativeState {
  /** Every series, least recently changed first. */
  private readonly series = new Map<string, Series>()
  private readonly metrics = new Map<string, MetricState>()
  private readonly now: () => number

  constructor(private readonly options: CumulativeOptions = { maxSeries: MAX_SERIES, idleMs: SERIES_IDLE_MS }) {
    this.now = options.now ?? Date.now
  }

  get size(): number {
    return this.series.size
  }

  /** Adds one delta collection; returns the cumulative points of the series it changed, nothing else. */
  add(delta: ResourceMetrics): ResourceMetrics {
    const now = this.now()
    const changed = new Map<MetricState, Array<Series>>()
    for (const scope of delta.scopeMetrics)
      for (const metric of scope.metrics) {
        // Exponential histograms are not used by this plugin; anything else passes through untouched.
        if (metric.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) continue
        const state = this.metricState(scope.scope, metric)
        let list = changed.get(state)
        for (const point of metric.dataPoints as Array<DataPoint<number | Histogram>>) {
          const series = this.merge(state, point, now)
          if (list === undefined) changed.set(state, (list = []))
          list.push(series)
        }
      }
    this.evict(now)
    return { resource: delta.resource, scopeMetrics: toScopeMetrics(changed) }
  }

  /** Every series' current cumulative value (what a Prometheus scrape shows). */
  snapshot(resource: ResourceMetrics["resource"]): ResourceMetrics {
    this.evict(this.now())
    const all = new Map<MetricState, Array<Series>>()
    for (const series of this.series.values()) {
      let list = all.get(series.metric)
      if (list === undefined) all.set(series.metric, (list = []))
      list.push(series)
    }
    return { resource, scopeMetrics: toScopeMetrics(all) }
  }

  private metricState(scope: ScopeMetrics["scope"], metric: MetricData): MetricState {
    const id = `${scope.name}\u0000${scope.version ?? ""}\u0000${metric.descriptor.name}`
    let state = this.metrics.get(id)
    if (state === undefined) {
      state = {
        id,
        scope,
        descriptor: metric.descriptor,
        dataPointType: metric.dataPointType,
        isMonotonic: metric.dataPointType === DataPointType.SUM ? metric.isMonotonic : false,
      }
      this.metrics.set(id, state)
    }
    return state
  }

  private merge(metric: MetricState, point: DataPoint<number | Histogram>, now: number): Series {
    const key = `${metric.id}\u0000${attributesKey(point.attributes)}`
    const known = this.series.get(key)
    if (known === undefined) {
      const series: Series = {
        key,
        metric,
        attributes: point.attributes,
        startTime: point.startTime,
        endTime: point.endTime,
        value: copy(point.value),
        touchedMs: now,
      }
      this.series.set(key, series)
      return series
    }
    known.endTime = point.endTime
    known.touchedMs = now
    known.value = metric.dataPointType === DataPointType.GAUGE ? point.value : accumulate(known.value, point.value)
    // Most recently changed last: eviction takes from the front.
    this.series.delete(key)
    this.series.set(key, known)
    return known
  }

  private evict(now: number) {
    for (const series of this.series.values()) {
      if (this.series.size <= this.options.maxSeries && now - series.touchedMs < this.options.idleMs) break
      this.series.delete(series.key)
    }
  }
}

const copy = (value: number | Histogram): number | Histogram =>
  typeof value === "number" ? value : { ...value, buckets: { boundaries: value.buckets.boundaries, counts: [...value.buckets.counts] } }

const accumulate = (total: number | Histogram, delta: number | Histogram): number | Histogram => {
  if (typeof total === "number" || typeof delta === "number") return (total as number) + (delta as number)
  const counts = total.buckets.counts.map((c, i) => c + (delta.buckets.counts[i] ?? 0))
  const min = total.min === undefined ? delta.min : delta.min === undefined ? total.min : Math.min(total.min, delta.min)
  const max = total.max === undefined ? delta.max : delta.max === undefined ? total.max : Math.max(total.max, delta.max)
  return {
    buckets: { boundaries: total.buckets.boundaries, counts },
    count: total.count + delta.count,
    sum: (total.sum ?? 0) + (delta.sum ?? 0),
    ...(min === undefined ? {} : { min }),
    ...(max === undefined ? {} : { max }),
  }
}

/** Attribute order does not make a different series. */
const attributesKey = (attributes: Attributes): string => {
  const keys = Object.keys(attributes)
  if (keys.length > 1) keys.sort()
  let key = ""
  for (const k of keys) key += `${k}\u0001${JSON.stringify(attributes[k])}\u0002`
  return key
}

const toScopeMetrics = (bySeries: Map<MetricState, Array<Series>>): Array<ScopeMetrics> => {
  const scopes = new Map<ScopeMetrics["scope"], Array<MetricData>>()
  for (const [metric, series] of bySeries) {
    let metrics = scopes.get(metric.scope)
    if (metrics === undefined) scopes.set(metric.scope, (metrics = []))
    const dataPoints = series.map((s) => ({ attributes: s.attributes, startTime: s.startTime, endTime: s.endTime, value: s.value }))
    const base = { descriptor: metric.descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE }
    metrics.push(
      metric.dataPointType === DataPointType.SUM
        ? { ...base, dataPointType: DataPointType.SUM, isMonotonic: metric.isMonotonic, dataPoints: dataPoints as Array<DataPoint<number>> }
        : metric.dataPointType === DataPointType.GAUGE
          ? { ...base, dataPointType: DataPointType.GAUGE, dataPoints: dataPoints as Array<DataPoint<number>> }
          : { ...base, dataPointType: DataPointType.HISTOGRAM, dataPoints: dataPoints as Array<DataPoint<Histogram>> },
    )
  }
  return [...scopes].map(([scope, metrics]) => ({ scope, metrics }))
}
