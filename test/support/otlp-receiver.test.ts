/**
 * Proves the loopback OTLP receiver against the real OpenTelemetry JS exporters, one run per
 * protocol: what the SDK emits must come back out of the receiver decoded and flattened, and
 * a rejecting responder must make the exporter's export fail.
 */
import { afterEach, describe, expect, test } from "bun:test"
import { Metadata } from "@grpc/grpc-js"
import { ROOT_CONTEXT, SpanStatusCode, trace } from "@opentelemetry/api"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { type ExportResult, ExportResultCode } from "@opentelemetry/core"
import { OTLPLogExporter as GrpcLogExporter } from "@opentelemetry/exporter-logs-otlp-grpc"
import { OTLPLogExporter as JsonLogExporter } from "@opentelemetry/exporter-logs-otlp-http"
import { OTLPLogExporter as ProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto"
import { OTLPMetricExporter as GrpcMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc"
import { OTLPMetricExporter as JsonMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPMetricExporter as ProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto"
import { OTLPTraceExporter as GrpcTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { LoggerProvider, type LogRecordExporter, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs"
import { MeterProvider, type PushMetricExporter, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base"
import { type FlatLog, type FlatMetric, type FlatSpan, type Protocol, type Receiver, startReceiver, summarize } from "./otlp-receiver"

const HEADER = "x-receiver-test"
const PROTOCOLS: readonly Protocol[] = ["grpc", "http/protobuf", "http/json"]

interface Exporters {
  readonly traces: SpanExporter
  readonly metrics: PushMetricExporter
  readonly logs: LogRecordExporter
}

/** Exporters as the plugin would build them. */
function exportersFor(r: Receiver, headerValue: string, gzip: boolean): Exporters {
  const timeoutMillis = 3000
  // CompressionAlgorithm.GZIP/NONE are "gzip"/"none"; typed via a constructor to avoid importing the transitive enum.
  const compression = (gzip ? "gzip" : "none") as NonNullable<NonNullable<ConstructorParameters<typeof ProtoTraceExporter>[0]>["compression"]>
  if (r.protocol === "grpc") {
    // The gRPC exporters take headers as Metadata, built per exporter.
    const metadata = () => {
      const m = new Metadata()
      m.set(HEADER, headerValue)
      return m
    }
    return {
      traces: new GrpcTraceExporter({ url: r.url, metadata: metadata(), timeoutMillis, compression }),
      metrics: new GrpcMetricExporter({ url: r.url, metadata: metadata(), timeoutMillis, compression }),
      logs: new GrpcLogExporter({ url: r.url, metadata: metadata(), timeoutMillis, compression }),
    }
  }
  const headers = { [HEADER]: headerValue }
  if (r.protocol === "http/protobuf") {
    return {
      traces: new ProtoTraceExporter({ url: r.endpoint("traces"), headers, timeoutMillis, compression }),
      metrics: new ProtoMetricExporter({ url: r.endpoint("metrics"), headers, timeoutMillis, compression }),
      logs: new ProtoLogExporter({ url: r.endpoint("logs"), headers, timeoutMillis, compression }),
    }
  }
  return {
    traces: new JsonTraceExporter({ url: r.endpoint("traces"), headers, timeoutMillis, compression }),
    metrics: new JsonMetricExporter({ url: r.endpoint("metrics"), headers, timeoutMillis, compression }),
    logs: new JsonLogExporter({ url: r.endpoint("logs"), headers, timeoutMillis, compression }),
  }
}

/** Emit a parent+child span, one counter increment and one event through non-global providers. */
async function emitAll(exporters: Exporters): Promise<void> {
  const resource = resourceFromAttributes({ "service.name": "receiver-test", "service.version": "1.2.3" })
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(exporters.traces)] })
  const meterProvider = new MeterProvider({
    resource,
    // A long interval: only forceFlush exports, so exactly one metrics request arrives.
    readers: [new PeriodicExportingMetricReader({ exporter: exporters.metrics, exportIntervalMillis: 60_000 })],
  })
  const loggerProvider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: exporters.logs })] })
  try {
    const tracer = tracerProvider.getTracer("receiver-test-scope", "0.0.1")
    const parent = tracer.startSpan("parent-op", {
      attributes: { "test.string": "hello", "test.int": 42, "test.double": 1.5, "test.bool": true, "test.array": ["a", "b"] },
    })
    const child = tracer.startSpan("child-op", {}, trace.setSpan(ROOT_CONTEXT, parent))
    child.setStatus({ code: SpanStatusCode.ERROR, message: "boom" })
    child.end()
    parent.end()

    const meter = meterProvider.getMeter("receiver-test-scope")
    meter.createCounter("test.requests", { unit: "{request}", description: "requests" }).add(3, { route: "/x" })
    const latency = meter.createHistogram("test.latency", { unit: "ms", advice: { explicitBucketBoundaries: [10, 100] } })
    latency.record(3)
    latency.record(12.5)

    loggerProvider.getLogger("receiver-test-scope").emit({
      eventName: "test.event",
      body: "something happened",
      severityNumber: SeverityNumber.INFO,
      severityText: "INFO",
      attributes: { "event.attr": "v", "event.count": 7 },
    })
    // A structured body exercises AnyValue kvlist/array/int64 decoding.
    loggerProvider.getLogger("receiver-test-scope").emit({ body: { n: -5, list: [true, "x"], nested: { d: 0.25 } } })

    await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush(), loggerProvider.forceFlush()])
  } finally {
    await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()])
  }
}

/** What every protocol must agree on, with ids and timestamps left out. */
function comparable(r: Receiver) {
  const span = ({ name, kind, attributes, resource, scope, status }: FlatSpan) => ({ name, kind, attributes, resource, scope, status })
  const log = ({ body, attributes, resource, scope, severityNumber, severityText, eventName }: FlatLog) => ({
    body,
    attributes,
    resource,
    scope,
    severityNumber,
    severityText,
    eventName,
  })
  const metric = ({ name, unit, description, type, isMonotonic, temporality, value, attributes, resource, scope }: FlatMetric) => ({
    name,
    unit,
    description,
    type,
    isMonotonic,
    temporality,
    value,
    attributes,
    resource,
    scope,
  })
  // Each span/record may travel in its own request, and concurrent requests can arrive in any order.
  const sorted = <T>(xs: T[]) => xs.sort((a, b) => stableJson(a).localeCompare(stableJson(b)))
  return { spans: sorted(r.spans().map(span)), logs: sorted(r.logs().map(log)), metrics: sorted(r.metrics().map(metric)) }
}

function stableJson(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))
}

const started: Receiver[] = []
async function receiver(protocol: Protocol): Promise<Receiver> {
  const r = await startReceiver({ protocol, lifetimeMs: 30_000 })
  started.push(r)
  return r
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((r) => r.stop()))
})

const seen = new Map<Protocol, ReturnType<typeof comparable>>()

describe.each(PROTOCOLS)("otlp receiver over %s", (protocol) => {
  test("decodes spans, metrics and logs from the real OTel exporters", async () => {
    const r = await receiver(protocol)
    expect(r.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    await emitAll(exportersFor(r, `hdr-${protocol}`, true))
    await r.waitFor((x) => x.spans().length >= 2 && x.metrics().length >= 2 && x.logs().length >= 2)

    for (const req of r.requests) {
      expect(req.accepted).toBe(true)
      expect(req.headers[HEADER]).toBe(`hdr-${protocol}`)
      if (protocol === "http/protobuf") expect(req.headers["content-type"]).toBe("application/x-protobuf")
      if (protocol === "http/json") expect(req.headers["content-type"]).toBe("application/json")
      if (protocol !== "grpc") expect(req.headers["content-encoding"]).toBe("gzip")
      // grpc-js keeps reserved headers (content-type, te, grpc-*) out of call metadata.
      if (protocol === "grpc") expect(req.headers["user-agent"]).toContain("grpc-node-js")
    }
    expect(new Set(r.requests.map((q) => q.signal))).toEqual(new Set(["traces", "metrics", "logs"]))

    const spans = r.spans()
    const parent = spans.find((s) => s.name === "parent-op")
    const child = spans.find((s) => s.name === "child-op")
    if (!parent || !child) throw new Error(`spans missing: ${spans.map((s) => s.name).join(", ")}`)
    expect(parent.attributes).toEqual({ "test.string": "hello", "test.int": 42, "test.double": 1.5, "test.bool": true, "test.array": ["a", "b"] })
    expect(parent.resource["service.name"]).toBe("receiver-test")
    expect(parent.scope).toEqual({ name: "receiver-test-scope", version: "0.0.1" })
    expect(parent.kind).toBe("INTERNAL")
    expect(parent.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(parent.spanId).toMatch(/^[0-9a-f]{16}$/)
    expect(parent.parentSpanId).toBe("")
    expect(child.traceId).toBe(parent.traceId)
    expect(child.parentSpanId).toBe(parent.spanId)
    expect(child.status).toEqual({ code: "ERROR", message: "boom" })
    expect(typeof parent.startTimeUnixNano).toBe("bigint")
    expect(parent.endTimeUnixNano).toBeGreaterThanOrEqual(parent.startTimeUnixNano)
    // Nanosecond timestamps must survive undamaged (they exceed 2^53): within a minute of now.
    const nowNs = BigInt(Date.now()) * 1_000_000n
    expect(nowNs - parent.startTimeUnixNano).toBeLessThan(60_000_000_000n)

    const metric = r.metrics().find((m) => m.name === "test.requests")
    expect(metric).toMatchObject({
      name: "test.requests",
      unit: "{request}",
      description: "requests",
      type: "sum",
      isMonotonic: true,
      temporality: "cumulative",
      value: 3,
      attributes: { route: "/x" },
    })
    expect(metric?.resource["service.name"]).toBe("receiver-test")
    expect(r.metrics().find((m) => m.name === "test.latency")).toMatchObject({
      type: "histogram",
      unit: "ms",
      temporality: "cumulative",
      value: { count: 2, sum: 15.5, min: 3, max: 12.5, bucketCounts: [1, 1, 0], explicitBounds: [10, 100] },
    })

    const log = r.logs().find((l) => l.eventName !== undefined)
    expect(log).toMatchObject({
      eventName: "test.event",
      body: "something happened",
      severityText: "INFO",
      severityNumber: SeverityNumber.INFO,
      attributes: { "event.attr": "v", "event.count": 7 },
    })
    expect(log?.resource["service.name"]).toBe("receiver-test")
    expect(r.logs().find((l) => l.eventName === undefined)?.body).toEqual({ n: -5, list: [true, "x"], nested: { d: 0.25 } })

    const text = summarize(r)
    expect(text).toContain("test.requests")
    expect(text).toContain("route=/x")
    expect(text).toContain("test.event")
    expect(text).toMatch(/\n {2}parent-op \[INTERNAL\].*\n {4}child-op \[INTERNAL\] .*ERROR\(boom\)/)

    if (process.env.SHOW_SUMMARY) console.log(text)
    seen.set(protocol, comparable(r))
  })

  test("a 401 responder makes the exporter's export fail", async () => {
    const r = await receiver(protocol)
    r.setResponder(({ headers }) => (headers[HEADER] === "bad-token" ? { status: 401 } : undefined))

    // Real spans to export by hand, so the export callback's result is visible.
    const memory = new InMemorySpanExporter()
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] })
    provider.getTracer("t").startSpan("rejected-op").end()
    const finished: ReadableSpan[] = memory.getFinishedSpans()
    await provider.shutdown()

    const exporter = exportersFor(r, "bad-token", false).traces
    const result = await new Promise<ExportResult>((resolve) => exporter.export(finished, resolve))
    await exporter.shutdown()

    expect(result.code).toBe(ExportResultCode.FAILED)
    const error = result.error as (Error & { code?: number }) | undefined
    expect(error?.code).toBe(protocol === "grpc" ? 16 /* UNAUTHENTICATED */ : 401)
    expect(r.requests).toHaveLength(1)
    expect(r.requests[0]?.accepted).toBe(false)
    expect(r.requests[0]?.response).toEqual(protocol === "grpc" ? { grpcCode: 16 } : { httpStatus: 401 })
    expect(r.spans()).toEqual([]) // rejected requests stay out of the flat views
  })
})

test("all three protocols decode to the same flat data", () => {
  const grpc = seen.get("grpc")
  expect(grpc).toBeDefined()
  expect(seen.get("http/protobuf")).toEqual(grpc)
  expect(seen.get("http/json")).toEqual(grpc)
})

test("http receivers refuse the other content type (415) and undecodable bodies (400), and record why", async () => {
  const r = await receiver("http/protobuf")
  const res = await fetch(r.endpoint("traces"), { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })
  expect(res.status).toBe(415)
  expect(r.requests[0]).toMatchObject({ signal: "traces", accepted: false, response: { httpStatus: 415 } })
  expect(r.requests[0]?.error).toContain("expected content-type application/x-protobuf")
  const garbage = await fetch(r.endpoint("logs"), {
    method: "POST",
    headers: { "content-type": "application/x-protobuf" },
    body: new Uint8Array([0x0a, 0xff, 0xff, 0xff]),
  })
  expect(garbage.status).toBe(400)
  expect(r.requests[1]).toMatchObject({ signal: "logs", accepted: false, response: { httpStatus: 400 } })
})

test("http/json accepts hand-written OTLP/JSON: uppercase hex ids, int64 as strings, gzip", async () => {
  const r = await receiver("http/json")
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "hand" } }] },
        scopeSpans: [
          {
            scope: { name: "s" },
            spans: [
              {
                traceId: "5B8EFFF798038103D269B633813FC60C",
                spanId: "EEE19B7EC3C1B174",
                parentSpanId: "",
                name: "hand-span",
                kind: 2,
                startTimeUnixNano: "1544712660000000000",
                endTimeUnixNano: "1544712661000000000",
                attributes: [
                  { key: "big", value: { intValue: "9007199254740993" } },
                  { key: "neg", value: { intValue: "-7" } },
                  { key: "kv", value: { kvlistValue: { values: [{ key: "a", value: { boolValue: false } }] } } },
                ],
                status: {},
              },
            ],
          },
        ],
      },
    ],
  }
  const res = await fetch(r.endpoint("traces"), {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: Bun.gzipSync(JSON.stringify(body)),
  })
  expect(res.status).toBe(200)
  expect(await res.json()).toEqual({})
  const [span] = r.spans()
  expect(span).toMatchObject({
    name: "hand-span",
    kind: "SERVER",
    traceId: "5b8efff798038103d269b633813fc60c",
    spanId: "eee19b7ec3c1b174",
    parentSpanId: "",
    startTimeUnixNano: 1544712660000000000n,
    endTimeUnixNano: 1544712661000000000n,
    attributes: { big: 9007199254740993n, neg: -7, kv: { a: false } },
    resource: { "service.name": "hand" },
    status: { code: "UNSET", message: "" },
  })
})

test("waitFor rejects with what did arrive", async () => {
  const r = await receiver("http/json")
  const err = await r.waitFor((x) => x.spans().length > 0, 50).catch((e: unknown) => e)
  expect(err).toBeInstanceOf(Error)
  expect(String(err)).toContain("waitFor timed out after 50 ms on http/json receiver")
})

test("the lifetime timer stops a forgotten receiver", async () => {
  const r = await startReceiver({ protocol: "http/json", lifetimeMs: 50 })
  await r.waitFor((x) => x.stopped, 2000)
  const refused = await fetch(r.endpoint("logs"), { method: "POST", body: "{}" }).then(
    () => false,
    () => true,
  )
  expect(refused).toBe(true)
})
