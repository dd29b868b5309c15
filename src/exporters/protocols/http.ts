/** Options shared by the two OTLP/HTTP protocols. */
import { CompressionAlgorithm } from "@opentelemetry/otlp-exporter-base"
import type { OtlpTarget } from "./types.ts"

export const httpOptions = (target: OtlpTarget, headers: Readonly<Record<string, string>>) => ({
  url: target.url,
  headers: { ...headers },
  timeoutMillis: target.timeoutMs,
  // Explicit, so OTEL_EXPORTER_OTLP_COMPRESSION in opencode's environment cannot override the plugin's setting.
  compression: target.compression === "gzip" ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
  ...(target.url.startsWith("https://") && target.tls !== undefined
    ? {
        httpAgentOptions: {
          ...(target.tls.ca === undefined ? {} : { ca: target.tls.ca }),
          ...(target.tls.key === undefined ? {} : { key: target.tls.key }),
          ...(target.tls.cert === undefined ? {} : { cert: target.tls.cert }),
        },
      }
    : {}),
})
