/**
 * A real Prometheus server (Debian's `prometheus`, installed by .ci/run) scrapes the plugin's pull endpoint inside
 * a real `opencode run`, and the dashboard queries of Claude Code's monitoring return opencode's own numbers.
 *
 * The run keeps opencode alive for a few seconds after its first LLM call completed (a `sleep` through the bash
 * tool), so Prometheus scrapes while the numbers are there; queries use max_over_time because the series go
 * stale when opencode exits.
 */
import { afterAll, beforeAll, expect, test } from "bun:test"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../lib/net.ts"
import { startPrometheus, type PrometheusServer } from "../lib/prometheus.ts"
import { REPO_ROOT } from "../support/opencode.ts"
import { runScenario, type Scenario } from "../support/scenarios.ts"

let prometheus: PrometheusServer | undefined
let pluginPort: number

beforeAll(async () => {
  // Not silently skipped: CI installs Prometheus (.ci/run); a machine without it fails here, saying why.
  pluginPort = await freePort()
  prometheus = await startPrometheus({ opencode: pluginPort })
}, 60_000)

afterAll(() => {
  prometheus?.stop()
  rmSync(fakeBin, { recursive: true, force: true })
})

const query = (promql: string) => prometheus!.query(promql)

/** A stand-in `gh` on PATH: `gh pr create` succeeds without any network. */
const fakeBin = mkdtempSync(join(tmpdir(), "otel-fake-gh-"))
writeFileSync(join(fakeBin, "gh"), "#!/bin/sh\necho https://example.invalid/pull/1\n", { mode: 0o755 })

const scenario: Scenario = {
  name: "prometheus",
  description:
    "an edit asked and accepted (--auto), a commit and a pull request through bash, then a bash sleep that keeps opencode running while Prometheus scrapes",
  runs: [{ prompt: "Write notes.txt, commit it, open a pull request, then wait a little.", args: ["--auto"] }],
  config: { permission: { edit: "ask", bash: "allow" } },
  script: [
    { toolCall: { name: "write", arguments: { filePath: "notes.txt", content: "one\ntwo\nthree\n" } }, usage: { prompt: 1301, completion: 41, cached: 300, reasoning: 2 } },
    {
      toolCall: { name: "bash", arguments: { command: "git add -A && git commit -q -m notes && gh pr create --fill", description: "Commit and open a PR" } },
      usage: { prompt: 2602, completion: 52, cached: 600, reasoning: 3 },
    },
    { toolCall: { name: "bash", arguments: { command: "sleep 5", description: "Wait" } }, usage: { prompt: 3903, completion: 63, cached: 900, reasoning: 4 } },
    { text: "Done.", usage: { prompt: 5204, completion: 74, cached: 1200, reasoning: 5 } },
  ],
  expect: { exitCodes: [0], sessions: 1 },
}

test(
  "Prometheus scrapes the plugin in a real opencode run; Claude Code dashboard queries return opencode's numbers",
  async () => {
    const result = await runScenario(scenario, {
      plugins: [join(REPO_ROOT, "src", "plugin.ts")],
      env: {
        OPENCODE_ENABLE_TELEMETRY: "1",
        OPENCODE_METRICS_EXPORTER: "prometheus",
        OPENCODE_LOGS_EXPORTER: "none",
        OPENCODE_TRACES_EXPORTER: "none",
        OPENCODE_PROMETHEUS_PORT: String(pluginPort),
        OPENCODE_PROFILE: "claude-code",
        PATH: `${fakeBin}:${process.env["PATH"] ?? "/usr/bin:/bin"}`,
      },
    })
    expect(result.exitCodes).toEqual([0])
    // Prometheus's last scrape came during the sleep (the first two LLM calls completed) or just after it (the third
    // too): the counters it saw equal opencode's accounting of the first k calls, the same k for every metric.
    const session = result.exports[0] as {
      messages: Array<{ info: { role: string; cost?: number; tokens?: { input: number; output: number; cache: { read: number } } } }>
    }
    const calls = session.messages.filter((m) => m.info.role === "assistant").map((m) => m.info)
    const firstK = (k: number, f: (i: (typeof calls)[number]) => number) => calls.slice(0, k).reduce((n, i) => n + f(i), 0)
    const max = async (promql: string) => (await query(`max_over_time(${promql}[10m])`)).map((r) => r.value)

    const checked: Array<[string, unknown]> = []
    const check = async (promql: string, expected: Array<number>) => {
      const got = await max(promql)
      checked.push([promql, got])
      expect([promql, got]).toEqual([promql, expected])
    }
    const input = await max('claude_code_token_usage_total{type="input"}')
    expect(input).toHaveLength(1)
    const k = [2, 3, 4].find((n) => firstK(n, (i) => i.tokens!.input) === input[0])
    expect(k, `input tokens ${input[0]} are not the sum of the first 2, 3 or 4 calls`).toBeDefined()
    checked.push([`claude_code_token_usage_total{type="input"} (first ${k} LLM calls)`, input])
    await check('claude_code_token_usage_total{type="output"}', [firstK(k!, (i) => i.tokens!.output)])
    await check('claude_code_token_usage_total{type="cacheRead"}', [firstK(k!, (i) => i.tokens!.cache.read)])
    await check("claude_code_session_count_total", [1])
    await check('claude_code_lines_of_code_count_total{type="added"}', [3])
    await check("claude_code_commit_count_total", [1])
    await check("claude_code_pull_request_count_total", [1])
    await check('claude_code_code_edit_tool_decision_total{decision="accept",language="Text",tool_name="Write"}', [1])
    const cost = await query("max_over_time(claude_code_cost_usage_total[10m])")
    expect(cost).toHaveLength(1)
    expect(Math.abs(cost[0]!.value - firstK(k!, (i) => i.cost!))).toBeLessThan(1e-9)
    expect(cost[0]!.metric["model"]).toBe("m")
    expect(cost[0]!.metric["session_id"]).toBe(String(result.sessionIDs[0]))
    const active = await max('claude_code_active_time_total{type="cli"}')
    expect(active).toHaveLength(1)
    expect(active[0]!).toBeGreaterThan(0)
    const up = await query('max_over_time(up{job="opencode"}[10m])')
    expect(up.map((r) => r.value)).toEqual([1])
    console.log(JSON.stringify(checked))
  },
  180_000,
)
