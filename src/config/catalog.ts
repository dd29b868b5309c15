/**
 * Every setting the plugin reads, declared once as data: the variable, the plugin option (tuple form) that
 * overrides it, the standard OpenTelemetry (or Claude Code) variable read when it is unset, its default, and what
 * a bad value switches off. The decoders read defaults and severities from here; the README's settings table
 * documents the same rows.
 */
import type { Invalid } from "./problems.ts"

export const PROTOCOLS = ["grpc", "http/protobuf", "http/json"] as const
export type Protocol = (typeof PROTOCOLS)[number]
export const COMPRESSIONS = ["gzip", "none"] as const
export type Compression = (typeof COMPRESSIONS)[number]
export const TEMPORALITIES = ["cumulative", "delta", "lowmemory"] as const
export type Temporality = (typeof TEMPORALITIES)[number]
export { TRACE_TYPES, type TraceType } from "../signals.ts"
export const PROFILES = ["opencode", "claude-code"] as const
export type Profile = (typeof PROFILES)[number]
export const HELPER_PLACEHOLDERS = ["PROJECT_ROOT", "WORKTREE", "DIRECTORY"] as const

export { METRIC_NAMES, type MetricName } from "../signals.ts"
export { GENAI_METRIC_NAMES, type GenAiMetricName } from "../signals.ts"

export const SIGNALS = ["traces", "metrics", "logs"] as const
export type Signal = (typeof SIGNALS)[number]

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
  /** Weeks of a laptop's telemetry per signal (a few KB per turn); twice this at most on disk (one previous file). */
  fileMaxMb: 64,
}

/** The longest a pull endpoint may hold opencode's exit for a last scrape: twice Prometheus's default interval. */
export const MAX_PROMETHEUS_LINGER_MS = 30_000
/** The largest spool cap accepted. */
export const MAX_SPOOL_MB = 1_024
/** The largest file cap accepted (per signal's file). */
export const MAX_FILE_MB = 4_096

/** One setting. `invalid` is undefined for settings that accept every value. */
export interface Setting {
  readonly option: string
  readonly fallback?: string
  readonly default?: string | number | boolean
  readonly invalid?: Invalid
}

const off = {
  telemetry: { switchesOff: "telemetry" },
  metrics: { switchesOff: "metrics" },
  logs: { switchesOff: "logs" },
} as const satisfies Record<string, Invalid>
/** Only this setting is dropped; `instead` says what applies. */
const instead = (text: string): Invalid => ({ switchesOff: "setting", instead: text })
const defaultMs = (ms: number) => instead(`The default of ${ms} ms applies.`)
const defaultSwitch = (on: boolean) => instead(`The default (${on ? "on" : "off"}) applies.`)
const ENTRY_IGNORED = instead("This entry is ignored; the other entries apply.")
const ATTRIBUTES_DROPPED = instead("These attributes are not added; everything else still applies.")
const OTLP_APPLIES = instead("This setting is ignored; otlp applies.")
const NO_CLIENT_CERTIFICATE = instead("No client certificate is presented.")

/** In this order: plugin-option problems list the options in it. Precedence: options > OPENCODE_* > fallback > default. */
export const CATALOG = {
  OPENCODE_ENABLE_TELEMETRY: { option: "enabled", default: false },
  OPENCODE_OTLP_ENDPOINT: { option: "endpoint", fallback: "OTEL_EXPORTER_OTLP_ENDPOINT", default: DEFAULTS.endpoint, invalid: off.telemetry },
  OPENCODE_OTLP_PROTOCOL: { option: "protocol", fallback: "OTEL_EXPORTER_OTLP_PROTOCOL", default: DEFAULTS.protocol, invalid: off.telemetry },
  OPENCODE_OTLP_COMPRESSION: {
    option: "compression",
    fallback: "OTEL_EXPORTER_OTLP_COMPRESSION",
    default: DEFAULTS.compression,
    invalid: instead(`${DEFAULTS.compression} applies.`),
  },
  OPENCODE_OTLP_METRICS_INTERVAL: { option: "metricsInterval", fallback: "OTEL_METRIC_EXPORT_INTERVAL", default: DEFAULTS.metricsIntervalMs, invalid: off.metrics },
  OPENCODE_OTLP_LOGS_INTERVAL: { option: "logsInterval", fallback: "OTEL_LOGS_EXPORT_INTERVAL", default: DEFAULTS.logsIntervalMs, invalid: off.logs },
  OPENCODE_METRIC_PREFIX: { option: "metricPrefix", default: DEFAULTS.metricPrefix, invalid: off.metrics },
  OPENCODE_DISABLE_METRICS: { option: "disableMetrics", invalid: ENTRY_IGNORED },
  OPENCODE_DISABLE_LOGS: { option: "disableLogs", default: false },
  OPENCODE_DISABLE_TRACES: { option: "disableTraces", invalid: ENTRY_IGNORED },
  // Exporting without the configured credentials would only collect rejections; stop instead.
  OPENCODE_OTLP_HEADERS: { option: "headers", fallback: "OTEL_EXPORTER_OTLP_HEADERS", invalid: off.telemetry },
  OPENCODE_OTLP_HEADERS_HELPER: { option: "headersHelper", invalid: instead("The header helper is not used; static headers still apply.") },
  OPENCODE_RESOURCE_ATTRIBUTES: { option: "resourceAttributes", fallback: "OTEL_RESOURCE_ATTRIBUTES", invalid: ATTRIBUTES_DROPPED },
  OPENCODE_SPAN_ATTRIBUTES: { option: "spanAttributes", invalid: ATTRIBUTES_DROPPED },
  OPENCODE_METRIC_ATTRIBUTES: { option: "metricAttributes", invalid: ATTRIBUTES_DROPPED },
  OPENCODE_EXCLUDE_METRICS_ATTRIBUTES: { option: "excludeMetricsAttributes" },
  // The wrong temporality makes backends such as Datadog reject or misread every point.
  OPENCODE_OTLP_METRICS_TEMPORALITY: {
    option: "metricsTemporality",
    fallback: "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    default: DEFAULTS.temporality,
    invalid: off.metrics,
  },
  OPENCODE_COST_USAGE_SCALE: {
    option: "costUsageScale",
    default: DEFAULTS.costUsageScale,
    invalid: instead("The cost.usage metric is disabled; other metrics still apply."),
  },
  OPENCODE_TRACEPARENT: { option: "traceparent", invalid: instead("Spans are exported as root spans.") },
  OPENCODE_TRACESTATE: { option: "tracestate", invalid: instead("The trace state is ignored; the parent still applies.") },
  OPENCODE_OTLP_SHUTDOWN_TIMEOUT: { option: "shutdownTimeout", default: DEFAULTS.shutdownTimeoutMs, invalid: defaultMs(DEFAULTS.shutdownTimeoutMs) },
  OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT: {
    option: "headersHelperTimeout",
    default: DEFAULTS.headersHelperTimeoutMs,
    invalid: defaultMs(DEFAULTS.headersHelperTimeoutMs),
  },
  OPENCODE_SERVICE_NAME: { option: "serviceName", fallback: "OTEL_SERVICE_NAME" },
  // Content opt-ins: an unclear value reads as off, so a value like "disabled" never sends prompt text.
  OPENCODE_LOG_USER_PROMPTS: { option: "logUserPrompts", fallback: "OTEL_LOG_USER_PROMPTS", default: false, invalid: defaultSwitch(false) },
  OPENCODE_LOG_TOOL_DETAILS: { option: "logToolDetails", fallback: "OTEL_LOG_TOOL_DETAILS", default: false, invalid: defaultSwitch(false) },
  OPENCODE_LOG_TOOL_CONTENT: { option: "logToolContent", fallback: "OTEL_LOG_TOOL_CONTENT", default: false, invalid: defaultSwitch(false) },
  OPENCODE_OTLP_CERTIFICATE: { option: "certificate", fallback: "OTEL_EXPORTER_OTLP_CERTIFICATE" },
  // mTLS needs both halves; one without the other would fail every handshake.
  OPENCODE_OTLP_CLIENT_KEY: { option: "clientKey", fallback: "OTEL_EXPORTER_OTLP_CLIENT_KEY", invalid: NO_CLIENT_CERTIFICATE },
  OPENCODE_OTLP_CLIENT_CERTIFICATE: { option: "clientCertificate", fallback: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", invalid: NO_CLIENT_CERTIFICATE },
  // The profile that applies instead depends on the metric prefix: the decoder says which.
  OPENCODE_PROFILE: { option: "profile", default: "opencode", invalid: { switchesOff: "setting" } },
  OPENCODE_METRICS_EXPORTER: { option: "metricsExporter", fallback: "OTEL_METRICS_EXPORTER", default: "otlp", invalid: OTLP_APPLIES },
  OPENCODE_PROMETHEUS_HOST: { option: "prometheusHost", fallback: "OTEL_EXPORTER_PROMETHEUS_HOST", default: "127.0.0.1" },
  OPENCODE_PROMETHEUS_PORT: {
    option: "prometheusPort",
    fallback: "OTEL_EXPORTER_PROMETHEUS_PORT",
    default: 9464,
    invalid: instead("The Prometheus endpoint is not served."),
  },
  OPENCODE_PROMETHEUS_LINGER: { option: "prometheusLinger", default: 0, invalid: instead("The endpoint does not wait at exit.") },
  OPENCODE_LOGS_EXPORTER: { option: "logsExporter", fallback: "OTEL_LOGS_EXPORTER", default: "otlp", invalid: OTLP_APPLIES },
  OPENCODE_TRACES_EXPORTER: { option: "tracesExporter", fallback: "OTEL_TRACES_EXPORTER", default: "otlp", invalid: OTLP_APPLIES },
  OPENCODE_METRICS_INCLUDE_SESSION_ID: {
    option: "metricsIncludeSessionId",
    fallback: "OTEL_METRICS_INCLUDE_SESSION_ID",
    default: true,
    invalid: defaultSwitch(true),
  },
  OPENCODE_METRICS_INCLUDE_VERSION: { option: "metricsIncludeVersion", fallback: "OTEL_METRICS_INCLUDE_VERSION", default: false, invalid: defaultSwitch(false) },
  OPENCODE_OTLP_HEADERS_HELPER_REFRESH: {
    option: "headersHelperRefresh",
    fallback: "CLAUDE_CODE_OTEL_HEADERS_HELPER_DEBOUNCE_MS",
    default: DEFAULTS.headersHelperRefreshMs,
    invalid: defaultMs(DEFAULTS.headersHelperRefreshMs),
  },
  OPENCODE_OTLP_SPOOL_DIR: { option: "spoolDir", invalid: instead("Nothing is spooled: data undelivered at exit is dropped and counted.") },
  OPENCODE_OTLP_SPOOL_MAX_MB: { option: "spoolMaxMb", default: DEFAULTS.spoolMaxMb, invalid: instead(`The default of ${DEFAULTS.spoolMaxMb} MB applies.`) },
  // Where the repository goes: on the resource (false, the default), on every metric point (true), or nowhere (none).
  OPENCODE_METRICS_INCLUDE_REPOSITORY: {
    option: "metricsIncludeRepository",
    fallback: "OTEL_METRICS_INCLUDE_REPOSITORY",
    default: false,
    invalid: instead("The default applies: the repository on the resource, the branch on events and spans."),
  },
  // A list shared with other instrumentations (http, database, ...): entries this plugin does not know are theirs, not mistakes.
  OPENCODE_SEMCONV_STABILITY_OPT_IN: { option: "semconvStabilityOptIn", fallback: "OTEL_SEMCONV_STABILITY_OPT_IN" },
  // The file exporter (OPENCODE_*_EXPORTER=file): the plugin defaults the directory to opencode's state directory.
  OPENCODE_OTLP_FILE_DIR: { option: "fileDir", invalid: instead("Nothing is written to files; the other exporters still apply.") },
  OPENCODE_OTLP_FILE_MAX_MB: { option: "fileMaxMb", default: DEFAULTS.fileMaxMb, invalid: instead(`The default of ${DEFAULTS.fileMaxMb} MB applies.`) },
  // Trace context into model requests (chat.headers): off unless providers are listed.
  OPENCODE_TRACE_PROPAGATION_PROVIDERS: {
    option: "tracePropagationProviders",
    invalid: instead("This entry is ignored; the other providers listed still get a traceparent."),
  },
  // A content opt-in like the others. Unlike Claude Code, an unset value does not follow OTEL_LOG_USER_PROMPTS:
  // the reply text is sent only when asked for by name.
  OPENCODE_LOG_ASSISTANT_RESPONSES: {
    option: "logAssistantResponses",
    fallback: "OTEL_LOG_ASSISTANT_RESPONSES",
    default: false,
    invalid: defaultSwitch(false),
  },
} as const satisfies Record<string, Setting>

export type Variable = keyof typeof CATALOG
export type OptionName = (typeof CATALOG)[Variable]["option"]

/** Every variable the plugin reads, with the plugin option (tuple form) that overrides it. */
export const VARIABLES = Object.fromEntries(Object.entries(CATALOG).map(([variable, setting]) => [variable, setting.option])) as {
  readonly [V in Variable]: (typeof CATALOG)[V]["option"]
}

/**
 * Standard OpenTelemetry (and Claude Code) variables read when the OPENCODE_* one is unset.
 * Precedence: plugin options > OPENCODE_* > these > defaults.
 */
export const FALLBACKS: Partial<Record<Variable, string>> = Object.fromEntries(
  Object.entries(CATALOG as Record<Variable, Setting>).flatMap(([variable, setting]) =>
    setting.fallback === undefined ? [] : [[variable, setting.fallback]],
  ),
)

/** The standard per-signal variables (full URLs for endpoints, as the OTLP exporter specification says). */
export const SIGNAL_VARIABLES = SIGNALS.flatMap((signal) =>
  (["ENDPOINT", "PROTOCOL", "HEADERS"] as const).map((what) => `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_${what}` as const),
)
export type SignalVariable = (typeof SIGNAL_VARIABLES)[number]

/** Raw string values by variable name; undefined when unset. */
export type RawSettings = Partial<Record<Variable | SignalVariable, string>>

/** What a bad value of a catalogued variable switches off; a per-signal variable switches off its signal. */
export const invalidOf = (variable: Variable | SignalVariable): Invalid => {
  const setting = (CATALOG as Record<string, Setting>)[variable]
  if (setting !== undefined) return setting.invalid ?? { switchesOff: "setting" }
  return { switchesOff: SIGNALS.find((signal) => variable.startsWith(`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_`))! }
}

/** The catalogued default of a setting. */
export const defaultOf = <V extends Variable>(variable: V): (typeof CATALOG)[V] extends { default: infer D } ? D : undefined =>
  (CATALOG as Record<string, Setting>)[variable]!.default as never
