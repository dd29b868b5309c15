/**
 * TLS files (PEM paths): a CA to trust, and a client key and certificate for mutual TLS. The files are read by
 * the exporter; here only the pairing is judged, since one half without the other would fail every handshake.
 */
import { trimmed, type Input } from "./values.ts"

export interface Tls {
  readonly ca?: string | undefined
  readonly clientKey?: string | undefined
  readonly clientCertificate?: string | undefined
}

export const decodeTls = (input: Input): Tls => {
  const clientKey = trimmed(input, "OPENCODE_OTLP_CLIENT_KEY")
  const clientCertificate = trimmed(input, "OPENCODE_OTLP_CLIENT_CERTIFICATE")
  const pairComplete = (clientKey === undefined) === (clientCertificate === undefined)
  if (!pairComplete)
    input.report(
      clientKey === undefined ? "OPENCODE_OTLP_CLIENT_CERTIFICATE" : "OPENCODE_OTLP_CLIENT_KEY",
      clientKey ?? clientCertificate,
      `to be set together with ${clientKey === undefined ? "OPENCODE_OTLP_CLIENT_KEY" : "OPENCODE_OTLP_CLIENT_CERTIFICATE"} (PEM files of the client's key and certificate)`,
    )
  return { ca: trimmed(input, "OPENCODE_OTLP_CERTIFICATE"), ...(pairComplete ? { clientKey, clientCertificate } : {}) }
}
