/** OTLP over HTTP with protobuf bodies. */
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-proto"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import { httpOptions } from "./http.ts"
import type { ProtocolExporters } from "./types.ts"

export const exporters: ProtocolExporters = {
  spans: (target, headers) => new OTLPTraceExporter(httpOptions(target, headers)),
  logs: (target, headers) => new OTLPLogExporter(httpOptions(target, headers)),
  metrics: (target, headers) => new OTLPMetricExporter(httpOptions(target, headers)),
}
