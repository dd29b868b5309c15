/**
 * The shipped Grafana dashboard queries only metrics the plugin emits, under the names an OpenTelemetry
 * Collector's Prometheus exporter gives them (dots to underscores, the unit as a suffix, _total on counters).
 */
import { expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { prometheusName } from "../../src/exporters/prometheus.ts"
import { METRICS } from "../../src/signals.ts"

const promName = (name: string, unit: string, kind: string) => prometheusName(`opencode.${name}`, unit, kind === "counter")

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

test("every dashboard query names a metric the plugin emits", () => {
  const dashboard = JSON.parse(readFileSync(join(import.meta.dir, "..", "..", "dashboards", "grafana-opencode.json"), "utf8"))
  const known = new Set(Object.entries(METRICS).map(([name, spec]) => promName(name, spec.unit, spec.kind)))
  const queried = new Set<string>()
  for (const panel of dashboard.panels)
    for (const target of panel.targets) for (const m of String(target.expr).matchAll(/\bopencode_[a-z_]+?(?=_bucket\b|\[|\)|\s|$)/g)) queried.add(m[0])
  expect(queried.size).toBeGreaterThan(5)
  for (const name of queried) expect([name, known.has(name)]).toEqual([name, true])
})
