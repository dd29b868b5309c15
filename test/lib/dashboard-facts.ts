/**
 * Facts of public dashboards and query sets for Claude Code and opencode telemetry: which metric, log body,
 * attribute, filter, grouping and aggregation each panel uses, restated here as typed data in our own words, each
 * with its source (repository, path, commit). No dashboard file is copied; short query expressions are quoted as
 * facts. test/e2e/public-dashboards.e2e.test.ts evaluates every fact on what the plugin sent in a real opencode run
 * and compares the result with opencode's own accounting (`opencode export`).
 *
 * `truth` names the number from opencode's accounting a fact must equal (see the test's `truthOf`); a grouped fact
 * (`groupBy`) names a grouped truth (`tokens.byType`, ...). The PromQL facts come in two classes: those that read
 * a series' value (COLLECTOR_PROMQL_EXACT, equal to `truth`) and those built on increase() (SHORT_BY_FIRST_INCREMENT,
 * `truth` minus each series' first increment, then Prometheus's extrapolation; the reason is given there).
 */

export interface Source {
  readonly repo: string
  readonly path: string
  readonly commit: string
}

export const SIGNOZ_CLAUDE_CODE: Source = {
  repo: "SigNoz/dashboards",
  path: "claude-code/claude-code-dashboard.json",
  commit: "4cc626eec526ce3c4c2844cf5af72a391cb6b22e",
}
export const SIGNOZ_CLAUDE_CODE_2025: Source = {
  repo: "SigNoz/dashboards",
  path: "claude-code/claude-code-dashboard.json",
  commit: "da6ad882b0b01d30e43c98d37e168dfab232f00b",
}
export const SIGNOZ_OPENCODE: Source = {
  repo: "SigNoz/dashboards",
  path: "opencode/opencode-dashboard.json",
  commit: "4cc626eec526ce3c4c2844cf5af72a391cb6b22e",
}
export const CC_MONITORING_GUIDE_DASHBOARD: Source = {
  repo: "anthropics/claude-code-monitoring-guide",
  path: "grafana/dashboards/working-dashboard.json",
  commit: "02777441f2a3fa38a187b57872ca9dc5e0411b48",
}
export const CC_MONITORING_GUIDE_DOC: Source = {
  repo: "anthropics/claude-code-monitoring-guide",
  path: "claude_code_roi_full.md",
  commit: "02777441f2a3fa38a187b57872ca9dc5e0411b48",
}
export const COLEMURRAY: Source = { repo: "ColeMurray/claude-code-otel", path: "claude-code-dashboard.json", commit: "43263654a369c28e01733fe71f0204084f08eec3" }
export const X0X7067: Source = { repo: "0x7067/claude-code-metrics", path: "grafana/dashboards/claude-code.json", commit: "feb2d72d0a44d4b47e48ce757f97c7ba3bd8f079" }
export const HALYPH_METRICS: Source = { repo: "halyph/claude-mon", path: "config/grafana/dashboards/claude-code-monitoring.json", commit: "251bf2503024df8ee9f3997c87cc40479082603e" }
export const HALYPH_LOGS: Source = { repo: "halyph/claude-mon", path: "config/grafana/dashboards/claude-code-logs.json", commit: "251bf2503024df8ee9f3997c87cc40479082603e" }
export const OHNAW: Source = { repo: "ohnaw/claude-grafana", path: "config/grafana/dashboards/claude-code-metrics.json", commit: "89e622b41f9e4f4fee7d08bc690eaaf20b9d2ef2" }
export const CLAWKER: Source = { repo: "schmitthub/clawker", path: "internal/monitor/templates/grafana-dashboard.json", commit: "0943af268e6b6d8cf6d6239438d3f7bfd8431e88" }

export const cite = (s: Source) => `${s.repo} ${s.path}@${s.commit.slice(0, 8)}`

/** Ungrouped numbers of opencode's accounting. */
export type Truth =
  | "cost"
  | "tokens.total"
  | "tokens.input"
  | "tokens.output"
  | "tokens.cacheRead"
  | "tokens.cacheCreation"
  | "lines.total"
  | "lines.added"
  | "lines.removed"
  | "commits"
  | "pullRequests"
  | "sessions"
  | "editDecisions"
  | "toolCalls"
  | "toolsSucceeded"
  | "toolsFailed"
  | "prompts"
/** Grouped numbers of opencode's accounting: group value -> number. */
export type GroupedTruth =
  | "tokens.byType"
  | "tokens.byModel"
  | "cost.byModel"
  | "lines.byType"
  | "tools.byName"
  | "tools.bySuccess"
  | "prompts.byModel"
  /** tool_result plus tool_decision records per tool (both carry tool_name). */
  | "toolEvents.byName"
  /** user_prompt plus api_request records per model (both carry model). */
  | "modelEvents.byModel"

// ---- SigNoz -------------------------------------------------------------------------------------------------

/**
 * A SigNoz metrics builder query. `sum` (time aggregation) adds up the raw stored samples of the window (right for
 * delta counters); `increase` and `rate` are temporality-aware (for cumulative counters, the growth of each series
 * over the window). Space aggregation is `sum` in every panel here.
 */
export interface SignozMetricQuery {
  readonly source: Source
  readonly panel: string
  readonly metric: string
  readonly timeAggregation: "sum" | "increase" | "rate"
  /** Attribute filters (`type = 'cacheRead'`). */
  readonly filters: Readonly<Record<string, string>>
  readonly groupBy?: string
  readonly truth: Truth | GroupedTruth
  /** The panel's raw ClickHouse SQL instead of the builder (sum(value) of samples_v4 by metric_name). */
  readonly clickhouse?: true
}

/** A SigNoz logs builder query: filters on body / attributes / resource, count() or sum(attr), optional group-by. */
export interface SignozLogQuery {
  readonly source: Source
  readonly panel: string
  /** body = '...' (undefined: no body filter). */
  readonly body?: string
  /** Attribute that must exist (`x EXISTS`). */
  readonly exists?: string
  /** Resource filter `service.name = '...'`. */
  readonly serviceName?: string
  readonly aggregation: "count" | { readonly sum: string } | { readonly countDistinct: string }
  readonly groupBy?: string
  /** Attribute filters (`success = 'true'`, `success != 'true'`). */
  readonly where?: Readonly<Record<string, { readonly eq: string } | { readonly ne: string }>>
  /** The group-by attribute's data type the panel declares. */
  readonly groupType?: "string" | "bool"
  readonly truth: Truth | GroupedTruth
}

const ccMetric = (panel: string, metric: string, truth: Truth | GroupedTruth, filters: Record<string, string> = {}, groupBy?: string): SignozMetricQuery => ({
  source: SIGNOZ_CLAUDE_CODE,
  panel,
  metric,
  timeAggregation: "sum",
  filters,
  ...(groupBy === undefined ? {} : { groupBy }),
  truth,
})

/** Every metric panel of SigNoz's current Claude Code dashboard that opencode has data for (see NOT_APPLICABLE). */
export const SIGNOZ_CLAUDE_CODE_METRICS: ReadonlyArray<SignozMetricQuery> = [
  ccMetric("Sessions", "claude_code.session.count", "sessions"),
  ccMetric("Lines Changed", "claude_code.lines_of_code.count", "lines.total"),
  ccMetric("Tool Calls (sums code_edit_tool.decision)", "claude_code.code_edit_tool.decision", "editDecisions"),
  ccMetric("Commits", "claude_code.commit.count", "commits"),
  ccMetric("PRs", "claude_code.pull_request.count", "pullRequests"),
  ccMetric("Token Usage Over Time", "claude_code.token.usage", "tokens.total"),
  ccMetric("Cost Over Time (USD)", "claude_code.cost.usage", "cost"),
  ccMetric("Tokens by Type", "claude_code.token.usage", "tokens.byType", {}, "type"),
  ccMetric("Tokens by Model", "claude_code.token.usage", "tokens.byModel", {}, "model"),
  ccMetric("Cost by Model", "claude_code.cost.usage", "cost.byModel", {}, "model"),
  ccMetric("Cache Efficiency % (query A)", "claude_code.token.usage", "tokens.cacheRead", { type: "cacheRead" }),
  ccMetric("Cache Efficiency % (query B)", "claude_code.token.usage", "tokens.input", { type: "input" }),
  { ...ccMetric("API Cost (Total)", "claude_code.cost.usage", "cost"), clickhouse: true },
  ccMetric("Cost Leverage Over Time (A1/A5/A15)", "claude_code.cost.usage", "cost"),
]

/** Log panels of SigNoz's current Claude Code dashboard. */
export const SIGNOZ_CLAUDE_CODE_LOGS: ReadonlyArray<SignozLogQuery> = [
  { source: SIGNOZ_CLAUDE_CODE, panel: "Tool Usage Frequency", body: "claude_code.tool_result", aggregation: "count", groupBy: "tool_name", groupType: "string", truth: "tools.byName" },
  { source: SIGNOZ_CLAUDE_CODE, panel: "Tool Success", body: "claude_code.tool_result", aggregation: "count", groupBy: "success", groupType: "string", truth: "tools.bySuccess" },
  // "Recent API Calls" lists api_request records with columns model and cost_usd; the sum of that column is the cost.
  { source: SIGNOZ_CLAUDE_CODE, panel: "Recent API Calls (sum of the cost_usd column)", body: "claude_code.api_request", aggregation: { sum: "cost_usd" }, truth: "cost" },
]

/** The logs-based panels of SigNoz's 2025 Claude Code dashboard (still described by claude-code/README.md). */
export const SIGNOZ_CLAUDE_CODE_2025_LOGS: ReadonlyArray<SignozLogQuery> = [
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Input Token Usage", exists: "input_tokens", aggregation: { sum: "input_tokens" }, truth: "tokens.input" },
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Output Token Usage", exists: "output_tokens", aggregation: { sum: "output_tokens" }, truth: "tokens.output" },
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Total Cost(USD) (version 0ce34add)", exists: "cost_usd", aggregation: { sum: "cost_usd" }, truth: "cost" },
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Sessions", serviceName: "claude-code", aggregation: { countDistinct: "session.id" }, truth: "sessions" },
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Conversations", body: "claude_code.user_prompt", aggregation: "count", truth: "prompts" },
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Model Distribution", serviceName: "claude-code", exists: "model", aggregation: "count", groupBy: "model", truth: "modelEvents.byModel" },
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Success Rate (A: Success)", exists: "success", where: { success: { eq: "true" } }, aggregation: "count", truth: "toolsSucceeded" },
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Success Rate (B: Fail)", exists: "success", where: { success: { ne: "true" } }, aggregation: "count", truth: "toolsFailed" },
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Tool Type", exists: "tool_name", aggregation: "count", groupBy: "tool_name", truth: "toolEvents.byName" },
]

/** The 2025 dashboard's metric panels (increase / rate on the Claude Code counters). */
export const SIGNOZ_CLAUDE_CODE_2025_METRICS: ReadonlyArray<SignozMetricQuery> = [
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Total Usage Cost(USD) Metric", metric: "claude_code.cost.usage", timeAggregation: "increase", filters: {}, truth: "cost" },
  { source: SIGNOZ_CLAUDE_CODE_2025, panel: "Token Usage Over Time", metric: "claude_code.token.usage", timeAggregation: "rate", filters: {}, truth: "tokens.total" },
]

const ocMetric = (panel: string, metric: string, timeAggregation: "increase" | "rate", truth: Truth | GroupedTruth, filters: Record<string, string> = {}, groupBy?: string): SignozMetricQuery => ({
  source: SIGNOZ_OPENCODE,
  panel,
  metric,
  timeAggregation,
  filters,
  ...(groupBy === undefined ? {} : { groupBy }),
  truth,
})

/** Every metric panel of SigNoz's OpenCode dashboard. */
export const SIGNOZ_OPENCODE_METRICS: ReadonlyArray<SignozMetricQuery> = [
  ocMetric("Cost (Total)", "opencode.cost.usage", "increase", "cost"),
  ocMetric("Total Tokens", "opencode.token.usage", "increase", "tokens.total"),
  ocMetric("Token Usage Over Time", "opencode.token.usage", "rate", "tokens.total"),
  ocMetric("Cost Over Time (USD)", "opencode.cost.usage", "rate", "cost"),
  ocMetric("Tokens by Type", "opencode.token.usage", "rate", "tokens.byType", {}, "type"),
  ocMetric("Tokens by Model", "opencode.token.usage", "rate", "tokens.byModel", {}, "model"),
  ocMetric("Cost by Model", "opencode.cost.usage", "rate", "cost.byModel", {}, "model"),
  ocMetric("Cache Efficiency % (query A)", "opencode.token.usage", "rate", "tokens.cacheRead", { type: "cacheRead" }),
  ocMetric("Cache Efficiency % (query B)", "opencode.token.usage", "rate", "tokens.input", { type: "input" }),
]

/** Every log panel of SigNoz's OpenCode dashboard. */
export const SIGNOZ_OPENCODE_LOGS: ReadonlyArray<SignozLogQuery> = [
  { source: SIGNOZ_OPENCODE, panel: "Sessions", body: "session.created", aggregation: "count", truth: "sessions" },
  { source: SIGNOZ_OPENCODE, panel: "Tool Calls (number)", body: "tool_result", aggregation: "count", truth: "toolCalls" },
  { source: SIGNOZ_OPENCODE, panel: "Tool Success", body: "tool_result", serviceName: "opencode", aggregation: "count", groupBy: "success", groupType: "bool", truth: "tools.bySuccess" },
  { source: SIGNOZ_OPENCODE, panel: "Tool Calls (pie)", body: "tool_result", serviceName: "opencode", aggregation: "count", groupBy: "tool_name", truth: "tools.byName" },
  { source: SIGNOZ_OPENCODE, panel: "Tool Usage Frequency", body: "tool_result", serviceName: "opencode", aggregation: "count", groupBy: "tool_name", groupType: "string", truth: "tools.byName" },
  { source: SIGNOZ_OPENCODE, panel: "Model Distribution", body: "user_prompt", serviceName: "opencode", aggregation: "count", groupBy: "model", groupType: "string", truth: "prompts.byModel" },
]

// ---- PromQL on the Collector path ------------------------------------------------------------------------------

/**
 * A PromQL query of a Collector-path Grafana dashboard or guide. `$__range` is written as `[RANGE]` (the test
 * substitutes a window holding the whole run). `truth` is what the query returns (one number, or a group -> number
 * map for a `sum by`).
 */
export interface PromQuery {
  readonly source: Source
  readonly panel: string
  readonly promql: string
  readonly truth: Truth | GroupedTruth
  /** `sum by (<label>)`: the label whose values are the groups. */
  readonly by?: string
}

const p = (source: Source, panel: string, promql: string, truth: Truth | GroupedTruth, by?: string): PromQuery => ({ source, panel, promql, truth, ...(by === undefined ? {} : { by }) })

/**
 * Class 1: queries that read each series' value as it is (`sum(x)`, `sum by (l) (x)`, `x{...}`, `max_over_time`,
 * `count by`). A series' value on the Collector path is its running total (deltatocumulative for delta points, the
 * point itself for cumulative ones), so these equal opencode export exactly.
 */
export const COLLECTOR_PROMQL_EXACT: ReadonlyArray<PromQuery> = [
  // the guide's documented queries and its fetch script (raw sums of the cumulative counters)
  p(CC_MONITORING_GUIDE_DOC, "Key Prometheus Queries 1", "sum(claude_code_cost_usage_USD_total)", "cost"),
  p(CC_MONITORING_GUIDE_DOC, "Key Prometheus Queries 2", "sum(claude_code_token_usage_tokens_total) by (type)", "tokens.byType", "type"),
  p(CC_MONITORING_GUIDE_DOC, "Key Prometheus Queries 4", "sum(claude_code_cost_usage_USD_total) by (model)", "cost.byModel", "model"),
  p(CC_MONITORING_GUIDE_DOC, "fetch script: input tokens", 'sum(claude_code_token_usage_tokens_total{type="input"})', "tokens.input"),
  p(CC_MONITORING_GUIDE_DOC, "fetch script: output tokens", 'sum(claude_code_token_usage_tokens_total{type="output"})', "tokens.output"),
  // 0x7067/claude-code-metrics (template variables at their match-all value)
  p(X0X7067, "Sessions", 'count(sum by (session_id) (max_over_time(claude_code_session_count_total{project=~".*",user_email=~".*"}[RANGE])) > 0)', "sessions"),
  // halyph/claude-mon (raw sums)
  p(HALYPH_METRICS, "Total Cost", "sum(claude_code_cost_usage_USD_total)", "cost"),
  p(HALYPH_METRICS, "Total Tokens", "sum(claude_code_token_usage_tokens_total)", "tokens.total"),
  p(HALYPH_METRICS, "Total Sessions", "sum(claude_code_session_count_total)", "sessions"),
  p(HALYPH_METRICS, "Total Lines Changed", "sum(claude_code_lines_of_code_count_total)", "lines.total"),
  p(HALYPH_METRICS, "Commits", "sum(claude_code_commit_count_total)", "commits"),
  p(HALYPH_METRICS, "Code Edit Decisions", "sum(claude_code_code_edit_tool_decision_total)", "editDecisions"),
  p(HALYPH_METRICS, "Lines of Code Changes", "sum by (type) (claude_code_lines_of_code_count_total)", "lines.byType", "type"),
  // ohnaw/claude-grafana (raw sums, delta converted by deltatocumulative)
  p(OHNAW, "Sessions", "count(count by (session_id)(claude_code_token_usage_tokens_total))", "sessions"),
  p(OHNAW, "Commits Made", "sum(claude_code_commit_count_total)", "commits"),
  p(OHNAW, "Input", 'sum(claude_code_token_usage_tokens_total{type="input"})', "tokens.input"),
  p(OHNAW, "Output", 'sum(claude_code_token_usage_tokens_total{type="output"})', "tokens.output"),
  p(OHNAW, "Cache Read", 'sum(claude_code_token_usage_tokens_total{type="cacheRead"})', "tokens.cacheRead"),
]

/**
 * Class 2: queries built on `increase()` (or `rate()`) over the per-session series. They come out SHORT of opencode
 * export by each series' first increment, on every Prometheus path and for Claude Code's own data alike:
 * - every series carries session_id (and model, type, ...), so each is new in the session that it counts;
 * - a Collector's prometheus exporter knows a series only once a point of it arrived, and serves it at that first
 *   value (deltatocumulative starts a delta stream at its first delta; a cumulative stream starts at its first
 *   point); Claude Code's own endpoint and Prometheus's OTLP receiver likewise start a series at its first value;
 * - increase() is the growth between a series' first and last stored sample, so the first value (the series' first
 *   increment: the first LLM call's tokens and cost, the session's 1, the first edit's lines) is never counted, and
 *   a series with a single sample (it never grew after its first export) gives no increase at all.
 * What the test asserts for each: Prometheus's stored samples per series run from the first value served to the last
 * (the final total); the sum over series of (last − first) is exactly export − Σ first values; the query result is
 * that growth extrapolated as Prometheus does (functions.go extrapolatedRate, v2.42: each series' growth scaled by
 * (sampled interval + extrapolation to the range's start and end, each at most half the average sample spacing
 * when the range reaches further, the start also capped where the counter would reach 0) / sampled interval). So
 * export − Σ first <= result; an exact equality with export − Σ first is impossible because of that extrapolation,
 * and `result <= export` does not hold either: with the samples a Collector with `send_timestamps: true` (the
 * monitoring guide's config) gives, one per export, a series with n samples is scaled by up to 1 + 1/(n − 1), i.e.
 * doubled with two (measured: tokens 82565.5 from export 60382 − first increments 16015 = 44367). A series whose
 * whole growth came in its first export (lines, commits, the session's 1 in a short run) gives no increase at all.
 * This is the least a real pipeline loses: the test lets Prometheus scrape after every export; a scrape interval
 * longer than the export interval folds several exports into a series' first sample and loses more.
 */
export const SHORT_BY_FIRST_INCREMENT: ReadonlyArray<PromQuery> = [
  // anthropics/claude-code-monitoring-guide: the Grafana dashboard (increase over the dashboard range)
  p(CC_MONITORING_GUIDE_DASHBOARD, "Total Cost", "sum(increase(claude_code_cost_usage_USD_total[RANGE]))", "cost"),
  p(CC_MONITORING_GUIDE_DASHBOARD, "Total Tokens", "sum(increase(claude_code_token_usage_tokens_total[RANGE]))", "tokens.total"),
  p(CC_MONITORING_GUIDE_DASHBOARD, "Lines of Code", "sum(increase(claude_code_lines_of_code_count_total[RANGE]))", "lines.total"),
  p(CC_MONITORING_GUIDE_DASHBOARD, "Cost by Model", "sum by (model)(increase(claude_code_cost_usage_USD_total[RANGE]))", "cost.byModel", "model"),
  p(CC_MONITORING_GUIDE_DASHBOARD, "Token Usage by Type", "sum by (type)(increase(claude_code_token_usage_tokens_total[RANGE]))", "tokens.byType", "type"),
  p(CC_MONITORING_GUIDE_DASHBOARD, "Lines of Code by Type", "sum by (type)(increase(claude_code_lines_of_code_count_total[RANGE]))", "lines.byType", "type"),
  // ColeMurray/claude-code-otel (every selector carries the scrape job; [1h] holds the run)
  p(COLEMURRAY, "Active Sessions (1h)", 'sum(increase(claude_code_session_count_total{job="otel-collector"}[1h]))', "sessions"),
  p(COLEMURRAY, "Cost (Last Hour)", 'sum(increase(claude_code_cost_usage_USD_total{job="otel-collector"}[1h]))', "cost"),
  p(COLEMURRAY, "Token Usage (1h)", 'sum(increase(claude_code_token_usage_tokens_total{job="otel-collector"}[1h]))', "tokens.total"),
  p(COLEMURRAY, "Lines of Code (1h)", 'sum(increase(claude_code_lines_of_code_count_total{job="otel-collector"}[1h]))', "lines.total"),
  p(COLEMURRAY, "Cost by Model (Hourly)", 'sum by (model) (increase(claude_code_cost_usage_USD_total{job="otel-collector"}[1h]))', "cost.byModel", "model"),
  p(COLEMURRAY, "Development Activity (A)", 'sum(increase(claude_code_commit_count_total{job="otel-collector"}[1h])) or vector(0)', "commits"),
  p(COLEMURRAY, "Development Activity (B)", 'sum(increase(claude_code_pull_request_count_total{job="otel-collector"}[1h])) or vector(0)', "pullRequests"),
  // 0x7067/claude-code-metrics (template variables at their match-all value)
  p(X0X7067, "Lines Changed (A)", 'sum(increase(claude_code_lines_of_code_count_total{type="added"}[RANGE])) or vector(0)', "lines.added"),
  p(X0X7067, "Lines Changed (B)", 'sum(increase(claude_code_lines_of_code_count_total{type="removed"}[RANGE])) or vector(0)', "lines.removed"),
  p(X0X7067, "Commits & Pull Requests", "sum(increase(claude_code_commit_count_total[RANGE])) or vector(0)", "commits"),
  p(X0X7067, "Model Breakdown: cacheRead tokens", 'sum by (model) (increase(claude_code_token_usage_tokens_total{type="cacheRead"}[RANGE]))', "tokens.cacheRead"),
]

/** Every PromQL fact (both classes). */
export const COLLECTOR_PROMQL: ReadonlyArray<PromQuery> = [...COLLECTOR_PROMQL_EXACT, ...SHORT_BY_FIRST_INCREMENT]

// ---- Loki (native OTLP ingestion) ------------------------------------------------------------------------------

/**
 * A LogQL metric query over Loki's OTLP-ingested logs, in a small structured form the test's evaluator runs:
 * `{service_name="<stream>"} |= "<line>" | <label filters> | unwrap <field>` under sum_over_time / count_over_time,
 * optionally `sum by (<field>)`.
 */
export interface LokiQuery {
  readonly source: Source
  readonly panel: string
  /** The query as the dashboard writes it (for the test title). */
  readonly logql: string
  readonly stream: Readonly<Record<string, string>>
  readonly lineContains: string
  readonly labelFilters?: Readonly<Record<string, string>>
  readonly op: "count_over_time" | { readonly sum_over_time: string }
  readonly by?: string
  /** `count(... by ...)`: the number of groups. */
  readonly countGroups?: true
  readonly truth: Truth | GroupedTruth
}

export const LOKI_QUERIES: ReadonlyArray<LokiQuery> = [
  {
    source: COLEMURRAY,
    panel: "Cumulative Tool Usage",
    logql: 'sum by (tool_name) (count_over_time({service_name="claude-code"} |= "claude_code.tool_result" [$__range]))',
    stream: { service_name: "claude-code" },
    lineContains: "claude_code.tool_result",
    op: "count_over_time",
    by: "tool_name",
    truth: "tools.byName",
  },
  {
    source: COLEMURRAY,
    panel: "Tool Success Rate (numerator, over all tools)",
    logql: '{service_name="claude-code"} |= "claude_code.tool_result" | success="true"',
    stream: { service_name: "claude-code" },
    lineContains: "claude_code.tool_result",
    labelFilters: { success: "true" },
    op: "count_over_time",
    truth: "toolsSucceeded",
  },
  {
    source: CLAWKER,
    panel: "Total Cost",
    logql: 'sum(sum_over_time({service_name="claude-code"} |= `api_request` | unwrap cost_usd [$__range]))',
    stream: { service_name: "claude-code" },
    lineContains: "api_request",
    op: { sum_over_time: "cost_usd" },
    truth: "cost",
  },
  {
    source: CLAWKER,
    panel: "Input Tokens",
    logql: 'sum(sum_over_time({service_name="claude-code"} |= `api_request` | unwrap input_tokens [$__range]))',
    stream: { service_name: "claude-code" },
    lineContains: "api_request",
    op: { sum_over_time: "input_tokens" },
    truth: "tokens.input",
  },
  {
    source: CLAWKER,
    panel: "Output Tokens",
    logql: 'sum(sum_over_time({service_name="claude-code"} |= `api_request` | unwrap output_tokens [$__range]))',
    stream: { service_name: "claude-code" },
    lineContains: "api_request",
    op: { sum_over_time: "output_tokens" },
    truth: "tokens.output",
  },
  {
    source: CLAWKER,
    panel: "Cache Read Total",
    logql: 'sum(sum_over_time({service_name="claude-code"} |= `api_request` | unwrap cache_read_tokens [$__range]))',
    stream: { service_name: "claude-code" },
    lineContains: "api_request",
    op: { sum_over_time: "cache_read_tokens" },
    truth: "tokens.cacheRead",
  },
  {
    source: CLAWKER,
    panel: "Cost by Model",
    logql: 'sum by (model) (sum_over_time({service_name="claude-code"} |= `api_request` | unwrap cost_usd [$__auto]))',
    stream: { service_name: "claude-code" },
    lineContains: "api_request",
    op: { sum_over_time: "cost_usd" },
    by: "model",
    truth: "cost.byModel",
  },
  {
    source: X0X7067,
    panel: "Tool Usage Frequency",
    logql: 'sum by (tool_name) (count_over_time({service_name="claude-code"} | event_name="tool_result" [$__auto]))',
    stream: { service_name: "claude-code" },
    lineContains: "",
    labelFilters: { event_name: "tool_result" },
    op: "count_over_time",
    by: "tool_name",
    truth: "tools.byName",
  },
  {
    source: HALYPH_LOGS,
    panel: "Active Sessions",
    logql: 'count(count by(session_id) (count_over_time({service_name="claude-code"}[$__range])))',
    stream: { service_name: "claude-code" },
    lineContains: "",
    op: "count_over_time",
    by: "session_id",
    countGroups: true,
    truth: "sessions",
  },
]

// ---- not applicable ------------------------------------------------------------------------------------------

/** Facts the data cannot satisfy because opencode has no such data, each with the reason. */
export const NOT_APPLICABLE: ReadonlyArray<{ readonly source: Source; readonly fact: string; readonly reason: string }> = [
  { source: SIGNOZ_CLAUDE_CODE, fact: 'Active Time / CLI vs User Time / Usage Leverage / Leverage Over Time: active_time.total type = "user"', reason: "opencode run has no interactive user: the plugin reports only type=cli (checked > 0 and below the run's wall time), and opencode keeps no active-time accounting to compare with" },
  { source: SIGNOZ_CLAUDE_CODE, fact: "Cost Leverage (sum(value) / window * 0.0000760531)", reason: "a constant price of a Claude Max plan per second; the numerator is the API Cost (Total) fact, checked" },
  { source: SIGNOZ_CLAUDE_CODE_2025, fact: "Quota Usage (Last 5h) with the account_type variable (Pro / Max plans)", reason: "Claude subscription plans; opencode has none" },
  { source: SIGNOZ_CLAUDE_CODE_2025, fact: "Users and Requests: count(user.email) by user.email", reason: "opencode has no signed-in account, so no user.email (the claude-code profile sends user.id, an installation id)" },
  { source: SIGNOZ_CLAUDE_CODE_2025, fact: "Command Duration (P95) of duration_ms", reason: "a percentile of wall-clock durations; opencode's export holds no duration to compare with (presence on api_request / tool_result is checked)" },
  { source: CC_MONITORING_GUIDE_DASHBOARD, fact: "Active Users / Cost by User: count by (user_id) / sum by (user_id)", reason: "user_id is one installation id per machine; the test runs in fresh homes, so it is checked only to be present on every series" },
  { source: CC_MONITORING_GUIDE_DOC, fact: "sum(claude_code_token_usage_tokens_total) by (user_email)", reason: "no user.email in opencode" },
  { source: X0X7067, fact: 'project=~"$project" labels and Loki project / user_email filters', reason: "resource attribute project comes from the user's OTEL_RESOURCE_ATTRIBUTES and resource_to_telemetry_conversion, not from the plugin" },
  { source: X0X7067, fact: "Most Used Skills (tool_name=\"Skill\"), tool_parameters JSON with bash_command / skill_name", reason: "tool parameters are exported only with OPENCODE_LOG_TOOL_DETAILS; the run uses no skill" },
  { source: COLEMURRAY, fact: 'API Error Rate / API Error Events (|= "claude_code.api_error")', reason: "the scenario has no failing API call (api_error is covered by test/e2e/signals.e2e.test.ts)" },
  { source: CLAWKER, fact: "Cache Read Ratio with cache_creation_tokens", reason: "the fake provider (openai-compatible) reports no cache writes: cache_creation_tokens is 0 in export and telemetry (checked as 0)" },
  { source: CC_MONITORING_GUIDE_DOC, fact: "Claude Code-only events beyond the ones checked here (e.g. claude_code.plugin_installed); none of the dashboards above queries them", reason: "opencode has no such events" },
]
