/**
 * Where and how data is sent: the shared endpoint, protocol and compression, and per signal the
 * OTEL_EXPORTER_OTLP_<SIGNAL>_* overrides (endpoint, protocol, headers). A bad shared endpoint or protocol switches
 * telemetry off (there is no sensible target otherwise); a bad per-signal value switches off that signal only.
 */
import type { Redacted } from "effect"
import { COMPRESSIONS, DEFAULTS, PROTOCOLS, SIGNALS, type Compression, type Protocol, type Signal } from "./catalog.ts"
import { headerList, oneOf, parseEndpoint, trimmed, type Input } from "./values.ts"

/** Where one signal goes: its URL (the collector URL for gRPC), protocol and extra headers. */
export interface SignalTarget {
  readonly url: string
  readonly protocol: Protocol
  readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>
}

export interface Transport {
  readonly endpoint: string
  readonly protocol: Protocol
  readonly compression: Compression
  readonly signals: Readonly<Record<Signal, SignalTarget>>
}

/** The URL a signal is sent to: the collector URL for gRPC, base URL + /v1/<signal> for HTTP. */
export const signalUrlOf = (endpoint: string, protocol: Protocol, signal: Signal): string => {
  const base = endpoint.replace(/\/+$/, "")
  if (protocol === "grpc") return grpcUrl(base)
  return `${base}/v1/${signal}`
}

const grpcUrl = (url: string) => url.replace(/^grpc:\/\//i, "http://").replace(/^grpcs:\/\//i, "https://")

const decodeEndpoint = (input: Input): string => {
  const value = trimmed(input, "OPENCODE_OTLP_ENDPOINT")
  if (value === undefined) return DEFAULTS.endpoint
  const parsed = parseEndpoint(value)
  if (parsed !== undefined) return parsed
  input.report(
    "OPENCODE_OTLP_ENDPOINT",
    input.raw.OPENCODE_OTLP_ENDPOINT,
    "a URL with a scheme, such as http://localhost:4317 or https://collector.example:4318",
  )
  return DEFAULTS.endpoint
}

/** No silent fallback to grpc: sending the wrong wire format would look like a broken collector. */
const decodeProtocol = (input: Input): Protocol => oneOf(input, "OPENCODE_OTLP_PROTOCOL", PROTOCOLS, DEFAULTS.protocol)

const decodeCompression = (input: Input): Compression => oneOf(input, "OPENCODE_OTLP_COMPRESSION", COMPRESSIONS, DEFAULTS.compression)

/** Per signal: the shared endpoint and protocol, overridden by OTEL_EXPORTER_OTLP_<SIGNAL>_* where set. */
const decodeSignals = (input: Input, endpoint: string, protocol: Protocol): Record<Signal, SignalTarget> => {
  const signals = {} as Record<Signal, SignalTarget>
  for (const signal of SIGNALS) {
    const up = signal.toUpperCase() as Uppercase<Signal>
    const signalProtocol = oneOf(input, `OTEL_EXPORTER_OTLP_${up}_PROTOCOL`, PROTOCOLS, protocol)
    const endpointVar = `OTEL_EXPORTER_OTLP_${up}_ENDPOINT` as const
    let url = signalUrlOf(endpoint, signalProtocol, signal)
    const rawEndpoint = trimmed(input, endpointVar)
    if (rawEndpoint !== undefined) {
      const parsed = parseEndpoint(rawEndpoint)
      if (parsed === undefined)
        input.report(endpointVar, input.raw[endpointVar], `a full URL with a scheme, used as it is (e.g. http://collector:4318/v1/${signal})`)
      else url = signalProtocol === "grpc" ? grpcUrl(parsed) : parsed
    }
    const headers = headerList(input, `OTEL_EXPORTER_OTLP_${up}_HEADERS`, "comma-separated name=value pairs with valid HTTP header names") ?? {}
    signals[signal] = { url, protocol: signalProtocol, headers }
  }
  return signals
}

export const decodeTransport = (input: Input): Transport => {
  const endpoint = decodeEndpoint(input)
  const protocol = decodeProtocol(input)
  return { endpoint, protocol, compression: decodeCompression(input), signals: decodeSignals(input, endpoint, protocol) }
}
