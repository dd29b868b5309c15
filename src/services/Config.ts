/**
 * Config: every setting of the plugin, decoded once into one typed value.
 *
 * Raw values come from Effect's current `ConfigProvider` (process.env by default; the plugin puts its
 * tuple options in front of it). Each variable is decoded on its own: an invalid value becomes a typed
 * `ConfigError` that names the variable, the value (never for headers) and what is accepted, and only the
 * feature that setting controls is switched off. Nothing here throws, mutates `process.env` or logs: the
 * caller decides how to report `problems`.
 */
import { isAbsolute } from "node:path"
import { Config as EffectConfig, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { parseKeyValueList, parseList } from "../config/keyValue.ts"
import { parseTraceparent, parseTracestate, type RemoteParent } from "../config/traceparent.ts"

export const PROTOCOLS = ["grpc", "http/protobuf", "http/json"] as const
export type Protocol = (typeof PROTOCOLS)[number]

export const COMPRESSIONS = ["gzip", "none"] as const
export type Compression = (typeof COMPRESSIONS)[number]
export const TEMPORALITIES = ["cumulative", "delta", "lowmemory"] as const
export type Temporality = (typeof TEMPORALITIES)[number]

export const TRACE_TYPES = ["session", "llm", "tool"] as const
export type TraceType = (typeof TRACE_TYPES)[number]

/** Metric name suffixes; the exported name is `prefix + suffix`. */
export const METRIC_NAMES = [
  "session.count",
  "token.usage",
  "cost.usage",
  "lines_of_code.count",
  "lines_of_code.total",
  "commit.count",
  "tool.duration",
  "cache.count",
  "session.duration",
  "message.count",
  "session.token.total",
  "session.cost.total",
  "model.usage",
  "retry.count",
  "pull_request.count",
  "code_edit_tool.decision",
  "active_time.total",
] as const
export type MetricName = (typeof METRIC_NAMES)[number]

export const HELPER_PLACEHOLDERS = ["PROJECT_ROOT", "WORKTREE", "DIRECTORY"] as const

/** Every variable the plugin reads, with the plugin option (tuple form) that overrides it. */
export const VARIABLES = {
  OPENCODE_ENABLE_TELEMETRY: "enabled",
  OPENCODE_OTLP_ENDPOINT: "endpoint",
  OPENCODE_OTLP_PROTOCOL: "protocol",
  OPENCODE_OTLP_COMPRESSION: "compression",
  OPENCODE_OTLP_METRICS_INTERVAL: "metricsInterval",
  OPENCODE_OTLP_LOGS_INTERVAL: "logsInterval",
  OPENCODE_METRIC_PREFIX: "metricPrefix",
  OPENCODE_DISABLE_METRICS: "disableMetrics",
  OPENCODE_DISABLE_LOGS: "disableLogs",
  OPENCODE_DISABLE_TRACES: "disableTraces",
  OPENCODE_OTLP_HEADERS: "headers",
  OPENCODE_OTLP_HEADERS_HELPER: "headersHelper",
  OPENCODE_RESOURCE_ATTRIBUTES: "resourceAttributes",
  OPENCODE_SPAN_ATTRIBUTES: "spanAttributes",
  OPENCODE_METRIC_ATTRIBUTES: "metricAttributes",
  OPENCODE_EXCLUDE_METRICS_ATTRIBUTES: "excludeMetricsAttributes",
  OPENCODE_OTLP_METRICS_TEMPORALITY: "metricsTemporality",
  OPENCODE_COST_USAGE_SCALE: "costUsageScale",
  OPENCODE_TRACEPARENT: "traceparent",
  OPENCODE_TRACESTATE: "tracestate",
  OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "shutdownTimeout",
  OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT: "headersHelperTimeout",
  OPENCODE_SERVICE_NAME: "serviceName",
  OPENCODE_LOG_USER_PROMPTS: "logUserPrompts",
  OPENCODE_LOG_TOOL_DETAILS: "logToolDetails",
  OPENCODE_LOG_TOOL_CONTENT: "logToolContent",
  OPENCODE_OTLP_CERTIFICATE: "certificate",
  OPENCODE_OTLP_CLIENT_KEY: "clientKey",
  OPENCODE_OTLP_CLIENT_CERTIFICATE: "clientCertificate",
  OPENCODE_PROFILE: "profile",
  OPENCODE_METRICS_EXPORTER: "metricsExporter",
  OPENCODE_PROMETHEUS_HOST: "prometheusHost",
  OPENCODE_PROMETHEUS_PORT: "prometheusPort",
  OPENCODE_PROMETHEUS_LINGER: "prometheusLinger",
  OPENCODE_LOGS_EXPORTER: "logsExporter",
  OPENCODE_TRACES_EXPORTER: "tracesExporter",
  OPENCODE_METRICS_INCLUDE_SESSION_ID: "metricsIncludeSessionId",
  OPENCODE_METRICS_INCLUDE_VERSION: "metricsIncludeVersion",
  OPENCODE_OTLP_HEADERS_HELPER_REFRESH: "headersHelperRefresh",
  OPENCODE_OTLP_SPOOL_DIR: "spoolDir",
  OPENCODE_OTLP_SPOOL_MAX_MB: "spoolMaxMb",
} as const

/**
 * Standard OpenTelemetry (and Claude Code) variables read when the OPENCODE_* one is unset.
 * Precedence: plugin options > OPENCODE_* > these > defaults.
 */
export const FALLBACKS: Partial<Record<Variable, string>> = {
  OPENCODE_OTLP_ENDPOINT: "OTEL_EXPORTER_OTLP_ENDPOINT",
  OPENCODE_OTLP_PROTOCOL: "OTEL_EXPORTER_OTLP_PROTOCOL",
  OPENCODE_OTLP_COMPRESSION: "OTEL_EXPORTER_OTLP_COMPRESSION",
  OPENCODE_OTLP_HEADERS: "OTEL_EXPORTER_OTLP_HEADERS",
  OPENCODE_OTLP_METRICS_INTERVAL: "OTEL_METRIC_EXPORT_INTERVAL",
  OPENCODE_OTLP_LOGS_INTERVAL: "OTEL_LOGS_EXPORT_INTERVAL",
  OPENCODE_RESOURCE_ATTRIBUTES: "OTEL_RESOURCE_ATTRIBUTES",
  OPENCODE_OTLP_METRICS_TEMPORALITY: "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
  OPENCODE_SERVICE_NAME: "OTEL_SERVICE_NAME",
  OPENCODE_LOG_USER_PROMPTS: "OTEL_LOG_USER_PROMPTS",
  OPENCODE_LOG_TOOL_DETAILS: "OTEL_LOG_TOOL_DETAILS",
  OPENCODE_LOG_TOOL_CONTENT: "OTEL_LOG_TOOL_CONTENT",
  OPENCODE_OTLP_CERTIFICATE: "OTEL_EXPORTER_OTLP_CERTIFICATE",
  OPENCODE_OTLP_CLIENT_KEY: "OTEL_EXPORTER_OTLP_CLIENT_KEY",
  OPENCODE_OTLP_CLIENT_CERTIFICATE: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
  OPENCODE_METRICS_EXPORTER: "OTEL_METRICS_EXPORTER",
  OPENCODE_PROMETHEUS_HOST: "OTEL_EXPORTER_PROMETHEUS_HOST",
  OPENCODE_PROMETHEUS_PORT: "OTEL_EXPORTER_PROMETHEUS_PORT",
  OPENCODE_LOGS_EXPORTER: "OTEL_LOGS_EXPORTER",
  OPENCODE_TRACES_EXPORTER: "OTEL_TRACES_EXPORTER",
  OPENCODE_METRICS_INCLUDE_SESSION_ID: "OTEL_METRICS_INCLUDE_SESSION_ID",
  OPENCODE_METRICS_INCLUDE_VERSION: "OTEL_METRICS_INCLUDE_VERSION",
  OPENCODE_OTLP_HEADERS_HELPER_REFRESH: "CLAUDE_CODE_OTEL_HEADERS_HELPER_DEBOUNCE_MS",
}
export type Variable = keyof typeof VARIABLES
export type OptionName = (typeof VARIABLES)[Variable]

export const DEFAULTS = {
  endpoint: "http://localhost:4317",
  protocol: "grpc" as Protocol,
  metricsIntervalMs: 60_000,
  logsIntervalMs: 5_000,
  metricPrefix: "opencode.",
  temporality: "cumulative" as Temporality,
  /** A few KB of telemetry per turn compresses about fivefold; every collector accepts gzip. */
  compression: "gzip" as Compression,
  costUsageScale: 1,
  shutdownTimeoutMs: 3_000,
  /** Hours of an offline laptop's telemetry (a few KB per turn) fit many times over. */
  spoolMaxMb: 32,
  headersHelperTimeoutMs: 5_000,
  /** Claude Code refreshes helper headers every 29 minutes; tokens commonly live 30 or 60. */
  headersHelperRefreshMs: 29 * 60_000,
}

/**
 * An invalid setting. `value` is omitted for header settings, whose values are secrets.
 * `consequence` says what was switched off because of it.
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  variable: Schema.String,
  value: Schema.optional(Schema.String),
  expected: Schema.String,
  consequence: Schema.String,
}) {
  override get message(): string {
    const shown = this.value === undefined ? "" : `=${JSON.stringify(truncate(this.value, 200))}`
    return `${this.variable}${shown} is invalid: expected ${this.expected}. ${this.consequence}`
  }
}

/** Paths of the opencode project, substituted into the header helper's placeholders. */
export interface Workspace {
  readonly projectRoot: string
  readonly worktree: string
  readonly directory: string
}

export const PROFILES = ["opencode", "claude-code"] as const
export type Profile = (typeof PROFILES)[number]

/** Where one signal goes: its URL (the collector URL for gRPC), protocol and extra headers. */
export interface SignalTarget {
  readonly url: string
  readonly protocol: Protocol
  readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>
}

export interface TelemetryConfig {
  /** False when telemetry is not switched on, or when an invalid setting leaves nothing sensible to do. */
  readonly enabled: boolean
  /** Per signal: sent over OTLP, and/or written to opencode's log (the `console` exporter). */
  readonly exportTo: { readonly otlp: Readonly<Record<Signal, boolean>>; readonly console: Readonly<Record<Signal, boolean>> }
  /** TLS files (PEM paths): a CA to trust, and a client key and certificate for mutual TLS. */
  readonly tls: { readonly ca?: string | undefined; readonly clientKey?: string | undefined; readonly clientCertificate?: string | undefined }
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
  readonly host: { readonly mcpServers: () => ReadonlySet<string> | undefined }
  /** Content that leaves the machine only when opted in (all off by default). */
  readonly content: {
    /** Prompt text on user_prompt events. */
    readonly userPrompts: boolean
    /** Tool parameters (bash command, file paths, MCP server/tool) on tool_result events and tool spans. */
    readonly toolDetails: boolean
    /** Tool input and output on tool spans (truncated at 60 KB). */
    readonly toolContent: boolean
  }
  readonly endpoint: string
  readonly protocol: Protocol
  /** Request bodies on every protocol. */
  readonly compression: Compression
  readonly resourceAttributes: Readonly<Record<string, string>>
  readonly shutdownTimeoutMs: number
  readonly headers: {
    readonly static: Readonly<Record<string, Redacted.Redacted<string>>>
    /** Absolute path of the helper after placeholder substitution. */
    readonly helper: Option.Option<string>
    readonly helperTimeoutMs: number
    /** Working directory of the helper: opencode's directory. */
    readonly helperCwd: string | undefined
    /** The helper also runs on this period, before tokens expire. */
    readonly helperRefreshMs: number
  }
  readonly metrics: {
    readonly enabled: boolean
    readonly intervalMs: number
    readonly prefix: string
    readonly disabled: ReadonlySet<MetricName>
    readonly attributes: Readonly<Record<string, string>>
    readonly excludeAttributes: ReadonlySet<string>
    readonly temporality: Temporality
    readonly costUsageScale: number
    /**
     * A Prometheus pull endpoint, when OTEL_METRICS_EXPORTER names `prometheus`. `lingerMs`: at exit, how long the
     * endpoint may keep opencode waiting for one more scrape of the final totals (0: not at all).
     */
    readonly prometheus: { readonly host: string; readonly port: number; readonly lingerMs: number } | undefined
    /** session.id on metric points (OTEL_METRICS_INCLUDE_SESSION_ID, default on). */
    readonly includeSessionId: boolean
    /** app.version (opencode's version) on metric points and events (OTEL_METRICS_INCLUDE_VERSION, default off). */
    readonly includeVersion: boolean
  }
  readonly logs: {
    readonly enabled: boolean
    readonly intervalMs: number
  }
  /**
   * Where OTLP data still undelivered at exit (or past the retry buffer) is kept for the next process; undefined
   * when off. The opencode plugin supplies opencode's state directory as the default ({@link Host.spoolDir});
   * layers embedded elsewhere spool only when OPENCODE_OTLP_SPOOL_DIR names a directory.
   */
  readonly spool: { readonly dir: string; readonly maxBytes: number } | undefined
  readonly traces: {
    readonly disabled: ReadonlySet<TraceType>
    readonly attributes: Readonly<Record<string, string>>
    readonly parent: Option.Option<RemoteParent>
  }
}

/** The decoded configuration and every problem found on the way. */
export interface Decoded {
  readonly config: TelemetryConfig
  readonly problems: ReadonlyArray<ConfigError>
}

export interface Interface extends TelemetryConfig {
  readonly problems: ReadonlyArray<ConfigError>
}

export class Config extends Context.Service<Config, Interface>()("opencode-plugin-opentelemetry/Config") {}

/** Raw string values by variable name; undefined when unset or empty. */
/** The standard per-signal variables (full URLs for endpoints, as the OTLP exporter specification says). */
export const SIGNALS = ["traces", "metrics", "logs"] as const
export type Signal = (typeof SIGNALS)[number]
export const SIGNAL_VARIABLES = SIGNALS.flatMap((signal) =>
  (["ENDPOINT", "PROTOCOL", "HEADERS"] as const).map((what) => `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_${what}` as const),
)
export type SignalVariable = (typeof SIGNAL_VARIABLES)[number]

export type RawSettings = Partial<Record<Variable | SignalVariable, string>>

const TELEMETRY_OFF = "Telemetry is disabled."
/** The longest a pull endpoint may hold opencode's exit for a last scrape: twice Prometheus's default interval. */
export const MAX_PROMETHEUS_LINGER_MS = 30_000
/** The largest spool cap accepted. */
export const MAX_SPOOL_MB = 1_024
const isEmpty = (value: string | undefined): value is undefined => value === undefined || value.trim() === ""

/**
 * Decodes raw settings. Pure and total: every invalid value is reported, never thrown.
 */
/** Facts about this machine the plugin entry supplies (never read here: decoding stays pure). */
export interface Identity {
  readonly installationId?: string | undefined
  readonly terminalType?: string | undefined
}

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
}

/** `identity` may be a function: it is then called only for the claude-code profile, the one that reports it. */
export const decodeSettings = (
  raw: RawSettings,
  workspace?: Workspace,
  identity: Identity | (() => Identity) = {},
  host: Host = {},
): Decoded => {
  const problems: Array<ConfigError> = []
  const problem = (variable: Variable | SignalVariable, value: string | undefined, expected: string, consequence: string) => {
    problems.push(new ConfigError({ variable, value, expected, consequence }))
  }
  let fatal = false

  // OPENCODE_ENABLE_TELEMETRY: any non-empty value switches telemetry on, except explicit "false"/"0" from options.
  const enabledRaw = raw.OPENCODE_ENABLE_TELEMETRY
  const enabled = !isEmpty(enabledRaw) && !["false", "0"].includes(enabledRaw.trim().toLowerCase())

  // Endpoint: a URL with a scheme. There is no sensible place to send data otherwise.
  let endpoint = DEFAULTS.endpoint
  if (!isEmpty(raw.OPENCODE_OTLP_ENDPOINT)) {
    const parsed = parseEndpoint(raw.OPENCODE_OTLP_ENDPOINT.trim())
    if (parsed === undefined) {
      fatal = true
      problem(
        "OPENCODE_OTLP_ENDPOINT",
        raw.OPENCODE_OTLP_ENDPOINT,
        "a URL with a scheme, such as http://localhost:4317 or https://collector.example:4318",
        TELEMETRY_OFF,
      )
    } else endpoint = parsed
  }

  // Protocol: no silent fallback to grpc; sending the wrong wire format would look like a broken collector.
  let protocol: Protocol = DEFAULTS.protocol
  if (!isEmpty(raw.OPENCODE_OTLP_PROTOCOL)) {
    const value = raw.OPENCODE_OTLP_PROTOCOL.trim().toLowerCase()
    if (isOneOf(PROTOCOLS, value)) protocol = value
    else {
      fatal = true
      problem("OPENCODE_OTLP_PROTOCOL", raw.OPENCODE_OTLP_PROTOCOL, `one of ${PROTOCOLS.join(", ")}`, TELEMETRY_OFF)
    }
  }

  let metricsEnabled = true
  let logsEnabled = true
  const metricsOff = "Metrics export is disabled."
  const logsOff = "Log export is disabled."

  const metricsIntervalMs = decodePositiveInt(raw.OPENCODE_OTLP_METRICS_INTERVAL, DEFAULTS.metricsIntervalMs)
  if (metricsIntervalMs === undefined) {
    metricsEnabled = false
    problem("OPENCODE_OTLP_METRICS_INTERVAL", raw.OPENCODE_OTLP_METRICS_INTERVAL, "a positive whole number of milliseconds", metricsOff)
  }
  const logsIntervalMs = decodePositiveInt(raw.OPENCODE_OTLP_LOGS_INTERVAL, DEFAULTS.logsIntervalMs)
  if (logsIntervalMs === undefined) {
    logsEnabled = false
    problem("OPENCODE_OTLP_LOGS_INTERVAL", raw.OPENCODE_OTLP_LOGS_INTERVAL, "a positive whole number of milliseconds", logsOff)
  }

  // The profile: OPENCODE_PROFILE, else claude-code when the metric prefix is Claude Code's (the seed plugin's
  // documented way to Claude Code's dashboards, which also need its units, bodies and service name).
  const claudeCodePrefix = raw.OPENCODE_METRIC_PREFIX?.trim() === "claude_code."
  let profile: Profile = claudeCodePrefix ? "claude-code" : "opencode"
  if (!isEmpty(raw.OPENCODE_PROFILE)) {
    const value = raw.OPENCODE_PROFILE.trim().toLowerCase().replace("_", "-")
    if (isOneOf(PROFILES, value)) profile = value
    else problem("OPENCODE_PROFILE", raw.OPENCODE_PROFILE, `one of ${PROFILES.join(", ")}`, `The ${profile} profile applies.`)
  }

  // Metric prefix: instrument names must stay valid OpenTelemetry names (letter first, then [A-Za-z0-9_./-]).
  let prefix = profile === "claude-code" ? "claude_code." : DEFAULTS.metricPrefix
  if (raw.OPENCODE_METRIC_PREFIX !== undefined) {
    const value = raw.OPENCODE_METRIC_PREFIX.trim()
    if (value === "" || /^[A-Za-z][A-Za-z0-9_./-]{0,200}$/.test(value)) prefix = value
    else {
      metricsEnabled = false
      problem(
        "OPENCODE_METRIC_PREFIX",
        raw.OPENCODE_METRIC_PREFIX,
        "a letter followed by letters, digits, '_', '.', '/' or '-' (for example opencode. or claude_code.)",
        metricsOff,
      )
    }
  }

  const disabledMetrics = new Set<MetricName>()
  for (const name of parseList(raw.OPENCODE_DISABLE_METRICS)) {
    if (isOneOf(METRIC_NAMES, name)) disabledMetrics.add(name)
    else
      problem(
        "OPENCODE_DISABLE_METRICS",
        name,
        `metric name suffixes from: ${METRIC_NAMES.join(", ")}`,
        "This entry is ignored; the other entries apply.",
      )
  }

  const logsDisabled = !isEmpty(raw.OPENCODE_DISABLE_LOGS) && !["false", "0"].includes(raw.OPENCODE_DISABLE_LOGS.trim().toLowerCase())
  if (logsDisabled) logsEnabled = false

  const disabledTraces = new Set<TraceType>()
  for (const name of parseList(raw.OPENCODE_DISABLE_TRACES).map((s) => s.toLowerCase())) {
    if (["all", "*", "true", "1"].includes(name)) TRACE_TYPES.forEach((t) => disabledTraces.add(t))
    else if (isOneOf(TRACE_TYPES, name)) disabledTraces.add(name)
    else
      problem(
        "OPENCODE_DISABLE_TRACES",
        name,
        `trace types from: ${TRACE_TYPES.join(", ")}, or all, *, true, 1`,
        "This entry is ignored; the other entries apply.",
      )
  }

  // Static headers. Values are secrets: the error never carries them, and they are kept Redacted.
  let staticHeaders: Record<string, Redacted.Redacted<string>> = {}
  if (!isEmpty(raw.OPENCODE_OTLP_HEADERS)) {
    const parsed = parseKeyValueList(raw.OPENCODE_OTLP_HEADERS)
    if (parsed._tag === "Left" || Object.keys(parsed.value).some((k) => !isHeaderName(k))) {
      // Exporting without the configured credentials would only collect rejections; stop instead.
      fatal = true
      problem(
        "OPENCODE_OTLP_HEADERS",
        undefined,
        "comma-separated name=value pairs with valid HTTP header names (values may contain '=', percent-encoded where needed)",
        TELEMETRY_OFF,
      )
    } else staticHeaders = Object.fromEntries(Object.entries(parsed.value).map(([k, v]) => [k.toLowerCase(), Redacted.make(v)]))
  }

  let helper = Option.none<string>()
  if (!isEmpty(raw.OPENCODE_OTLP_HEADERS_HELPER)) {
    const resolved = resolveHelperPath(raw.OPENCODE_OTLP_HEADERS_HELPER.trim(), workspace)
    if (resolved._tag === "Left")
      problem(
        "OPENCODE_OTLP_HEADERS_HELPER",
        raw.OPENCODE_OTLP_HEADERS_HELPER,
        resolved.reason,
        "The header helper is not used; static headers still apply.",
      )
    else helper = Option.some(resolved.value)
  }

  const resourceAttributes = decodeAttributes("OPENCODE_RESOURCE_ATTRIBUTES", raw, problem)
  const spanAttributes = decodeAttributes("OPENCODE_SPAN_ATTRIBUTES", raw, problem)
  const metricAttributes = decodeAttributes("OPENCODE_METRIC_ATTRIBUTES", raw, problem)
  const excludeAttributes = new Set(parseList(raw.OPENCODE_EXCLUDE_METRICS_ATTRIBUTES))

  let compression = DEFAULTS.compression
  if (!isEmpty(raw.OPENCODE_OTLP_COMPRESSION)) {
    const value = raw.OPENCODE_OTLP_COMPRESSION.trim().toLowerCase()
    if (isOneOf(COMPRESSIONS, value)) compression = value
    else problem("OPENCODE_OTLP_COMPRESSION", raw.OPENCODE_OTLP_COMPRESSION, `one of ${COMPRESSIONS.join(", ")}`, `${DEFAULTS.compression} applies.`)
  }

  // Claude Code exports delta by default, and dashboards made for it sum raw samples.
  let temporality: Temporality = profile === "claude-code" ? "delta" : DEFAULTS.temporality
  if (!isEmpty(raw.OPENCODE_OTLP_METRICS_TEMPORALITY)) {
    const value = raw.OPENCODE_OTLP_METRICS_TEMPORALITY.trim().toLowerCase()
    if (isOneOf(TEMPORALITIES, value)) temporality = value
    else {
      // The wrong temporality makes backends such as Datadog reject or misread every point.
      metricsEnabled = false
      problem("OPENCODE_OTLP_METRICS_TEMPORALITY", raw.OPENCODE_OTLP_METRICS_TEMPORALITY, `one of ${TEMPORALITIES.join(", ")}`, metricsOff)
    }
  }

  let costUsageScale = DEFAULTS.costUsageScale
  if (!isEmpty(raw.OPENCODE_COST_USAGE_SCALE)) {
    const value = Number(raw.OPENCODE_COST_USAGE_SCALE.trim())
    if (Number.isFinite(value) && value > 0) costUsageScale = value
    else {
      disabledMetrics.add("cost.usage")
      problem(
        "OPENCODE_COST_USAGE_SCALE",
        raw.OPENCODE_COST_USAGE_SCALE,
        "a positive number, such as 1 or 1000000",
        "The cost.usage metric is disabled; other metrics still apply.",
      )
    }
  }

  let parent = Option.none<RemoteParent>()
  if (!isEmpty(raw.OPENCODE_TRACEPARENT)) {
    const parsed = parseTraceparent(raw.OPENCODE_TRACEPARENT.trim())
    if (parsed === undefined)
      problem(
        "OPENCODE_TRACEPARENT",
        raw.OPENCODE_TRACEPARENT,
        "a W3C traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, ids not all zero",
        "Spans are exported as root spans.",
      )
    else {
      let traceState: string | undefined
      if (!isEmpty(raw.OPENCODE_TRACESTATE)) {
        traceState = parseTracestate(raw.OPENCODE_TRACESTATE.trim())
        if (traceState === undefined)
          problem(
            "OPENCODE_TRACESTATE",
            raw.OPENCODE_TRACESTATE,
            "a W3C tracestate: comma-separated key=value members",
            "The trace state is ignored; the parent still applies.",
          )
      }
      parent = Option.some({ ...parsed, traceState })
    }
  }

  // Exporter selection per signal, like Claude Code's OTEL_*_EXPORTER: otlp (default), none, and for metrics
  // prometheus (a pull endpoint).
  const exporterChoice = (
    variable: "OPENCODE_METRICS_EXPORTER" | "OPENCODE_LOGS_EXPORTER" | "OPENCODE_TRACES_EXPORTER",
    accepted: ReadonlyArray<string>,
  ): ReadonlySet<string> => {
    const values = parseList(raw[variable]).map((v) => v.toLowerCase())
    if (values.length === 0) return new Set(["otlp"])
    if (values.some((v) => !accepted.includes(v))) {
      problem(variable, raw[variable], `${accepted.join(", ")} (comma-separated)`, "This setting is ignored; otlp applies.")
      return new Set(["otlp"])
    }
    return new Set(values)
  }
  const metricExporters = exporterChoice("OPENCODE_METRICS_EXPORTER", ["otlp", "prometheus", "console", "none"])
  const logExporters = exporterChoice("OPENCODE_LOGS_EXPORTER", ["otlp", "console", "none"])
  const traceExporters = exporterChoice("OPENCODE_TRACES_EXPORTER", ["otlp", "console", "none"])
  if (!logExporters.has("otlp") && !logExporters.has("console")) logsEnabled = false
  if (!traceExporters.has("otlp") && !traceExporters.has("console")) TRACE_TYPES.forEach((t) => disabledTraces.add(t))
  const consoleExport = { metrics: metricExporters.has("console"), logs: logExporters.has("console"), traces: traceExporters.has("console") }
  const otlpExport = { metrics: metricExporters.has("otlp"), logs: logExporters.has("otlp"), traces: traceExporters.has("otlp") }
  let prometheus: { host: string; port: number; lingerMs: number } | undefined
  if (metricExporters.has("prometheus")) {
    const port = isEmpty(raw.OPENCODE_PROMETHEUS_PORT) ? 9464 : Number(raw.OPENCODE_PROMETHEUS_PORT.trim())
    let lingerMs = 0
    if (!isEmpty(raw.OPENCODE_PROMETHEUS_LINGER)) {
      const value = raw.OPENCODE_PROMETHEUS_LINGER.trim()
      if (/^\d+$/.test(value) && Number(value) <= MAX_PROMETHEUS_LINGER_MS) lingerMs = Number(value)
      else
        problem(
          "OPENCODE_PROMETHEUS_LINGER",
          raw.OPENCODE_PROMETHEUS_LINGER,
          `a whole number of milliseconds, 0 to ${MAX_PROMETHEUS_LINGER_MS}`,
          "The endpoint does not wait at exit.",
        )
    }
    if (Number.isInteger(port) && port >= 0 && port <= 65535)
      prometheus = { host: isEmpty(raw.OPENCODE_PROMETHEUS_HOST) ? "127.0.0.1" : raw.OPENCODE_PROMETHEUS_HOST.trim(), port, lingerMs }
    else problem("OPENCODE_PROMETHEUS_PORT", raw.OPENCODE_PROMETHEUS_PORT, "a TCP port, 0 to 65535", "The Prometheus endpoint is not served.")
  }
  if (!otlpExport.metrics && prometheus === undefined && !consoleExport.metrics) metricsEnabled = false

  /** A duration in ms whose bad value falls back to its default, with a message. */
  const durationOr = (variable: Variable, fallback: number) => {
    const value = decodePositiveInt(raw[variable], fallback)
    if (value !== undefined) return value
    problem(variable, raw[variable], "a positive whole number of milliseconds", `The default of ${fallback} ms applies.`)
    return fallback
  }
  const helperRefreshMs = durationOr("OPENCODE_OTLP_HEADERS_HELPER_REFRESH", DEFAULTS.headersHelperRefreshMs)
  const shutdownTimeoutMs = durationOr("OPENCODE_OTLP_SHUTDOWN_TIMEOUT", DEFAULTS.shutdownTimeoutMs)
  const helperTimeoutMs = durationOr("OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT", DEFAULTS.headersHelperTimeoutMs)

  // The spool: a directory (or "none"), and its size cap in MB (0 switches it off as well).
  let spoolMaxMb = DEFAULTS.spoolMaxMb
  if (!isEmpty(raw.OPENCODE_OTLP_SPOOL_MAX_MB)) {
    const value = raw.OPENCODE_OTLP_SPOOL_MAX_MB.trim()
    if (/^\d+$/.test(value) && Number(value) <= MAX_SPOOL_MB) spoolMaxMb = Number(value)
    else
      problem(
        "OPENCODE_OTLP_SPOOL_MAX_MB",
        raw.OPENCODE_OTLP_SPOOL_MAX_MB,
        `a whole number of megabytes, 0 (off) to ${MAX_SPOOL_MB}`,
        `The default of ${DEFAULTS.spoolMaxMb} MB applies.`,
      )
  }
  let spoolDir = host.spoolDir
  if (!isEmpty(raw.OPENCODE_OTLP_SPOOL_DIR)) {
    const value = raw.OPENCODE_OTLP_SPOOL_DIR.trim()
    if (value.toLowerCase() === "none") spoolDir = undefined
    else if (isAbsolute(value)) spoolDir = value
    else {
      spoolDir = undefined
      problem("OPENCODE_OTLP_SPOOL_DIR", value, "an absolute directory path, or none", "Nothing is spooled: data undelivered at exit is dropped and counted.")
    }
  }
  const spool = spoolDir === undefined || spoolMaxMb === 0 ? undefined : { dir: spoolDir, maxBytes: spoolMaxMb * 1024 * 1024 }

  /**
   * A switch: 1/true/yes/on or 0/false/no/off. Anything else is reported and the default applies — for the
   * content opt-ins that is off, so a value like "disabled" never sends prompt text.
   */
  const flag = (variable: Variable, fallback: boolean) => {
    const value = raw[variable]
    if (isEmpty(value)) return fallback
    const v = value.trim().toLowerCase()
    if (["1", "true", "yes", "on"].includes(v)) return true
    if (["0", "false", "no", "off"].includes(v)) return false
    problem(variable, value, "1, true, yes, on or 0, false, no, off", `The default (${fallback ? "on" : "off"}) applies.`)
    return fallback
  }
  const content = {
    userPrompts: flag("OPENCODE_LOG_USER_PROMPTS", false),
    toolDetails: flag("OPENCODE_LOG_TOOL_DETAILS", false),
    toolContent: flag("OPENCODE_LOG_TOOL_CONTENT", false),
  }
  const includeSessionId = flag("OPENCODE_METRICS_INCLUDE_SESSION_ID", true)
  const includeVersion = flag("OPENCODE_METRICS_INCLUDE_VERSION", false)
  // Per signal: the shared endpoint/protocol/headers, overridden by OTEL_EXPORTER_OTLP_<SIGNAL>_* where set.
  // A bad per-signal value switches off that signal only.
  const signalOff = (signal: Signal) => {
    if (signal === "metrics") metricsEnabled = false
    else if (signal === "logs") logsEnabled = false
    else TRACE_TYPES.forEach((t) => disabledTraces.add(t))
  }
  const signals = {} as Record<Signal, SignalTarget>
  for (const signal of SIGNALS) {
    const up = signal.toUpperCase() as Uppercase<Signal>
    const endpointVar = `OTEL_EXPORTER_OTLP_${up}_ENDPOINT` as const
    const protocolVar = `OTEL_EXPORTER_OTLP_${up}_PROTOCOL` as const
    const headersVar = `OTEL_EXPORTER_OTLP_${up}_HEADERS` as const
    const off = `${signal[0]!.toUpperCase()}${signal.slice(1)} export is disabled.`
    let signalProtocol = protocol
    const rawProtocol = raw[protocolVar]
    if (!isEmpty(rawProtocol)) {
      const value = rawProtocol.trim().toLowerCase()
      if (isOneOf(PROTOCOLS, value)) signalProtocol = value
      else {
        signalOff(signal)
        problem(protocolVar, rawProtocol, `one of ${PROTOCOLS.join(", ")}`, off)
      }
    }
    let url = signalUrlOf(endpoint, signalProtocol, signal)
    const rawEndpoint = raw[endpointVar]
    if (!isEmpty(rawEndpoint)) {
      const parsed = parseEndpoint(rawEndpoint.trim())
      if (parsed === undefined) {
        signalOff(signal)
        problem(endpointVar, rawEndpoint, "a full URL with a scheme, used as it is (e.g. http://collector:4318/v1/" + signal + ")", off)
      } else url = signalProtocol === "grpc" ? parsed.replace(/^grpc:\/\//i, "http://").replace(/^grpcs:\/\//i, "https://") : parsed
    }
    let signalHeaders: Record<string, Redacted.Redacted<string>> = {}
    const rawHeaders = raw[headersVar]
    if (!isEmpty(rawHeaders)) {
      const parsed = parseKeyValueList(rawHeaders)
      if (parsed._tag === "Left" || Object.keys(parsed.value).some((k) => !isHeaderName(k))) {
        signalOff(signal)
        problem(headersVar, undefined, "comma-separated name=value pairs with valid HTTP header names", off)
      } else signalHeaders = Object.fromEntries(Object.entries(parsed.value).map(([k, v]) => [k.toLowerCase(), Redacted.make(v)]))
    }
    signals[signal] = { url, protocol: signalProtocol, headers: signalHeaders }
  }

  // mTLS needs both halves; one without the other would fail every handshake.
  const clientKey = isEmpty(raw.OPENCODE_OTLP_CLIENT_KEY) ? undefined : raw.OPENCODE_OTLP_CLIENT_KEY.trim()
  const clientCertificate = isEmpty(raw.OPENCODE_OTLP_CLIENT_CERTIFICATE) ? undefined : raw.OPENCODE_OTLP_CLIENT_CERTIFICATE.trim()
  const pairComplete = (clientKey === undefined) === (clientCertificate === undefined)
  if (!pairComplete)
    problem(
      clientKey === undefined ? "OPENCODE_OTLP_CLIENT_CERTIFICATE" : "OPENCODE_OTLP_CLIENT_KEY",
      clientKey ?? clientCertificate,
      `to be set together with ${clientKey === undefined ? "OPENCODE_OTLP_CLIENT_KEY" : "OPENCODE_OTLP_CLIENT_CERTIFICATE"} (PEM files of the client's key and certificate)`,
      "No client certificate is presented.",
    )
  const tls = {
    ca: isEmpty(raw.OPENCODE_OTLP_CERTIFICATE) ? undefined : raw.OPENCODE_OTLP_CERTIFICATE.trim(),
    ...(pairComplete ? { clientKey, clientCertificate } : {}),
  }

  // Claude Code puts organization and account attributes on every point; here they come from the resource settings.
  const accountAttributes = Object.fromEntries(
    ["organization.id", "user.account_uuid", "user.account_id", "user.email"].flatMap((key) =>
      resourceAttributes[key] === undefined ? [] : [[key, resourceAttributes[key]!]],
    ),
  )
  const who = profile === "claude-code" && enabled && !fatal ? (typeof identity === "function" ? identity() : identity) : {}
  const standardAttributes: Record<string, string> =
    profile === "claude-code"
      ? {
          ...(who.installationId === undefined ? {} : { "user.id": who.installationId }),
          ...(who.terminalType === undefined ? {} : { "terminal.type": who.terminalType }),
          ...accountAttributes,
        }
      : {}

  const config: TelemetryConfig = {
    enabled: enabled && !fatal,
    exportTo: { otlp: otlpExport, console: consoleExport },
    standardAttributes,
    tls,
    signals,
    profile,
    // Claude Code's bodies are `claude_code.<event>`; the seed plugin's, which dashboards for it match, the bare name.
    eventPrefix: profile === "claude-code" ? "claude_code." : "",
    serviceName: isEmpty(raw.OPENCODE_SERVICE_NAME) ? (profile === "claude-code" ? "claude-code" : "opencode") : raw.OPENCODE_SERVICE_NAME.trim(),
    serviceVersion: host.opencodeVersion,
    serviceInstanceId: host.instanceId ?? crypto.randomUUID(),
    host: { mcpServers: host.mcpServers ?? (() => undefined) },
    content,
    endpoint,
    protocol,
    compression,
    resourceAttributes,
    shutdownTimeoutMs,
    headers: {
      static: staticHeaders,
      helper,
      helperTimeoutMs,
      helperCwd: workspace?.directory,
      helperRefreshMs,
    },
    metrics: {
      enabled: metricsEnabled,
      intervalMs: metricsIntervalMs ?? DEFAULTS.metricsIntervalMs,
      prefix,
      disabled: disabledMetrics,
      attributes: metricAttributes,
      excludeAttributes,
      temporality,
      costUsageScale,
      includeSessionId,
      includeVersion,
      prometheus,
    },
    logs: { enabled: logsEnabled, intervalMs: logsIntervalMs ?? DEFAULTS.logsIntervalMs },
    spool,
    traces: { disabled: disabledTraces, attributes: spanAttributes, parent },
  }
  return { config, problems }
}

/**
 * Plugin options (the tuple form in opencode.json) as raw settings. Options override environment
 * variables. Values may be typed (numbers, booleans, lists, objects); they are written back to the
 * variables' string form so that one decoder judges both.
 */
export const settingsFromOptions = (options: unknown): { settings: RawSettings; problems: ReadonlyArray<ConfigError> } => {
  const settings: RawSettings = {}
  const problems: Array<ConfigError> = []
  if (options === undefined || options === null) return { settings, problems }
  if (typeof options !== "object" || Array.isArray(options)) {
    problems.push(
      new ConfigError({
        variable: "plugin options",
        expected: "an object such as {\"endpoint\": \"http://localhost:4317\"}",
        consequence: "The options are ignored; environment variables apply.",
      }),
    )
    return { settings, problems }
  }
  const byOption = new Map<string, Variable>(Object.entries(VARIABLES).map(([variable, option]) => [option, variable as Variable]))
  for (const [key, value] of Object.entries(options)) {
    const variable = byOption.get(key) ?? (key in VARIABLES ? (key as Variable) : undefined)
    if (variable === undefined) {
      problems.push(
        new ConfigError({
          variable: `plugin option "${key}"`,
          expected: `one of ${[...byOption.keys()].join(", ")}`,
          consequence: "The option is ignored.",
        }),
      )
      continue
    }
    const text = optionToString(value)
    if (text === undefined) {
      problems.push(
        new ConfigError({
          variable: `${variable} (plugin option "${VARIABLES[variable]}")`,
          expected: "a string, number, boolean, list of strings or object of strings",
          consequence: "The option is ignored.",
        }),
      )
      continue
    }
    settings[variable] = text
  }
  return { settings, problems }
}

/** Reads every variable through the current `ConfigProvider` (process.env unless replaced). */
export const readSettings: Effect.Effect<RawSettings> = Effect.map(readSettingsWithSources(), (r) => r.settings)

/** The settings, and for each one taken from a standard OTEL_* variable, that variable's name. */
export function readSettingsWithSources(): Effect.Effect<{ settings: RawSettings; sources: Partial<Record<Variable, string>> }> {
  return Effect.gen(function* () {
    const read = (name: string) =>
      EffectConfig.option(EffectConfig.String(name)).pipe(
        Effect.map(Option.getOrUndefined),
        Effect.orElseSucceed(() => undefined),
      )
    const settings: RawSettings = {}
    const sources: Partial<Record<Variable, string>> = {}
    for (const variable of Object.keys(VARIABLES) as Array<Variable>) {
      const own = yield* read(variable)
      const fallback = FALLBACKS[variable]
      const standard = fallback === undefined ? undefined : yield* read(fallback)
      if (variable === "OPENCODE_RESOURCE_ATTRIBUTES" && !isEmpty(own) && !isEmpty(standard)) {
        // Resource attributes merge: the standard variable first, ours on top.
        settings[variable] = `${standard},${own}`
        continue
      }
      if (!isEmpty(own) || (own !== undefined && isEmpty(standard))) settings[variable] = own
      else if (standard !== undefined) {
        settings[variable] = standard
        sources[variable] = fallback!
      }
    }
    for (const variable of SIGNAL_VARIABLES) {
      const value = yield* read(variable)
      if (value !== undefined) settings[variable] = value
    }
    return { settings, sources }
  })
}

/**
 * The Config layer: reads the settings from the current ConfigProvider, lets `options` override them,
 * and decodes once.
 */
export const layerFrom = (
  input: {
    readonly options?: unknown
    readonly workspace?: Workspace
    readonly identity?: Identity | (() => Identity)
    readonly host?: Host
  } = {},
) =>
  Layer.effect(
    Config,
    Effect.gen(function* () {
      const fromEnv = yield* readSettingsWithSources()
      const fromOptions = settingsFromOptions(input.options)
      const decoded = decodeSettings({ ...fromEnv.settings, ...fromOptions.settings }, input.workspace, input.identity, input.host)
      // A problem names where the value came from: a plugin option, or a standard OTEL_* variable.
      const problems = decoded.problems.map((p) => {
        const variable = p.variable as Variable
        if (p.variable in fromOptions.settings)
          return new ConfigError({ ...p, variable: `${p.variable} (plugin option "${VARIABLES[variable]}")` })
        const source = fromEnv.sources[variable]
        return source === undefined ? p : new ConfigError({ ...p, variable: source })
      })
      return Config.of({ ...decoded.config, problems: [...fromOptions.problems, ...problems] })
    }),
  )

/** The Config layer for a value already decoded (tests, embedding). */
export const layerValue = (config: TelemetryConfig) => Layer.succeed(Config, Config.of({ ...config, problems: [] }))

/** Reads process.env through Effect's default ConfigProvider. */
export const defaultLayer = layerFrom()

// ---------------------------------------------------------------------------------------------------------------

/** The URL a signal is sent to: the collector URL for gRPC, base URL + /v1/<signal> for HTTP. */
export const signalUrlOf = (endpoint: string, protocol: Protocol, signal: Signal): string => {
  const base = endpoint.replace(/\/+$/, "")
  if (protocol === "grpc") return base.replace(/^grpc:\/\//i, "http://").replace(/^grpcs:\/\//i, "https://")
  return `${base}/v1/${signal}`
}

/** Header values for an exporter; the only place secrets leave their Redacted wrapper. */
export const revealHeaders = (headers: Readonly<Record<string, Redacted.Redacted<string>>>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Redacted.value(v)]))

const isOneOf = <const T extends ReadonlyArray<string>>(values: T, value: string): value is T[number] => values.includes(value)

const truncate = (value: string, max: number) => (value.length > max ? `${value.slice(0, max)}…` : value)

const decodePositiveInt = (value: string | undefined, fallback: number): number | undefined => {
  if (isEmpty(value)) return fallback
  const trimmed = value.trim()
  if (!/^\d+$/.test(trimmed)) return undefined
  const n = Number(trimmed)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/** RFC 7230 token characters. */
const isHeaderName = (name: string) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)

/** Accepts http(s) and grpc(s) URLs with a host; scheme-less values such as localhost:4317 are rejected. */
const parseEndpoint = (value: string): string | undefined => {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  if (!["http:", "https:", "grpc:", "grpcs:"].includes(url.protocol) || url.hostname === "") return undefined
  return value.replace(/\/+$/, "")
}

const decodeAttributes = (
  variable: "OPENCODE_RESOURCE_ATTRIBUTES" | "OPENCODE_SPAN_ATTRIBUTES" | "OPENCODE_METRIC_ATTRIBUTES",
  raw: RawSettings,
  problem: (variable: Variable | SignalVariable, value: string | undefined, expected: string, consequence: string) => void,
): Record<string, string> => {
  const value = raw[variable]
  if (isEmpty(value)) return {}
  const parsed = parseKeyValueList(value)
  if (parsed._tag === "Right") return parsed.value
  problem(
    variable,
    value,
    `comma-separated key=value pairs (${parsed.reason})`,
    "These attributes are not added; everything else still applies.",
  )
  return {}
}

const resolveHelperPath = (
  template: string,
  workspace: Workspace | undefined,
): { _tag: "Right"; value: string } | { _tag: "Left"; reason: string } => {
  const values: Record<(typeof HELPER_PLACEHOLDERS)[number], string | undefined> = {
    PROJECT_ROOT: workspace?.projectRoot,
    WORKTREE: workspace?.worktree,
    DIRECTORY: workspace?.directory,
  }
  let unknown: string | undefined
  const path = template.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
    if (!isOneOf(HELPER_PLACEHOLDERS, name)) {
      unknown ??= whole
      return whole
    }
    return values[name] ?? whole
  })
  if (unknown !== undefined)
    return { _tag: "Left", reason: `an absolute path; placeholders are \${PROJECT_ROOT}, \${WORKTREE}, \${DIRECTORY} (found ${unknown})` }
  if (/\$\{/.test(path)) return { _tag: "Left", reason: "an absolute path; a placeholder could not be resolved here" }
  if (!path.startsWith("/")) return { _tag: "Left", reason: "an absolute path to an executable (run without a shell)" }
  return { _tag: "Right", value: path }
}

const optionToString = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (typeof value === "number" && Number.isFinite(value)) return String(value)
  if (typeof value === "boolean") return value ? "true" : "false"
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(",")
  if (value !== null && typeof value === "object" && Object.values(value).every((v) => typeof v === "string" || typeof v === "number"))
    return Object.entries(value)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join(",")
  return undefined
}
