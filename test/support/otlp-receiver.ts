/**
 * Loopback OTLP receiver for tests and the demo.
 *
 * One receiver speaks one protocol — "grpc", "http/protobuf" or "http/json" — on
 * 127.0.0.1 with an ephemeral port, records every Export request it gets, and
 * decodes it with a real protobuf library (protobufjs) against the official
 * opentelemetry-proto schema, so a test sees exactly what a collector would see.
 *
 * Schema source: our own test-only .proto files under `test/support/proto/`
 * (opentelemetry/proto/..., written from the OTLP specification; package, message and
 * field names and numbers match opentelemetry-proto v1.7.0). They are loaded at
 * runtime with `keepCase: false`, so decoded field names are lowerCamelCase — the
 * same names OTLP/JSON uses, which lets the JSON path go through `Type.fromObject`.
 *
 * Decoded bodies (ReceivedRequest.body) are plain objects from protobufjs
 * `toObject` with: int64/fixed64 as bigint, enums as numbers, bytes as
 * Uint8Array, defaults filled in, and a virtual `value`/`data` property naming
 * the set member of each oneof. The flat views (spans(), logs(), metrics())
 * convert those into plain JS (hex ids, attribute maps, numbers).
 */
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { gunzipSync, inflateSync } from "node:zlib"
import * as grpc from "@grpc/grpc-js"
import * as protobuf from "protobufjs"

export type Protocol = "grpc" | "http/protobuf" | "http/json"
export type Signal = "traces" | "metrics" | "logs"

export interface ReceivedRequest {
  readonly signal: Signal
  /**
   * Lowercased header names. HTTP: request headers (repeats joined with ", "). gRPC: call metadata,
   * `-bin` values base64; grpc-js keeps reserved headers (content-type, te, grpc-*) out of it.
   */
  readonly headers: Record<string, string>
  /** The decoded Export*ServiceRequest (see module doc), or undefined when decoding failed. */
  readonly body: unknown
  /** False when the responder rejected the request or it could not be decoded; flat views skip it. */
  readonly accepted: boolean
  /** What the receiver answered: an HTTP status, or a gRPC status code (0 = OK). */
  readonly response: { readonly httpStatus: number } | { readonly grpcCode: number }
  /** Why decoding failed (or the content type was wrong), if it did. */
  readonly error?: string
}

/**
 * What a responder may return to fail a request instead of accepting it.
 * - `status`: an HTTP status. On gRPC it is mapped: 400→INVALID_ARGUMENT(3), 401→UNAUTHENTICATED(16),
 *   403→PERMISSION_DENIED(7), 404→UNIMPLEMENTED(12), 429→RESOURCE_EXHAUSTED(8), 503→UNAVAILABLE(14),
 *   other 5xx→INTERNAL(13), anything else ≥400→UNKNOWN(2).
 * - `grpcCode`: a gRPC status code, used as is on gRPC (wins over `status`). On HTTP, when no
 *   `status` is given, it is mapped back: 16→401, 7→403, 8→429, 14→503, 3→400, otherwise 500.
 * A 2xx `status` (or grpcCode 0) accepts the request normally. Note that the exporters retry
 * (with backoff) on HTTP 429/502/503/504 and on retryable gRPC codes; 401 is not retried.
 */
export interface Rejection {
  readonly status?: number
  readonly grpcCode?: number
  readonly message?: string
}
export type Responder = (req: {
  readonly signal: Signal
  readonly headers: Record<string, string>
  readonly body: unknown
}) => Rejection | undefined | void

/** Attribute values as plain JS; int64 is a number when safe, a bigint otherwise. */
export type AttributeValue =
  | string
  | number
  | bigint
  | boolean
  | Uint8Array
  | null
  | undefined
  | AttributeValue[]
  | { [key: string]: AttributeValue }
export type Attributes = Record<string, AttributeValue>

export interface FlatScope {
  readonly name: string
  readonly version: string
}

export type SpanKindName = "UNSPECIFIED" | "INTERNAL" | "SERVER" | "CLIENT" | "PRODUCER" | "CONSUMER"
export type StatusCodeName = "UNSET" | "OK" | "ERROR"

export interface FlatSpan {
  readonly name: string
  /** OTLP SpanKind as its name (OTLP numbers are 1-based, the JS API's SpanKind is 0-based). */
  readonly kind: SpanKindName
  readonly traceId: string
  readonly spanId: string
  /** "" for a root span. */
  readonly parentSpanId: string
  readonly attributes: Attributes
  readonly resource: Attributes
  readonly scope: FlatScope
  readonly startTimeUnixNano: bigint
  readonly endTimeUnixNano: bigint
  readonly status: { readonly code: StatusCodeName; readonly message: string }
  readonly events: ReadonlyArray<{ readonly name: string; readonly timeUnixNano: bigint; readonly attributes: Attributes }>
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string; readonly attributes: Attributes }>
}

export interface FlatLog {
  /** The log body as plain JS (usually a string). */
  readonly body: AttributeValue
  readonly attributes: Attributes
  readonly resource: Attributes
  readonly scope: FlatScope
  readonly timeUnixNano: bigint
  readonly observedTimeUnixNano: bigint
  readonly severityNumber: number
  readonly severityText: string
  /** LogRecord.event_name, when the record is an event. */
  readonly eventName?: string
  /** Hex, "" when the record was not emitted inside a span. */
  readonly traceId: string
  readonly spanId: string
}

export type MetricType = "gauge" | "sum" | "histogram" | "exponentialHistogram" | "summary"
export type Temporality = "unspecified" | "delta" | "cumulative"

export interface HistogramValue {
  readonly count: number
  readonly sum?: number
  readonly min?: number
  readonly max?: number
  readonly bucketCounts: number[]
  readonly explicitBounds: number[]
}
export interface ExponentialHistogramValue {
  readonly count: number
  readonly sum?: number
  readonly min?: number
  readonly max?: number
  readonly scale: number
  readonly zeroCount: number
  readonly positive: { readonly offset: number; readonly bucketCounts: number[] }
  readonly negative: { readonly offset: number; readonly bucketCounts: number[] }
}
export interface SummaryValue {
  readonly count: number
  readonly sum: number
  readonly quantiles: Array<{ readonly quantile: number; readonly value: number }>
}
export type MetricValue = number | HistogramValue | ExponentialHistogramValue | SummaryValue

/** One entry per data point. */
export interface FlatMetric {
  readonly name: string
  readonly unit: string
  readonly description: string
  readonly type: MetricType
  /** Sums only. */
  readonly isMonotonic?: boolean
  /** Sums and (exponential) histograms only. */
  readonly temporality?: Temporality
  /** A number for sum/gauge (asInt or asDouble); an object for the histogram kinds and summary. */
  readonly value: MetricValue
  readonly attributes: Attributes
  readonly resource: Attributes
  readonly scope: FlatScope
  readonly startTimeUnixNano: bigint
  readonly timeUnixNano: bigint
}

export interface Receiver {
  /** grpc: the collector URL; http: the base URL (a signal's endpoint is `${url}/v1/${signal}`). */
  readonly url: string
  readonly protocol: Protocol
  /** Every request, accepted or not, in arrival order (a live array). */
  readonly requests: ReceivedRequest[]
  /** True once stop() ran (called by hand or by the lifetime timer). */
  readonly stopped: boolean
  /** Full endpoint for one signal: `${url}/v1/${signal}` on HTTP, `url` on gRPC. */
  endpoint(signal: Signal): string
  spans(): FlatSpan[]
  logs(): FlatLog[]
  metrics(): FlatMetric[]
  /** Polls `predicate` every 20 ms; rejects after `timeoutMs` (default 5000) with what did arrive. */
  waitFor(predicate: (r: Receiver) => boolean, timeoutMs?: number): Promise<void>
  /** Decide per request whether to fail it (see Rejection); `undefined` restores accept-all. */
  setResponder(fn: Responder | undefined): void
  /** Forget every recorded request. */
  clear(): void
  stop(): Promise<void>
}

export interface ReceiverOptions {
  readonly protocol: Protocol
  /** Safety net: the receiver stops itself after this long (default 5 minutes). */
  readonly lifetimeMs?: number
  /** A fixed port (default: an ephemeral one); used to bring a "crashed" collector back on the same address. */
  readonly port?: number
  /** Serve over TLS (the URL becomes https://); with `ca`, clients must present a certificate it signed (mTLS). */
  readonly tls?: { readonly key: Buffer; readonly cert: Buffer; readonly ca?: Buffer }
}

// ---------------------------------------------------------------------------
// Schema

/** Service files per signal, relative to protoDir() (the opentelemetry-proto layout). */
const PROTO_FILES: Record<Signal, string> = {
  traces: "opentelemetry/proto/collector/trace/v1/trace_service.proto",
  metrics: "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
  logs: "opentelemetry/proto/collector/logs/v1/logs_service.proto",
}

const SERVICES: Record<Signal, { readonly pkg: string; readonly service: string; readonly stem: string }> = {
  traces: { pkg: "opentelemetry.proto.collector.trace.v1", service: "TraceService", stem: "Trace" },
  metrics: { pkg: "opentelemetry.proto.collector.metrics.v1", service: "MetricsService", stem: "Metrics" },
  logs: { pkg: "opentelemetry.proto.collector.logs.v1", service: "LogsService", stem: "Logs" },
}

const SIGNALS: readonly Signal[] = ["traces", "metrics", "logs"]

interface Codec {
  readonly request: protobuf.Type
  readonly response: protobuf.Type
  /** Empty Export*ServiceResponse, encoded once. */
  readonly emptyResponse: Buffer
}

let codecs: Record<Signal, Codec> | undefined

/**
 * Root of the test-only OTLP .proto tree (test/support/proto). Files import each other
 * by paths relative to this directory ("opentelemetry/proto/common/v1/common.proto").
 */
export function protoDir(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), "proto")
}

function loadCodecs(): Record<Signal, Codec> {
  if (codecs) return codecs
  const dir = protoDir()
  const root = new protobuf.Root()
  // protobufjs resolves imports against the importing file's directory by default;
  // ours are relative to the proto root, like protoc's include path.
  root.resolvePath = (origin, target) =>
    path.isAbsolute(target) ? target : origin ? path.join(dir, target) : path.resolve(target)
  root.loadSync(
    SIGNALS.map((s) => path.join(dir, PROTO_FILES[s])),
    { keepCase: false },
  )
  root.resolveAll()
  const make = (s: Signal): Codec => {
    const { pkg, stem } = SERVICES[s]
    const request = root.lookupType(`${pkg}.Export${stem}ServiceRequest`)
    const response = root.lookupType(`${pkg}.Export${stem}ServiceResponse`)
    return { request, response, emptyResponse: Buffer.from(response.encode(response.create({})).finish()) }
  }
  codecs = { traces: make("traces"), metrics: make("metrics"), logs: make("logs") }
  return codecs
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: BigInt,
  enums: Number,
  defaults: true,
  arrays: true,
  oneofs: true,
}

/** Binary OTLP → plain object. */
export function decodeProtobuf(signal: Signal, bytes: Uint8Array): unknown {
  const { request } = loadCodecs()[signal]
  return request.toObject(request.decode(bytes), TO_OBJECT)
}

/**
 * OTLP/JSON → the same plain object as decodeProtobuf. OTLP/JSON differs from the
 * protobuf JSON mapping in that trace/span ids are hex (not base64); everything else
 * (camelCase keys, int64 as string or number, enums as integers) fromObject accepts.
 */
export function decodeJson(signal: Signal, text: string): unknown {
  const { request } = loadCodecs()[signal]
  const json: unknown = JSON.parse(text)
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("OTLP/JSON body is not an object")
  return request.toObject(request.fromObject(hexIdsToBytes(json) as Record<string, unknown>), TO_OBJECT)
}

const HEX_ID_KEYS = new Set(["traceId", "spanId", "parentSpanId"])

function hexIdsToBytes(value: unknown, key?: string): unknown {
  if (typeof value === "string" && key !== undefined && HEX_ID_KEYS.has(key)) {
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(value)) throw new Error(`OTLP/JSON ${key} is not hex: ${JSON.stringify(value)}`)
    return Buffer.from(value, "hex")
  }
  if (Array.isArray(value)) return value.map((v) => hexIdsToBytes(v))
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = hexIdsToBytes(v, k)
    return out
  }
  return value
}

// ---------------------------------------------------------------------------
// Shapes of the decoded objects (only what the flat views read).

interface PbAnyValue {
  value?: string // oneof discriminator
  stringValue?: string
  boolValue?: boolean
  intValue?: bigint
  doubleValue?: number
  arrayValue?: { values: PbAnyValue[] }
  kvlistValue?: { values: PbKeyValue[] }
  bytesValue?: Uint8Array
}
interface PbKeyValue {
  key: string
  value: PbAnyValue | null
}
interface PbResource {
  attributes: PbKeyValue[]
}
interface PbScope {
  name: string
  version: string
}
interface PbSpan {
  traceId: Uint8Array
  spanId: Uint8Array
  parentSpanId: Uint8Array
  name: string
  kind: number
  startTimeUnixNano: bigint
  endTimeUnixNano: bigint
  attributes: PbKeyValue[]
  events: Array<{ timeUnixNano: bigint; name: string; attributes: PbKeyValue[] }>
  links: Array<{ traceId: Uint8Array; spanId: Uint8Array; attributes: PbKeyValue[] }>
  status: { code: number; message: string } | null
}
interface PbTraces {
  resourceSpans: Array<{ resource: PbResource | null; scopeSpans: Array<{ scope: PbScope | null; spans: PbSpan[] }> }>
}
interface PbLogRecord {
  timeUnixNano: bigint
  observedTimeUnixNano: bigint
  severityNumber: number
  severityText: string
  body: PbAnyValue | null
  attributes: PbKeyValue[]
  traceId: Uint8Array
  spanId: Uint8Array
  eventName: string
}
interface PbLogs {
  resourceLogs: Array<{ resource: PbResource | null; scopeLogs: Array<{ scope: PbScope | null; logRecords: PbLogRecord[] }> }>
}
interface PbPointBase {
  attributes: PbKeyValue[]
  startTimeUnixNano: bigint
  timeUnixNano: bigint
}
interface PbNumberPoint extends PbPointBase {
  value?: string
  asDouble?: number
  asInt?: bigint
}
interface PbHistogramPoint extends PbPointBase {
  count: bigint
  sum?: number
  min?: number
  max?: number
  bucketCounts: bigint[]
  explicitBounds: number[]
}
interface PbBuckets {
  offset: number
  bucketCounts: bigint[]
}
interface PbExpHistogramPoint extends PbPointBase {
  count: bigint
  sum?: number
  min?: number
  max?: number
  scale: number
  zeroCount: bigint
  positive: PbBuckets | null
  negative: PbBuckets | null
}
interface PbSummaryPoint extends PbPointBase {
  count: bigint
  sum: number
  quantileValues: Array<{ quantile: number; value: number }>
}
interface PbMetric {
  name: string
  description: string
  unit: string
  data?: MetricType
  gauge?: { dataPoints: PbNumberPoint[] }
  sum?: { dataPoints: PbNumberPoint[]; aggregationTemporality: number; isMonotonic: boolean }
  histogram?: { dataPoints: PbHistogramPoint[]; aggregationTemporality: number }
  exponentialHistogram?: { dataPoints: PbExpHistogramPoint[]; aggregationTemporality: number }
  summary?: { dataPoints: PbSummaryPoint[] }
}
interface PbMetrics {
  resourceMetrics: Array<{ resource: PbResource | null; scopeMetrics: Array<{ scope: PbScope | null; metrics: PbMetric[] }> }>
}

// ---------------------------------------------------------------------------
// Conversion to plain JS

const SPAN_KINDS: readonly SpanKindName[] = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
const STATUS_CODES: readonly StatusCodeName[] = ["UNSET", "OK", "ERROR"]
const TEMPORALITIES: readonly Temporality[] = ["unspecified", "delta", "cumulative"]

/** int64 → number when it fits exactly, else the bigint. */
function intValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}

function anyValue(v: PbAnyValue | null | undefined): AttributeValue {
  if (!v) return undefined
  switch (v.value) {
    case "stringValue":
      return v.stringValue
    case "boolValue":
      return v.boolValue
    case "intValue":
      return v.intValue === undefined ? undefined : intValue(v.intValue)
    case "doubleValue":
      return v.doubleValue
    case "arrayValue":
      return (v.arrayValue?.values ?? []).map(anyValue)
    case "kvlistValue":
      return attributes(v.kvlistValue?.values)
    case "bytesValue":
      return v.bytesValue
    default:
      return null // AnyValue with nothing set: an empty value
  }
}

function attributes(kvs: PbKeyValue[] | null | undefined): Attributes {
  const out: Attributes = {}
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value)
  return out
}

const hex = (b: Uint8Array | null | undefined): string => (b ? Buffer.from(b).toString("hex") : "")
const scopeOf = (s: PbScope | null): FlatScope => ({ name: s?.name ?? "", version: s?.version ?? "" })

export function flattenSpans(body: PbTraces): FlatSpan[] {
  const out: FlatSpan[] = []
  for (const rs of body.resourceSpans) {
    const resource = attributes(rs.resource?.attributes)
    for (const ss of rs.scopeSpans) {
      const scope = scopeOf(ss.scope)
      for (const s of ss.spans) {
        out.push({
          name: s.name,
          kind: SPAN_KINDS[s.kind] ?? "UNSPECIFIED",
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          attributes: attributes(s.attributes),
          resource,
          scope,
          startTimeUnixNano: s.startTimeUnixNano,
          endTimeUnixNano: s.endTimeUnixNano,
          status: { code: STATUS_CODES[s.status?.code ?? 0] ?? "UNSET", message: s.status?.message ?? "" },
          events: s.events.map((e) => ({ name: e.name, timeUnixNano: e.timeUnixNano, attributes: attributes(e.attributes) })),
          links: s.links.map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId), attributes: attributes(l.attributes) })),
        })
      }
    }
  }
  return out
}

export function flattenLogs(body: PbLogs): FlatLog[] {
  const out: FlatLog[] = []
  for (const rl of body.resourceLogs) {
    const resource = attributes(rl.resource?.attributes)
    for (const sl of rl.scopeLogs) {
      const scope = scopeOf(sl.scope)
      for (const r of sl.logRecords) {
        out.push({
          body: anyValue(r.body),
          attributes: attributes(r.attributes),
          resource,
          scope,
          timeUnixNano: r.timeUnixNano,
          observedTimeUnixNano: r.observedTimeUnixNano,
          severityNumber: r.severityNumber,
          severityText: r.severityText,
          ...(r.eventName ? { eventName: r.eventName } : {}),
          traceId: hex(r.traceId),
          spanId: hex(r.spanId),
        })
      }
    }
  }
  return out
}

const numbers = (xs: bigint[]): number[] => xs.map(Number)

export function flattenMetrics(body: PbMetrics): FlatMetric[] {
  const out: FlatMetric[] = []
  for (const rm of body.resourceMetrics) {
    const resource = attributes(rm.resource?.attributes)
    for (const sm of rm.scopeMetrics) {
      const scope = scopeOf(sm.scope)
      for (const m of sm.metrics) {
        const base = { name: m.name, unit: m.unit, description: m.description, resource, scope }
        const point = (p: PbPointBase) => ({
          attributes: attributes(p.attributes),
          startTimeUnixNano: p.startTimeUnixNano,
          timeUnixNano: p.timeUnixNano,
        })
        const numberValue = (p: PbNumberPoint): number =>
          p.value === "asInt" && p.asInt !== undefined ? Number(p.asInt) : (p.asDouble ?? 0)
        const temporality = (t: number): Temporality => TEMPORALITIES[t] ?? "unspecified"
        switch (m.data) {
          case "gauge":
            for (const p of m.gauge?.dataPoints ?? []) out.push({ ...base, type: "gauge", value: numberValue(p), ...point(p) })
            break
          case "sum": {
            const sum = m.sum
            if (!sum) break
            for (const p of sum.dataPoints)
              out.push({
                ...base,
                type: "sum",
                isMonotonic: sum.isMonotonic,
                temporality: temporality(sum.aggregationTemporality),
                value: numberValue(p),
                ...point(p),
              })
            break
          }
          case "histogram": {
            const h = m.histogram
            if (!h) break
            for (const p of h.dataPoints)
              out.push({
                ...base,
                type: "histogram",
                temporality: temporality(h.aggregationTemporality),
                value: {
                  count: Number(p.count),
                  ...(p.sum !== undefined ? { sum: p.sum } : {}),
                  ...(p.min !== undefined ? { min: p.min } : {}),
                  ...(p.max !== undefined ? { max: p.max } : {}),
                  bucketCounts: numbers(p.bucketCounts),
                  explicitBounds: p.explicitBounds,
                },
                ...point(p),
              })
            break
          }
          case "exponentialHistogram": {
            const h = m.exponentialHistogram
            if (!h) break
            const buckets = (b: PbBuckets | null) => ({ offset: b?.offset ?? 0, bucketCounts: numbers(b?.bucketCounts ?? []) })
            for (const p of h.dataPoints)
              out.push({
                ...base,
                type: "exponentialHistogram",
                temporality: temporality(h.aggregationTemporality),
                value: {
                  count: Number(p.count),
                  ...(p.sum !== undefined ? { sum: p.sum } : {}),
                  ...(p.min !== undefined ? { min: p.min } : {}),
                  ...(p.max !== undefined ? { max: p.max } : {}),
                  scale: p.scale,
                  zeroCount: Number(p.zeroCount),
                  positive: buckets(p.positive),
                  negative: buckets(p.negative),
                },
                ...point(p),
              })
            break
          }
          case "summary":
            for (const p of m.summary?.dataPoints ?? [])
              out.push({
                ...base,
                type: "summary",
                value: { count: Number(p.count), sum: p.sum, quantiles: p.quantileValues.map((q) => ({ ...q })) },
                ...point(p),
              })
            break
          default:
            break // a metric without data: nothing to flatten
        }
      }
    }
  }
  return out
}

// ---------------------------------------------------------------------------
// Status mapping

const HTTP_TO_GRPC: Record<number, number> = {
  400: grpc.status.INVALID_ARGUMENT,
  401: grpc.status.UNAUTHENTICATED,
  403: grpc.status.PERMISSION_DENIED,
  404: grpc.status.UNIMPLEMENTED,
  429: grpc.status.RESOURCE_EXHAUSTED,
  503: grpc.status.UNAVAILABLE,
}
const GRPC_TO_HTTP: Record<number, number> = {
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.UNAUTHENTICATED]: 401,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.UNAVAILABLE]: 503,
}

function grpcCodeOf(r: Rejection): number {
  if (r.grpcCode !== undefined) return r.grpcCode
  const s = r.status ?? 200
  if (s < 400) return grpc.status.OK
  return HTTP_TO_GRPC[s] ?? (s >= 500 ? grpc.status.INTERNAL : grpc.status.UNKNOWN)
}

function httpStatusOf(r: Rejection): number {
  if (r.status !== undefined) return r.status
  if (r.grpcCode === undefined || r.grpcCode === grpc.status.OK) return 200
  return GRPC_TO_HTTP[r.grpcCode] ?? 500
}

// ---------------------------------------------------------------------------
// The receiver

class ReceiverImpl implements Receiver {
  url = ""
  readonly requests: ReceivedRequest[] = []
  stopped = false
  private responder: Responder | undefined
  private closer: (() => Promise<void>) | undefined
  private stopping: Promise<void> | undefined
  private lifetimeTimer: ReturnType<typeof setTimeout> | undefined

  constructor(readonly protocol: Protocol) {}

  endpoint(signal: Signal): string {
    return this.protocol === "grpc" ? this.url : `${this.url}/v1/${signal}`
  }

  private accepted<T, U>(signal: Signal, flatten: (body: T) => U[]): U[] {
    return this.requests.filter((r) => r.signal === signal && r.accepted).flatMap((r) => flatten(r.body as T))
  }

  spans(): FlatSpan[] {
    return this.accepted<PbTraces, FlatSpan>("traces", flattenSpans)
  }
  logs(): FlatLog[] {
    return this.accepted<PbLogs, FlatLog>("logs", flattenLogs)
  }
  metrics(): FlatMetric[] {
    return this.accepted<PbMetrics, FlatMetric>("metrics", flattenMetrics)
  }

  setResponder(fn: Responder | undefined): void {
    this.responder = fn
  }

  clear(): void {
    this.requests.length = 0
  }

  /** Ask the responder; an exception in it fails the request with 500/INTERNAL so the test notices. */
  respond(signal: Signal, headers: Record<string, string>, body: unknown): Rejection | undefined {
    if (!this.responder) return undefined
    try {
      return this.responder({ signal, headers, body }) ?? undefined
    } catch (e) {
      return { status: 500, grpcCode: grpc.status.INTERNAL, message: `responder threw: ${String(e)}` }
    }
  }

  record(r: ReceivedRequest): void {
    this.requests.push(r)
  }

  async waitFor(predicate: (r: Receiver) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let lastError: unknown
    for (;;) {
      try {
        if (predicate(this)) return
        lastError = undefined
      } catch (e) {
        lastError = e // e.g. indexing into an array that is still empty: keep polling
      }
      if (Date.now() >= deadline) break
      await new Promise((r) => setTimeout(r, 20))
    }
    const threw = lastError === undefined ? "" : `\n  predicate last threw: ${String(lastError)}`
    throw new Error(`waitFor timed out after ${timeoutMs} ms on ${this.describe()}${threw}`)
  }

  /** One paragraph on what arrived, for timeout messages. */
  describe(): string {
    const count = (s: Signal) => this.requests.filter((r) => r.signal === s).length
    const failed = this.requests.filter((r) => !r.accepted)
    const lines = [
      `${this.protocol} receiver at ${this.url}${this.stopped ? " (stopped)" : ""}: ${this.requests.length} request(s) ` +
        `(traces ${count("traces")}, metrics ${count("metrics")}, logs ${count("logs")}; not accepted ${failed.length})`,
      `  spans: ${JSON.stringify(this.spans().map((s) => s.name))}`,
      `  metrics: ${JSON.stringify([...new Set(this.metrics().map((m) => m.name))])}`,
      `  logs: ${JSON.stringify(this.logs().map((l) => l.eventName ?? l.body), bigintReplacer)}`,
      ...failed.map((r) => `  not accepted: ${r.signal} ${JSON.stringify(r.response)}${r.error ? ` ${r.error}` : ""}`),
    ]
    return lines.join("\n")
  }

  start(closer: () => Promise<void>, url: string, lifetimeMs: number): void {
    this.closer = closer
    this.url = url
    // Safety net so a forgotten receiver never keeps a test process (or a port) alive.
    this.lifetimeTimer = setTimeout(() => void this.stop(), lifetimeMs)
    this.lifetimeTimer.unref()
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true
      if (this.lifetimeTimer) clearTimeout(this.lifetimeTimer)
      await this.closer?.()
    })()
    return this.stopping
  }
}

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value
}

export async function startReceiver(opts: ReceiverOptions): Promise<Receiver> {
  loadCodecs() // fail fast (missing schema) before binding anything
  const receiver = new ReceiverImpl(opts.protocol)
  const lifetimeMs = opts.lifetimeMs ?? 5 * 60_000
  if (opts.protocol === "grpc") await startGrpc(receiver, lifetimeMs, opts.port ?? 0, opts.tls)
  else await startHttp(receiver, opts.protocol, lifetimeMs, opts.port ?? 0, opts.tls)
  return receiver
}

// --- gRPC ------------------------------------------------------------------

/** requestDeserialize never throws: a bad body becomes a recorded INVALID_ARGUMENT instead of grpc-js's INTERNAL. */
type Decoded = { readonly ok: true; readonly body: unknown } | { readonly ok: false; readonly error: string }

async function startGrpc(receiver: ReceiverImpl, lifetimeMs: number, port: number, tls: ReceiverOptions["tls"]): Promise<void> {
  const server = new grpc.Server()
  const all = loadCodecs()
  for (const signal of SIGNALS) {
    const { pkg, service } = SERVICES[signal]
    const codec = all[signal]
    const definition: grpc.ServiceDefinition = {
      Export: {
        path: `/${pkg}.${service}/Export`,
        requestStream: false,
        responseStream: false,
        requestSerialize: (value: Uint8Array) => Buffer.from(value),
        requestDeserialize: (bytes: Buffer): Decoded => {
          try {
            return { ok: true, body: decodeProtobuf(signal, bytes) }
          } catch (e) {
            return { ok: false, error: `protobuf decode failed: ${String(e)}` }
          }
        },
        responseSerialize: (value: Buffer) => value,
        responseDeserialize: (bytes: Buffer) => bytes,
      },
    }
    const exportCall: grpc.handleUnaryCall<Decoded, Buffer> = (call, callback) => {
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(call.metadata.getMap()))
        headers[k.toLowerCase()] = typeof v === "string" ? v : Buffer.from(v).toString("base64")
      const decoded = call.request
      if (!decoded.ok) {
        receiver.record({ signal, headers, body: undefined, accepted: false, response: { grpcCode: grpc.status.INVALID_ARGUMENT }, error: decoded.error })
        callback({ code: grpc.status.INVALID_ARGUMENT, details: decoded.error })
        return
      }
      const rejection = receiver.respond(signal, headers, decoded.body)
      const code = rejection ? grpcCodeOf(rejection) : grpc.status.OK
      receiver.record({ signal, headers, body: decoded.body, accepted: code === grpc.status.OK, response: { grpcCode: code } })
      if (code === grpc.status.OK) callback(null, codec.emptyResponse)
      else callback({ code, details: rejection?.message ?? `rejected by test responder (grpc code ${code})` })
    }
    server.addService(definition, { Export: exportCall as grpc.UntypedHandleCall })
  }
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `127.0.0.1:${port}`,
      tls === undefined
        ? grpc.ServerCredentials.createInsecure()
        : grpc.ServerCredentials.createSsl(tls.ca ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], tls.ca !== undefined),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  )
  const close = () =>
    new Promise<void>((resolve) => {
      // Graceful first; exporters keep their HTTP/2 connection open, so force after a short grace.
      const force = setTimeout(() => {
        server.forceShutdown()
        resolve()
      }, 1000)
      server.tryShutdown(() => {
        clearTimeout(force)
        resolve()
      })
    })
  receiver.start(close, `${tls === undefined ? "http" : "https"}://127.0.0.1:${bound}`, lifetimeMs)
}

// --- HTTP (protobuf and JSON) ----------------------------------------------

const CONTENT_TYPES: Record<Exclude<Protocol, "grpc">, string> = {
  "http/protobuf": "application/x-protobuf",
  "http/json": "application/json",
}

function signalOfPath(url: string | undefined): Signal | undefined {
  const pathname = (url ?? "").split("?")[0] ?? ""
  const m = /\/v1\/(traces|metrics|logs)\/?$/.exec(pathname)
  return m ? (m[1] as Signal) : undefined
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks)))
    req.on("error", reject)
  })
}

async function startHttp(
  receiver: ReceiverImpl,
  protocol: Exclude<Protocol, "grpc">,
  lifetimeMs: number,
  port: number,
  tls: ReceiverOptions["tls"],
): Promise<void> {
  const expectedType = CONTENT_TYPES[protocol]
  const all = loadCodecs()

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const send = (status: number, body: string | Buffer, type = "text/plain") => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) })
      res.end(body)
    }
    const signal = signalOfPath(req.url)
    if (req.method !== "POST" || !signal) {
      await readBody(req)
      send(404, `not an OTLP endpoint: ${req.method} ${req.url}`)
      return
    }
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v
    const fail = (status: number, error: string) => {
      receiver.record({ signal, headers, body: undefined, accepted: false, response: { httpStatus: status }, error })
      send(status, error)
    }
    let raw = await readBody(req)
    const encoding = (headers["content-encoding"] ?? "identity").toLowerCase()
    try {
      if (encoding === "gzip") raw = gunzipSync(raw)
      else if (encoding === "deflate") raw = inflateSync(raw)
      else if (encoding !== "identity") return fail(415, `unsupported content-encoding ${encoding}`)
    } catch (e) {
      return fail(400, `${encoding} decompression failed: ${String(e)}`)
    }
    // Strict on purpose: a JSON body sent to an http/protobuf receiver is a client misconfiguration.
    const contentType = (headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase()
    if (contentType !== expectedType) return fail(415, `expected content-type ${expectedType}, got ${contentType || "none"}`)
    let body: unknown
    try {
      body = protocol === "http/json" ? decodeJson(signal, raw.toString("utf8")) : decodeProtobuf(signal, raw)
    } catch (e) {
      return fail(400, `${protocol} decode failed: ${String(e)}`)
    }
    const rejection = receiver.respond(signal, headers, body)
    const status = rejection ? httpStatusOf(rejection) : 200
    const ok = status >= 200 && status < 300
    receiver.record({ signal, headers, body, accepted: ok, response: { httpStatus: status } })
    if (!ok) send(status, rejection?.message ?? `rejected by test responder (HTTP ${status})`)
    else if (protocol === "http/json") send(status, "{}", "application/json")
    else send(status, all[signal].emptyResponse, "application/x-protobuf")
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" })
      res.end(`receiver error: ${String(e)}`)
    })
  }
  const server =
    tls === undefined
      ? http.createServer(listener)
      : https.createServer(
          { key: tls.key, cert: tls.cert, ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: true }) },
          listener,
        )
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => resolve())
  })
  const bound = (server.address() as AddressInfo).port
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections() // exporters use keep-alive; don't wait for them to go idle
    })
  receiver.start(close, `${tls === undefined ? "http" : "https"}://127.0.0.1:${bound}`, lifetimeMs)
}

// ---------------------------------------------------------------------------
// Pretty printing for the demo

function formatValue(v: AttributeValue, max = 60): string {
  let s: string
  if (typeof v === "string") s = v
  else if (v instanceof Uint8Array) s = `0x${Buffer.from(v).toString("hex")}`
  else s = JSON.stringify(v, bigintReplacer) ?? String(v)
  return s.length > max ? `${s.slice(0, max - 1)}…` : s
}

function formatAttributes(a: Attributes, max = 60): string {
  return Object.keys(a)
    .sort()
    .map((k) => `${k}=${formatValue(a[k], max)}`)
    .join(" ")
}

function formatMetricValue(m: FlatMetric): string {
  const v = m.value
  if (typeof v === "number") return String(v)
  if ("explicitBounds" in v) return `count=${v.count} sum=${v.sum ?? "-"} min=${v.min ?? "-"} max=${v.max ?? "-"}`
  if ("scale" in v) return `count=${v.count} sum=${v.sum ?? "-"} scale=${v.scale}`
  return `count=${v.count} sum=${v.sum}`
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? []
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")).join("\n")
}

const nanosToClock = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString().slice(11, 23)
const durationMs = (s: FlatSpan): string => `${(Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6).toFixed(1)} ms`

/**
 * Plain-text report of what arrived: a metrics table (latest point per metric name and
 * attribute set, since cumulative exporters resend every series on each export), the log
 * events in time order, and the spans as a tree per trace, indented by parent.
 */
export function summarize(receiver: Receiver): string {
  const out: string[] = []
  const resource = [...receiver.spans(), ...receiver.logs(), ...receiver.metrics()][0]?.resource
  out.push(`OTLP ${receiver.protocol} receiver at ${receiver.url}: ${receiver.requests.length} request(s)`)
  if (resource) out.push(`resource: ${formatAttributes(resource)}`)

  const latest = new Map<string, FlatMetric>()
  for (const m of receiver.metrics()) latest.set(`${m.name}\u0000${JSON.stringify(m.attributes, bigintReplacer)}`, m)
  out.push("", `== metrics (${latest.size} series) ==`)
  if (latest.size > 0) {
    const rows = [...latest.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((m) => [
        m.name,
        m.type + (m.temporality && m.temporality !== "cumulative" ? `/${m.temporality}` : ""),
        formatAttributes(m.attributes, 40),
        formatMetricValue(m) + (m.unit ? (typeof m.value === "number" ? ` ${m.unit}` : ` (${m.unit})`) : ""),
      ])
    out.push(table([["NAME", "TYPE", "ATTRIBUTES", "VALUE"], ...rows]))
  }

  const logs = [...receiver.logs()].sort((a, b) => (a.timeUnixNano < b.timeUnixNano ? -1 : a.timeUnixNano > b.timeUnixNano ? 1 : 0))
  out.push("", `== log events (${logs.length}) ==`)
  for (const l of logs) {
    const title = l.eventName ?? formatValue(l.body, 80)
    const body = l.eventName && l.body !== undefined && l.body !== null ? ` body=${formatValue(l.body, 60)}` : ""
    const severity = l.severityText || (l.severityNumber ? `SEV${l.severityNumber}` : "-")
    out.push(`${nanosToClock(l.timeUnixNano)} ${severity.padEnd(5)} ${title}${body}  ${formatAttributes(l.attributes, 40)}`.trimEnd())
  }

  const spans = receiver.spans()
  out.push("", `== spans (${spans.length}) ==`)
  const byStart = (a: FlatSpan, b: FlatSpan) => (a.startTimeUnixNano < b.startTimeUnixNano ? -1 : a.startTimeUnixNano > b.startTimeUnixNano ? 1 : 0)
  const ids = new Set(spans.map((s) => `${s.traceId}/${s.spanId}`))
  const children = new Map<string, FlatSpan[]>()
  const roots: FlatSpan[] = []
  for (const s of spans) {
    // A span whose parent never arrived is shown as a root, marked so.
    if (s.parentSpanId && ids.has(`${s.traceId}/${s.parentSpanId}`)) {
      const key = `${s.traceId}/${s.parentSpanId}`
      children.set(key, [...(children.get(key) ?? []), s])
    } else roots.push(s)
  }
  const walk = (s: FlatSpan, depth: number) => {
    const status = s.status.code === "UNSET" ? "" : ` ${s.status.code}${s.status.message ? `(${s.status.message})` : ""}`
    const orphan = depth === 0 && s.parentSpanId ? " (parent not received)" : ""
    const attrs = formatAttributes(s.attributes, 40)
    out.push(`${"  ".repeat(depth)}${s.name} [${s.kind}] ${durationMs(s)}${status}${orphan}${attrs ? `  ${attrs}` : ""}`)
    for (const c of (children.get(`${s.traceId}/${s.spanId}`) ?? []).sort(byStart)) walk(c, depth + 1)
  }
  const traces = [...new Set(roots.map((r) => r.traceId))]
  for (const t of traces) {
    out.push(`trace ${t}`)
    for (const r of roots.filter((x) => x.traceId === t).sort(byStart)) walk(r, 1)
  }
  return out.join("\n")
}
