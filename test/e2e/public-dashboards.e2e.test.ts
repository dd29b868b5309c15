/**
 * Public dashboards, as facts, on the real opencode CLI (issue #11 item 6). One scenario (tokens and cost over six
 * LLM calls, write / edit asked and accepted with --auto, two commits through bash, a read that fails) runs twice
 * with the plugin loaded from src/plugin.ts: once with OPENCODE_PROFILE=claude-code and no other naming setting
 * (over OTLP http/protobuf), once with the default profile (over OTLP gRPC), each to its own loopback receiver.
 * Both runs go at once, and a real Prometheus starts meanwhile.
 *
 * The queries of the public dashboards (test/lib/dashboard-facts.ts: metric names, log bodies, attributes, filters,
 * group-bys, aggregations, each with its source) are then evaluated on what was received, and every result is
 * compared with opencode's own accounting (`opencode export` of the session, and git's log):
 *
 * - SigNoz: a small model of its query builder over the received OTLP data points and log records (below);
 * - Collector path: the metrics translated by an independent implementation of an OpenTelemetry Collector's
 *   deltatocumulative + prometheus exporter (test/lib/collector-naming.ts), served as exposition text on 127.0.0.1
 *   export after export as the exporter would have served them (a series from its first exported value on, samples
 *   stamped with their points' times), scraped by a real Prometheus, and the dashboards' PromQL run through its HTTP
 *   API. Queries reading a series' value (COLLECTOR_PROMQL_EXACT) equal export; queries built on increase()
 *   (SHORT_BY_FIRST_INCREMENT) are short by each series' first increment, as on every real Prometheus path, and
 *   are checked as exactly that (then Prometheus's extrapolation, computed from the stored samples);
 * - Loki: a small model of Loki's native OTLP ingestion and LogQL (below).
 *
 * Facts opencode has no data for are listed in NOT_APPLICABLE (dashboard-facts.ts) and shown as a test each.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { join } from "node:path"
import {
  CLAWKER,
  COLLECTOR_PROMQL,
  COLLECTOR_PROMQL_EXACT,
  LOKI_QUERIES,
  NOT_APPLICABLE,
  SIGNOZ_CLAUDE_CODE_2025,
  SIGNOZ_CLAUDE_CODE_2025_LOGS,
  SIGNOZ_CLAUDE_CODE_2025_METRICS,
  SIGNOZ_CLAUDE_CODE_LOGS,
  SIGNOZ_CLAUDE_CODE_METRICS,
  SIGNOZ_OPENCODE_LOGS,
  SIGNOZ_OPENCODE_METRICS,
  SHORT_BY_FIRST_INCREMENT,
  cite,
  type GroupedTruth,
  type LokiQuery,
  type SignozLogQuery,
  type SignozMetricQuery,
  type Truth,
} from "../lib/dashboard-facts.ts"
import { collectorFamilies, collectorMetricName, collectorStates, exposition, labelValue, targetInfo, type CollectorState } from "../lib/collector-naming.ts"
import { assistantMessages, truthCost, truthLines, truthTokens, truthToolCalls, type Exported, type ExportedSession } from "../lib/fixtures.ts"
import { freePort } from "../lib/net.ts"
import { startPrometheus, type PrometheusServer } from "../lib/prometheus.ts"
import { takeSegment, type Segment } from "../lib/received.ts"
import type { AttributeValue, FlatLog, FlatMetric, Protocol } from "../support/otlp-receiver.ts"
import { startReceiver } from "../support/otlp-receiver.ts"
import { opencodeVersion, REPO_ROOT } from "../support/opencode.ts"
import { runScenario, usage, type Scenario, type ScenarioResult } from "../support/scenarios.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
const TIMEOUT = 150_000

const scenario: Scenario = {
  name: "public-dashboards",
  description:
    "write (asked, accepted by --auto), commit via bash, edit (asked, accepted), commit again via bash, a read of a missing file (fails), then text",
  runs: [{ prompt: "Write a.txt, commit, edit it, commit again, read missing.txt.", args: ["--auto"] }],
  config: { permission: { edit: "ask", bash: "allow" } },
  script: [
    { toolCall: { name: "write", arguments: { filePath: "a.txt", content: "one\ntwo\nthree\n" } }, usage: usage(1) },
    { toolCall: { name: "bash", arguments: { command: "git add -A && git commit -q -m one", description: "Commit one" } }, usage: usage(2) },
    { toolCall: { name: "edit", arguments: { filePath: "a.txt", oldString: "two\n", newString: "2\nextra\n" } }, usage: usage(3) },
    { toolCall: { name: "bash", arguments: { command: "git add -A && git commit -q -m two", description: "Commit two" } }, usage: usage(4) },
        // Small enough that opencode does not compact the session (usage(5) would come near the model's context).
    { toolCall: { name: "read", arguments: { filePath: "missing.txt" } }, usage: { prompt: 4405, completion: 45, cached: 400, reasoning: 5 } },
    { text: "Done.", usage: { prompt: 6606, completion: 66, cached: 600, reasoning: 6 } },
  ],
  expect: { exitCodes: [0], sessions: 1 },
}

/** Edit tools: opencode asks for these under permission edit "ask", and the plugin counts code_edit_tool.decision. */
const EDIT_TOOLS = new Set(["write", "edit", "patch", "apply_patch", "multiedit"])
/** Claude Code's spelling of the tools the scenario uses (our own table, not the plugin's). */
const CLAUDE_CODE_TOOL = { bash: "Bash", edit: "Edit", write: "Write", read: "Read" } as Record<string, string>

type Profile = "claude-code" | "opencode"

interface Observed {
  readonly profile: Profile
  readonly result: ScenarioResult
  readonly segment: Segment
  readonly truth: Exported
  readonly startedAt: number
  readonly endedAt: number
}

const observe = async (profile: Profile, protocol: Protocol): Promise<Observed> => {
  const receiver = await startReceiver({ protocol, lifetimeMs: 4 * 60_000 })
  const segments: Array<Segment> = []
  try {
    const startedAt = Date.now()
    const result = await runScenario(scenario, {
      plugins: [PLUGIN],
      env: {
        OPENCODE_ENABLE_TELEMETRY: "1",
        OPENCODE_OTLP_ENDPOINT: receiver.url,
        OPENCODE_OTLP_PROTOCOL: protocol,
        // Several metric exports per process (with the per-turn flushes), so a sum of samples and an increase add up
        // more than one point. Not shorter: the plugin's export timeout is capped at the interval, and an export that
        // timed out on a loaded machine is sent again (a delta point received twice; see the first test).
        OPENCODE_OTLP_METRICS_INTERVAL: "2000",
        // The terminal, as Claude Code reports it (terminal.type).
        TERM_PROGRAM: "vscode",
        ...(profile === "claude-code" ? { OPENCODE_PROFILE: "claude-code" } : {}),
      },
      onRunEnd: () => segments.push(takeSegment(receiver)),
    })
    const failed = result.exports.filter((e) => (e as { exportFailed?: boolean }).exportFailed === true)
    if (failed.length > 0) throw new Error(`opencode export failed: ${JSON.stringify(failed)}`)
    if (segments.length !== 1) throw new Error(`expected one process, got ${segments.length}`)
    return { profile, result, segment: segments[0]!, truth: { sessions: result.exports as Array<ExportedSession> }, startedAt, endedAt: Date.now() }
  } finally {
    await receiver.stop()
  }
}

// ---- opencode's accounting -----------------------------------------------------------------------------------

type Groups = Record<string, number>

const add = (g: Groups, k: string, n: number) => {
  g[k] = (g[k] ?? 0) + n
  return g
}
/** Groups with a zero value are left out: a series that never grew is no group in any backend. */
const nonZero = (g: Groups): Groups => Object.fromEntries(Object.entries(g).filter(([, v]) => v !== 0))

const truthOf = (o: Observed, key: Truth | GroupedTruth): number | Groups => {
  const tokens = truthTokens(o.truth)
  const lines = truthLines(o.truth)
  const calls = truthToolCalls(o.truth)
  const toolName = (t: string | undefined) => (o.profile === "claude-code" ? (CLAUDE_CODE_TOOL[t ?? ""] ?? `unmapped:${t}`) : String(t))
  const completed = assistantMessages(o.truth).filter((m) => m.info.time.completed !== undefined && m.info.error === undefined)
  // The user's prompts: user messages with a text part of the user's own (not opencode's synthetic ones).
  const prompts = o.truth.sessions.flatMap((s) =>
    s.messages.filter((m) => m.info.role === "user" && m.parts.some((p) => p.type === "text" && (p as { synthetic?: boolean }).synthetic !== true)),
  )
  const decisions = calls.filter((c) => EDIT_TOOLS.has(String(c.tool)))
  const total = (t: NonNullable<(typeof completed)[number]["info"]["tokens"]>) => t.input + t.output + t.reasoning + t.cache.read + t.cache.write
  switch (key) {
    case "cost":
      return truthCost(o.truth)
    case "tokens.total":
      return tokens.input + tokens.output + tokens.reasoning + tokens.cacheRead + tokens.cacheCreation
    case "tokens.input":
      return tokens.input
    case "tokens.output":
      return tokens.output
    case "tokens.cacheRead":
      return tokens.cacheRead
    case "tokens.cacheCreation":
      return tokens.cacheCreation
    case "lines.total":
      return lines.added + lines.removed
    case "lines.added":
      return lines.added
    case "lines.removed":
      return lines.removed
    case "commits":
      return o.result.git.shas.length - 1 // the repo starts with one commit
    case "pullRequests":
      return calls.filter((c) => c.tool === "bash" && /\b(gh|glab) (pr|mr) create\b/.test(String(c.state?.input?.["command"] ?? ""))).length
    case "sessions":
      return o.result.sessionIDs.length
    case "editDecisions":
      return decisions.length
    case "toolCalls":
      return calls.length
    case "toolsSucceeded":
      return calls.filter((c) => c.state?.status === "completed").length
    case "toolsFailed":
      return calls.filter((c) => c.state?.status === "error").length
    case "prompts":
      return prompts.length
    case "tokens.byType":
      return nonZero({ input: tokens.input, output: tokens.output, reasoning: tokens.reasoning, cacheRead: tokens.cacheRead, cacheCreation: tokens.cacheCreation })
    case "tokens.byModel":
      return nonZero(completed.reduce((g, m) => add(g, String(m.info.modelID), total(m.info.tokens!)), {} as Groups))
    case "cost.byModel":
      return nonZero(completed.reduce((g, m) => add(g, String(m.info.modelID), m.info.cost ?? 0), {} as Groups))
    case "lines.byType":
      return nonZero({ added: lines.added, removed: lines.removed })
    case "tools.byName":
      return calls.reduce((g, c) => add(g, toolName(c.tool), 1), {} as Groups)
    case "tools.bySuccess":
      return calls.reduce((g, c) => add(g, String(c.state?.status === "completed"), 1), {} as Groups)
    case "prompts.byModel":
      // user_prompt's model: the modelID in the claude-code profile (Claude Code's), `<providerID>/<modelID>` in the
      // default profile (the seed plugin's; SigNoz's OpenCode "Model Distribution" groups by it).
      return prompts.reduce((g, m) => {
        const model = (m.info as { model?: { modelID?: string; providerID?: string } }).model
        return add(g, o.profile === "claude-code" ? String(model?.modelID) : `${model?.providerID}/${model?.modelID}`, 1)
      }, {} as Groups)
    case "toolEvents.byName":
      return decisions.reduce((g, c) => add(g, toolName(c.tool), 1), calls.reduce((g, c) => add(g, toolName(c.tool), 1), {} as Groups))
    case "modelEvents.byModel": {
      const byPrompt = truthOf(o, "prompts.byModel") as Groups
      return completed.reduce((g, m) => add(g, String(m.info.modelID), 1), { ...byPrompt })
    }
  }
}

/** Numbers equal up to float summation order (costs are sums of doubles). */
const close = (a: number, b: number) => Math.abs(a - b) <= Math.max(Math.abs(b), 1e-12) * 1e-9
const expectNumber = (what: string, got: number, want: number) => {
  if (close(got, want)) expect(true).toBe(true)
  else expect([what, got]).toEqual([what, want])
}
const expectGroups = (what: string, got: Groups, want: Groups) => {
  expect([what, Object.keys(got).sort()]).toEqual([what, Object.keys(want).sort()])
  for (const [k, v] of Object.entries(want)) expectNumber(`${what} {${k}}`, got[k] ?? Number.NaN, v)
}
const expectTruth = (what: string, got: number | Groups, want: number | Groups) =>
  typeof want === "number" ? expectNumber(what, got as number, want) : expectGroups(what, got as Groups, want)

// ---- a model of SigNoz's query builder -----------------------------------------------------------------------

/**
 * SigNoz stores every OTLP data point as a sample (value, time, temporality) of a series (metric name, resource and
 * point attributes). Time aggregation over the window, then space aggregation `sum` over the series:
 * - `sum`: the sum of the raw sample values (right for delta points, each a period's growth);
 * - `increase`: per series, the growth between consecutive samples (a decrease is a reset: the new value counts);
 *   a cumulative series whose start time is inside the window starts from 0; a delta series' growth is its samples;
 * - `rate`: `increase` divided by the window's seconds (the test multiplies back by the window).
 * Filters compare an attribute's value as text; group-by keys are an attribute's value as text.
 */
const signozMetric = (metrics: ReadonlyArray<FlatMetric>, q: SignozMetricQuery, window: { startNs: bigint; endNs: bigint }): number | Groups => {
  const points = metrics
    .filter((m) => m.name === q.metric && m.timeUnixNano >= window.startNs && m.timeUnixNano <= window.endNs)
    .filter((m) => Object.entries(q.filters).every(([k, v]) => m.attributes[k] !== undefined && labelValue(m.attributes[k]) === v))
  const group = (m: FlatMetric) => (q.groupBy === undefined ? "" : labelValue(m.attributes[q.groupBy] ?? ""))
  const out: Groups = {}
  if (q.timeAggregation === "sum") for (const m of points) add(out, group(m), m.value as number)
  else {
    const series = new Map<string, FlatMetric[]>()
    for (const m of points) {
      const key = JSON.stringify([m.resource["service.instance.id"], Object.entries(m.attributes).sort(([a], [b]) => a.localeCompare(b))])
      series.set(key, [...(series.get(key) ?? []), m])
    }
    for (const s of series.values()) {
      s.sort((a, b) => (a.timeUnixNano < b.timeUnixNano ? -1 : 1))
      let growth = 0
      let prev: number | undefined
      for (const m of s) {
        const v = m.value as number
        if (m.temporality === "delta") growth += v
        else if (prev === undefined) growth += m.startTimeUnixNano >= window.startNs ? v : 0
        else growth += v >= prev ? v - prev : v
        prev = v
      }
      const seconds = Number(window.endNs - window.startNs) / 1e9
      add(out, group(s[0]!), q.timeAggregation === "rate" ? growth / seconds : growth)
    }
    if (q.timeAggregation === "rate") for (const k of Object.keys(out)) out[k] = out[k]! * (Number(window.endNs - window.startNs) / 1e9)
  }
  return q.groupBy === undefined ? (out[""] ?? 0) : nonZero(out)
}

/** SigNoz logs: filters on body, attribute existence / value, the resource's service.name; count, sum or count distinct. */
const signozLogs = (logs: ReadonlyArray<FlatLog>, q: SignozLogQuery): number | Groups => {
  const records = logs.filter(
    (l) =>
      (q.body === undefined || l.body === q.body) &&
      (q.exists === undefined || l.attributes[q.exists] !== undefined) &&
      (q.serviceName === undefined || l.resource["service.name"] === q.serviceName) &&
      Object.entries(q.where ?? {}).every(([k, c]) => {
        const v = l.attributes[k] === undefined ? undefined : labelValue(l.attributes[k])
        return "eq" in c ? v === c.eq : v !== c.ne
      }),
  )
  const groups = new Map<string, FlatLog[]>()
  for (const l of records) {
    const key = q.groupBy === undefined ? "" : labelValue(l.attributes[q.groupBy] ?? "")
    groups.set(key, [...(groups.get(key) ?? []), l])
  }
  const aggregate = (rs: FlatLog[]) => {
    const a = q.aggregation
    if (a === "count") return rs.length
    if ("sum" in a) return rs.reduce((n, l) => n + Number(l.attributes[a.sum]), 0)
    return new Set(rs.map((l) => labelValue(l.attributes[a.countDistinct] ?? ""))).size
  }
  const out: Groups = {}
  for (const [k, rs] of groups) out[k] = aggregate(rs)
  return q.groupBy === undefined ? (out[""] ?? 0) : out
}

// ---- a model of Loki's native OTLP ingestion and LogQL ------------------------------------------------------

/**
 * Loki's OTLP endpoint (/otlp/v1/logs) turns a log record into a log line in a stream:
 * - stream (index) labels from resource attributes; `service.name` becomes `service_name` (others of the default
 *   list, such as service.instance.id, also become labels; the dashboards select on service_name only);
 * - the line is the body (a string body as is);
 * - every log attribute becomes structured metadata, its name with each character outside [A-Za-z0-9_] as `_`
 *   (session.id -> session_id, event.name -> event_name), its value as text.
 * LogQL: a stream selector matches stream labels; `|= "x"` keeps lines containing x; `| name="v"` compares a stream
 * label or structured metadata; `unwrap name` takes that metadata as a number for `sum_over_time` (a line without it
 * is a sample-extraction error: the evaluator fails instead); `count_over_time` counts lines; `sum by (x)` groups on a
 * label or metadata (missing = ""); `count(... by (x))` counts the groups. The range holds the whole run.
 */
interface LokiLine {
  readonly stream: Record<string, string>
  readonly line: string
  readonly metadata: Record<string, string>
}
const lokiLines = (logs: ReadonlyArray<FlatLog>): LokiLine[] =>
  logs.map((l) => ({
    stream: { service_name: labelValue(l.resource["service.name"] ?? "unknown_service") },
    line: typeof l.body === "string" ? l.body : labelValue(l.body),
    metadata: Object.fromEntries(
      Object.entries(l.attributes)
        .filter(([, v]) => v !== undefined && v !== null)
        .map(([k, v]) => [k.replace(/[^A-Za-z0-9_]/g, "_"), labelValue(v as AttributeValue)]),
    ),
  }))

const loki = (lines: ReadonlyArray<LokiLine>, q: LokiQuery): number | Groups => {
  const field = (l: LokiLine, name: string) => l.stream[name] ?? l.metadata[name]
  const kept = lines.filter(
    (l) =>
      Object.entries(q.stream).every(([k, v]) => l.stream[k] === v) &&
      l.line.includes(q.lineContains) &&
      Object.entries(q.labelFilters ?? {}).every(([k, v]) => field(l, k) === v),
  )
  const out: Groups = {}
  for (const l of kept) {
    const key = q.by === undefined ? "" : (field(l, q.by) ?? "")
    if (q.op === "count_over_time") add(out, key, 1)
    else {
      const raw = l.metadata[q.op.sum_over_time]
      const value = raw === undefined ? Number.NaN : Number(raw)
      if (!Number.isFinite(value)) throw new Error(`${q.logql}: unwrap ${q.op.sum_over_time} failed on line ${l.line} (${raw})`)
      add(out, key, value)
    }
  }
  if (q.countGroups) return Object.keys(out).length
  return q.by === undefined ? (out[""] ?? 0) : out
}

// ---- Prometheus ---------------------------------------------------------------------------------------------

/**
 * Serves the Collector's exposition on 127.0.0.1 as a real Collector's prometheus exporter would have over the run:
 * state after state (collectorStates: one per export, in arrival order; a series first appears at its first exported
 * value), each sample stamped with its point's time (`send_timestamps: true`), each state until Prometheus scraped it
 * once, the last until it scraped it twice (so the one before was stored). Nothing is served before a series' first
 * point: no 0 sample that a real pipeline would not have. Returns t1 (ms), the time to evaluate queries at.
 */
const serveCollector = async (port: number, states: ReadonlyArray<CollectorState>, metrics: ReadonlyArray<FlatMetric>): Promise<{ t1: number; stop: () => void }> => {
  if (states.length === 0) throw new Error("no metric state to serve")
  let stage = 0
  const scrapes = states.map(() => 0)
  const bodies = states.map((st) => exposition([...st.families, targetInfo(metrics.filter((m) => m.timeUnixNano <= BigInt(st.timeMs + 1) * 1_000_000n))], st.timeMs))
  const last = states.length - 1
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch: () => {
      const served = stage
      scrapes[served]! += 1
      // The next scrape (Prometheus scrapes a target one request at a time) sees the next state.
      if (served < last) stage = served + 1
      return new Response(bodies[served], { headers: { "content-type": "text/plain; version=0.0.4" } })
    },
  })
  const lifetime = setTimeout(() => server.stop(true), 120_000)
  const stop = () => {
    clearTimeout(lifetime)
    server.stop(true)
  }
  try {
    for (let i = 0; i < 2400 && scrapes[last]! < 2; i++) await new Promise((r) => setTimeout(r, 50))
    if (scrapes[last]! < 2) throw new Error(`Prometheus scraped ${scrapes.filter((n) => n > 0).length} of ${states.length} states`)
    return { t1: Date.now(), stop }
  } catch (error) {
    stop()
    throw error
  }
}

// ---- the runs ------------------------------------------------------------------------------------------------

let cc: Observed
let oc: Observed
let prom: PrometheusServer | undefined
let targetPort = 0
let collector: { t1: number; stop: () => void } | undefined
let states: Array<CollectorState> = []
let version = ""

beforeAll(async () => {
  targetPort = await freePort()
  // The job name of ColeMurray/claude-code-otel and the monitoring guide's scrape of the Collector.
  const started = startPrometheus({ "otel-collector": targetPort }, { interval: "200ms", timeout: "200ms" })
  ;[cc, oc, version] = await Promise.all([observe("claude-code", "http/protobuf"), observe("opencode", "grpc"), opencodeVersion()])
  prom = await started
  const metrics = [...cc.segment.metrics, ...oc.segment.metrics]
  states = collectorStates(metrics)
  collector = await serveCollector(targetPort, states, metrics)
  servedSeries = servedSamples()
}, TIMEOUT)

afterAll(() => {
  if (process.env["PUBDASH_REPORT"]) console.log(JSON.stringify({ states: states.length, short: shortReport }, null, 1))
  collector?.stop()
  prom?.stop()
})

const promQuery = (promql: string) => prom!.query(promql, collector!.t1 / 1000)

/** Raw samples of a range selector at t1: per series, [time ms, value] in time order. */
const promRange = (selector: string) => prom!.range(selector, collector!.t1 / 1000)

/**
 * A series' identity as served (name, the exporter's labels) from Prometheus's labels: the scrape's job/instance are
 * the target's, the exporter's own job/instance were kept as exported_job/exported_instance (honor_labels off).
 */
const servedKey = (labels: Readonly<Record<string, string>>): string => {
  const { __name__: name, job: _job, instance: _instance, exported_job, exported_instance, ...rest } = labels
  const all: Record<string, string> = { ...rest, ...(exported_job === undefined ? {} : { job: exported_job }), ...(exported_instance === undefined ? {} : { instance: exported_instance }) }
  return JSON.stringify([name, Object.entries(all).filter(([, v]) => v !== "").sort(([a], [b]) => a.localeCompare(b))])
}

/** Per series, the samples the replay served ([time ms, value], one per distinct time), in order. */
const servedSamples = (): Map<string, Array<[number, number]>> => {
  const out = new Map<string, Array<[number, number]>>()
  for (const st of states)
    for (const f of st.families)
      for (const x of f.samples) {
        const key = servedKey({ __name__: x.name, ...Object.fromEntries(Object.entries(x.labels).map(([k, v]) => [k === "job" ? "exported_job" : k === "instance" ? "exported_instance" : k, v])) })
        const list = out.get(key) ?? []
        out.set(key, list)
        const t = x.timestampMs ?? st.timeMs
        if (list.length === 0 || list[list.length - 1]![0] !== t) list.push([t, x.value])
      }
  return out
}
let servedSeries = new Map<string, Array<[number, number]>>()

/**
 * Prometheus's increase() of one series' samples over [rangeStart, rangeEnd] (s), as v2.42's extrapolatedRate
 * computes it (promql/functions.go): the growth last − first (plus resets), scaled by (sampled interval + the
 * distance to the range's start, capped at the counter's extrapolated zero, + the distance to its end; each
 * replaced by half the average spacing when it exceeds 1.1 spacings) / sampled interval. Undefined below 2 samples.
 */
const prometheusIncrease = (samples: ReadonlyArray<[number, number]>, rangeStart: number, rangeEnd: number): number | undefined => {
  if (samples.length < 2) return undefined
  const first = samples[0]!
  const last = samples[samples.length - 1]!
  let result = last[1] - first[1]
  let prev = 0
  for (const [, v] of samples) {
    if (v < prev) result += prev
    prev = v
  }
  let toStart = first[0] / 1000 - rangeStart
  const toEnd = rangeEnd - last[0] / 1000
  const sampled = (last[0] - first[0]) / 1000
  const spacing = sampled / (samples.length - 1)
  if (result > 0 && first[1] >= 0) toStart = Math.min(toStart, sampled * (first[1] / result))
  const threshold = spacing * 1.1
  const interval = sampled + (toStart < threshold ? toStart : spacing / 2) + (toEnd < threshold ? toEnd : spacing / 2)
  return result * (interval / sampled)
}

const seconds = (d: string) => Number(d.slice(0, -1)) * ({ s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[d.slice(-1)]!

/** What each SHORT_BY_FIRST_INCREMENT check measured (printed at the end). */
const shortReport: Array<Record<string, unknown>> = []

/**
 * The check of a SHORT_BY_FIRST_INCREMENT fact: with `first` each selected series' first served value (its first
 * export), Σ (last − first) over the series Prometheus stored is exactly export − Σ first (per group); the query's
 * result is that growth as Prometheus extrapolates it (prometheusIncrease, summed), so it is >= export − Σ first.
 */
const expectShortByFirstIncrement = async (promql: string, by: string | undefined, want: number | Groups, rows: ReadonlyArray<{ metric: Record<string, string>; value: number }>) => {
  const m = /increase\(\s*(.+?)\[([0-9]+[smhd])\]\s*\)/.exec(promql)
  expect(m, promql).not.toBeNull()
  const [, selector, range] = m!
  const raw = await promRange(`${selector}[${range}]`)
  const end = collector!.t1 / 1000
  const wantG: Groups = typeof want === "number" ? { "": want } : { ...want }
  const firsts: Groups = {}
  const growth: Groups = {}
  const predicted: Groups = {}
  for (const r of raw) {
    const g = by === undefined ? "" : (r.metric[by] ?? "")
    const served = servedSeries.get(servedKey(r.metric))
    expect([servedKey(r.metric), served?.[0]?.[1]]).toEqual([servedKey(r.metric), r.samples[0]![1]])
    add(firsts, g, served![0]![1])
    add(growth, g, r.samples[r.samples.length - 1]![1] - r.samples[0]![1])
    add(predicted, g, prometheusIncrease(r.samples, end - seconds(range!), end) ?? 0)
  }
  const got: Groups = {}
  for (const r of rows) add(got, by === undefined ? "" : (r.metric[by] ?? ""), r.value)
  const groups = [...new Set([...Object.keys(wantG), ...Object.keys(firsts), ...Object.keys(got)])].sort()
  for (const g of groups) {
    const short = (wantG[g] ?? 0) - (firsts[g] ?? 0)
    // The identity: what Prometheus saw grow is export minus each series' first increment, exactly.
    expectNumber(`${promql} {${g}}: Σ(last − first) = export − Σ first`, growth[g] ?? 0, short)
    // The query: that growth, extrapolated by Prometheus (never less).
    expectNumber(`${promql} {${g}}: result = extrapolated growth`, got[g] ?? 0, predicted[g] ?? 0)
    expect([promql, g, (got[g] ?? 0) >= short - Math.abs(short) * 1e-9]).toEqual([promql, g, true])
  }
  shortReport.push({ promql, export: wantG, firstIncrements: firsts, exportMinusFirst: Object.fromEntries(groups.map((g) => [g, (wantG[g] ?? 0) - (firsts[g] ?? 0)])), result: got })
}

const windowOf = (o: Observed) => ({ startNs: BigInt(o.startedAt - 1000) * 1_000_000n, endNs: BigInt(o.endedAt + 1000) * 1_000_000n })

// ---- the facts -----------------------------------------------------------------------------------------------

test("both runs: opencode exits 0, one session, two commits, every export accepted; temporality per profile", () => {
  for (const o of [cc, oc]) {
    expect([o.profile, o.result.exitCodes]).toEqual([o.profile, [0]])
    expect(o.result.sessionIDs).toHaveLength(1)
    expect(o.result.git.shas).toHaveLength(3)
    expect(o.segment.requests.filter((r) => !r.accepted)).toEqual([])
    expect(new Set(o.segment.requests.map((r) => r.signal))).toEqual(new Set(["traces", "metrics", "logs"]))
    const sums = o.segment.metrics.filter((m) => m.type === "sum" || m.type === "histogram")
    expect(new Set(sums.map((m) => m.temporality))).toEqual(new Set([o.profile === "claude-code" ? "delta" : "cumulative"]))
  }
  // More than one export per process: sums of samples are sums of several.
  const points = cc.segment.metrics.filter((m) => m.name === "claude_code.token.usage" && m.attributes["type"] === "input")
  expect(points.length).toBeGreaterThan(1)
})

test("no delta data point is received twice (a re-sent delta point is counted twice by every sum of samples and by deltatocumulative)", () => {
  const seen = new Map<string, number>()
  for (const m of cc.segment.metrics) {
    if (m.temporality !== "delta") continue
    const key = JSON.stringify([m.name, Object.entries(m.attributes).sort(([a], [b]) => a.localeCompare(b)), String(m.startTimeUnixNano), String(m.timeUnixNano)])
    seen.set(key, (seen.get(key) ?? 0) + 1)
  }
  const warnings = cc.result.runs.flatMap((r) => r.result.logs.split("\n").filter((l) => /export failed|timed out/i.test(l)))
  expect({ twice: [...seen.entries()].filter(([, n]) => n > 1).map(([k]) => k), warnings }).toEqual({ twice: [], warnings })
})

describe("a. SigNoz claude-code dashboard (claude-code profile, delta)", () => {
  for (const q of SIGNOZ_CLAUDE_CODE_METRICS)
    test(`${cite(q.source)} "${q.panel}": ${q.clickhouse ? "ClickHouse sum(value) of samples" : q.timeAggregation}(${q.metric}${Object.keys(q.filters).length ? ` ${JSON.stringify(q.filters)}` : ""})${q.groupBy ? ` by ${q.groupBy}` : ""} = export's ${q.truth}`, () => {
      expectTruth(q.panel, signozMetric(cc.segment.metrics, q, windowOf(cc)), truthOf(cc, q.truth))
    })
  for (const q of [...SIGNOZ_CLAUDE_CODE_LOGS, ...SIGNOZ_CLAUDE_CODE_2025_LOGS])
    test(`${cite(q.source)} "${q.panel}": logs ${q.body ? `body = '${q.body}' ` : ""}${q.exists ? `${q.exists} EXISTS ` : ""}${q.serviceName ? `service.name = '${q.serviceName}' ` : ""}${Object.entries(q.where ?? {}).map(([k, c]) => ("eq" in c ? `${k} = '${c.eq}' ` : `${k} != '${c.ne}' `)).join("")}${JSON.stringify(q.aggregation)}${q.groupBy ? ` by ${q.groupBy}` : ""} = export's ${q.truth}`, () => {
      expectTruth(q.panel, signozLogs(cc.segment.logs, q), truthOf(cc, q.truth))
      if (q.groupBy !== undefined && q.groupType !== undefined) {
        const records = cc.segment.logs.filter((l) => (q.body === undefined || l.body === q.body) && l.attributes[q.groupBy!] !== undefined)
        expect(new Set(records.map((l) => typeof l.attributes[q.groupBy!]))).toEqual(new Set([q.groupType === "bool" ? "boolean" : "string"]))
      }
    })
  for (const q of SIGNOZ_CLAUDE_CODE_2025_METRICS)
    test(`${cite(q.source)} "${q.panel}": ${q.timeAggregation}(${q.metric}) over the window = export's ${q.truth}`, () => {
      expectTruth(q.panel, signozMetric(cc.segment.metrics, q, windowOf(cc)), truthOf(cc, q.truth))
    })
  test(`${cite(SIGNOZ_CLAUDE_CODE_LOGS[2]!.source)} "Recent API Calls": every claude_code.api_request has model and cost_usd; tool_result tool names are Claude Code's`, () => {
    const requests = cc.segment.logs.filter((l) => l.body === "claude_code.api_request")
    expect(requests.length).toBeGreaterThan(0)
    for (const r of requests) {
      expect(typeof r.attributes["model"]).toBe("string")
      expect(typeof r.attributes["cost_usd"]).toBe("number")
    }
    const names = new Set(cc.segment.logs.filter((l) => l.body === "claude_code.tool_result").map((l) => l.attributes["tool_name"]))
    expect(names).toEqual(new Set(["Write", "Bash", "Edit", "Read"]))
  })
  test(`${cite(SIGNOZ_CLAUDE_CODE_2025_LOGS[0]!.source)} resource service.name = 'claude-code' on every log record and metric point; terminal.type and user.id on every event`, () => {
    for (const x of [...cc.segment.logs, ...cc.segment.metrics]) expect(x.resource["service.name"]).toBe("claude-code")
    for (const l of cc.segment.logs) {
      expect([l.body, l.attributes["terminal.type"]]).toEqual([l.body, "vscode"])
      expect(typeof l.attributes["user.id"]).toBe("string")
    }
  })
  test(`${cite(SIGNOZ_CLAUDE_CODE_METRICS[0]!.source)} "Active Time": sum(claude_code.active_time.total {type=cli}) is > 0 and below the run's wall time (no accounting to compare with)`, () => {
    const cli = signozMetric(cc.segment.metrics, { ...SIGNOZ_CLAUDE_CODE_METRICS[0]!, metric: "claude_code.active_time.total", filters: { type: "cli" } }, windowOf(cc)) as number
    expect(cli).toBeGreaterThan(0)
    expect(cli).toBeLessThanOrEqual((cc.endedAt - cc.startedAt) / 1000)
  })
})

describe("b. SigNoz opencode dashboard (default profile, cumulative)", () => {
  for (const q of SIGNOZ_OPENCODE_METRICS)
    test(`${cite(q.source)} "${q.panel}": ${q.timeAggregation}(${q.metric}${Object.keys(q.filters).length ? ` ${JSON.stringify(q.filters)}` : ""})${q.groupBy ? ` by ${q.groupBy}` : ""}${q.timeAggregation === "rate" ? " x window" : ""} = export's ${q.truth}`, () => {
      expectTruth(q.panel, signozMetric(oc.segment.metrics, q, windowOf(oc)), truthOf(oc, q.truth))
    })
  test(`${cite(SIGNOZ_OPENCODE_METRICS[0]!.source)} "Cost (Total)": a plain sum of the cumulative samples over-counts (the reason the dashboard uses increase)`, () => {
    const sum = signozMetric(oc.segment.metrics, { ...SIGNOZ_OPENCODE_METRICS[0]!, timeAggregation: "sum" }, windowOf(oc)) as number
    const points = oc.segment.metrics.filter((m) => m.name === "opencode.cost.usage")
    const cost = truthOf(oc, "cost") as number
    // Each cumulative point restates the running total: the sum of samples adds every restatement.
    expectNumber("sum of samples", sum, points.reduce((n, m) => n + (m.value as number), 0))
    expect(sum).toBeGreaterThanOrEqual(cost * (1 - 1e-9))
    if (points.length > 1) expect(sum).toBeGreaterThan(cost * (1 + 1e-6))
  })
  for (const q of SIGNOZ_OPENCODE_LOGS)
    test(`${cite(q.source)} "${q.panel}": logs body = '${q.body}'${q.serviceName ? ` service.name = '${q.serviceName}'` : ""} count()${q.groupBy ? ` by ${q.groupBy}${q.groupType ? ` (${q.groupType})` : ""}` : ""} = export's ${q.truth}`, () => {
      expectTruth(q.panel, signozLogs(oc.segment.logs, q), truthOf(oc, q.truth))
      if (q.groupBy !== undefined) {
        const records = oc.segment.logs.filter((l) => l.body === q.body)
        expect(records.every((l) => l.attributes[q.groupBy!] !== undefined)).toBe(true)
        // The OTLP AnyValue kind: boolValue for success, stringValue for tool_name and model.
        expect(new Set(records.map((l) => typeof l.attributes[q.groupBy!]))).toEqual(new Set([q.groupType === "bool" ? "boolean" : "string"]))
      }
    })
  test(`${cite(SIGNOZ_OPENCODE_LOGS[0]!.source)} tool_name values are opencode's (bash, edit, write, read); service.name = 'opencode' everywhere`, () => {
    const names = new Set(oc.segment.logs.filter((l) => l.body === "tool_result").map((l) => l.attributes["tool_name"]))
    expect(names).toEqual(new Set(["write", "bash", "edit", "read"]))
    for (const x of [...oc.segment.logs, ...oc.segment.metrics]) expect(x.resource["service.name"]).toBe("opencode")
  })
  test(`${cite(SIGNOZ_OPENCODE_LOGS[5]!.source)} "Model Distribution": user_prompt's model is <providerID>/<modelID> (the seed plugin's), provider the providerID; the claude-code profile's model is the modelID`, () => {
    const prompt = (o: Observed) => o.segment.logs.filter((l) => l.attributes["event.name"] === "user_prompt")
    expect(prompt(oc).map((l) => [l.attributes["model"], l.attributes["provider"]])).toEqual([["fake/m", "fake"]])
    expect(prompt(cc).map((l) => [l.attributes["model"], l.attributes["provider"]])).toEqual([["m", "fake"]])
  })
})

describe("collector-naming pinned to known Collector outputs (/tmp/research ccguide.md name table, column (b): Collector prometheus exporter, suffixes on)", () => {
  const cases: ReadonlyArray<[string, string, "counter" | "gauge" | "histogram", string]> = [
    // Claude Code's metrics with the units its code sets (the count metrics set none).
    ["claude_code.session.count", "", "counter", "claude_code_session_count_total"],
    ["claude_code.lines_of_code.count", "", "counter", "claude_code_lines_of_code_count_total"],
    ["claude_code.pull_request.count", "", "counter", "claude_code_pull_request_count_total"],
    ["claude_code.commit.count", "", "counter", "claude_code_commit_count_total"],
    ["claude_code.cost.usage", "USD", "counter", "claude_code_cost_usage_USD_total"],
    ["claude_code.token.usage", "tokens", "counter", "claude_code_token_usage_tokens_total"],
    ["claude_code.code_edit_tool.decision", "", "counter", "claude_code_code_edit_tool_decision_total"],
    // The table's note: with the documented unit "count" really set, the unit word would be appended.
    ["claude_code.code_edit_tool.decision", "count", "counter", "claude_code_code_edit_tool_decision_count_total"],
    // An existing `total` token moves last, after the unit word.
    ["claude_code.active_time.total", "s", "counter", "claude_code_active_time_seconds_total"],
    // The default profile (decisions.md; token.usage and session.token.total with unit tokens, as the seed plugin).
    ["opencode.token.usage", "tokens", "counter", "opencode_token_usage_tokens_total"],
    ["opencode.token.usage", "{token}", "counter", "opencode_token_usage_total"],
    ["opencode.session.token.total", "tokens", "histogram", "opencode_session_token_total_tokens"],
    ["opencode.cost.usage", "USD", "counter", "opencode_cost_usage_USD_total"],
    ["opencode.session.count", "{session}", "counter", "opencode_session_count_total"],
    ["opencode.tool.duration", "ms", "histogram", "opencode_tool_duration_milliseconds"],
  ]
  for (const [name, unit, kind, want] of cases)
    test(`${name} (unit ${JSON.stringify(unit)}, ${kind}) -> ${want}`, () => {
      expect(collectorMetricName(name, unit, kind)).toBe(want)
    })
})

describe("c. Collector path: Prometheus exporter names, a real Prometheus, the dashboards' PromQL", () => {
  test("collector-naming: the OTLP names the plugin sent translate to the names the public dashboards query", () => {
    const name = (o: Observed, n: string) => {
      const m = o.segment.metrics.find((x) => x.name === n)
      expect(m, n).toBeDefined()
      return collectorMetricName(m!.name, m!.unit, m!.type === "histogram" ? "histogram" : m!.type === "gauge" ? "gauge" : m!.isMonotonic ? "counter" : "gauge")
    }
    expect({
      tokens: name(cc, "claude_code.token.usage"),
      cost: name(cc, "claude_code.cost.usage"),
      sessions: name(cc, "claude_code.session.count"),
      lines: name(cc, "claude_code.lines_of_code.count"),
      commits: name(cc, "claude_code.commit.count"),
      decisions: name(cc, "claude_code.code_edit_tool.decision"),
      active: name(cc, "claude_code.active_time.total"),
      ocTokens: name(oc, "opencode.token.usage"),
      ocCost: name(oc, "opencode.cost.usage"),
      ocSessions: name(oc, "opencode.session.count"),
      ocToolDuration: name(oc, "opencode.tool.duration"),
    }).toEqual({
      tokens: "claude_code_token_usage_tokens_total",
      cost: "claude_code_cost_usage_USD_total",
      sessions: "claude_code_session_count_total",
      lines: "claude_code_lines_of_code_count_total",
      commits: "claude_code_commit_count_total",
      decisions: "claude_code_code_edit_tool_decision_total",
      active: "claude_code_active_time_seconds_total",
      ocTokens: "opencode_token_usage_tokens_total",
      ocCost: "opencode_cost_usage_USD_total",
      ocSessions: "opencode_session_count_total",
      ocToolDuration: "opencode_tool_duration_milliseconds",
    })
    // Rules on their own: unit words, annotations, ratio, an existing unit token, total moved last.
    expect(collectorMetricName("http.server.duration", "ms", "histogram")).toBe("http_server_duration_milliseconds")
    expect(collectorMetricName("cpu.utilization", "1", "gauge")).toBe("cpu_utilization_ratio")
    expect(collectorMetricName("a.seconds.count", "s", "counter")).toBe("a_seconds_count_total")
    expect(collectorMetricName("x.total.bytes", "By/s", "gauge")).toBe("x_total_bytes_per_second")
    expect(collectorMetricName("q", "{request}", "counter")).toBe("q_total")
    // The replay ends at what the exporter serves once everything arrived.
    expect(states[states.length - 1]!.families).toEqual(collectorFamilies([...cc.segment.metrics, ...oc.segment.metrics]))
  })

  for (const q of COLLECTOR_PROMQL_EXACT)
    test(`${cite(q.source)} "${q.panel}": ${q.promql} = export's ${q.truth} exactly (reads each series' value)`, async () => {
      const rows = await promQuery(q.promql.replaceAll("[RANGE]", "[10m]"))
      const want = truthOf(cc, q.truth)
      if (q.by === undefined) {
        expect([q.promql, rows.length]).toEqual([q.promql, 1])
        expectNumber(q.promql, rows[0]!.value, want as number)
      } else {
        const got: Groups = {}
        for (const r of rows) add(got, r.metric[q.by] ?? "", r.value)
        expectGroups(q.promql, nonZero(got), want as Groups)
      }
    })

  test("Prometheus stored every series as served: from its first exported value (no 0 before it) to its final total, one sample per change", async () => {
    const rows = await promRange('{__name__=~"claude_code_.+|opencode_.+|gen_ai_.+"}[10m]')
    expect(rows.length).toBe(servedSeries.size)
    for (const r of rows) {
      const key = servedKey(r.metric)
      const want = servedSeries.get(key)
      expect([key, want === undefined]).toEqual([key, false])
      expect([key, r.samples]).toEqual([key, want!])
    }
  })

  for (const q of SHORT_BY_FIRST_INCREMENT)
    test(`${cite(q.source)} "${q.panel}": ${q.promql} = export's ${q.truth} SHORT BY each series' first increment (SHORT_BY_FIRST_INCREMENT: increase() never counts a series' first value), then scaled by Prometheus's extrapolation`, async () => {
      await expectShortByFirstIncrement(q.promql.replaceAll("[RANGE]", "[10m]"), q.by, truthOf(cc, q.truth), await promQuery(q.promql.replaceAll("[RANGE]", "[10m]")))
    })

  test(`${cite(COLLECTOR_PROMQL[0]!.source)} labels: session_id, model, type, user_id on the series; job is the scrape job, exported_job the service`, async () => {
    const rows = await promQuery('claude_code_token_usage_tokens_total{type="input"}')
    expect(rows).toHaveLength(1)
    const labels = rows[0]!.metric
    expect(labels["session_id"]).toBe(cc.result.sessionIDs[0]!)
    expect(labels["model"]).toBe("m")
    expect(typeof labels["user_id"]).toBe("string")
    expect(labels["job"]).toBe("otel-collector")
    expect(labels["exported_job"]).toBe("claude-code")
    expect(labels["exported_instance"]).toBe(String(cc.segment.metrics[0]!.resource["service.instance.id"]))
  })

  test("lead's naming decision (issue #11): the default profile through the Collector, opencode_* names equal export", async () => {
    const one = async (promql: string) => {
      const rows = await promQuery(promql)
      expect([promql, rows.length]).toEqual([promql, 1])
      return rows[0]!.value
    }
    expectNumber("tokens", await one("sum(opencode_token_usage_tokens_total)"), truthOf(oc, "tokens.total") as number)
    expectNumber("cost", await one("sum(opencode_cost_usage_USD_total)"), truthOf(oc, "cost") as number)
    expectNumber("sessions", await one("sum(opencode_session_count_total)"), truthOf(oc, "sessions") as number)
    expectNumber("tool calls", await one("sum(opencode_tool_duration_milliseconds_count)"), truthOf(oc, "toolCalls") as number)
    expectNumber("failed tools", await one('sum(opencode_tool_duration_milliseconds_count{success="false"})'), truthOf(oc, "toolsFailed") as number)
  })

  test("the default profile's increase() is short by each series' first increment too (cumulative temporality changes nothing: each series starts at its first point)", async () => {
    const promql = "sum(increase(opencode_cost_usage_USD_total[10m]))"
    await expectShortByFirstIncrement(promql, undefined, truthOf(oc, "cost"), await promQuery(promql))
  })
})

describe("d. Loki native OTLP ingestion (claude-code profile)", () => {
  for (const q of LOKI_QUERIES)
    test(`${cite(q.source)} "${q.panel}": ${q.logql} = export's ${q.truth}`, () => {
      expectTruth(q.panel, loki(lokiLines(cc.segment.logs), q), truthOf(cc, q.truth))
    })
  test(`${cite(LOKI_QUERIES[0]!.source)} the stream is service_name="claude-code"; lines are the bodies; metadata names session_id, event_name, tool_name, cost_usd, duration_ms`, () => {
    const lines = lokiLines(cc.segment.logs)
    expect(new Set(lines.map((l) => l.stream["service_name"]))).toEqual(new Set(["claude-code"]))
    expect(lines.filter((l) => l.line.includes("claude_code.api_request")).length).toBeGreaterThan(0)
    const keys = new Set(lines.flatMap((l) => Object.keys(l.metadata)))
    for (const k of ["session_id", "event_name", "tool_name", "cost_usd", "duration_ms", "success", "model"]) expect([k, keys.has(k)]).toEqual([k, true])
    // The line filter `|= "claude_code.api_request"` selects exactly the api_request events (event_name without the prefix).
    const filtered = lines.filter((l) => l.line.includes("claude_code.api_request"))
    expect(new Set(filtered.map((l) => l.metadata["event_name"]))).toEqual(new Set(["api_request"]))
  })
})

describe("e. event attribute names: per-call names only on per-call events", () => {
  for (const profile of ["claude-code", "opencode"] as const)
    test(`${profile}: session.idle carries total_* names, never input_tokens/output_tokens/cost_usd/duration_ms, so sums of cost_usd / input_tokens / output_tokens over ALL events (${cite(SIGNOZ_CLAUDE_CODE_2025)} "... EXISTS" panels) equal export, not double`, () => {
      const x = profile === "claude-code" ? cc : oc
      const idle = x.segment.logs.filter((l) => l.attributes["event.name"] === "session.idle")
      expect(idle.length).toBeGreaterThan(0)
      for (const l of idle) {
        for (const k of ["input_tokens", "output_tokens", "cost_usd", "duration_ms"]) expect([k, l.attributes[k]]).toEqual([k, undefined])
        for (const k of ["total_input_tokens", "total_output_tokens", "total_cost_usd", "session_duration_ms"]) expect([k, typeof l.attributes[k]]).toEqual([k, "number"])
      }
      const sumOf = (k: string) => x.segment.logs.reduce((n, l) => n + (typeof l.attributes[k] === "number" ? (l.attributes[k] as number) : 0), 0)
      expectNumber(`${x.profile} sum(cost_usd) over all events`, sumOf("cost_usd"), truthOf(x, "cost") as number)
      expectNumber(`${x.profile} sum(input_tokens) over all events`, sumOf("input_tokens"), truthOf(x, "tokens.input") as number)
      expectNumber(`${x.profile} sum(output_tokens) over all events`, sumOf("output_tokens"), truthOf(x, "tokens.output") as number)
      expectNumber(`${x.profile} session.idle total_cost_usd`, idle.reduce((n, l) => n + Number(l.attributes["total_cost_usd"]), 0), truthOf(x, "cost") as number)
      // duration_ms only on per-call events.
      expect(new Set(x.segment.logs.filter((l) => l.attributes["duration_ms"] !== undefined).map((l) => l.attributes["event.name"]))).toEqual(new Set(["api_request", "tool_result"]))
    })
})

describe("f. resources", () => {
  test("service.instance.id present on every resource and distinct between the two opencode processes; service.version = opencode's version", () => {
    const ids = [cc, oc].map((o) => {
      const resources = [...o.segment.metrics, ...o.segment.logs, ...o.segment.spans].map((x) => x.resource)
      expect(resources.length).toBeGreaterThan(0)
      const set = new Set(resources.map((r) => r["service.instance.id"]))
      expect(set.size).toBe(1)
      const id = [...set][0]
      expect(typeof id).toBe("string")
      expect(String(id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      for (const r of resources) expect(r["service.version"]).toBe(version)
      return id
    })
    expect(ids[0]).not.toBe(ids[1])
  })
})

describe("not applicable: facts opencode has no data for", () => {
  for (const n of NOT_APPLICABLE)
    test(`${cite(n.source)} ${n.fact}: not applicable (${n.reason})`, () => {
      expect(n.reason.length).toBeGreaterThan(0)
    })
  test(`${cite(CLAWKER)} cache_creation_tokens: 0 in export and in every api_request (the fake provider reports no cache writes)`, () => {
    expect(truthOf(cc, "tokens.cacheCreation")).toBe(0)
    for (const l of cc.segment.logs.filter((r) => r.attributes["event.name"] === "api_request")) expect(l.attributes["cache_creation_tokens"]).toBe(0)
  })
})
