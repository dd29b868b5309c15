/** OTLP over HTTP with JSON bodies. */
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { httpOptions } from "./http.ts"
import type { ProtocolExporters } from "./types.ts"

export const exporters: ProtocolExporters = {
  spans: (target, headers) => new OTLPTraceExporter(httpOptions(target, headers)),
  logs: (target, headers) => new OTLPLogExporter(httpOptions(target, headers)),
  metrics: (target, headers) => new OTLPMetricExporter(httpOptions(target, headers)),
}
