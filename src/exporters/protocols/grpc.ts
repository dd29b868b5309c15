/** OTLP over gRPC (grpc-js). */
import { ChannelCredentials, Metadata, credentials } from "@grpc/grpc-js"
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-grpc"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import { CompressionAlgorithm } from "@opentelemetry/otlp-exporter-base"
import type { OtlpTarget, ProtocolExporters } from "./types.ts"

type SecureConnector = ReturnType<ChannelCredentials["_createSecureConnector"]>

/**
 * The configured credentials, with a check before every connection grpc-js opens: Bun's node:http2 throws,
 * outside any promise, on an answer that is not HTTP/2 (an HTTP/1.1 server's), which would end opencode. A
 * connection the check refuses fails like an unreachable collector, with the check's reason.
 */
class CheckedCredentials extends ChannelCredentials {
  constructor(
    private readonly inner: ChannelCredentials,
    private readonly check: () => Promise<Error | undefined>,
  ) {
    super()
  }
  _isSecure(): boolean {
    return this.inner._isSecure()
  }
  _equals(other: ChannelCredentials): boolean {
    return other === this
  }
  _createSecureConnector(...args: Parameters<ChannelCredentials["_createSecureConnector"]>): SecureConnector {
    const connector = this.inner._createSecureConnector(...args)
    const check = this.check
    return {
      connect: (socket) => connector.connect(socket),
      // grpc-js waits for this before it opens the TCP connection. The check must come first: a server's first
      // bytes (its SETTINGS) arriving on a socket that node:http2 has not yet taken over are lost under Bun 1.3.
      waitForReady: async () => {
        const refused = await check()
        if (refused !== undefined) throw refused
        await connector.waitForReady()
      },
      getCallCredentials: () => connector.getCallCredentials(),
      destroy: () => connector.destroy(),
    }
  }
}

const grpcOptions = (target: OtlpTarget, headers: Readonly<Record<string, string>>) => {
  const metadata = new Metadata()
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v)
  // Explicit credentials: the exporter would otherwise consult OTEL_EXPORTER_OTLP_INSECURE and friends.
  const configured = target.url.startsWith("https://")
    ? credentials.createSsl(target.tls?.ca ?? null, target.tls?.key ?? null, target.tls?.cert ?? null)
    : credentials.createInsecure()
  return {
    url: target.url,
    metadata,
    timeoutMillis: target.timeoutMs,
    compression: target.compression === "gzip" ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
    credentials: target.beforeConnect === undefined ? configured : new CheckedCredentials(configured, target.beforeConnect),
  }
}

export const exporters: ProtocolExporters = {
  spans: (target, headers) => new OTLPTraceExporter(grpcOptions(target, headers)),
  logs: (target, headers) => new OTLPLogExporter(grpcOptions(target, headers)),
  metrics: (target, headers) => new OTLPMetricExporter(grpcOptions(target, headers)),
}
