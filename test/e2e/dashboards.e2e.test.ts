/**
 * The project's Grafana dashboards (dashboards/grafana-opencode.json, dashboards/grafana-claude-code.json) against
 * a real Prometheus (Debian's `prometheus`) scraping the plugin's pull endpoint in real `opencode run`s: every
 * panel's query, read from the dashboard file, runs through Prometheus's HTTP API, and every stat panel equals
 * opencode's own accounting (`opencode export` of each session, the git log); every other panel returns data with
 * the expected label sets. A panel this file does not know fails the test.
 *
 * Two sessions per dashboard (two `opencode run`s in one project), so "Sessions" = 2 is checked. The plugin's
 * OPENCODE_PROMETHEUS_LINGER (what a user of `opencode run` with a pull endpoint sets) holds opencode's exit until
 * Prometheus (1 s scrapes) has scraped the final totals, the last LLM call included.
 */
import { afterAll, beforeAll, expect, test } from "bun:test"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../lib/net.ts"
import { startPrometheus, type PrometheusServer, type Sample } from "../lib/prometheus.ts"
import { REPO_ROOT } from "../support/opencode.ts"
import { runScenario, type Scenario, type ScenarioResult } from "../support/scenarios.ts"

type Profile = "opencode" | "claude-code"
const DASHBOARD: Record<Profile, string> = {
  opencode: join(REPO_ROOT, "dashboards", "grafana-opencode.json"),
  "claude-code": join(REPO_ROOT, "dashboards", "grafana-claude-code.json"),
}
/** What the test substitutes for Grafana's range variables: every run falls in it. */
const RANGE = "10m"

let prometheus: PrometheusServer
const ports: Record<Profile, number> = { opencode: 0, "claude-code": 0 }

/** A stand-in `gh` on PATH: `gh pr create` succeeds without any network. */
const fakeBin = mkdtempSync(join(tmpdir(), "otel-fake-gh-"))
writeFileSync(join(fakeBin, "gh"), "#!/bin/sh\necho https://example.invalid/pull/1\n", { mode: 0o755 })

beforeAll(async () => {
  ports.opencode = await freePort()
  ports["claude-code"] = await freePort()
  prometheus = await startPrometheus({ opencode: ports.opencode, "claude-code": ports["claude-code"] })
}, 60_000)

afterAll(() => {
  prometheus?.stop()
  rmSync(fakeBin, { recursive: true, force: true })
})

/**
 * Distinct small usage per LLM call n (1..10): far below the fake model's 128k context, so opencode never compacts
 * (larger numbers, e.g. scenarios.ts's usage(6..10), make it summarise the session between steps).
 */
const small = (n: number) => ({ prompt: 1000 + 37 * n, completion: 20 + n, cached: 100 + 3 * n, reasoning: n })

/** Per run r: write (3 lines), edit (+2 -1), a commit and a pull request, a second commit, then text. */
const steps = (r: number, file: string): Scenario["script"] => [
  { toolCall: { name: "write", arguments: { filePath: file, content: "one\ntwo\nthree\n" } }, usage: small(5 * r + 1) },
  { toolCall: { name: "edit", arguments: { filePath: file, oldString: "two\n", newString: "2\ntwo and a half\n" } }, usage: small(5 * r + 2) },
  {
    toolCall: { name: "bash", arguments: { command: `git add -A && git commit -q -m first-${r} && gh pr create --fill`, description: "Commit, PR" } },
    usage: small(5 * r + 3),
  },
  {
    toolCall: { name: "bash", arguments: { command: `echo more >> ${file} && git add -A && git commit -q -m second-${r}`, description: "Commit" } },
    usage: small(5 * r + 4),
  },
  // A slow last answer: every series of the session (all born by the fourth call) is scraped at least twice while
  // it lives, besides the linger's final scrape, so each rate() panel has its two samples per series even on a
  // loaded machine (CI once saw a whole run between two scrapes).
  { text: "Done.", usage: small(5 * r + 5), delayMs: 2500 },
]

const scenario: Scenario = {
  name: "dashboards",
  description: "two sessions, each: write and edit (asked, accepted by --auto), two commits and a pull request through bash, text",
  runs: [
    { prompt: "Write a.txt, edit it, commit twice and open a pull request.", args: ["--auto"] },
    { prompt: "Write b.txt, edit it, commit twice and open a pull request.", args: ["--auto"] },
  ],
  config: { permission: { edit: "ask", bash: "allow" } },
  script: [...steps(0, "a.txt"), ...steps(1, "b.txt")],
  expect: { exitCodes: [0, 0], sessions: 2 },
}

// ---- ground truth from `opencode export` and git ----

interface ExportedPart {
  type: string
  tool?: string
  state?: {
    status: string
    input?: Record<string, unknown>
    metadata?: { exists?: boolean; filediff?: { additions: number; deletions: number } }
    time?: { start: number; end: number }
  }
}
interface ExportedSession {
  info: { id: string; time: { created: number } }
  messages: Array<{
    info: {
      role: string
      modelID?: string
      cost?: number
      error?: unknown
      time: { created: number; completed?: number }
      tokens?: { input: number; output: number; reasoning: number; cache: { read: number; write: number } }
    }
    parts: ExportedPart[]
  }>
}

const CLAUDE_TOOL: Record<string, string> = { bash: "Bash", edit: "Edit", write: "Write" }

const lineCount = (text: string) => text.split("\n").filter((l, i, all) => !(i === all.length - 1 && l === "")).length

interface Truth {
  sessions: number
  cost: number
  costByModel: Record<string, number>
  tokens: Record<string, number>
  lines: Record<string, number>
  commits: number
  pullRequests: number
  apiRequests: number
  decisions: Record<string, number>
  toolCalls: Record<string, number>
  toolMeanMs: Record<string, number>
  /** Active time is not in the export: bounded by the LLM calls' time (below) and the sessions' wall time (above). */
  activeMin: number
  activeMax: number
}

function groundTruth(result: ScenarioResult, profile: Profile): Truth {
  const sessions = result.exports as ExportedSession[]
  for (const s of sessions) expect(s.info, "an opencode export failed").toBeDefined()
  const t: Truth = {
    sessions: sessions.length,
    cost: 0,
    costByModel: {},
    tokens: { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheCreation: 0 },
    lines: { added: 0, removed: 0 },
    // The project's initial commit is not the sessions'.
    commits: result.git.shas.length - 1,
    pullRequests: 0,
    apiRequests: 0,
    decisions: {},
    toolCalls: {},
    toolMeanMs: {},
    activeMin: 0,
    activeMax: 0,
  }
  const toolMs: Record<string, number> = {}
  for (const session of sessions) {
    let last = session.info.time.created
    for (const { info, parts } of session.messages) {
      last = Math.max(last, info.time.completed ?? info.time.created)
      if (info.role !== "assistant") continue
      const tk = info.tokens!
      t.tokens["input"]! += tk.input
      t.tokens["output"]! += tk.output
      t.tokens["reasoning"]! += tk.reasoning
      t.tokens["cacheRead"]! += tk.cache.read
      t.tokens["cacheCreation"]! += tk.cache.write
      t.cost += info.cost ?? 0
      t.costByModel[info.modelID!] = (t.costByModel[info.modelID!] ?? 0) + (info.cost ?? 0)
      if (info.error === undefined) t.apiRequests += 1
      t.activeMin += ((info.time.completed ?? info.time.created) - info.time.created) / 1000
      for (const part of parts) {
        const s = part.state
        if (part.type !== "tool" || s === undefined || (s.status !== "completed" && s.status !== "error")) continue
        const tool = part.tool!
        const name = profile === "claude-code" ? CLAUDE_TOOL[tool] : tool
        if (name === undefined) throw new Error(`no Claude Code name for tool ${tool} in this test`)
        t.toolCalls[name] = (t.toolCalls[name] ?? 0) + 1
        toolMs[name] = (toolMs[name] ?? 0) + (s.time!.end - s.time!.start)
        if (s.status !== "completed") continue
        if (tool === "write" || tool === "edit") {
          // Every edit tool was asked (permission edit: ask) and accepted (--auto).
          t.decisions["accept"] = (t.decisions["accept"] ?? 0) + 1
          const diff = s.metadata?.filediff
          if (diff !== undefined) {
            t.lines["added"]! += diff.additions
            t.lines["removed"]! += diff.deletions
          } else if (tool === "write" && s.metadata?.exists === false) t.lines["added"]! += lineCount(String(s.input!["content"]))
          else throw new Error(`no line counts in the export of this ${tool} call`)
        }
        if (tool === "bash" && String(s.input!["command"]).includes("gh pr create")) t.pullRequests += 1
      }
    }
    // Busy time ends at idle, just after the last message completed.
    t.activeMax += (last - session.info.time.created) / 1000 + 1
  }
  for (const [name, n] of Object.entries(t.toolCalls)) t.toolMeanMs[name] = toolMs[name]! / n
  return t
}

// ---- what each panel must show ----

type Expectation =
  /** One series without labels, this value. */
  | { kind: "value"; value: number; tolerance?: number }
  /** One value between min and max (a quantity the export does not hold). */
  | { kind: "between"; min: number; max: number }
  /** One series per value of `label` (no other labels), these values; a value 0 may have no series (a counter never incremented). */
  | { kind: "by"; label: string; values: Record<string, number>; tolerance?: number }
  /** A timeseries: its instant value has one series per given value of `label` (no other labels). */
  | { kind: "labels"; label: string; values: string[]; finite: boolean }

/** The keys with a non-zero total: a counter never incremented has no series. */
const nonZero = (values: Record<string, number>) => Object.keys(values).filter((k) => values[k] !== 0)

const expectations = (t: Truth): Record<string, Expectation> => ({
  Sessions: { kind: "value", value: t.sessions },
  "Cost (USD)": { kind: "value", value: t.cost, tolerance: 1e-9 },
  Commits: { kind: "value", value: t.commits },
  "Pull requests": { kind: "value", value: t.pullRequests },
  "API requests": { kind: "value", value: t.apiRequests },
  "Active time": { kind: "between", min: t.activeMin, max: t.activeMax },
  "Tokens by type": { kind: "by", label: "type", values: t.tokens },
  "Lines of code by type": { kind: "by", label: "type", values: t.lines },
  "Edit decisions by decision": { kind: "by", label: "decision", values: t.decisions },
  "Cost by model (USD)": { kind: "by", label: "model", values: t.costByModel, tolerance: 1e-9 },
  "Tool calls by tool": { kind: "by", label: "tool_name", values: t.toolCalls },
  "Mean tool duration by tool (ms)": { kind: "by", label: "tool_name", values: t.toolMeanMs, tolerance: 1e-9 },
  "Tokens per second by type": { kind: "labels", label: "type", values: nonZero(t.tokens), finite: true },
  "Cost per second by model (USD/s)": { kind: "labels", label: "model", values: Object.keys(t.costByModel), finite: true },
  // A quantile of a rate is NaN where no bucket grew within the window (one call per tool and session): labels only.
  "Tool duration p95 by tool (ms)": { kind: "labels", label: "tool_name", values: Object.keys(t.toolCalls), finite: false },
  "Lines of code per second by type": { kind: "labels", label: "type", values: nonZero(t.lines), finite: true },
})

interface Panel {
  type: string
  title: string
  targets?: Array<{ expr: string; refId: string }>
  panels?: Panel[]
}

const substitute = (expr: string) => expr.replace(/\$(__range|__rate_interval|__interval)\b|\$\{(__range|__rate_interval|__interval)\}/g, RANGE)

const near = (got: number, want: number, tolerance = 0) => Math.abs(got - want) <= tolerance

async function checkDashboard(profile: Profile, truth: Truth) {
  const dashboard = JSON.parse(readFileSync(DASHBOARD[profile], "utf8")) as { panels: Panel[] }
  const panels = dashboard.panels.flatMap((p) => (p.type === "row" ? (p.panels ?? []) : [p]))
  const known = expectations(truth)
  const report: Array<{ panel: string; query: string; got: unknown; want: unknown }> = []
  const at = Date.now() / 1000
  expect(panels.length).toBeGreaterThan(0)
  for (const panel of panels) {
    const want = known[panel.title]
    expect([panel.title, want === undefined ? "a panel this test does not know" : "known"]).toEqual([panel.title, "known"])
    expect(panel.targets?.length ?? 0, `${panel.title}: no query`).toBeGreaterThan(0)
    for (const target of panel.targets!) {
      const query = substitute(target.expr)
      const got: Array<Sample> = await prometheus.query(query, at)
      const shown =
        want!.kind === "value" || want!.kind === "between"
          ? got.map((s) => s.value)
          : Object.fromEntries(got.map((s) => [Object.values(s.metric).join(","), s.value]))
      report.push({ panel: panel.title, query, got: shown, want })
      const where = `${profile} / ${panel.title} / ${query}: ${JSON.stringify(got)}`
      switch (want!.kind) {
        case "value":
          expect(got.length, where).toBe(1)
          expect(got[0]!.metric, where).toEqual({})
          expect(near(got[0]!.value, want!.value, want!.tolerance), `${where} want ${want!.value}`).toBe(true)
          break
        case "between":
          expect(got.length, where).toBe(1)
          expect(got[0]!.metric, where).toEqual({})
          expect(got[0]!.value, where).toBeGreaterThan(want!.min)
          expect(got[0]!.value, where).toBeLessThanOrEqual(want!.max)
          break
        case "by": {
          const w = want!
          for (const s of got) expect(Object.keys(s.metric), where).toEqual([w.label])
          const present = got.map((s) => s.metric[w.label]!)
          const nonZero = Object.keys(w.values).filter((k) => w.values[k] !== 0)
          expect(present.filter((k) => !(k in w.values)), `${where}: series nobody expected`).toEqual([])
          expect(nonZero.filter((k) => !present.includes(k)), `${where}: series missing`).toEqual([])
          for (const s of got) {
            const v = w.values[s.metric[w.label]!]!
            expect(near(s.value, v, w.tolerance), `${where} want ${JSON.stringify(w.values)}`).toBe(true)
          }
          break
        }
        case "labels": {
          const w = want!
          for (const s of got) expect(Object.keys(s.metric), where).toEqual([w.label])
          const labels = got.map((s) => s.metric[w.label]!).sort()
          if (w.finite) expect(labels, where).toEqual([...w.values].sort())
          else {
            // A quantile over rate() needs two samples of a series in the window: a tool series born in the last
            // turn may have had one scrape before the exit (more on a loaded machine). Each series it returns is
            // one expected, and at least one is there.
            expect(labels.filter((l) => !w.values.includes(l)), `${where}: series nobody expected`).toEqual([])
            expect(labels.length, `${where}: no series`).toBeGreaterThan(0)
          }
          if (w.finite) for (const s of got) expect(Number.isFinite(s.value) && s.value >= 0, where).toBe(true)
          break
        }
      }
    }
  }
  console.log(`${profile} dashboard:\n${report.map((r) => JSON.stringify(r)).join("\n")}`)
}

async function runProfile(profile: Profile) {
  const result = await runScenario(scenario, {
    plugins: [join(REPO_ROOT, "src", "plugin.ts")],
    env: {
      OPENCODE_ENABLE_TELEMETRY: "1",
      OTEL_METRICS_EXPORTER: "prometheus",
      OTEL_LOGS_EXPORTER: "none",
      OTEL_TRACES_EXPORTER: "none",
      OPENCODE_PROMETHEUS_PORT: String(ports[profile]),
      ...(profile === "claude-code" ? { OPENCODE_PROFILE: "claude-code" } : {}),
      OPENCODE_PROMETHEUS_LINGER: "5000",
      PATH: `${fakeBin}:${process.env["PATH"] ?? "/usr/bin:/bin"}`,
    },
  })
  expect(result.exitCodes).toEqual([0, 0])
  expect(result.sessionIDs).toHaveLength(2)
  // Ten LLM calls from the script, none after it ran out (no compaction, no retry).
  expect(result.llmRequests.filter((r) => r.kind === "script").map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  // The names the endpoint served (for the record: the dashboards match the Collector's and OpenTelemetry JS's).
  const prefix = profile === "opencode" ? "opencode_" : "claude_code_"
  console.log(`${profile} endpoint served: ${(await prometheus.names(`{job="${profile}", __name__=~"${prefix}.+"}`)).join(" ")}`)
  const labels = await prometheus.query(`last_over_time(${prefix}session_count_total[${RANGE}])`)
  console.log(`${profile} session series labels: ${JSON.stringify(labels.map((s) => s.metric))}`)
  await checkDashboard(profile, groundTruth(result, profile))
}

test("opencode dashboard: every panel against Prometheus and opencode export", () => runProfile("opencode"), 180_000)

test("claude-code dashboard: every panel against Prometheus and opencode export", () => runProfile("claude-code"), 180_000)
