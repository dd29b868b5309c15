/**
 * The shipped Grafana dashboard queries only metrics the plugin emits, under the names an OpenTelemetry
 * Collector's Prometheus exporter gives them (dots to underscores, the unit as a suffix, _total on counters).
 */
import { expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { prometheusName } from "../../src/exporters/prometheus.ts"
import { METRICS } from "../../src/signals.ts"
import { CLAUDE_CODE_UNITS } from "../../src/services/Instruments.ts"
import { collectorMetricName } from "../lib/collector-naming.ts"

test("Prometheus names follow the Collector's translation", () => {
  const claude: Array<[string, string, boolean, string]> = [
    ["claude_code.token.usage", "tokens", true, "claude_code_token_usage_tokens_total"],
    ["claude_code.cost.usage", "USD", true, "claude_code_cost_usage_USD_total"],
    ["claude_code.lines_of_code.count", "", true, "claude_code_lines_of_code_count_total"],
    ["claude_code.session.count", "", true, "claude_code_session_count_total"],
    ["claude_code.commit.count", "", true, "claude_code_commit_count_total"],
    ["claude_code.pull_request.count", "", true, "claude_code_pull_request_count_total"],
    ["claude_code.code_edit_tool.decision", "", true, "claude_code_code_edit_tool_decision_total"],
    // A unit the name does not hold is appended, "count" included, as the Collector does.
    ["claude_code.code_edit_tool.decision", "count", true, "claude_code_code_edit_tool_decision_count_total"],
    ["claude_code.active_time.total", "s", true, "claude_code_active_time_seconds_total"],
    ["opencode.tool.duration", "ms", false, "opencode_tool_duration_milliseconds"],
    ["opencode.token.usage", "{token}", true, "opencode_token_usage_total"],
    ["opencode.lines_of_code.total", "{line}", false, "opencode_lines_of_code_total"],
  ]
  for (const [name, unit, counter, expected] of claude) expect(prometheusName(name, unit, counter)).toBe(expected)
})

test("claude-code profile: Prometheus names follow OpenTelemetry JS's exporter, as Claude Code's own endpoint serves them", () => {
  const names: Array<[string, string, boolean, string]> = [
    ["claude_code.token.usage", "tokens", true, "claude_code_token_usage_total"],
    ["claude_code.cost.usage", "USD", true, "claude_code_cost_usage_total"],
    ["claude_code.active_time.total", "s", true, "claude_code_active_time_total"],
    ["claude_code.session.count", "", true, "claude_code_session_count_total"],
    ["claude_code.code_edit_tool.decision", "", true, "claude_code_code_edit_tool_decision_total"],
    ["claude_code.tool.duration", "ms", false, "claude_code_tool_duration"],
    ["claude_code.lines_of_code.total", "{line}", false, "claude_code_lines_of_code_total"],
  ]
  for (const [name, unit, counter, expected] of names) expect(prometheusName(name, unit, counter, "otel-js")).toBe(expected)
})

/**
 * Every name a series of this metric may have: the metric's own, or a histogram's _bucket, _sum and _count.
 * `naming`: the plugin's pull endpoint in that naming, or "collector-reference": what a real Collector serves,
 * from test/lib/collector-naming.ts (an independent implementation of the Collector's rules, not the plugin's).
 */
const seriesNames = (prefix: string, naming: "collector" | "otel-js" | "collector-reference", units: (name: string, unit: string) => string) =>
  new Set(
    Object.entries(METRICS).flatMap(([name, spec]) => {
      const otlpName = `${prefix}${name}`
      const unit = units(name, spec.unit)
      const base =
        naming === "collector-reference"
          ? collectorMetricName(otlpName, unit, spec.kind)
          : prometheusName(otlpName, unit, spec.kind === "counter", naming)
      return spec.kind === "histogram" ? [`${base}_bucket`, `${base}_sum`, `${base}_count`] : [base]
    }),
  )
const queriesOf = (file: string): Array<string> => {
  const dashboard = JSON.parse(readFileSync(join(import.meta.dir, "..", "..", "dashboards", file), "utf8"))
  return dashboard.panels.flatMap((panel: { targets?: Array<{ expr?: string }> }) => (panel.targets ?? []).map((t) => String(t.expr)))
}

test("every query of the default profile's dashboard names a metric the plugin emits", () => {
  const known = seriesNames("opencode.", "collector", (_name, unit) => unit)
  const queried = new Set(queriesOf("grafana-opencode.json").flatMap((q) => [...q.matchAll(/\bopencode_[A-Za-z_]+/g)].map((m) => m[0])))
  expect(queried.size).toBeGreaterThan(5)
  for (const name of queried) expect([name, known.has(name)]).toEqual([name, true])
})

test("every query of the claude-code dashboard names a metric the plugin emits, on the pull endpoint and through a Collector", () => {
  const units = (name: string, unit: string) => CLAUDE_CODE_UNITS[name as keyof typeof CLAUDE_CODE_UNITS] ?? unit
  const pull = seriesNames("claude_code.", "otel-js", units)
  const collector = seriesNames("claude_code.", "collector-reference", units)
  const queries = queriesOf("grafana-claude-code.json")
  expect(queries.length).toBeGreaterThan(5)
  for (const query of queries) {
    // A name or a {__name__=~"..."} matcher: each must find a series on both paths.
    const patterns = [
      ...[...query.matchAll(/__name__=~"([^"]+)"/g)].map((m) => new RegExp(`^(?:${m[1]})$`)),
      ...[...query.replace(/\{__name__=~"[^"]+"\}/g, "").matchAll(/\bclaude_code_[A-Za-z_]+/g)].map((m) => new RegExp(`^${m[0]}$`)),
    ]
    expect([query, patterns.length > 0]).toEqual([query, true])
    for (const pattern of patterns)
      for (const [path, names] of [["pull", pull], ["collector", collector]] as const)
        expect([query, path, [...names].some((n) => pattern.test(n))]).toEqual([query, path, true])
  }
})

test("the plugin's collector naming gives every metric the name the independent Collector reference gives it", () => {
  for (const [prefix, units] of [
    ["opencode.", (_name: string, unit: string) => unit],
    ["claude_code.", (name: string, unit: string) => CLAUDE_CODE_UNITS[name as keyof typeof CLAUDE_CODE_UNITS] ?? unit],
  ] as const)
    for (const [name, spec] of Object.entries(METRICS)) {
      const unit = units(name, spec.unit)
      const otlpName = `${prefix}${name}`
      expect([otlpName, prometheusName(otlpName, unit, spec.kind === "counter")]).toEqual([otlpName, collectorMetricName(otlpName, unit, spec.kind)])
    }
  // A scaled cost's unit (USD/1000) and odd names, as the Collector's translator tokenizes them.
  for (const [name, unit] of [["opencode.cost.usage", "USD/1000"], ["a..b-c.total", "s"], ["x", "By/s"]] as const)
    expect(prometheusName(name, unit, true)).toBe(collectorMetricName(name, unit, "counter"))
})
