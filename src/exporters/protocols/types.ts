import type { LogRecordExporter } from "@opentelemetry/sdk-logs"
import type { PushMetricExporter } from "@opentelemetry/sdk-metrics"
import type { SpanExporter } from "@opentelemetry/sdk-trace-base"
import type { Compression, Protocol } from "../../config/catalog.ts"

/** Where one signal's exporter sends: its full URL (the collector URL for gRPC), protocol and transport options. */
export interface OtlpTarget {
  readonly url: string
  readonly protocol: Protocol
  readonly timeoutMs: number
  readonly compression: Compression
  /** PEM contents for https/TLS endpoints: a CA to trust, a client key and certificate (mTLS). */
  readonly tls?: { readonly ca?: Buffer | undefined; readonly key?: Buffer | undefined; readonly cert?: Buffer | undefined } | undefined
  /**
   * gRPC: called before each connection the transport opens; an error refuses the connection (it then fails as
   * an unreachable collector would, with this error as the reason).
   */
  readonly beforeConnect?: (() => Promise<Error | undefined>) | undefined
}

/** The OpenTelemetry exporters of one protocol. Each protocol is its own module, loaded only when configured. */
export interface ProtocolExporters {
  readonly spans: (target: OtlpTarget, headers: Readonly<Record<string, string>>) => SpanExporter
  readonly logs: (target: OtlpTarget, headers: Readonly<Record<string, string>>) => LogRecordExporter
  readonly metrics: (target: OtlpTarget, headers: Readonly<Record<string, string>>) => PushMetricExporter
}
