/**
 * The performance benchmark: what the plugin costs the opencode process it lives in, next to a no-op plugin.
 *
 *   npm run bench                     # N = 100, 1,000, 10,000 sessions, 3 rounds each, then `opencode run` end to end
 *   npm run bench -- --quick          # a smoke run (CI): 20 sessions, 1 round, 1 end-to-end round
 *   bun run bench/run.ts --help
 *
 * Replay (bench/replay.ts, one process per measurement): the plugin is loaded as opencode loads it and recorded
 * opencode sessions (test/fixtures, from the real CLI) flow through its hooks, ids rewritten so that N distinct
 * sessions pass, 10 at a time, interleaved. It exports over OTLP/HTTP to a loopback collector (bench/lib/sink.ts)
 * that answers 200 and counts requests and bytes. Each round measures the no-op plugin and the plugin in
 * alternating order; figures are medians over rounds with min–max, and "plugin − no-op" is taken within a
 * round. Then: one short session per process (requests and bytes until opencode would exit), sessions that never
 * go idle (memory bound), and `opencode run` wall time with and without the plugin (bench/e2e.ts).
 *
 * Results: a table on stdout, .tmp/bench/latest.json (untracked; the previous run's is compared first), and a
 * comparison with bench/results/baseline.json (tracked: copy a run there to make it the reference).
 * Timing is not asserted anywhere: the figures are printed and compared, and the README quotes them.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { cpus, tmpdir, totalmem } from "node:os"
import { dirname, join, relative, resolve } from "node:path"
import { formatE2EReport, runE2EBench, type E2EResult } from "./e2e.ts"
import { startSink, type SinkCounts, type Sink } from "./lib/sink.ts"
import { ensurePeer, peerEnvironment, PEER_PACKAGE, PEER_VERSION } from "./lib/peer.ts"
import type { ReplayOptions, ReplayResult, Variant } from "./replay.ts"

const USAGE = `bun run bench/run.ts [options]
  --sessions A,B,C   session counts (default 100,1000,10000)
  --rounds N         rounds per session count, each measuring the no-op plugin and the plugin (default 3)
  --concurrency N    sessions open at once (default 10)
  --e2e-rounds N     opencode run rounds with and without the plugin (default 6; 0 skips)
  --from src|dist    load the plugin from src/plugin.ts, or from the built package (dist/, npm run build) (default dist if built)
  --peer-dir DIR     where the plain-SDK plugin compared with is installed (default .tmp/bench/peer; installed
                     there on first use: ${PEER_PACKAGE}@${PEER_VERSION})
  --no-peer          measure without the plain-SDK plugin (the default with --quick)
  --quick            smoke run: --sessions 20 --rounds 1 --e2e-rounds 1, no peer
  --out FILE         results file (default .tmp/bench/latest.json)
  --strict           exit 1 if a measurement failed (never on timing)`

interface Args {
  readonly sessions: ReadonlyArray<number>
  readonly rounds: number
  readonly concurrency: number
  readonly e2eRounds: number
  readonly from: "src" | "dist"
  readonly out: string
  readonly strict: boolean
  /** The plain-SDK plugin's install directory, or undefined to measure without it. */
  readonly peerDir: string | undefined
}

const ROOT = join(import.meta.dir, "..")
const RESULTS = join(ROOT, "bench", "results")

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  if (argv.includes("--help")) {
    console.log(USAGE)
    process.exit(0)
  }
  const value = (name: string) => {
    const i = argv.indexOf(name)
    return i === -1 ? undefined : argv[i + 1]
  }
  const quick = argv.includes("--quick")
  const from = value("--from") ?? (existsSync(join(ROOT, "dist", "plugin.js")) ? "dist" : "src")
  if (from !== "src" && from !== "dist") throw new Error("--from takes src or dist")
  return {
    sessions: (value("--sessions") ?? (quick ? "20" : "100,1000,10000")).split(",").map((n) => Number.parseInt(n, 10)),
    rounds: Number(value("--rounds") ?? (quick ? 1 : 3)),
    concurrency: Number(value("--concurrency") ?? 10),
    e2eRounds: Number(value("--e2e-rounds") ?? (quick ? 1 : 6)),
    from,
    out: value("--out") ?? join(ROOT, ".tmp", "bench", "latest.json"),
    strict: argv.includes("--strict"),
    peerDir: argv.includes("--no-peer") || (quick && value("--peer-dir") === undefined) ? undefined : resolve(value("--peer-dir") ?? join(ROOT, ".tmp", "bench", "peer")),
  }
}

// ---- one measurement ------------------------------------------------------------------------------------------

interface Measurement {
  readonly replay: ReplayResult
  readonly sink: SinkCounts
}

const measure = async (sink: Sink, options: Omit<ReplayOptions, "out" | "endpoint" | "protocol">): Promise<Measurement> => {
  const dir = mkdtempSync(join(tmpdir(), "otel-bench-run-"))
  const out = join(dir, "result.json")
  try {
    sink.reset()
    const child = Bun.spawn(
      [process.execPath, join(import.meta.dir, "replay.ts"), "--child", JSON.stringify({ ...options, out, endpoint: sink.url, protocol: "http/protobuf" })],
      {
        stdout: "inherit",
        stderr: "inherit",
        // The peer reads its settings from the environment only; the others get theirs as plugin options.
        env: { ...process.env, NO_COLOR: "1", ...(options.plugin === "peer" ? peerEnvironment(sink.url) : {}) },
      },
    )
    const code = await child.exited
    if (code !== 0 || !existsSync(out)) throw new Error(`replay (${options.plugin}, ${options.sessions} sessions) exited with ${code}`)
    // The plugin delivered everything before its process exited; the sink has counted it.
    return { replay: JSON.parse(readFileSync(out, "utf8")) as ReplayResult, sink: sink.counts() }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---- statistics -----------------------------------------------------------------------------------------------

interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

const spread = (values: ReadonlyArray<number>): Spread => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  return { median, min: sorted[0]!, max: sorted.at(-1)! }
}

const fmt = (n: number, digits = 1) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(digits))
const show = (s: Spread, digits = 1) => (s.min === s.max ? fmt(s.median, digits) : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`)

interface Rounds {
  readonly noop: ReadonlyArray<Measurement>
  readonly plugin: ReadonlyArray<Measurement>
  /** The plain-SDK plugin, when measured. */
  readonly peer?: ReadonlyArray<Measurement> | undefined
}

/** A figure for each variant and the plugin's (and the peer's) excess over the no-op, taken within each round. */
const figure = (rounds: Rounds, read: (m: Measurement) => number) => {
  const noop = rounds.noop.map(read)
  const plugin = rounds.plugin.map(read)
  const peer = rounds.peer?.map(read)
  return {
    noop: spread(noop),
    plugin: spread(plugin),
    excess: spread(plugin.map((p, i) => p - noop[i]!)),
    ratio: spread(noop).median === 0 ? Number.NaN : spread(plugin).median / spread(noop).median,
    ...(peer === undefined || peer.length === 0 ? {} : { peer: spread(peer), peerExcess: spread(peer.map((p, i) => p - noop[i]!)) }),
  }
}
type Figure = ReturnType<typeof figure>

const perSession = (m: Measurement, read: (c: SinkCounts) => number) => read(m.sink) / m.replay.sessions
const requests = (c: SinkCounts) => c.traces.requests + c.logs.requests + c.metrics.requests
const bytes = (c: SinkCounts) =>
  c.traces.bodyBytes + c.logs.bodyBytes + c.metrics.bodyBytes + c.traces.headerBytes + c.logs.headerBytes + c.metrics.headerBytes

const summarize = (rounds: Rounds) => ({
  initMs: figure(rounds, (m) => m.replay.init.importMs + m.replay.init.factoryMs),
  readyMs: figure(rounds, (m) => m.replay.init.readyMs),
  initRssMb: figure(rounds, (m) => m.replay.init.rssMb),
  cpuPerCallUs: figure(rounds, (m) => m.replay.cpu.perCallUs),
  cpuSliceMedianUs: figure(rounds, (m) => m.replay.cpu.sliceMedianUs),
  cpuSliceP99Us: figure(rounds, (m) => m.replay.cpu.sliceP99Us),
  eventSyncMedianUs: figure(rounds, (m) => m.replay.eventSync.medianUs),
  eventSyncP99Us: figure(rounds, (m) => m.replay.eventSync.p99Us),
  heapPer1000Mb: figure(rounds, (m) => m.replay.memory.heapPer1000Mb),
  rssPer1000Mb: figure(rounds, (m) => m.replay.memory.rssPer1000Mb),
  heapEndMb: figure(rounds, (m) => m.replay.memory.end.heapMb),
  requestsPerSession: figure(rounds, (m) => perSession(m, requests)),
  bytesPerSession: figure(rounds, (m) => perSession(m, bytes)),
  disposeMs: figure(rounds, (m) => m.replay.disposeMs),
})
type Summary = ReturnType<typeof summarize>

/** Everything sent arrived: one session.count per opencode session, one turn (invoke_agent) span per turn. */
const delivered = (m: Measurement) =>
  m.sink.sessionCount === m.replay.opencodeSessions && m.sink.sessionSpans === m.replay.opencodeTurns && m.sink.undecodable === 0

// ---- the run --------------------------------------------------------------------------------------------------

const run = async (args: Args) => {
  const started = performance.now()
  const sink = await startSink()
  const problems: Array<string> = []
  const log = (line: string) => console.log(line)
  const common = { concurrency: args.concurrency, from: args.from } as const
  try {
    log(`# opencode-plugin-opentelemetry bench — ${new Date().toISOString()}`)
    log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, bun ${Bun.version}; plugin from ${args.from}`)

    // The plain-SDK plugin compared with, installed on first use (a scratch directory, never the repository).
    let peerEntry: string | undefined
    let peer: BenchResult["peer"]
    if (args.peerDir !== undefined) {
      const ready = await ensurePeer(args.peerDir)
      if ("entry" in ready) {
        peerEntry = ready.entry
        peer = { package: PEER_PACKAGE, version: ready.version }
      } else problems.push(`the plain-SDK plugin is not measured: ${ready.error}`)
    }
    log(peer === undefined ? "compared with: a no-op plugin" : `compared with: a no-op plugin and ${peerLabel(peer)}`)
    const variants: ReadonlyArray<Variant> = peerEntry === undefined ? ["noop", "plugin"] : ["noop", "plugin", "peer"]

    const replays: Record<number, { rounds: Rounds; summary: Summary; delivered: boolean }> = {}
    for (const sessions of args.sessions) {
      const measured: Record<Variant, Array<Measurement>> = { noop: [], plugin: [], peer: [] }
      for (let round = 0; round < args.rounds; round++) {
        // The order rotates every round, so that drift of a noisy machine falls on every variant alike.
        for (let k = 0; k < variants.length; k++) {
          const variant = variants[(k + round) % variants.length]!
          const m = await measure(sink, { ...common, plugin: variant, sessions, ...(variant === "peer" && peerEntry !== undefined ? { peerEntry } : {}) })
          measured[variant].push(m)
          log(`  N=${sessions} round ${round + 1}/${args.rounds} ${variant.padEnd(6)} ${fmt(m.replay.cpu.perCallUs)} µs/call, ${m.replay.calls} calls, ${fmt(m.replay.replayMs, 0)} ms`)
        }
      }
      const { noop, plugin } = measured
      const rounds = { noop, plugin, peer: peerEntry === undefined ? undefined : measured.peer }
      const ok = plugin.every(delivered)
      if (!ok) problems.push(`N=${sessions}: not every session's telemetry arrived (${JSON.stringify(plugin.map((m) => m.sink.sessionCount))} session.count for ${plugin[0]!.replay.opencodeSessions} sessions)`)
      replays[sessions] = { rounds, summary: summarize(rounds), delivered: ok }
    }

    // One short session per process: what `opencode run "Say hello."` sends, from start to exit.
    const shortRounds = Math.max(3, args.rounds)
    const short: Array<Measurement> = []
    for (let round = 0; round < shortRounds; round++)
      short.push(await measure(sink, { ...common, concurrency: 1, plugin: "plugin", sessions: 1, recordings: ["text"], memorySettleMs: 0 }))
    if (!short.every(delivered)) problems.push("short session: its telemetry did not all arrive")
    log(`  short session: ${short.map((m) => `${requests(m.sink)} requests, ${bytes(m.sink)} B`).join("; ")}`)

    // Sessions that never go idle: nothing ends them but the plugin's own bounds (1,000 sessions kept, 10,000
    // metric series, the retry buffers). They fill over the first few thousand sessions, so the run is 4× the
    // largest N and the slope is taken from its first checkpoint (20%) on: a bound shows as a flat line.
    const neverIdleSessions = 4 * Math.max(...args.sessions)
    const neverIdle = {
      noop: [await measure(sink, { ...common, plugin: "noop", sessions: neverIdleSessions, neverIdle: true })],
      plugin: [await measure(sink, { ...common, plugin: "plugin", sessions: neverIdleSessions, neverIdle: true })],
    }
    log(`  never idle, N=${neverIdleSessions}: heap ${fmt(neverIdle.plugin[0]!.replay.memory.end.heapMb)} MB at the end`)

    let e2e: E2EResult | undefined
    if (args.e2eRounds > 0) {
      log(`  opencode run, ${args.e2eRounds} round(s) with and without the plugin ...`)
      e2e = await runE2EBench({
        rounds: args.e2eRounds,
        pluginEntry: args.from === "dist" ? join(ROOT, "dist", "plugin.js") : join(ROOT, "src", "plugin.ts"),
      })
      if (e2e.invalidSamples > 0) problems.push(`opencode run: ${e2e.invalidSamples} invalid sample(s)`)
    }

    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "", memoryGiB: Math.round(totalmem() / 2 ** 30), bun: Bun.version },
      // Relative, so that results committed to the repository name no directory of the machine they ran on.
      args: { ...args, out: relative(ROOT, args.out), peerDir: args.peerDir === undefined ? undefined : relative(ROOT, args.peerDir) },
      replays: Object.fromEntries(Object.entries(replays).map(([n, r]) => [n, { summary: r.summary, delivered: r.delivered, rounds: r.rounds }])),
      short: {
        requests: spread(short.map((m) => requests(m.sink))),
        bytes: spread(short.map((m) => bytes(m.sink))),
        readyMs: spread(short.map((m) => m.replay.init.readyMs)),
        disposeMs: spread(short.map((m) => m.replay.disposeMs)),
        measurements: short,
      },
      neverIdle: { summary: summarize(neverIdle), sessions: neverIdleSessions },
      peer,
      e2e,
      problems,
      totalMs: performance.now() - started,
    }
    log("")
    log(report(result))
    if (e2e !== undefined) log(formatE2EReport(e2e))
    mkdirSync(dirname(args.out), { recursive: true })
    if (existsSync(args.out)) log(compare(JSON.parse(readFileSync(args.out, "utf8")) as BenchResult, result, `the previous run (${relative(process.cwd(), args.out)})`))
    writeFileSync(args.out, `${JSON.stringify(result, null, 1)}\n`)
    const baseline = join(RESULTS, "baseline.json")
    if (existsSync(baseline)) log(compare(JSON.parse(readFileSync(baseline, "utf8")) as BenchResult, result))
    log(`\nresults: ${relative(process.cwd(), args.out)} (${fmt(result.totalMs / 1000, 0)} s)${problems.length > 0 ? `\nPROBLEMS:\n- ${problems.join("\n- ")}` : ""}`)
    return problems
  } finally {
    await sink.stop()
  }
}

type BenchResult = {
  readonly replays: Record<string, { readonly summary: Summary; readonly delivered: boolean }>
  readonly short: { readonly requests: Spread; readonly bytes: Spread; readonly readyMs?: Spread; readonly disposeMs?: Spread }
  readonly neverIdle: { readonly summary: Summary; readonly sessions: number }
  readonly e2e?: E2EResult | undefined
  /** The plain-SDK plugin compared with, when measured. */
  readonly peer?: { readonly package: string; readonly version: string } | undefined
}

const peerLabel = (peer: BenchResult["peer"]) => `${peer?.package ?? PEER_PACKAGE}@${peer?.version ?? PEER_VERSION} (plain OpenTelemetry SDK)`

// ---- report ---------------------------------------------------------------------------------------------------

const report = (result: BenchResult): string => {
  const ns = Object.keys(result.replays).map(Number)
  const rows: Array<[string, (s: Summary) => Figure, number?]> = [
    ["init: import + factory (opencode waits), ms", (s) => s.initMs],
    ["init: until running (background load), ms", (s) => s.readyMs],
    ["init: RSS once running, after GC, MB", (s) => s.initRssMb],
    ["CPU per hook call, µs (whole replay)", (s) => s.cpuPerCallUs, 2],
    ["CPU per hook call, µs (median slice)", (s) => s.cpuSliceMedianUs, 2],
    ["CPU per hook call, µs (p99 slice)", (s) => s.cpuSliceP99Us, 2],
    ["event() synchronous part, µs (median)", (s) => s.eventSyncMedianUs, 2],
    ["event() synchronous part, µs (p99)", (s) => s.eventSyncP99Us, 2],
    ["heap growth per 1,000 sessions, MB", (s) => s.heapPer1000Mb, 2],
    ["RSS growth per 1,000 sessions, MB", (s) => s.rssPer1000Mb, 2],
    ["export requests per session", (s) => s.requestsPerSession, 3],
    ["bytes on the wire per session", (s) => s.bytesPerSession, 0],
    ["dispose, ms", (s) => s.disposeMs],
  ]
  const withPeer = ns.some((n) => result.replays[n]!.summary.cpuPerCallUs.peer !== undefined)
  const lines = [
    withPeer
      ? `## Replay: plugin next to a no-op plugin and ${peerLabel(result.peer)} (median over rounds, min–max)`
      : "## Replay: plugin next to a no-op plugin (median over rounds, min–max)",
    "",
    `| figure | ${ns.map((n) => `N=${n.toLocaleString("en")}: no-op | plugin | ${withPeer ? "plain SDK | " : ""}plugin − no-op | ${withPeer ? "plain SDK − no-op | " : ""}ratio`).join(" | ")} |`,
    `| --- | ${ns.map(() => (withPeer ? "---: | ---: | ---: | ---: | ---: | ---:" : "---: | ---: | ---: | ---:")).join(" | ")} |`,
    ...rows.map(
      ([label, pick, digits]) =>
        `| ${label} | ${ns
          .map((n) => {
            const f = pick(result.replays[n]!.summary)
            const peer = (s: Spread | undefined) => (withPeer ? `${s === undefined ? "–" : show(s, digits)} | ` : "")
            return `${show(f.noop, digits)} | ${show(f.plugin, digits)} | ${peer(f.peer)}${show(f.excess, digits)} | ${peer(f.peerExcess)}${Number.isFinite(f.ratio) ? `${fmt(f.ratio, 2)}×` : "–"}`
          })
          .join(" | ")} |`,
    ),
    ...(withPeer
      ? [
          "",
          "The plain-SDK plugin has no `dispose` (so nothing is flushed at exit: what it had not sent is lost) and sends each",
          "signal on its own interval; its bytes per session count what it sent before its process exited.",
        ]
      : []),
    "",
    `Short session (one \`opencode run\` turn, start to exit): ${show(result.short.requests, 0)} export requests, ${show(result.short.bytes, 0)} bytes` +
      (result.short.disposeMs === undefined ? "." : `; running after ${show(result.short.readyMs!, 0)} ms, dispose (the final flush) ${show(result.short.disposeMs, 0)} ms.`),
    `Never idle (N=${result.neverIdle.sessions.toLocaleString("en")} sessions stopped mid-turn): heap ${show(result.neverIdle.summary.heapEndMb.plugin)} MB at the end (no-op ${show(result.neverIdle.summary.heapEndMb.noop)}), growth ${show(result.neverIdle.summary.heapPer1000Mb.excess, 2)} MB per 1,000 sessions.`,
    "",
    "## Targets",
    "",
    "| target | measured | met |",
    "| --- | --- | --- |",
    ...targets(result).map((t) => `| ${t.target} | ${t.measured} | ${t.met === undefined ? "–" : t.met ? "yes" : "**no**"} |`),
  ]
  return lines.join("\n")
}

interface Target {
  readonly target: string
  readonly measured: string
  readonly met: boolean | undefined
}

export const targets = (result: BenchResult): ReadonlyArray<Target> => {
  const ns = Object.keys(result.replays).map(Number).sort((a, b) => a - b)
  const at = (n: number) => result.replays[n]!.summary
  const smallest = at(ns[0]!)
  const largest = at(ns.at(-1)!)
  const cpu = ns.map((n) => at(n).cpuPerCallUs.excess.median)
  const peerCpu = ns.map((n) => at(n).cpuPerCallUs.peerExcess?.median)
  const e2e = result.e2e
  return [
    {
      target: `CPU per event below the plain-SDK plugin's (${peerLabel(result.peer)}), measured in the same run`,
      measured: peerCpu.every((c) => c === undefined)
        ? "not measured"
        : ns.map((n, i) => `N=${n}: ${fmt(cpu[i]!, 1)} vs ${peerCpu[i] === undefined ? "–" : fmt(peerCpu[i]!, 1)} µs`).join(", "),
      met: peerCpu.every((c) => c === undefined) ? undefined : ns.every((_, i) => peerCpu[i] !== undefined && cpu[i]! < peerCpu[i]!),
    },
    {
      target: "dispose ≤ 50 ms (the final flush of all three signals, replay)",
      measured: ns.map((n) => `N=${n}: ${fmt(at(n).disposeMs.plugin.median, 0)} ms`).join(", "),
      met: ns.every((n) => at(n).disposeMs.plugin.median <= 50),
    },
    {
      target: "CPU ≤ 10 µs per event (plugin − no-op), flat from the smallest to the largest N",
      measured: ns.map((n, i) => `N=${n}: ${fmt(cpu[i]!, 1)} µs`).join(", "),
      met: Math.max(...cpu) <= 10 && cpu.at(-1)! <= cpu[0]! * 1.25,
    },
    {
      target: "synchronous part of event() ≤ 5 µs",
      measured: `median ${fmt(largest.eventSyncMedianUs.plugin.median, 2)} µs, p99 ${fmt(largest.eventSyncP99Us.plugin.median, 2)} µs`,
      met: largest.eventSyncMedianUs.plugin.median <= 5,
    },
    {
      target: "init ≤ 150 ms and ≤ 25 MB RSS (plugin − no-op; until running, not only until opencode goes on)",
      measured: `opencode waits ${fmt(smallest.initMs.excess.median, 1)} ms; running after ${fmt(smallest.readyMs.excess.median, 0)} ms; ${fmt(smallest.initRssMb.excess.median, 1)} MB`,
      met: smallest.readyMs.excess.median <= 150 && smallest.initRssMb.excess.median <= 25,
    },
    {
      target: `heap growth ≤ 0.1 MB per 1,000 finished sessions at N=${ns.at(-1)}`,
      measured: `${fmt(largest.heapPer1000Mb.excess.median, 3)} MB`,
      met: largest.heapPer1000Mb.excess.median <= 0.1,
    },
    {
      target: "memory bounded for sessions that never go idle",
      measured: `heap ${fmt(result.neverIdle.summary.heapEndMb.excess.median, 1)} MB above the no-op after ${result.neverIdle.sessions} sessions, growth ${fmt(result.neverIdle.summary.heapPer1000Mb.excess.median, 3)} MB per 1,000`,
      met: result.neverIdle.summary.heapPer1000Mb.excess.median <= 0.1,
    },
    {
      target: "≤ 3 export requests and ≤ 5 KB on the wire per short session, everything delivered",
      measured: `${fmt(result.short.requests.median, 0)} requests, ${fmt(result.short.bytes.median / 1024, 2)} KB; N=${ns.at(-1)}: ${fmt(largest.requestsPerSession.plugin.median, 3)} requests, ${fmt(largest.bytesPerSession.plugin.median, 0)} B per session`,
      met: result.short.requests.median <= 3 && result.short.bytes.median <= 5 * 1024 && Object.values(result.replays).every((r) => r.delivered),
    },
    {
      target: "`opencode run` wall time within 3% of no plugin",
      measured:
        e2e === undefined || e2e.overheadPct === null
          ? "not run"
          : `${fmt(e2e.stats.plugin.medianMs ?? 0, 0)} vs ${fmt(e2e.stats.none.medianMs ?? 0, 0)} ms: ${fmt(e2e.overheadPct, 1)}% (paired ${fmt(e2e.pairedOverheadPct ?? Number.NaN, 1)}%), ${e2e.roundsRun} rounds`,
      met: e2e?.targetMet ?? undefined,
    },
  ]
}

const compare = (baseline: BenchResult, latest: BenchResult, against = "bench/results/baseline.json"): string => {
  const lines = ["", `## Against ${against} (plugin − no-op, medians)`, "", "| figure | N | before | now |", "| --- | ---: | ---: | ---: |"]
  for (const n of Object.keys(latest.replays)) {
    const before = baseline.replays?.[n]?.summary
    if (before === undefined) continue
    const now = latest.replays[n]!.summary
    for (const [label, key] of [
      ["CPU per call, µs", "cpuPerCallUs"],
      ["init until running, ms", "readyMs"],
      ["init RSS, MB", "initRssMb"],
      ["heap per 1,000 sessions, MB", "heapPer1000Mb"],
      ["requests per session", "requestsPerSession"],
      ["bytes per session", "bytesPerSession"],
      ["dispose, ms", "disposeMs"],
    ] as const)
      lines.push(`| ${label} | ${n} | ${fmt(before[key].excess.median, 2)} | ${fmt(now[key].excess.median, 2)} |`)
  }
  return lines.join("\n")
}

if (import.meta.main) {
  const args = parseArgs(process.argv.slice(2))
  const problems = await run(args)
  process.exit(args.strict && problems.length > 0 ? 1 : 0)
}
