/**
 * What the spool writes for one exported batch, per signal: the SDK's readable spans, log records and metric batch
 * as plain JSON, and back. The data keeps its own resource (the process that recorded it, its
 * service.instance.id) and timestamps, so a later process delivers it as the first one would have. Decoded with
 * Schema: a file on disk is input like any other; an entry that does not decode is dropped and counted.
 */
import type { Attributes, AttributeValue, HrTime, Link, SpanContext } from "@opentelemetry/api"
import type { LogAttributes, LogBody } from "@opentelemetry/api-logs"
import { TraceState, type InstrumentationScope } from "@opentelemetry/core"
import { resourceFromAttributes, type Resource } from "@opentelemetry/resources"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { DataPointType, type MetricData, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Option, Schema } from "effect"

const Primitive = Schema.Union([Schema.String, Schema.Number, Schema.Boolean])
const AttributeValueSchema = Schema.Union([Primitive, Schema.Array(Schema.NullOr(Primitive))])
const AttributesSchema = Schema.Record(Schema.String, AttributeValueSchema)
const Time = Schema.Tuple([Schema.Number, Schema.Number])
const Context = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String,
  traceFlags: Schema.Number,
  isRemote: Schema.optionalKey(Schema.Boolean),
  traceState: Schema.optionalKey(Schema.String),
})
const Scope = Schema.Struct({ name: Schema.String, version: Schema.optionalKey(Schema.String), schemaUrl: Schema.optionalKey(Schema.String) })

const SpanSchema = Schema.Struct({
  name: Schema.String,
  kind: Schema.Number,
  context: Context,
  parent: Schema.optionalKey(Context),
  startTime: Time,
  endTime: Time,
  duration: Time,
  status: Schema.Struct({ code: Schema.Number, message: Schema.optionalKey(Schema.String) }),
  attributes: AttributesSchema,
  links: Schema.Array(Schema.Struct({ context: Context, attributes: Schema.optionalKey(AttributesSchema), droppedAttributesCount: Schema.optionalKey(Schema.Number) })),
  events: Schema.Array(
    Schema.Struct({ name: Schema.String, time: Time, attributes: Schema.optionalKey(AttributesSchema), droppedAttributesCount: Schema.optionalKey(Schema.Number) }),
  ),
  resource: AttributesSchema,
  scope: Scope,
  dropped: Schema.Tuple([Schema.Number, Schema.Number, Schema.Number]),
})

const LogSchema = Schema.Struct({
  time: Time,
  observed: Time,
  context: Schema.optionalKey(Context),
  severityText: Schema.optionalKey(Schema.String),
  severityNumber: Schema.optionalKey(Schema.Number),
  body: Schema.optionalKey(Primitive),
  eventName: Schema.optionalKey(Schema.String),
  resource: AttributesSchema,
  scope: Scope,
  attributes: AttributesSchema,
  droppedAttributesCount: Schema.Number,
})

const Histogram = Schema.Struct({
  buckets: Schema.Struct({ boundaries: Schema.Array(Schema.Number), counts: Schema.Array(Schema.Number) }),
  sum: Schema.optionalKey(Schema.Number),
  count: Schema.Number,
  min: Schema.optionalKey(Schema.Number),
  max: Schema.optionalKey(Schema.Number),
})
const Point = <V extends Schema.Top>(value: V) =>
  Schema.Struct({ startTime: Time, endTime: Time, attributes: AttributesSchema, value })
const Descriptor = Schema.Struct({ name: Schema.String, description: Schema.String, unit: Schema.String, valueType: Schema.Number })
const MetricSchema = Schema.Struct({
  descriptor: Descriptor,
  aggregationTemporality: Schema.Number,
  dataPointType: Schema.Number,
  isMonotonic: Schema.optionalKey(Schema.Boolean),
  numberPoints: Schema.optionalKey(Schema.Array(Point(Schema.Number))),
  histogramPoints: Schema.optionalKey(Schema.Array(Point(Histogram))),
})
const MetricsSchema = Schema.Struct({
  resource: AttributesSchema,
  scopes: Schema.Array(Schema.Struct({ scope: Scope, metrics: Schema.Array(MetricSchema) })),
})

type Encoded<S extends Schema.Top> = Schema.Schema.Type<S>

// --- encoding ----------------------------------------------------------------------------------------------------

const contextOf = (c: SpanContext): Encoded<typeof Context> => ({
  traceId: c.traceId,
  spanId: c.spanId,
  traceFlags: c.traceFlags,
  ...(c.isRemote === undefined ? {} : { isRemote: c.isRemote }),
  ...(c.traceState === undefined ? {} : { traceState: c.traceState.serialize() }),
})
const scopeOf = (s: InstrumentationScope): Encoded<typeof Scope> => ({
  name: s.name,
  ...(s.version === undefined ? {} : { version: s.version }),
  ...(s.schemaUrl === undefined ? {} : { schemaUrl: s.schemaUrl }),
})
type Stored = string | number | boolean | Array<string | number | boolean | null>
const isPrimitive = (v: unknown): v is string | number | boolean => typeof v === "string" || typeof v === "number" || typeof v === "boolean"

/** Only what an attribute may hold; anything else (a log attribute's nested map) is left out. */
const attributesOf = (attributes: Attributes | LogAttributes): Record<string, Stored> => {
  const out: Record<string, Stored> = {}
  for (const [key, value] of Object.entries(attributes)) {
    if (isPrimitive(value)) out[key] = value
    else if (Array.isArray(value)) out[key] = value.map((v: unknown) => (isPrimitive(v) ? v : null))
  }
  return out
}

const encodeSpan = (span: ReadableSpan): Encoded<typeof SpanSchema> => ({
  name: span.name,
  kind: span.kind,
  context: contextOf(span.spanContext()),
  ...(span.parentSpanContext === undefined ? {} : { parent: contextOf(span.parentSpanContext) }),
  startTime: [span.startTime[0], span.startTime[1]],
  endTime: [span.endTime[0], span.endTime[1]],
  duration: [span.duration[0], span.duration[1]],
  status: { code: span.status.code, ...(span.status.message === undefined ? {} : { message: span.status.message }) },
  attributes: attributesOf(span.attributes),
  links: span.links.map((l) => ({ context: contextOf(l.context), ...(l.attributes === undefined ? {} : { attributes: attributesOf(l.attributes) }) })),
  events: span.events.map((e) => ({
    name: e.name,
    time: [e.time[0], e.time[1]],
    ...(e.attributes === undefined ? {} : { attributes: attributesOf(e.attributes) }),
  })),
  resource: attributesOf(span.resource.attributes),
  scope: scopeOf(span.instrumentationScope),
  dropped: [span.droppedAttributesCount, span.droppedEventsCount, span.droppedLinksCount],
})

const encodeLog = (log: ReadableLogRecord): Encoded<typeof LogSchema> => ({
  time: [log.hrTime[0], log.hrTime[1]],
  observed: [log.hrTimeObserved[0], log.hrTimeObserved[1]],
  ...(log.spanContext === undefined ? {} : { context: contextOf(log.spanContext) }),
  ...(log.severityText === undefined ? {} : { severityText: log.severityText }),
  ...(log.severityNumber === undefined ? {} : { severityNumber: log.severityNumber }),
  ...(typeof log.body === "string" || typeof log.body === "number" || typeof log.body === "boolean" ? { body: log.body } : {}),
  ...(log.eventName === undefined ? {} : { eventName: log.eventName }),
  resource: attributesOf(log.resource.attributes),
  scope: scopeOf(log.instrumentationScope),
  attributes: attributesOf(log.attributes),
  droppedAttributesCount: log.droppedAttributesCount,
})

const encodeMetric = (metric: MetricData): Encoded<typeof MetricSchema> => {
  const base = {
    descriptor: { ...metric.descriptor },
    aggregationTemporality: metric.aggregationTemporality,
    dataPointType: metric.dataPointType,
  }
  const times = (p: { startTime: HrTime; endTime: HrTime; attributes: Attributes }) => ({
    startTime: [p.startTime[0], p.startTime[1]] as const,
    endTime: [p.endTime[0], p.endTime[1]] as const,
    attributes: attributesOf(p.attributes),
  })
  switch (metric.dataPointType) {
    case DataPointType.SUM:
      return { ...base, isMonotonic: metric.isMonotonic, numberPoints: metric.dataPoints.map((p) => ({ ...times(p), value: p.value })) }
    case DataPointType.GAUGE:
      return { ...base, numberPoints: metric.dataPoints.map((p) => ({ ...times(p), value: p.value })) }
    case DataPointType.HISTOGRAM:
      return {
        ...base,
        histogramPoints: metric.dataPoints.map((p) => ({
          ...times(p),
          value: {
            buckets: { boundaries: [...p.value.buckets.boundaries], counts: [...p.value.buckets.counts] },
            count: p.value.count,
            ...(p.value.sum === undefined ? {} : { sum: p.value.sum }),
            ...(p.value.min === undefined || !Number.isFinite(p.value.min) ? {} : { min: p.value.min }),
            ...(p.value.max === undefined || !Number.isFinite(p.value.max) ? {} : { max: p.value.max }),
          },
        })),
      }
    case DataPointType.EXPONENTIAL_HISTOGRAM:
      // The plugin records none; kept out rather than written in a form nothing reads back.
      return { ...base, numberPoints: [] }
  }
}

const encodeMetrics = (metrics: ResourceMetrics): Encoded<typeof MetricsSchema> => ({
  resource: attributesOf(metrics.resource.attributes),
  scopes: metrics.scopeMetrics.map((s) => ({ scope: scopeOf(s.scope), metrics: s.metrics.map(encodeMetric) })),
})

// --- decoding ----------------------------------------------------------------------------------------------------

/**
 * Resources and scopes are shared by the items read back, as they were by the items recorded: one object per
 * distinct value (OTLP serializers group by object, so a batch goes out grouped as it was).
 */
class Resources {
  private readonly byKey = new Map<string, Resource>()
  private readonly scopes = new Map<string, InstrumentationScope>()
  of(attributes: Attributes): Resource {
    const key = JSON.stringify(attributes)
    let resource = this.byKey.get(key)
    if (resource === undefined) this.byKey.set(key, (resource = resourceFromAttributes(attributes)))
    return resource
  }
  scope(scope: Encoded<typeof Scope>): InstrumentationScope {
    const key = `${scope.name}\n${scope.version ?? ""}\n${scope.schemaUrl ?? ""}`
    let shared = this.scopes.get(key)
    if (shared === undefined) this.scopes.set(key, (shared = { ...scope }))
    return shared
  }
}

const spanContextOf = (c: Encoded<typeof Context>): SpanContext => ({
  traceId: c.traceId,
  spanId: c.spanId,
  traceFlags: c.traceFlags,
  ...(c.isRemote === undefined ? {} : { isRemote: c.isRemote }),
  ...(c.traceState === undefined ? {} : { traceState: new TraceState(c.traceState) }),
})
type StoredAttributes = Readonly<Record<string, string | number | boolean | ReadonlyArray<string | number | boolean | null>>>
const attributes = (a: StoredAttributes): Attributes => {
  const out: Attributes = {}
  for (const [key, value] of Object.entries(a)) {
    if (isPrimitive(value)) out[key] = value
    // The API's array attributes are homogeneous; what was written was one of them.
    else out[key] = [...value] as AttributeValue
  }
  return out
}

const decodeSpan = (resources: Resources, s: Encoded<typeof SpanSchema>): ReadableSpan => {
  const context = spanContextOf(s.context)
  const links: Array<Link> = s.links.map((l) => ({ context: spanContextOf(l.context), ...(l.attributes === undefined ? {} : { attributes: attributes(l.attributes) }) }))
  return {
    name: s.name,
    kind: s.kind,
    spanContext: () => context,
    ...(s.parent === undefined ? {} : { parentSpanContext: spanContextOf(s.parent) }),
    startTime: [s.startTime[0], s.startTime[1]],
    endTime: [s.endTime[0], s.endTime[1]],
    duration: [s.duration[0], s.duration[1]],
    status: { code: s.status.code, ...(s.status.message === undefined ? {} : { message: s.status.message }) },
    attributes: attributes(s.attributes),
    links,
    events: s.events.map((e) => ({ name: e.name, time: [e.time[0], e.time[1]], ...(e.attributes === undefined ? {} : { attributes: attributes(e.attributes) }) })),
    ended: true,
    resource: resources.of(attributes(s.resource)),
    instrumentationScope: resources.scope(s.scope),
    droppedAttributesCount: s.dropped[0],
    droppedEventsCount: s.dropped[1],
    droppedLinksCount: s.dropped[2],
  }
}

const decodeLog = (resources: Resources, l: Encoded<typeof LogSchema>): ReadableLogRecord => ({
  hrTime: [l.time[0], l.time[1]],
  hrTimeObserved: [l.observed[0], l.observed[1]],
  ...(l.context === undefined ? {} : { spanContext: spanContextOf(l.context) }),
  ...(l.severityText === undefined ? {} : { severityText: l.severityText }),
  ...(l.severityNumber === undefined ? {} : { severityNumber: l.severityNumber }),
  ...(l.body === undefined ? {} : { body: l.body satisfies LogBody }),
  ...(l.eventName === undefined ? {} : { eventName: l.eventName }),
  resource: resources.of(attributes(l.resource)),
  instrumentationScope: resources.scope(l.scope),
  attributes: attributes(l.attributes),
  droppedAttributesCount: l.droppedAttributesCount,
})

const decodeMetric = (m: Encoded<typeof MetricSchema>): MetricData | undefined => {
  const base = { descriptor: { ...m.descriptor }, aggregationTemporality: m.aggregationTemporality }
  const point = <V>(p: { startTime: readonly [number, number]; endTime: readonly [number, number]; attributes: StoredAttributes; value: V }) => ({
    startTime: [p.startTime[0], p.startTime[1]] as HrTime,
    endTime: [p.endTime[0], p.endTime[1]] as HrTime,
    attributes: attributes(p.attributes),
    value: p.value,
  })
  switch (m.dataPointType) {
    case DataPointType.SUM:
      return { ...base, dataPointType: DataPointType.SUM, isMonotonic: m.isMonotonic ?? true, dataPoints: (m.numberPoints ?? []).map(point) }
    case DataPointType.GAUGE:
      return { ...base, dataPointType: DataPointType.GAUGE, dataPoints: (m.numberPoints ?? []).map(point) }
    case DataPointType.HISTOGRAM:
      return {
        ...base,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: (m.histogramPoints ?? []).map((p) =>
          point({
            ...p,
            value: {
              buckets: { boundaries: [...p.value.buckets.boundaries], counts: [...p.value.buckets.counts] },
              count: p.value.count,
              ...(p.value.sum === undefined ? {} : { sum: p.value.sum }),
              ...(p.value.min === undefined ? {} : { min: p.value.min }),
              ...(p.value.max === undefined ? {} : { max: p.value.max }),
            },
          }),
        ),
      }
    default:
      return undefined
  }
}

const decodeMetrics = (resources: Resources, m: Encoded<typeof MetricsSchema>): ResourceMetrics => ({
  resource: resources.of(attributes(m.resource)),
  scopeMetrics: m.scopes.map((s) => ({ scope: resources.scope(s.scope), metrics: s.metrics.flatMap((metric) => decodeMetric(metric) ?? []) })),
})

// --- per signal ----------------------------------------------------------------------------------------------------

/** Encodes one exported batch to a JSON value, and decodes it back (undefined: not a batch of this signal). */
export interface SpoolCodec<T> {
  readonly encode: (items: T) => unknown
  readonly decoder: () => (value: unknown) => T | undefined
}

const decodeSpans = Schema.decodeUnknownOption(Schema.Array(SpanSchema))
const decodeLogs = Schema.decodeUnknownOption(Schema.Array(LogSchema))
const decodeMetricsValue = Schema.decodeUnknownOption(MetricsSchema)

export const spanCodec: SpoolCodec<Array<ReadableSpan>> = {
  encode: (spans) => spans.map(encodeSpan),
  decoder: () => {
    const resources = new Resources()
    return (value) => Option.getOrUndefined(Option.map(decodeSpans(value), (spans) => spans.map((s) => decodeSpan(resources, s))))
  },
}
export const logCodec: SpoolCodec<Array<ReadableLogRecord>> = {
  encode: (logs) => logs.map(encodeLog),
  decoder: () => {
    const resources = new Resources()
    return (value) => Option.getOrUndefined(Option.map(decodeLogs(value), (logs) => logs.map((l) => decodeLog(resources, l))))
  },
}
export const metricCodec: SpoolCodec<ResourceMetrics> = {
  encode: encodeMetrics,
  decoder: () => {
    const resources = new Resources()
    return (value) => Option.getOrUndefined(Option.map(decodeMetricsValue(value), (m) => decodeMetrics(resources, m)))
  },
}

