/**
 * Memory and throughput soak: replays the recorded opencode sessions (test/fixtures) through the handlers, many
 * thousands of times, in one long-lived telemetry runtime, as a TUI that stays open for days would see them, and
 * measures heap, RSS and sessions/events per second.
 *
 *   npm run bench:soak                             # 10,000 sessions in each mode
 *   bun run bench/soak.ts --sessions 2000 --mode default
 *   bun run bench/soak.ts --help
 *
 * It measures; it does not check correctness. The invariants it used to check (the session store's bound, every
 * span ended exactly once, the metric series bound, the idle sweep) are unit tests: test/unit/invariants.test.ts.
 *
 * Every replay rewrites the recording's ids, so each replayed session is new; scenarios are mixed round-robin.
 * Sessions are never deleted and the runtime is never disposed between them (a TUI does neither), so the plugin's
 * own bounds are what keep memory flat. The exporters drop what they receive, so the heap measures the plugin and
 * the SDK, not a test double's buffer. Each mode runs in its own bun process.
 */
import { heapStats } from "bun:jsc"
import { ExportResultCode, type ExportResult } from "@opentelemetry/core"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, relative } from "node:path"
import { Effect, Layer, ManagedRuntime } from "effect"
import { endAllSessions, handleChatMessage, handleEvent } from "../src/handlers/index.ts"
import * as OpencodeLog from "../src/layers/opencodeLog.ts"
import * as Telemetry from "../src/layers/telemetry.ts"
import * as Config from "../src/services/Config.ts"
import * as Exporter from "../src/services/Exporter.ts"
import { FIXTURES_DIR, loadFixture } from "../test/lib/fixtures.ts"

const REPO_ROOT = join(import.meta.dir, "..")
// Under .tmp/ (gitignored): a run never rewrites a tracked file unless asked to with --out.
const DEFAULT_OUT = join(REPO_ROOT, ".tmp", "bench", "soak-latest.json")
const BASELINE = join(import.meta.dir, "results", "soak-baseline.json")

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
  readonly flatMb: number
  readonly modes: ReadonlyArray<ModeName>
  readonly out: string
  readonly strict: boolean
  /** Set in a mode's own process: where it writes its result for the parent. */
  readonly childOut: string | undefined
}

const USAGE = `bun run bench/soak.ts [options]
  --sessions N          sessions (scenario replays) per mode (default 10000)
  --checkpoint-every N  measure every N sessions (default 1000)
  --collect-every N     collect metrics every N sessions, as the periodic reader would (default 100)
  --flat-mb N           heap growth (2nd checkpoint -> last) below which memory counts as flat (default 10)
  --mode NAME           run one mode (repeatable; default all): ${MODE_NAMES.join(", ")}
  --out FILE            results file (default ${relative(REPO_ROOT, DEFAULT_OUT)}; bench/results/soak-latest.json to record one)
  --strict              exit 1 when the heap is not flat`

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE)
    process.exit(0)
  }
  const value = (name: string) => {
    const i = argv.indexOf(name)
    return i === -1 ? undefined : argv[i + 1]
  }
  const num = (name: string, fallback: number) => {
    const raw = value(name)
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} expects a positive number`)
    return n
  }
  const modes: Array<ModeName> = []
  argv.forEach((a, i) => {
    if (a !== "--mode") return
    const m = argv[i + 1]
    if (m === undefined || !(m in MODES)) throw new Error(`--mode expects one of ${MODE_NAMES.join(", ")}`)
    modes.push(m as ModeName)
  })
  return {
    sessions: Math.floor(num("--sessions", 10_000)),
    checkpointEvery: Math.floor(num("--checkpoint-every", 1_000)),
    collectEvery: Math.floor(num("--collect-every", 100)),
    flatMb: num("--flat-mb", 10),
    modes: modes.length > 0 ? modes : MODE_NAMES,
    out: value("--out") ?? DEFAULT_OUT,
    strict: argv.includes("--strict"),
    childOut: value("--child-out"),
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
  /** opencode sessions per replay (a subagent replay makes two). */
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
      return { name, template, sessions: fixture.sessions.length }
    })

/** The i-th replay of a scenario: fresh objects with ids no other replay uses. */
const instantiate = (scenario: Scenario, i: number): ReadonlyArray<Line> => JSON.parse(scenario.template.replaceAll(MARK, `r${i.toString(36)}`))

// ---- the runtime: the real providers on exporters that drop everything ------------------------------------

const OK: ExportResult = { code: ExportResultCode.SUCCESS }

/** A span, log and metric exporter in one: accepts every batch and keeps nothing. */
class Discard {
  export(_batch: unknown, done: (result: ExportResult) => void) {
    done(OK)
  }
  forceFlush() {
    return Promise.resolve()
  }
  shutdown() {
    return Promise.resolve()
  }
}

const benchLayer = (mode: ModeName, warnings: Array<string>) => {
  const decoded = Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", ...MODES[mode].settings })
  if (decoded.problems.length > 0) throw new Error(decoded.problems.map((p) => p.message).join("\n"))
  const config = Layer.succeed(Config.Config, Config.Config.of({ ...decoded.config, problems: [] }))
  // Exporter.makeProviders: the batch processors and periodic reader the plugin runs.
  const exporter = Layer.effect(
    Exporter.Exporter,
    Effect.map(Exporter.makeProviders({ spans: new Discard(), logs: new Discard(), metrics: new Discard() }), (e) => Exporter.Exporter.of(e)),
  )
  // opencode's log, as in the plugin: the first warnings are kept and printed (a warning during a soak is news).
  const client: OpencodeLog.OpencodeLogClient = {
    app: {
      log: (options) => {
        if (options.body.level !== "debug" && warnings.length < 20) warnings.push(`${options.body.level}: ${options.body.message}`)
        return Promise.resolve(true)
      },
    },
  }
  return Telemetry.layerOn(exporter).pipe(Layer.provideMerge(config), Layer.provideMerge(OpencodeLog.layer(client)))
}

// ---- one mode -----------------------------------------------------------------------------------------------

interface Checkpoint {
  readonly sessions: number
  readonly events: number
  readonly replayMs: number
  /** Since the previous checkpoint. */
  readonly sessionsPerSec: number
  readonly eventsPerSec: number
  readonly heapUsedMb: number
  readonly rssMb: number
  readonly objectCount: number
}

interface ModeResult {
  readonly mode: ModeName
  readonly description: string
  /** opencode sessions replayed (a subagent replay makes two). */
  readonly opencodeSessions: number
  readonly checkpoints: ReadonlyArray<Checkpoint>
  /** Object types whose count grew most from the 2nd checkpoint to the last (bun:jsc heapStats). */
  readonly topGrowth: ReadonlyArray<{ readonly type: string; readonly from: number; readonly to: number }>
  readonly warnings: ReadonlyArray<string>
  readonly verdict: Verdict
}

interface Verdict {
  readonly heapGrowthMb: number
  readonly heapGrowthFrom: number
  readonly heapGrowthTo: number
  readonly heapFlat: boolean
}

const mb = (bytes: number) => bytes / 1024 / 1024

/**
 * Lets the event loop turn, as it does between a real session's events. Without this the replay loop is one
 * unbroken chain of microtasks: no timer or setImmediate ever fires, so forked fibers (Effect schedules them with
 * setImmediate) never run, and background exports would pile up on the heap.
 */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

const runMode = async (mode: ModeName, args: Args): Promise<ModeResult> => {
  const scenarios = loadScenarios()
  const warnings: Array<string> = []
  const runtime = ManagedRuntime.make(benchLayer(mode, warnings))
  await runtime.runPromise(Effect.void)
  const flush = () => runtime.runPromise(Effect.flatMap(Effect.service(Exporter.Exporter), (e) => e.flush))

  const checkpoints: Array<Checkpoint> = []
  const typeCounts: Array<Record<string, number>> = []
  let events = 0
  let opencodeSessions = 0
  let replayMs = 0
  let last = { sessions: 0, events: 0, replayMs: 0 }

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
      events,
      replayMs: Math.round(replayMs),
      sessionsPerSec: dt > 0 ? Math.round((sessions - last.sessions) / dt) : 0,
      eventsPerSec: dt > 0 ? Math.round((events - last.events) / dt) : 0,
      heapUsedMb: round(mb(mem.heapUsed)),
      rssMb: round(mb(mem.rss)),
      objectCount: stats.objectCount,
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
  await runtime.runPromise(endAllSessions())
  await runtime.dispose()

  const from = Math.min(2, checkpoints.length - 1)
  const first = typeCounts[from] ?? {}
  const lastCounts = typeCounts.at(-1) ?? {}
  const topGrowth = Object.entries(lastCounts)
    .map(([type, to]) => ({ type, from: first[type] ?? 0, to }))
    .filter((g) => g.to - g.from > 0)
    .sort((a, b) => b.to - b.from - (a.to - a.from))
    .slice(0, 8)
  return { mode, description: MODES[mode].description, opencodeSessions, checkpoints, topGrowth, warnings, verdict: verdictOf(checkpoints, args) }
}

const verdictOf = (checkpoints: ReadonlyArray<Checkpoint>, args: Args): Verdict => {
  // From the 2nd measured checkpoint (2,000 sessions by default: the store is full and warm) to the last.
  const a = checkpoints[Math.min(2, checkpoints.length - 1)]!
  const b = checkpoints.at(-1)!
  const heapGrowthMb = round(b.heapUsedMb - a.heapUsedMb)
  return { heapGrowthMb, heapGrowthFrom: a.sessions, heapGrowthTo: b.sessions, heapFlat: heapGrowthMb < args.flatMb }
}

// ---- printing -----------------------------------------------------------------------------------------------

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits
const pad = (s: string | number, n: number) => String(s).padStart(n)
const HEADER = [pad("sessions", 8), pad("heap MB", 8), pad("rss MB", 7), pad("objects", 9), pad("sess/s", 7), pad("events/s", 8)].join(" ")
const row = (cp: Checkpoint) =>
  [
    pad(cp.sessions, 8),
    pad(cp.heapUsedMb.toFixed(1), 8),
    pad(cp.rssMb.toFixed(0), 7),
    pad(cp.objectCount, 9),
    pad(cp.sessionsPerSec || "", 7),
    pad(cp.eventsPerSec || "", 8),
  ].join(" ")

const rates = (cp: Checkpoint) =>
  cp.replayMs > 0 ? { sessions: Math.round((cp.sessions / cp.replayMs) * 1000), events: Math.round((cp.events / cp.replayMs) * 1000) } : { sessions: 0, events: 0 }

const printMode = (r: ModeResult, args: Args) => {
  const v = r.verdict
  const a = r.checkpoints[Math.min(2, r.checkpoints.length - 1)]!
  const b = r.checkpoints.at(-1)!
  const total = rates(b)
  console.log(`\n== ${r.mode}: ${r.description}`)
  console.log(HEADER)
  for (const cp of r.checkpoints) console.log(row(cp))
  console.log(`throughput: ${total.sessions} sessions/s, ${total.events} events/s (${b.events} events, ${r.opencodeSessions} opencode sessions, ${(b.replayMs / 1000).toFixed(1)} s)`)
  for (const w of r.warnings) console.log(`opencode log: ${w}`)
  if (r.topGrowth.length > 0)
    console.log(`object types grown most (${a.sessions} -> ${b.sessions}): ${r.topGrowth.map((g) => `${g.type} +${g.to - g.from}`).join(", ")}`)
  const perSession = b.sessions > a.sessions ? round(((b.heapUsedMb - a.heapUsedMb) * 1024 * 1024) / (b.sessions - a.sessions), 0) : 0
  console.log(
    `HEAP ${r.mode}: ${v.heapFlat ? "flat" : "GROWING"} — ${a.heapUsedMb.toFixed(1)} -> ${b.heapUsedMb.toFixed(1)} MB ` +
      `(${v.heapGrowthMb >= 0 ? "+" : ""}${v.heapGrowthMb} MB from ${v.heapGrowthFrom} to ${v.heapGrowthTo} sessions, ~${perSession} B/session; flat below ${args.flatMb} MB)`,
  )
}

const pct = (now: number, base: number) => (base === 0 ? "n/a" : `${now >= base ? "+" : ""}${round(((now - base) / base) * 100)}%`)

/** Reads only heap, sessions, events and replay time, which every soak report has (older ones had more). */
const printComparison = (results: ReadonlyArray<ModeResult>, baseline: Report) => {
  console.log(`\n== compared with ${relative(REPO_ROOT, BASELINE)} (${baseline.date}, ${baseline.args.sessions} sessions)`)
  console.log(`${"mode".padEnd(14)} ${pad("heap MB", 16)} ${pad("growth MB", 16)} ${pad("sessions/s", 22)} ${pad("events/s", 24)}`)
  for (const r of results) {
    const base = baseline.modes.find((m) => m.mode === r.mode)
    if (base === undefined) {
      console.log(`${r.mode.padEnd(14)} (not in the baseline)`)
      continue
    }
    const now = r.checkpoints.at(-1)!
    const was = base.checkpoints.at(-1)!
    const [n, w] = [rates(now), rates(was)]
    console.log(
      `${r.mode.padEnd(14)} ${pad(`${now.heapUsedMb.toFixed(1)} / ${was.heapUsedMb.toFixed(1)}`, 16)} ` +
        `${pad(`${r.verdict.heapGrowthMb} / ${base.verdict.heapGrowthMb}`, 16)} ` +
        `${pad(`${n.sessions} / ${w.sessions} ${pct(n.sessions, w.sessions)}`, 22)} ` +
        `${pad(`${n.events} / ${w.events} ${pct(n.events, w.events)}`, 24)}`,
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
  readonly args: Pick<Args, "sessions" | "checkpointEvery" | "collectEvery" | "flatMb" | "modes">
  readonly modes: ReadonlyArray<ModeResult>
  readonly pass: boolean
}

const main = async () => {
  const args = parseArgs(process.argv.slice(2))
  if (args.childOut !== undefined) {
    writeFileSync(args.childOut, JSON.stringify(await runMode(args.modes[0]!, args)))
    return
  }

  // Each mode in a fresh process of this script: one mode's heap and JIT state do not blur the next one's numbers.
  const results: Array<ModeResult> = []
  const scratch = join(tmpdir(), `opencode-otel-soak-${process.pid}`)
  mkdirSync(scratch, { recursive: true })
  try {
    const passthrough = ["--sessions", "--checkpoint-every", "--collect-every", "--flat-mb"].flatMap((name) => {
      const i = process.argv.indexOf(name)
      return i === -1 ? [] : [name, process.argv[i + 1]!]
    })
    for (const mode of args.modes) {
      const out = join(scratch, `${mode}.json`)
      const child = Bun.spawn([process.execPath, "run", import.meta.path, ...passthrough, "--mode", mode, "--child-out", out], {
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

  console.log(`\n######## results: ${args.sessions} sessions per mode, metrics collected every ${args.collectEvery} sessions`)
  for (const r of results) printMode(r, args)

  const report: Report = {
    date: new Date().toISOString(),
    bun: Bun.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: navigator.hardwareConcurrency,
    args: { sessions: args.sessions, checkpointEvery: args.checkpointEvery, collectEvery: args.collectEvery, flatMb: args.flatMb, modes: args.modes },
    modes: results,
    pass: results.every((r) => r.verdict.heapFlat),
  }
  mkdirSync(dirname(args.out), { recursive: true })
  writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`\nwrote ${relative(process.cwd(), args.out)}`)
  if (existsSync(BASELINE)) printComparison(results, JSON.parse(readFileSync(BASELINE, "utf8")) as Report)
  else console.log(`no ${relative(REPO_ROOT, BASELINE)} to compare with (copy a results file there to make one)`)

  console.log(`\n${results.map((r) => `${r.mode}: heap ${r.verdict.heapFlat ? "flat" : "GROWING"}`).join(", ")}`)
  if (args.strict && !report.pass) process.exit(1)
}

await main()
