/**
 * decodeSettings: raw settings to one typed configuration and the list of problems found. Total, and pure but for
 * one thing: with telemetry on, it starts the host's repository read (Host.repository, in the background) so that
 * the resource and the instruments share one read. Each concern has its own decoder (transport, headers, TLS,
 * profile, metrics, logs, traces, content, spool, file, prometheus, semconv), and what a problem switched off is
 * read from its declared severity, not from shared switches.
 */
import { Option } from "effect"
import type { RemoteParent } from "./traceparent.ts"
import {
  invalidOf,
  TRACE_TYPES,
  type Compression,
  type Profile,
  type Protocol,
  type RawSettings,
  type Signal,
  type TraceType,
} from "./catalog.ts"
import { collector, switchedOff, type ConfigError } from "./problems.ts"
import { duration, presence, type Input, type Name } from "./values.ts"
import { decodeTransport, type SignalTarget } from "./transport.ts"
import { decodeHeaders, type Headers, type Workspace } from "./headers.ts"
import { decodeTls, type Tls } from "./tls.ts"
import { decodeProfile, decodeResource, eventPrefixOf, standardAttributesOf, type Identity } from "./profile.ts"
import { decodeMetrics, type Metrics } from "./metrics.ts"
import { decodeLogs } from "./logs.ts"
import { decodeTraces } from "./traces.ts"
import { decodeContent, type Content } from "./content.ts"
import { decodeSpool, type Spool } from "./spool.ts"
import type { Repository } from "../git/repository.ts"
import { decodeSemconv, type Semconv } from "./semconv.ts"
import { decodeFile, type FileTarget } from "./file.ts"

/** Facts about the running opencode the plugin entry supplies. */
export interface Host {
  /** opencode's version (service.version), or a promise of it: the resource then waits for it before an export. */
  readonly opencodeVersion?: string | Promise<string | undefined> | undefined
  /** The configured MCP servers' names as opencode spells them in tool ids, once known. */
  readonly mcpServers?: (() => ReadonlySet<string> | undefined) | undefined
  /** service.instance.id; a random UUID when not given. */
  readonly instanceId?: string | undefined
  /** The spool directory when OPENCODE_OTLP_SPOOL_DIR is unset (the plugin: opencode's XDG state directory). */
  readonly spoolDir?: string | undefined
  /** Reads the project's repository (git's files, in the background); called only when the repository is opted in. */
  readonly repository?: (() => Promise<Repository | undefined>) | undefined
  /** The file exporter's directory when OPENCODE_OTLP_FILE_DIR is unset (the plugin: in opencode's state directory). */
  readonly fileDir?: string | undefined
}

export interface TelemetryConfig {
  /** False when telemetry is not switched on, or when an invalid setting leaves nothing sensible to do. */
  readonly enabled: boolean
  /** Per signal: sent over OTLP, and/or written to opencode's log (the `console` exporter), and/or to a file. */
  readonly exportTo: {
    readonly otlp: Readonly<Record<Signal, boolean>>
    readonly console: Readonly<Record<Signal, boolean>>
    readonly file: Readonly<Record<Signal, boolean>>
  }
  /** TLS files (PEM paths): a CA to trust, and a client key and certificate for mutual TLS. */
  readonly tls: Tls
  /** Per signal: the shared endpoint and protocol, or the OTEL_EXPORTER_OTLP_<SIGNAL>_* overrides. */
  readonly signals: Readonly<Record<Signal, SignalTarget>>
  /** Naming profile: `claude-code` uses Claude Code's metric prefix, units and event bodies. */
  readonly profile: Profile
  /** Prefix of log event bodies: none (the bare event name, as the seed plugin sends it) or `claude_code.`. */
  readonly eventPrefix: string
  /**
   * Claude Code's standard attributes on every metric point and event (claude-code profile): `user.id`, an
   * anonymous id of this installation, and `terminal.type` when known.
   */
  readonly standardAttributes: Readonly<Record<string, string>>
  /** service.name on the resource: `opencode`, `claude-code` in that profile, or OTEL_SERVICE_NAME. */
  readonly serviceName: string
  /** service.version on the resource: the version of the opencode running the plugin, when known (or once known). */
  readonly serviceVersion: string | Promise<string | undefined> | undefined
  /**
   * service.instance.id on the resource, one per plugin instance: two opencode processes continuing one session
   * then send two series a collector adds up, not one it overwrites.
   */
  readonly serviceInstanceId: string
  /** Facts of the running opencode learnt after start (see {@link Host}). */
  readonly host: {
    readonly mcpServers: () => ReadonlySet<string> | undefined
    /**
     * The project's repository as read at start (undefined with OPENCODE_METRICS_INCLUDE_REPOSITORY=none: git's
     * files are not even read). The resource and the instruments wait for it (bounded) before their first point.
     */
    readonly repository: Promise<Repository | undefined> | undefined
  }
  /** Content that leaves the machine only when opted in (all off by default). */
  readonly content: Content
  readonly endpoint: string
  readonly protocol: Protocol
  /** Request bodies on every protocol. */
  readonly compression: Compression
  readonly resourceAttributes: Readonly<Record<string, string>>
  readonly shutdownTimeoutMs: number
  readonly headers: Headers
  /** The metrics' settings ({@link Metrics}), and whether metrics go anywhere at all. */
  readonly metrics: Omit<Metrics, "exportTo"> & { readonly enabled: boolean }
  readonly logs: {
    readonly enabled: boolean
    readonly intervalMs: number
  }
  /**
   * Where OTLP data still undelivered at exit (or past the retry buffer) is kept for the next process; undefined
   * when off. The opencode plugin supplies opencode's state directory as the default ({@link Host.spoolDir});
   * layers embedded elsewhere spool only when OPENCODE_OTLP_SPOOL_DIR names a directory.
   */
  readonly spool: Spool | undefined
  /** Where the file exporter writes, when a signal chose it and the directory is usable; undefined otherwise. */
  readonly file: FileTarget | undefined
  readonly traces: {
    readonly disabled: ReadonlySet<TraceType>
    readonly attributes: Readonly<Record<string, string>>
    readonly parent: Option.Option<RemoteParent>
    /** Providers whose model requests carry the LLM call's traceparent (chat.headers); "*" for all. */
    readonly propagationProviders: ReadonlySet<string> | "*"
  }
  /** Which GenAI semantic conventions the metrics and the chat span follow (OTEL_SEMCONV_STABILITY_OPT_IN). */
  readonly semconv: Semconv
}

/** The decoded configuration and every problem found on the way. */
export interface Decoded {
  readonly config: TelemetryConfig
  readonly problems: ReadonlyArray<ConfigError>
}

/**
 * The order problems are listed in, whichever decoder finds them: the order the plugin has always logged them
 * in. The per-signal variables share one place (each signal's protocol, endpoint, headers, as found).
 */
const REPORT_ORDER: ReadonlyArray<Name | "per-signal"> = [
  "OPENCODE_OTLP_ENDPOINT",
  "OPENCODE_OTLP_PROTOCOL",
  "OPENCODE_OTLP_METRICS_INTERVAL",
  "OPENCODE_OTLP_LOGS_INTERVAL",
  "OPENCODE_PROFILE",
  "OPENCODE_METRIC_PREFIX",
  "OPENCODE_DISABLE_METRICS",
  "OPENCODE_DISABLE_TRACES",
  "OPENCODE_OTLP_HEADERS",
  "OPENCODE_OTLP_HEADERS_HELPER",
  "OPENCODE_RESOURCE_ATTRIBUTES",
  "OPENCODE_SPAN_ATTRIBUTES",
  "OPENCODE_METRIC_ATTRIBUTES",
  "OPENCODE_OTLP_COMPRESSION",
  "OPENCODE_OTLP_METRICS_TEMPORALITY",
  "OPENCODE_COST_USAGE_SCALE",
  "OPENCODE_TRACEPARENT",
  "OPENCODE_TRACESTATE",
  "OPENCODE_METRICS_EXPORTER",
  "OPENCODE_LOGS_EXPORTER",
  "OPENCODE_TRACES_EXPORTER",
  "OPENCODE_PROMETHEUS_LINGER",
  "OPENCODE_PROMETHEUS_PORT",
  "OPENCODE_OTLP_HEADERS_HELPER_REFRESH",
  "OPENCODE_OTLP_SHUTDOWN_TIMEOUT",
  "OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT",
  "OPENCODE_OTLP_SPOOL_MAX_MB",
  "OPENCODE_OTLP_SPOOL_DIR",
  "OPENCODE_LOG_USER_PROMPTS",
  "OPENCODE_LOG_TOOL_DETAILS",
  "OPENCODE_LOG_TOOL_CONTENT",
  "OPENCODE_METRICS_INCLUDE_SESSION_ID",
  "OPENCODE_METRICS_INCLUDE_VERSION",
  "per-signal",
  "OPENCODE_OTLP_CLIENT_KEY",
  "OPENCODE_OTLP_CLIENT_CERTIFICATE",
  "OPENCODE_METRICS_INCLUDE_REPOSITORY",
  "OPENCODE_OTLP_FILE_DIR",
  "OPENCODE_OTLP_FILE_MAX_MB",
  "OPENCODE_TRACE_PROPAGATION_PROVIDERS",
  "OPENCODE_LOG_ASSISTANT_RESPONSES",
]
const rankOf = (variable: string) => REPORT_ORDER.indexOf(variable.startsWith("OTEL_EXPORTER_OTLP_") ? "per-signal" : (variable as Name))

/** `identity` may be a function: it is then called only for the claude-code profile, the one that reports it. */
export const decodeSettings = (
  raw: RawSettings,
  workspace?: Workspace,
  identity: Identity | (() => Identity) = {},
  host: Host = {},
): Decoded => {
  const { problems, report } = collector<Name>(invalidOf)
  const input: Input = { raw, report }

  const { endpoint, protocol, compression, signals } = decodeTransport(input)
  const headers = decodeHeaders(input, workspace)
  const tls = decodeTls(input)
  const profile = decodeProfile(input)
  const { serviceName, resourceAttributes } = decodeResource(input, profile)
  const { exportTo: metricsTo, ...metrics } = decodeMetrics(input, profile)
  const { exportTo: logsTo, ...logs } = decodeLogs(input)
  const { exportTo: tracesTo, ...traces } = decodeTraces(input)
  const content = decodeContent(input)
  const spool = decodeSpool(input, host.spoolDir)
  const shutdownTimeoutMs = duration(input, "OPENCODE_OTLP_SHUTDOWN_TIMEOUT")
  const semconv = decodeSemconv(input)
  const file = decodeFile(input, metricsTo.file || logsTo.file || tracesTo.file, host.fileDir)
  // A signal whose only exporter is a file without a directory goes nowhere.
  const fileTo = { metrics: metricsTo.file && file !== undefined, logs: logsTo.file && file !== undefined, traces: tracesTo.file && file !== undefined }

  const off = switchedOff(problems)
  const enabled = presence(raw.OPENCODE_ENABLE_TELEMETRY) && !off.has("telemetry")
  const tracesOff = off.has("traces") || (!tracesTo.otlp && !tracesTo.console && !fileTo.traces)
  const config: TelemetryConfig = {
    enabled,
    exportTo: {
      otlp: { metrics: metricsTo.otlp, logs: logsTo.otlp, traces: tracesTo.otlp },
      console: { metrics: metricsTo.console, logs: logsTo.console, traces: tracesTo.console },
      file: fileTo,
    },
    standardAttributes: standardAttributesOf(profile, enabled, identity, resourceAttributes),
    tls,
    signals,
    profile,
    eventPrefix: eventPrefixOf(profile),
    serviceName,
    serviceVersion: host.opencodeVersion,
    serviceInstanceId: host.instanceId ?? crypto.randomUUID(),
    host: {
      mcpServers: host.mcpServers ?? (() => undefined),
      repository: enabled && metrics.repository !== "none" ? host.repository?.().catch(() => undefined) : undefined,
    },
    content,
    endpoint,
    protocol,
    compression,
    resourceAttributes,
    shutdownTimeoutMs,
    headers,
    metrics: {
      ...metrics,
      enabled: !off.has("metrics") && (metricsTo.otlp || metricsTo.console || fileTo.metrics || metrics.prometheus !== undefined),
    },
    logs: { enabled: !off.has("logs") && !logs.switchedOff && (logsTo.otlp || logsTo.console || fileTo.logs), intervalMs: logs.intervalMs },
    spool,
    file,
    traces: { ...traces, disabled: tracesOff ? new Set([...traces.disabled, ...TRACE_TYPES]) : traces.disabled },
    semconv,
  }
  return { config, problems: [...problems].sort((a, b) => rankOf(a.variable) - rankOf(b.variable)) }
}
