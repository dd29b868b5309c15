/** OTLP over gRPC (grpc-js). */
import { Metadata, credentials } from "@grpc/grpc-js"
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-grpc"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import { CompressionAlgorithm } from "@opentelemetry/otlp-exporter-base"
import type { OtlpTarget, ProtocolExporters } from "./types.ts"

const grpcOptions = (target: OtlpTarget, headers: Readonly<Record<string, string>>) => {
  const metadata = new Metadata()
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v)
  return {
    url: target.url,
    metadata,
    timeoutMillis: target.timeoutMs,
    compression: target.compression === "gzip" ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    // Explicit credentials: the exporter would otherwise consult OTEL_EXPORTER_OTLP_INSECURE and friends.
    credentials: target.url.startsWith("https://")
      ? credentials.createSsl(target.tls?.ca ?? null, target.tls?.key ?? null, target.tls?.cert ?? null)
      : credentials.createInsecure(),
  }
}

export const exporters: ProtocolExporters = {
  spans: (target, headers) => new OTLPTraceExporter(grpcOptions(target, headers)),
  logs: (target, headers) => new OTLPLogExporter(grpcOptions(target, headers)),
  metrics: (target, headers) => new OTLPMetricExporter(grpcOptions(target, headers)),
}
