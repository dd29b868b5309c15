/**
 * Metrics: export interval, name prefix, metrics not recorded, attributes added or left out, temporality, the
 * cost scale, the session-id and version switches, and where metrics go (OTLP, console, files, a Prometheus endpoint).
 * Whether metrics are on at all follows from the problems' severities (see decodeSettings).
 */
import { parseList } from "./keyValue.ts"
import {
  DEFAULTS,
  GENAI_METRIC_NAMES,
  METRIC_NAMES,
  TEMPORALITIES,
  type GenAiMetricName,
  type MetricName,
  type Profile,
  type Temporality,
} from "./catalog.ts"
import { decodePrometheus, type Prometheus } from "./prometheus.ts"
import { attributes, entriesOf, exporters, flag, isEmpty, milliseconds, oneOf, type Input } from "./values.ts"

export interface Metrics {
  readonly intervalMs: number
  readonly prefix: string
  /** Suffixes of the plugin's metrics, and full names of the GenAI conventions' metrics. */
  readonly disabled: ReadonlySet<MetricName | GenAiMetricName>
  readonly attributes: Readonly<Record<string, string>>
  readonly excludeAttributes: ReadonlySet<string>
  readonly temporality: Temporality
  readonly costUsageScale: number
  /**
   * A Prometheus pull endpoint, when OTEL_METRICS_EXPORTER names `prometheus`. `lingerMs`: at exit, how long the
   * endpoint may keep opencode waiting for one more scrape of the final totals (0: not at all).
   */
  readonly prometheus: Prometheus | undefined
  /** session.id on metric points (OTEL_METRICS_INCLUDE_SESSION_ID, default on). */
  readonly includeSessionId: boolean
  /** app.version (opencode's version) on metric points and events (OTEL_METRICS_INCLUDE_VERSION, default off). */
  readonly includeVersion: boolean
  /**
   * Where the repository (vcs.repository.url.full, vcs.owner.name, vcs.repository.name, vcs.provider.name) goes
   * (OTEL_METRICS_INCLUDE_REPOSITORY): on the resource (false, the default), on every metric point (true), or, with
   * the branch, nowhere (none: git's files are not read). The branch (vcs.ref.head.*) goes on events and spans.
   */
  readonly repository: RepositoryPlacement
  readonly exportTo: { readonly otlp: boolean; readonly console: boolean; readonly file: boolean }
}

/** Instrument names must stay valid OpenTelemetry names: a letter first, then [A-Za-z0-9_./-]. */
const decodePrefix = (input: Input, profile: Profile): string => {
  const raw = input.raw.OPENCODE_METRIC_PREFIX
  const fallback = profile === "claude-code" ? "claude_code." : DEFAULTS.metricPrefix
  if (raw === undefined) return fallback
  const value = raw.trim()
  // Empty is a choice here: bare metric names.
  if (value === "" || /^[A-Za-z][A-Za-z0-9_./-]{0,200}$/.test(value)) return value
  input.report(
    "OPENCODE_METRIC_PREFIX",
    raw,
    "a letter followed by letters, digits, '_', '.', '/' or '-' (for example opencode. or claude_code.)",
  )
  return fallback
}

export type RepositoryPlacement = "resource" | "metrics" | "none"

/** Claude Code's switch puts the repository on metric points; off, it stays on the resource; `none` reads nothing. */
const decodeRepository = (input: Input): RepositoryPlacement => {
  const raw = input.raw.OPENCODE_METRICS_INCLUDE_REPOSITORY
  if (isEmpty(raw)) return "resource"
  const value = raw.trim().toLowerCase()
  if (["1", "true", "yes", "on"].includes(value)) return "metrics"
  if (["0", "false", "no", "off"].includes(value)) return "resource"
  if (value === "none") return "none"
  input.report(
    "OPENCODE_METRICS_INCLUDE_REPOSITORY",
    raw,
    "true (the repository on every metric point), false (on the resource) or none (no repository, no branch)",
  )
  return "resource"
}

/** undefined when bad: the cost.usage metric is then not recorded. */
const decodeCostScale = (input: Input): number | undefined => {
  const raw = input.raw.OPENCODE_COST_USAGE_SCALE
  if (isEmpty(raw)) return DEFAULTS.costUsageScale
  const value = Number(raw.trim())
  if (Number.isFinite(value) && value > 0) return value
  input.report("OPENCODE_COST_USAGE_SCALE", raw, "a positive number, such as 1 or 1000000")
  return undefined
}

export const decodeMetrics = (input: Input, profile: Profile): Metrics => {
  const intervalMs = milliseconds(input, "OPENCODE_OTLP_METRICS_INTERVAL", DEFAULTS.metricsIntervalMs) ?? DEFAULTS.metricsIntervalMs
  const prefix = decodePrefix(input, profile)
  const disabled = new Set<MetricName | GenAiMetricName>(
    entriesOf(
      input,
      "OPENCODE_DISABLE_METRICS",
      [...METRIC_NAMES, ...GENAI_METRIC_NAMES],
      `metric name suffixes from: ${METRIC_NAMES.join(", ")}; or GenAI metric names from: ${GENAI_METRIC_NAMES.join(", ")}`,
    ),
  )
  const metricAttributes = attributes(input, "OPENCODE_METRIC_ATTRIBUTES")
  // Claude Code exports delta by default, and dashboards made for it sum raw samples.
  const temporality = oneOf(input, "OPENCODE_OTLP_METRICS_TEMPORALITY", TEMPORALITIES, profile === "claude-code" ? "delta" : DEFAULTS.temporality)
  const costUsageScale = decodeCostScale(input)
  if (costUsageScale === undefined) disabled.add("cost.usage")
  const chosen = exporters(input, "OPENCODE_METRICS_EXPORTER", ["otlp", "prometheus", "console", "file", "none"])
  return {
    intervalMs,
    prefix,
    disabled,
    attributes: metricAttributes,
    excludeAttributes: new Set(parseList(input.raw.OPENCODE_EXCLUDE_METRICS_ATTRIBUTES)),
    temporality,
    costUsageScale: costUsageScale ?? DEFAULTS.costUsageScale,
    prometheus: decodePrometheus(input, chosen),
    includeSessionId: flag(input, "OPENCODE_METRICS_INCLUDE_SESSION_ID"),
    includeVersion: flag(input, "OPENCODE_METRICS_INCLUDE_VERSION"),
    repository: decodeRepository(input),
    exportTo: { otlp: chosen.has("otlp"), console: chosen.has("console"), file: chosen.has("file") },
  }
}
