/**
 * The spool's codec: a batch written to the spool and read back is the same batch on the wire. Compared through
 * OpenTelemetry's own OTLP serializer (what the exporters send), so every field the wire carries counts.
 */
import { expect, test } from "bun:test"
import { SpanKind, SpanStatusCode, ValueType, type Link } from "@opentelemetry/api"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { TraceState } from "@opentelemetry/core"
import { JsonLogsSerializer, JsonMetricsSerializer, JsonTraceSerializer } from "@opentelemetry/otlp-transformer"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs"
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { logCodec, metricCodec, spanCodec } from "../../src/exporters/spoolCodec.ts"

const resource = resourceFromAttributes({ "service.name": "opencode", "service.instance.id": "2b1f0c8e-7d33-4c55-9a51-3f1a2c9d0e11", "host.arch": "amd64" })
const scope = ["opencode-plugin-opentelemetry", "0.1.0"] as const
/** Through JSON text, as the spool stores it. */
const viaDisk = (value: unknown): unknown => JSON.parse(JSON.stringify(value))
const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes)

test("spans: names, ids, parents, kinds, times, status, attributes, events, links, trace state and resource survive", async () => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const tracer = provider.getTracer(...scope)
  const root = tracer.startSpan("invoke_agent build", { kind: SpanKind.INTERNAL, attributes: { "session.id": "ses_1", "gen_ai.usage.input_tokens": 120, ok: true } })
  const { trace, context } = await import("@opentelemetry/api")
  const parent = trace.setSpan(context.active(), root)
  const link: Link = { context: { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1, traceState: new TraceState("vendor=a,other=b") }, attributes: { why: "caused by" } }
  const child = tracer.startSpan("execute_tool bash", { kind: SpanKind.CLIENT, links: [link], attributes: { tags: ["a", "b"], counts: [1, 2, 3] } }, parent)
  child.addEvent("retry", { attempt: 2 })
  child.setStatus({ code: SpanStatusCode.ERROR, message: "tool error" })
  child.end()
  root.setStatus({ code: SpanStatusCode.OK })
  root.end()
  const spans = exporter.getFinishedSpans()
  expect(spans.length).toBe(2)
  const decoded = spanCodec.decoder()(viaDisk(spanCodec.encode(spans)))
  expect(decoded).toBeDefined()
  expect(text(JsonTraceSerializer.serializeRequest(decoded!))).toBe(text(JsonTraceSerializer.serializeRequest(spans)))
  expect(decoded![0]!.spanContext().spanId).toBe(spans[0]!.spanContext().spanId)
  await provider.shutdown()
})

test("log records: times, severity, body, event name, trace context, attributes and resource survive", async () => {
  const exporter = new InMemoryLogRecordExporter()
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter })] })
  const logger = provider.getLogger(...scope)
  logger.emit({ eventName: "api_request", body: "api_request", severityNumber: SeverityNumber.INFO, severityText: "INFO", attributes: { "event.name": "api_request", cost_usd: 0.0123, success: true } })
  logger.emit({ body: "tool_result", attributes: { "event.name": "tool_result", duration_ms: 42 } })
  const logs = exporter.getFinishedLogRecords()
  const decoded = logCodec.decoder()(viaDisk(logCodec.encode(logs)))
  expect(decoded).toBeDefined()
  expect(text(JsonLogsSerializer.serializeRequest(decoded!))).toBe(text(JsonLogsSerializer.serializeRequest(logs)))
  await provider.shutdown()
})

test.each([AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA])(
  "metrics (temporality %d): sums, gauges and histograms with their start times, descriptors and resource survive",
  async (temporality) => {
    const exporter = new InMemoryMetricExporter(temporality)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })
    const provider = new MeterProvider({ resource, readers: [reader] })
    const meter = provider.getMeter(...scope)
    meter.createCounter("opencode.token.usage", { unit: "tokens", description: "Tokens used" }).add(120, { type: "input", model: "m" })
    meter.createUpDownCounter("opencode.sessions.open", { valueType: ValueType.INT }).add(-1)
    meter.createGauge("opencode.queue.depth").record(3.5, { queue: "events" })
    const histogram = meter.createHistogram("opencode.tool.duration", { unit: "ms" })
    for (const v of [3, 40, 900]) histogram.record(v, { tool_name: "bash" })
    await reader.forceFlush()
    const batches = exporter.getMetrics()
    expect(batches.length).toBe(1)
    const decoded = metricCodec.decoder()(viaDisk(metricCodec.encode(batches[0]!)))
    expect(decoded).toBeDefined()
    expect(text(JsonMetricsSerializer.serializeRequest(decoded!))).toBe(text(JsonMetricsSerializer.serializeRequest(batches[0]!)))
    await provider.shutdown()
  },
)

test("what is not a batch of the signal does not decode", () => {
  expect(spanCodec.decoder()([{ name: 1 }])).toBeUndefined()
  expect(logCodec.decoder()("text")).toBeUndefined()
  expect(metricCodec.decoder()({ resource: {}, scopes: [{ scope: {}, metrics: [] }] })).toBeUndefined()
})
