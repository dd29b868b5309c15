/**
 * The shipped Grafana dashboard queries only metrics the plugin emits, under the names an OpenTelemetry
 * Collector's Prometheus exporter gives them (dots to underscores, the unit as a suffix, _total on counters).
 */
import { expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { METRICS } from "../../src/signals.ts"

const prometheusUnit: Record<string, string> = { ms: "milliseconds", s: "seconds", USD: "USD" }

/** The OTLP -> Prometheus name of a metric: curly-brace units are dropped, known units spelled out. */
const promName = (name: string, unit: string, kind: string) => {
  const base = `opencode_${name.replaceAll(".", "_")}`
  const suffix = unit.startsWith("{") ? "" : `_${prometheusUnit[unit] ?? unit}`
  return `${base}${suffix}${kind === "counter" ? "_total" : ""}`
}

test("every dashboard query names a metric the plugin emits", () => {
  const dashboard = JSON.parse(readFileSync(join(import.meta.dir, "..", "..", "dashboards", "grafana-opencode.json"), "utf8"))
  const known = new Set(Object.entries(METRICS).map(([name, spec]) => promName(name, spec.unit, spec.kind)))
  const queried = new Set<string>()
  for (const panel of dashboard.panels)
    for (const target of panel.targets) for (const m of String(target.expr).matchAll(/\bopencode_[a-z_]+?(?=_bucket\b|\[|\)|\s|$)/g)) queried.add(m[0])
  expect(queried.size).toBeGreaterThan(5)
  for (const name of queried) expect([name, known.has(name)]).toEqual([name, true])
})
