/**
 * Memory and throughput benchmark: replays the recorded opencode sessions (test/fixtures) through the handlers,
 * many thousands of times, in one long-lived telemetry runtime, as a TUI that stays open for days would see them.
 *
 *   npm run bench:soak                             # 10,000 sessions in each mode
 *   bun run bench/soak.ts --sessions 2000 --mode default
 *   bun run bench/soak.ts --help
 *
 * Every replay rewrites the recording's session, message, part, permission and call ids, so each replayed
 * session is new. Scenarios are mixed round-robin. Sessions are never deleted and the runtime is never disposed
 * between them (a TUI does neither), so the SessionStore's LRU bound (1000 by default) and its eviction are what
 * keep state and open spans in check. Metrics are collected every `--collect-every` sessions, standing in for
 * the periodic reader (the plugin also flushes at every session.idle, which collects more often still).
 *
 * The exporters count what they receive and drop it, so the heap measures the plugin and the SDK, not a test
 * double's buffer. Each mode runs in its own bun process. Results go to bench/results/soak-latest.json and are
 * compared with bench/results/soak-baseline.json when it exists.
 */
import { heapStats } from "bun:jsc"
import type { Tracer } from "@opentelemetry/api"
import type { Logger } from "@opentelemetry/api-logs"
import { ExportResultCode, type ExportResult } from "@opentelemetry/core"
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { AggregationTemporality, type PushMetricExporter, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, ManagedRuntime } from "effect"
import { endAllSessions, handleChatMessage, handleEvent } from "../src/handlers/index.ts"
import * as OpencodeLog from "../src/layers/opencodeLog.ts"
import * as Telemetry from "../src/layers/telemetry.ts"
import * as Config from "../src/services/Config.ts"
import * as Exporter from "../src/services/Exporter.ts"
import { DEFAULT_MAX_SESSIONS, SessionStore } from "../src/services/SessionStore.ts"
import { FIXTURES_DIR, loadFixture } from "../test/lib/fixtures.ts"

// ---- modes and arguments ------------------------------------------------------------------------------------

const MODES = {
  default: {
    description: "defaults: session.id on every metric, cumulative temporality",
    settings: {} as Config.RawSettings,
  },
  "no-session-id": {
    description: "OPENCODE_EXCLUDE_METRICS_ATTRIBUTES=session.id (cumulative)",
    settings: { OPENCODE_EXCLUDE_METRICS_ATTRIBUTES: "session.id" } as Config.RawSettings,
  },
  delta: {
    description: "OPENCODE_OTLP_METRICS_TEMPORALITY=delta, session.id on metrics",
    settings: { OPENCODE_OTLP_METRICS_TEMPORALITY: "delta" } as Config.RawSettings,
  },
} as const
type ModeName = keyof typeof MODES
const MODE_NAMES = Object.keys(MODES) as Array<ModeName>

interface Args {
  readonly sessions: number
  readonly checkpointEvery: number
  readonly collectEvery: number
  readonly maxSessions: number
  readonly flatMb: number
  readonly modes: ReadonlyArray<ModeName>
  readonly strict: boolean
  readonly child: { readonly out: string } | undefined
}

const USAGE = `bun run bench/soak.ts [options]
  --sessions N          sessions (scenario replays) per mode (default 10000)
  --checkpoint-every N  measure every N sessions (default 1000)
  --collect-every N     collect metrics every N sessions, as the periodic reader would (default 100)
  --max-sessions N      SessionStore bound (default ${DEFAULT_MAX_SESSIONS})
  --flat-mb N           heap growth (2nd checkpoint -> last) below which memory counts as flat (default 10)
  --mode NAME           run one mode (repeatable; default all): ${MODE_NAMES.join(", ")}
  --strict              exit 1 when a verdict fails`

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const num = (name: string, fallback: number) => {
    const i = argv.indexOf(name)
    if (i === -1) return fallback
    const n = Number(argv[i + 1])
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} expects a positive number`)
    return n
  }
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE)
    process.exit(0)
  }
  const modes: Array<ModeName> = []
  argv.forEach((a, i) => {
    if (a !== "--mode") return
    const m = argv[i + 1]
    if (m === undefined || !(m in MODES)) throw new Error(`--mode expects one of ${MODE_NAMES.join(", ")}`)
    modes.push(m as ModeName)
  })
  const out = argv.indexOf("--child-out")
  return {
    sessions: Math.floor(num("--sessions", 10_000)),
    checkpointEvery: Math.floor(num("--checkpoint-every", 1_000)),
    collectEvery: Math.floor(num("--collect-every", 100)),
    maxSessions: Math.floor(num("--max-sessions", DEFAULT_MAX_SESSIONS)),
    flatMb: num("--flat-mb", 10),
    modes: modes.length > 0 ? modes : MODE_NAMES,
    strict: argv.includes("--strict"),
    child: out === -1 ? undefined : { out: argv[out + 1]! },
  }
}

// ---- recorded sessions, made distinct per replay ------------------------------------------------------------

/** Marks every id in a recording; a replay replaces the mark with its own suffix. */
const MARK = "\u0001"
/** opencode's ids (ses_, msg_, prt_, per_) and the provider's tool call ids (call_fake_N). */
const ID = /\b((?:ses|msg|prt|per)_[A-Za-z0-9]+|call_[A-Za-z0-9_]+)/g

interface Scenario {
  readonly name: string
  /** The recording's event and chat.message lines as JSON, every id followed by MARK. */
  readonly template: string
  readonly lines: number
  readonly sessions: number
}

type Line = { readonly hook: string; readonly type?: string; readonly properties?: unknown; readonly input?: unknown; readonly output?: unknown }

const loadScenarios = (): ReadonlyArray<Scenario> =>
  readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith(".jsonl"))
    .map((f) => f.slice(0, -".jsonl".length))
    .sort()
    .map((name) => {
      const fixture = loadFixture(name)
      // The hooks the plugin registers. `dispose` is dropped: a TUI does not dispose between sessions.
      const lines = fixture.lines
        .filter((l) => l.hook === "event" || l.hook === "chat.message")
        .map((l): Line => (l.hook === "event" ? { hook: l.hook, type: l.type!, properties: l.properties } : { hook: l.hook, input: l.input, output: l.output }))
      const template = JSON.stringify(lines).replace(ID, `$1${MARK}`)
      if (template.includes(`${MARK}${MARK}`)) throw new Error(`${name}: an id was marked twice`)
      return { name, template, lines: lines.length, sessions: fixture.sessions.length }
    })

/** The i-th replay of a scenario: fresh objects with ids no other replay uses. */
const instantiate = (scenario: Scenario, i: number): ReadonlyArray<Line> => JSON.parse(scenario.template.replaceAll(MARK, `r${i.toString(36)}`))

// ---- counting exporters -------------------------------------------------------------------------------------

const OK: ExportResult = { code: ExportResultCode.SUCCESS }

interface SeriesSnapshot {
  readonly total: number
  readonly overflow: number
  readonly byMetric: Record<string, number>
}

class Counters {
  spansStarted = 0
  spansEnded = 0
  spansEndedTwice = 0
  spansExported = 0
  /** Exported spans ending before they start. */
  spansBackwards = 0
  /** Session spans exported (each ended by an eviction, or by endAllSessions). */
  sessionSpansExported = 0
  logsEmitted = 0
  logsExported = 0
  metricExports = 0
  series: SeriesSnapshot = { total: 0, overflow: 0, byMetric: {} }
  warnings: Array<string> = []
}

class CountingSpanExporter implements SpanExporter {
  constructor(private readonly c: Counters) {}
  export(spans: Array<ReadableSpan>, done: (r: ExportResult) => void) {
    this.c.spansExported += spans.length
    for (const s of spans) {
      if (s.endTime[0] * 1e9 + s.endTime[1] < s.startTime[0] * 1e9 + s.startTime[1]) this.c.spansBackwards++
      if (s.name.startsWith("invoke_agent")) this.c.sessionSpansExported++
    }
    done(OK)
  }
  shutdown() {
    return Promise.resolve()
  }
  forceFlush() {
    return Promise.resolve()
  }
}

class CountingLogExporter implements LogRecordExporter {
  constructor(private readonly c: Counters) {}
  export(logs: Array<ReadableLogRecord>, done: (r: ExportResult) => void) {
    this.c.logsExported += logs.length
    done(OK)
  }
  shutdown() {
    return Promise.resolve()
  }
  forceFlush() {
    return Promise.resolve()
  }
}

/** Keeps only how many series (data points) each metric had in the latest export. */
class CountingMetricExporter implements PushMetricExporter {
  constructor(
    private readonly c: Counters,
    private readonly temporality: AggregationTemporality,
  ) {}
  export(metrics: ResourceMetrics, done: (r: ExportResult) => void) {
    const byMetric: Record<string, number> = {}
    let total = 0
    let overflow = 0
    for (const scope of metrics.scopeMetrics)
      for (const metric of scope.metrics) {
        byMetric[metric.descriptor.name] = (byMetric[metric.descriptor.name] ?? 0) + metric.dataPoints.length
        total += metric.dataPoints.length
        for (const p of metric.dataPoints) if (p.attributes["otel.metric.overflow"] === true) overflow++
      }
    this.c.metricExports++
    this.c.series = { total, overflow, byMetric }
    done(OK)
  }
  selectAggregationTemporality() {
    return this.temporality
  }
  forceFlush() {
    return Promise.resolve()
  }
  shutdown() {
    return Promise.resolve()
  }
}

/** Counts spans started and ended (the first end only) without keeping them. */
const countingTracer = (tracer: Tracer, c: Counters): Tracer => ({
  startSpan: (name, options, context) => {
    const span = tracer.startSpan(name, options, context)
    c.spansStarted++
    const end = span.end.bind(span)
    span.end = (endTime) => {
      if (span.isRecording()) c.spansEnded++
      else c.spansEndedTwice++
      end(endTime)
    }
    return span
  },
  startActiveSpan: tracer.startActiveSpan.bind(tracer) as Tracer["startActiveSpan"],
})

const countingLogger = (logger: Logger, c: Counters): Logger => ({
  emit: (record) => {
    c.logsEmitted++
    logger.emit(record)
  },
  enabled: (options) => logger.enabled(options),
})

/** The real providers (Exporter.makeProviders: batch processors, periodic reader) on counting exporters. */
const countingExporterLayer = (c: Counters) =>
  Layer.effect(
    Exporter.Exporter,
    Effect.gen(function* () {
      const config = yield* Config.Config
      const temporality = config.metrics.temporality === "delta" ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE
      const exporter = yield* Exporter.makeProviders({
        spans: new CountingSpanExporter(c),
        logs: new CountingLogExporter(c),
        metrics: new CountingMetricExporter(c, temporality),
      })
      return Exporter.Exporter.of({ ...exporter, tracer: countingTracer(exporter.tracer, c), logger: countingLogger(exporter.logger, c) })
    }),
  )

const benchLayer = (mode: ModeName, c: Counters, maxSessions: number) => {
  const decoded = Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", ...MODES[mode].settings })
  if (decoded.problems.length > 0) throw new Error(decoded.problems.map((p) => p.message).join("\n"))
  const config = Layer.succeed(Config.Config, Config.Config.of({ ...decoded.config, problems: [] }))
  // opencode's log, as in the plugin: warnings are kept and reported.
  const client: OpencodeLog.OpencodeLogClient = {
    app: {
      log: (options) => {
        if (options.body.level !== "debug" && c.warnings.length < 20) c.warnings.push(`${options.body.level}: ${options.body.message}`)
        return Promise.resolve(true)
      },
    },
  }
  return Telemetry.layerOn(countingExporterLayer(c), { maxSessions }).pipe(
    Layer.provideMerge(config),
    Layer.provideMerge(OpencodeLog.layer(client)),
  )
}

// ---- one mode -----------------------------------------------------------------------------------------------

interface Checkpoint {
  readonly sessions: number
  /** opencode sessions created (a subagent replay makes two). */
  readonly opencodeSessions: number
  readonly events: number
  readonly replayMs: number
  /** Since the previous checkpoint. */
  readonly sessionsPerSec: number
  readonly eventsPerSec: number
  readonly heapUsedMb: number
  readonly heapSizeMb: number
  readonly rssMb: number
  readonly objectCount: number
  readonly storeSize: number
  readonly spansStarted: number
  readonly spansEnded: number
  readonly openSpans: number
  readonly spansExported: number
  readonly logsEmitted: number
  readonly logsExported: number
  readonly series: SeriesSnapshot
}

interface ModeResult {
  readonly mode: ModeName
  readonly description: string
  readonly checkpoints: ReadonlyArray<Checkpoint>
  readonly end: {
    readonly openSpansBeforeEndAll: number
    readonly storeSizeBeforeEndAll: number
    readonly openSpansAfterEndAll: number
    readonly storeSizeAfterEndAll: number
    readonly spansStarted: number
    readonly spansExported: number
    readonly spansDropped: number
    readonly spansEndedTwice: number
    readonly spansBackwards: number
    readonly sessionSpansExported: number
    readonly logsEmitted: number
    readonly logsExported: number
    readonly logsDropped: number
    readonly skippedEvents: Record<string, number>
    readonly warnings: ReadonlyArray<string>
  }
  /** Object types whose count grew most from the 2nd checkpoint to the last (bun:jsc heapStats). */
  readonly topGrowth: ReadonlyArray<{ readonly type: string; readonly from: number; readonly to: number }>
  readonly verdict: Verdict
}

interface Verdict {
  readonly heapGrowthMb: number
  readonly heapGrowthFrom: number
  readonly heapGrowthTo: number
  readonly heapFlat: boolean
  readonly storeBounded: boolean
  readonly openSpansBounded: boolean
  readonly allSpansEnded: boolean
  readonly seriesBounded: boolean
  readonly pass: boolean
}

const mb = (bytes: number) => bytes / 1024 / 1024

const runMode = async (mode: ModeName, args: Args): Promise<ModeResult> => {
  const scenarios = loadScenarios()
  const c = new Counters()
  const runtime = ManagedRuntime.make(benchLayer(mode, c, args.maxSessions))
  await runtime.runPromise(Effect.void)
  const storeSize = () => runtime.runPromise(Effect.flatMap(Effect.service(SessionStore), (s) => s.size))
  const flush = () => runtime.runPromise(Effect.flatMap(Effect.service(Exporter.Exporter), (e) => e.flush))
  /**
   * Lets the event loop turn, as it does between a real session's events. Without this the replay loop is one
   * unbroken chain of microtasks: no timer or setImmediate ever fires, so forked fibers (Effect schedules them
   * with setImmediate) never run, and background exports would pile up on the heap.
   */
  const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

  const checkpoints: Array<Checkpoint> = []
  let events = 0
  let opencodeSessions = 0
  let replayMs = 0
  let last = { sessions: 0, events: 0, replayMs: 0 }
  const typeCounts: Array<Record<string, number>> = []

  const measure = async (sessions: number) => {
    // Collection (and the span/log batches) first, background work next, then a full GC: what is left is what
    // the process keeps.
    await flush()
    for (let i = 0; i < 3; i++) await yieldToEventLoop()
    Bun.gc(true)
    Bun.gc(true)
    const stats = heapStats()
    const mem = process.memoryUsage()
    const dt = (replayMs - last.replayMs) / 1000
    const cp: Checkpoint = {
      sessions,
      opencodeSessions,
      events,
      replayMs: Math.round(replayMs),
      sessionsPerSec: dt > 0 ? Math.round((sessions - last.sessions) / dt) : 0,
      eventsPerSec: dt > 0 ? Math.round((events - last.events) / dt) : 0,
      heapUsedMb: round(mb(mem.heapUsed)),
      heapSizeMb: round(mb(stats.heapSize)),
      rssMb: round(mb(mem.rss)),
      objectCount: stats.objectCount,
      storeSize: await storeSize(),
      spansStarted: c.spansStarted,
      spansEnded: c.spansEnded,
      openSpans: c.spansStarted - c.spansEnded,
      spansExported: c.spansExported,
      logsEmitted: c.logsEmitted,
      logsExported: c.logsExported,
      series: c.series,
    }
    checkpoints.push(cp)
    typeCounts.push({ ...stats.objectTypeCounts })
    last = { sessions, events, replayMs }
    process.stdout.write(`  [${mode}] ${row(cp)}\n`)
  }

  console.log(`\n== ${mode}: ${MODES[mode].description}`)
  console.log(`  ${args.sessions} sessions round-robin over ${scenarios.map((s) => s.name).join(", ")}; metrics collected every ${args.collectEvery}`)
  console.log(`  [${mode}] ${HEADER}`)
  await measure(0)
  for (let i = 0; i < args.sessions; i++) {
    const scenario = scenarios[i % scenarios.length]!
    const started = performance.now()
    const lines = instantiate(scenario, i)
    // One runPromise per hook, as the plugin runs them (one at a time, in order).
    for (const line of lines) {
      if (line.hook === "event") await runtime.runPromise(handleEvent({ type: line.type, properties: line.properties }))
      else await runtime.runPromise(handleChatMessage(line.input, line.output))
    }
    events += lines.length
    opencodeSessions += scenario.sessions
    const n = i + 1
    if (n % args.collectEvery === 0 && n % args.checkpointEvery !== 0) await flush()
    // Between sessions the event loop turns (timers, forked fibers), as in a TUI that is idle between prompts.
    await yieldToEventLoop()
    replayMs += performance.now() - started
    if (n % args.checkpointEvery === 0 || n === args.sessions) await measure(n)
  }

  const openSpansBeforeEndAll = c.spansStarted - c.spansEnded
  const storeSizeBeforeEndAll = await storeSize()
  await runtime.runPromise(endAllSessions())
  await flush()
  const skipped = await runtime.runPromise(Effect.flatMap(Effect.service(SessionStore), (s) => s.skipped))
  const end = {
    openSpansBeforeEndAll,
    storeSizeBeforeEndAll,
    openSpansAfterEndAll: c.spansStarted - c.spansEnded,
    storeSizeAfterEndAll: await storeSize(),
    spansStarted: c.spansStarted,
    spansExported: c.spansExported,
    spansDropped: c.spansEnded - c.spansExported,
    spansEndedTwice: c.spansEndedTwice,
    spansBackwards: c.spansBackwards,
    sessionSpansExported: c.sessionSpansExported,
    logsEmitted: c.logsEmitted,
    logsExported: c.logsExported,
    logsDropped: c.logsEmitted - c.logsExported,
    skippedEvents: Object.fromEntries(skipped),
    warnings: c.warnings,
  }
  await runtime.dispose()

  const from = checkpoints.length > 2 ? 2 : checkpoints.length - 1
  const first = typeCounts[from] ?? {}
  const lastCounts = typeCounts.at(-1) ?? {}
  const topGrowth = Object.entries(lastCounts)
    .map(([type, to]) => ({ type, from: first[type] ?? 0, to }))
    .filter((g) => g.to - g.from > 0)
    .sort((a, b) => b.to - b.from - (a.to - a.from))
    .slice(0, 8)

  return { mode, description: MODES[mode].description, checkpoints, end, topGrowth, verdict: verdictOf(checkpoints, end, args) }
}

const verdictOf = (checkpoints: ReadonlyArray<Checkpoint>, end: ModeResult["end"], args: Args): Verdict => {
  // From the 2nd measured checkpoint (2,000 sessions by default: the store is full and warm) to the last.
  const a = checkpoints[Math.min(2, checkpoints.length - 1)]!
  const b = checkpoints.at(-1)!
  const heapGrowthMb = round(b.heapUsedMb - a.heapUsedMb)
  const storeBounded = checkpoints.every((cp) => cp.storeSize <= args.maxSessions)
  const openSpansBounded = checkpoints.every((cp) => cp.openSpans <= args.maxSessions)
  const allSpansEnded = end.openSpansAfterEndAll === 0 && end.storeSizeAfterEndAll === 0 && end.spansEndedTwice === 0 && end.spansBackwards === 0
  // Bounded: the series held after the store filled up grow by less than a tenth (plus slack for small counts).
  const seriesBounded = b.series.total <= a.series.total * 1.1 + 50
  const heapFlat = heapGrowthMb < args.flatMb
  return {
    heapGrowthMb,
    heapGrowthFrom: a.sessions,
    heapGrowthTo: b.sessions,
    heapFlat,
    storeBounded,
    openSpansBounded,
    allSpansEnded,
    seriesBounded,
    pass: heapFlat && storeBounded && openSpansBounded && allSpansEnded && seriesBounded,
  }
}

// ---- printing -----------------------------------------------------------------------------------------------

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits
const pad = (s: string | number, n: number) => String(s).padStart(n)
const HEADER = [
  pad("sessions", 8),
  pad("heap MB", 8),
  pad("rss MB", 7),
  pad("objects", 9),
  pad("store", 5),
  pad("open spans", 10),
  pad("spans out", 9),
  pad("logs out", 9),
  pad("series", 7),
  pad("overflow", 8),
  pad("sess/s", 7),
  pad("events/s", 8),
].join(" ")
const row = (cp: Checkpoint) =>
  [
    pad(cp.sessions, 8),
    pad(cp.heapUsedMb.toFixed(1), 8),
    pad(cp.rssMb.toFixed(0), 7),
    pad(cp.objectCount, 9),
    pad(cp.storeSize, 5),
    pad(cp.openSpans, 10),
    pad(cp.spansExported, 9),
    pad(cp.logsExported, 9),
    pad(cp.series.total, 7),
    pad(cp.series.overflow, 8),
    pad(cp.sessionsPerSec || "", 7),
    pad(cp.eventsPerSec || "", 8),
  ].join(" ")

const check = (ok: boolean) => (ok ? "ok" : "FAIL")

const printMode = (r: ModeResult, args: Args) => {
  const v = r.verdict
  const cps = r.checkpoints
  const a = cps[Math.min(2, cps.length - 1)]!
  const b = cps.at(-1)!
  const total = b.replayMs > 0 ? { sps: Math.round((b.sessions / b.replayMs) * 1000), eps: Math.round((b.events / b.replayMs) * 1000) } : { sps: 0, eps: 0 }
  console.log(`\n== ${r.mode}: ${r.description}`)
  console.log(HEADER)
  for (const cp of cps) console.log(row(cp))
  console.log(`throughput: ${total.sps} sessions/s, ${total.eps} events/s (${b.events} events, ${b.opencodeSessions} opencode sessions, ${(b.replayMs / 1000).toFixed(1)} s)`)
  const metrics = Object.keys(b.series.byMetric).sort()
  console.log(`metric series at ${a.sessions} -> ${b.sessions} sessions:`)
  for (const m of metrics) console.log(`  ${m.padEnd(36)} ${pad(a.series.byMetric[m] ?? 0, 7)} -> ${pad(b.series.byMetric[m] ?? 0, 7)}`)
  const e = r.end
  console.log(
    `end: ${e.openSpansBeforeEndAll} open spans and ${e.storeSizeBeforeEndAll} stored sessions before endAllSessions(), ` +
      `${e.openSpansAfterEndAll} and ${e.storeSizeAfterEndAll} after; spans started ${e.spansStarted}, exported ${e.spansExported}, ` +
      `dropped ${e.spansDropped}, ended twice ${e.spansEndedTwice}, ending before start ${e.spansBackwards}; ` +
      `session spans exported ${e.sessionSpansExported}; logs emitted ${e.logsEmitted}, exported ${e.logsExported}, dropped ${e.logsDropped}`,
  )
  if (Object.keys(e.skippedEvents).length > 0) console.log(`skipped events: ${JSON.stringify(e.skippedEvents)}`)
  for (const w of e.warnings) console.log(`opencode log: ${w}`)
  if (r.topGrowth.length > 0)
    console.log(`object types grown most (${a.sessions} -> ${b.sessions}): ${r.topGrowth.map((g) => `${g.type} +${g.to - g.from}`).join(", ")}`)
  const perSession = b.sessions > a.sessions ? round(((b.heapUsedMb - a.heapUsedMb) * 1024 * 1024) / (b.sessions - a.sessions), 0) : 0
  console.log(
    `VERDICT ${r.mode}: ${v.pass ? "PASS" : "FAIL"} — heap ${a.heapUsedMb.toFixed(1)} -> ${b.heapUsedMb.toFixed(1)} MB ` +
      `(${v.heapGrowthMb >= 0 ? "+" : ""}${v.heapGrowthMb} MB from ${v.heapGrowthFrom} to ${v.heapGrowthTo} sessions, ~${perSession} B/session; flat < ${args.flatMb} MB: ${check(v.heapFlat)}); ` +
      `store <= ${args.maxSessions}: ${check(v.storeBounded)}; open spans <= ${args.maxSessions} (max ${Math.max(...cps.map((cp) => cp.openSpans))}): ${check(v.openSpansBounded)}; ` +
      `all spans ended by endAllSessions (0 open): ${check(v.allSpansEnded)}; metric series bounded (${a.series.total} -> ${b.series.total}): ${check(v.seriesBounded)}`,
  )
}

const pct = (now: number, base: number) => (base === 0 ? "n/a" : `${now >= base ? "+" : ""}${round(((now - base) / base) * 100)}%`)

const printComparison = (results: ReadonlyArray<ModeResult>, baseline: Report) => {
  console.log(`\n== compared with bench/results/soak-baseline.json (${baseline.date}, ${baseline.args.sessions} sessions)`)
  console.log(`${"mode".padEnd(14)} ${pad("heap MB", 16)} ${pad("growth MB", 16)} ${pad("series", 16)} ${pad("sessions/s", 22)} ${pad("events/s", 24)}`)
  for (const r of results) {
    const base = baseline.modes.find((m) => m.mode === r.mode)
    if (base === undefined) {
      console.log(`${r.mode.padEnd(14)} (not in the baseline)`)
      continue
    }
    const now = r.checkpoints.at(-1)!
    const was = base.checkpoints.at(-1)!
    const rate = (cp: Checkpoint) => (cp.replayMs > 0 ? Math.round((cp.sessions / cp.replayMs) * 1000) : 0)
    const erate = (cp: Checkpoint) => (cp.replayMs > 0 ? Math.round((cp.events / cp.replayMs) * 1000) : 0)
    console.log(
      `${r.mode.padEnd(14)} ${pad(`${now.heapUsedMb.toFixed(1)} / ${was.heapUsedMb.toFixed(1)}`, 16)} ` +
        `${pad(`${r.verdict.heapGrowthMb} / ${base.verdict.heapGrowthMb}`, 16)} ` +
        `${pad(`${now.series.total} / ${was.series.total}`, 16)} ` +
        `${pad(`${rate(now)} / ${rate(was)} ${pct(rate(now), rate(was))}`, 22)} ` +
        `${pad(`${erate(now)} / ${erate(was)} ${pct(erate(now), erate(was))}`, 24)}`,
    )
  }
  console.log("(now / baseline)")
}

// ---- main ---------------------------------------------------------------------------------------------------

interface Report {
  readonly date: string
  readonly bun: string
  readonly platform: string
  readonly cpus: number
  readonly args: Omit<Args, "child" | "strict">
  readonly modes: ReadonlyArray<ModeResult>
  readonly pass: boolean
}

const RESULTS_DIR = join(import.meta.dir, "results")

const main = async () => {
  const args = parseArgs(process.argv.slice(2))
  if (args.child !== undefined) {
    const result = await runMode(args.modes[0]!, args)
    writeFileSync(args.child.out, JSON.stringify(result))
    return
  }

  // Each mode in a fresh process: one mode's heap and JIT state do not blur the next one's numbers.
  const results: Array<ModeResult> = []
  const scratch = join(tmpdir(), `opencode-otel-bench-${process.pid}`)
  mkdirSync(scratch, { recursive: true })
  try {
    for (const mode of args.modes) {
      const out = join(scratch, `${mode}.json`)
      const passthrough = process.argv.slice(2).filter((a, i, all) => a !== "--mode" && all[i - 1] !== "--mode" && a !== "--strict")
      const child = Bun.spawn([process.execPath, "run", join(import.meta.dir, "run.ts"), ...passthrough, "--mode", mode, "--child-out", out], {
        stdout: "inherit",
        stderr: "inherit",
      })
      const code = await child.exited
      if (code !== 0 || !existsSync(out)) throw new Error(`mode ${mode} failed (exit ${code})`)
      results.push(JSON.parse(readFileSync(out, "utf8")) as ModeResult)
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }

  console.log(`\n######## results: ${args.sessions} sessions per mode, store bound ${args.maxSessions}, metrics collected every ${args.collectEvery} sessions`)
  for (const r of results) printMode(r, args)

  const { child: _child, strict: _strict, ...recorded } = args
  const report: Report = {
    date: new Date().toISOString(),
    bun: Bun.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: navigator.hardwareConcurrency,
    args: recorded,
    modes: results,
    pass: results.every((r) => r.verdict.pass),
  }
  mkdirSync(RESULTS_DIR, { recursive: true })
  writeFileSync(join(RESULTS_DIR, "soak-latest.json"), `${JSON.stringify(report, null, 2)}\n`)
  console.log(`\nwrote bench/results/soak-latest.json`)
  const baselinePath = join(RESULTS_DIR, "soak-baseline.json")
  if (existsSync(baselinePath)) printComparison(results, JSON.parse(readFileSync(baselinePath, "utf8")) as Report)
  else console.log("no bench/results/soak-baseline.json to compare with (copy soak-latest.json there to make one)")

  console.log(`\n${results.map((r) => `${r.mode}: ${r.verdict.pass ? "PASS" : "FAIL"}`).join(", ")}`)
  if (args.strict && !report.pass) process.exit(1)
}

await main()
