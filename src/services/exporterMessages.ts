/**
 * What the Exporter layer says in opencode's log: where telemetry goes (one line at start), an endpoint that does
 * not speak its protocol (one line, with what to set), credentials about to cross the network in clear. Endpoints
 * are shown without credentials; header values never.
 */
import { withoutCredentials } from "../exporters/otlp.ts"
import { MISMATCH_SUMMARY, type Mismatch } from "../exporters/probe.ts"
import { SIGNALS, signalUrlOf, TRACE_TYPES, type Interface as ConfigInterface, type Signal } from "./Config.ts"

/** Credentials configured, and an unencrypted endpoint that is not this machine. */
export const sendsCredentialsInClear = (config: {
  readonly endpoint: string
  readonly headers: Pick<ConfigInterface["headers"], "static" | "helper">
}): boolean => {
  const hasCredentials = Object.keys(config.headers.static).length > 0 || config.headers.helper._tag === "Some"
  const url = new URL(config.endpoint)
  const plain = url.protocol === "http:" || url.protocol === "grpc:"
  const host = url.hostname.replace(/^\[|\]$/g, "")
  const loopback = host === "localhost" || host === "::1" || /^127\./.test(host)
  return hasCredentials && plain && !loopback
}

export const UNITS = { traces: "spans", logs: "log records", metrics: "metric batches" } as const

/** The signals' OTLP targets are the shared endpoint and protocol (not OTEL_EXPORTER_OTLP_<SIGNAL>_* overrides). */
const sharesEndpoint = (config: ConfigInterface, signals: ReadonlyArray<Signal>) =>
  signals.every(
    (s) => config.signals[s].protocol === config.protocol && config.signals[s].url === signalUrlOf(config.endpoint, config.protocol, s),
  )

const listed = (items: ReadonlyArray<string>) =>
  items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`

/**
 * One line, when telemetry starts: what goes where. Endpoints without credentials; never header values. No
 * variable names either: a line naming a variable is a message about that variable.
 */
export const startupMessage = (config: ConfigInterface, otlpSignals: ReadonlyArray<Signal>): string => {
  const traceTypes = TRACE_TYPES.filter((t) => !config.traces.disabled.has(t))
  const on: Record<Signal, boolean> = { traces: traceTypes.length > 0, logs: config.logs.enabled, metrics: config.metrics.enabled }
  const destinations = SIGNALS.map((signal) => {
    const to = [
      ...(config.exportTo.otlp[signal] ? ["otlp"] : []),
      ...(config.exportTo.console[signal] ? ["console"] : []),
      ...(config.exportTo.file[signal] ? ["file"] : []),
      ...(signal === "metrics" && config.metrics.prometheus !== undefined
        ? [`prometheus (http://${config.metrics.prometheus.host}:${config.metrics.prometheus.port}/metrics)`]
        : []),
    ]
    const name = signal === "traces" && traceTypes.length < TRACE_TYPES.length ? `traces (${traceTypes.join(", ")})` : signal
    return !on[signal] || to.length === 0 ? `${signal} off` : `${name} to ${to.join(" and ")}`
  })
  const otlp =
    otlpSignals.length === 0
      ? ""
      : sharesEndpoint(config, otlpSignals)
        ? `; OTLP ${config.protocol} to ${withoutCredentials(config.endpoint)}`
        : `; OTLP ${otlpSignals.map((s) => `${s} ${config.signals[s].protocol} to ${withoutCredentials(config.signals[s].url)}`).join(", ")}`
  const files = SIGNALS.some((s) => config.exportTo.file[s]) && config.file !== undefined ? `; files in ${config.file.dir}` : ""
  return `Telemetry started (profile ${config.profile}): ${destinations.join(", ")}${otlp}${files}`
}

/** The one line for a file that cannot be written (per kind of failure): which, why, and where later drops go. */
export const fileDropMessage = (config: ConfigInterface, signal: Signal, count: number, path: string, code: string): string => {
  const why: Record<string, string> = {
    queue_full: "too much waiting for the disk",
    EACCES: "permission denied",
    EPERM: "permission denied",
    ENOSPC: "the disk is full",
    EDQUOT: "the disk quota is exhausted",
    EROFS: "a read-only file system",
    ENOTDIR: "a path in the way is not a directory",
  }
  const reason = why[code] === undefined ? code : `${why[code]}, ${code}`
  return (
    `File export: ${count} ${UNITS[signal]} not written to ${path} (${reason}); data written to files meets the same fate until ` +
    `that is fixed. Other exporters continue; every drop is counted in ${droppedName(config)}.`
  )
}

/** The one line for an endpoint that does not speak its protocol: what is wrong, and what to set. */
export const mismatchMessage = (
  config: ConfigInterface,
  mismatch: Mismatch,
  url: string,
  signals: ReadonlyArray<Signal>,
): string => {
  const shared = sharesEndpoint(config, signals)
  const variable = (suffix: "PROTOCOL" | "ENDPOINT") =>
    shared ? `OPENCODE_OTLP_${suffix}` : listed(signals.map((s) => `OTEL_EXPORTER_OTLP_${s.toUpperCase()}_${suffix}`))
  const shown = withoutCredentials(shared ? config.endpoint : url)
  const server = new URL(url)
  const origin = `${server.protocol}//${server.host}`
  const withScheme = (scheme: "http" | "https") => shown.replace(/^[a-z]+:/i, `${scheme}:`)
  const advice: Record<Mismatch, string> = {
    "grpc-to-http1": `set ${variable("PROTOCOL")}=http/protobuf, or use the collector's gRPC port (4317)`,
    "http-to-http2": `set ${variable("PROTOCOL")}=grpc, or use the collector's OTLP/HTTP port (4318)`,
    "tls-to-plain": `set ${variable("ENDPOINT")}=${withScheme("http")}`,
    "plain-to-tls": `set ${variable("ENDPOINT")}=${withScheme("https")} (and OPENCODE_OTLP_CERTIFICATE if a private CA signed its certificate)`,
  }
  const what = listed(signals.map((s, i) => (i === 0 ? `${s[0]!.toUpperCase()}${s.slice(1)}` : s)))
  return (
    `OTLP endpoint ${origin} ${MISMATCH_SUMMARY[mismatch]}: ${advice[mismatch]}. ` +
    `${what} are not sent there; what they record is counted as dropped.`
  )
}

/** The plugin's self-telemetry: data it had to drop. */
export const droppedName = (config: Pick<ConfigInterface, "metrics">) => `${config.metrics.prefix}telemetry.dropped`


