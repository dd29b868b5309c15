/**
 * The `console` exporter (OTEL_*_EXPORTER=console), for looking at what the plugin records without a collector.
 * "Console" means opencode's log, never stdout or stderr: inside opencode's TUI those would corrupt the screen.
 * One line per span, log record or metric point.
 */
import type { Attributes } from "@opentelemetry/api"
import { ExportResultCode, hrTimeToMilliseconds, type ExportResult } from "@opentelemetry/core"
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { AggregationTemporality, type PushMetricExporter, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base"

export type LineWriter = (line: string) => void

const OK: ExportResult = { code: ExportResultCode.SUCCESS }

const compact = (attributes: Attributes | Readonly<Record<string, unknown>>) =>
  Object.entries(attributes)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ")

export class ConsoleSpanExporter implements SpanExporter {
  constructor(private readonly write: LineWriter) {}
  export(spans: Array<ReadableSpan>, done: (r: ExportResult) => void) {
    for (const s of spans) {
      const ms = hrTimeToMilliseconds(s.duration).toFixed(1)
      const parent = s.parentSpanContext?.spanId ?? "-"
      this.write(`span ${s.name} trace=${s.spanContext().traceId} span=${s.spanContext().spanId} parent=${parent} ${ms}ms ${compact(s.attributes)}`)
    }
    done(OK)
  }
  shutdown() {
    return Promise.resolve()
  }
}

export class ConsoleLogExporter implements LogRecordExporter {
  constructor(private readonly write: LineWriter) {}
  export(records: Array<ReadableLogRecord>, done: (r: ExportResult) => void) {
    for (const r of records) this.write(`event ${String(r.body)} ${compact(r.attributes)}`)
    done(OK)
  }
  forceFlush() {
    return Promise.resolve()
  }
  shutdown() {
    return Promise.resolve()
  }
}

export class ConsoleMetricExporter implements PushMetricExporter {
  constructor(private readonly write: LineWriter) {}
  export(metrics: ResourceMetrics, done: (r: ExportResult) => void) {
    for (const scope of metrics.scopeMetrics)
      for (const metric of scope.metrics)
        for (const point of metric.dataPoints) {
          const value = typeof point.value === "number" ? point.value : `count=${point.value.count} sum=${point.value.sum ?? 0}`
          this.write(`metric ${metric.descriptor.name} ${compact(point.attributes)} = ${value} ${metric.descriptor.unit}`)
        }
    done(OK)
  }
  selectAggregationTemporality() {
    return AggregationTemporality.CUMULATIVE
  }
  forceFlush() {
    return Promise.resolve()
  }
  shutdown() {
    return Promise.resolve()
  }
}
