/**
 * End-to-end overhead benchmark: how much longer does a real `opencode run` take with this plugin loaded and
 * exporting than without any plugin? The handler benchmarks measure the plugin in isolation; this one measures
 * what a user waits for, plugin start-up, per-event work and the flush at exit included.
 *
 *   bun run bench/e2e.ts --rounds 8 [--protocol http/protobuf] [--strict] [--json]
 *
 * One sample is one scripted multi-turn session: `opencode run` (the model writes a file, edits it, runs
 * `git status` through bash, then answers), then `opencode run --continue` (it writes another file and
 * answers): 6 scripted model calls, 4 tool calls, plus the title request. The sample's time is the wall time of
 * the two opencode processes, spawn to exit, added up. Every sample gets a fresh git repo; all share one
 * isolated opencode home, warmed by one unmeasured session per variant first.
 *
 * Variants: `none` (no plugin configured) and `plugin` (src/plugin.ts, enabled, exporting to a loopback OTLP
 * receiver). They alternate, and the order flips every round (none, plugin | plugin, none | ...) so that slow
 * drift of the machine falls on both alike. A sample is valid when both processes exited 0, the model's script was
 * answered exactly, the files the tools wrote are there, the second turn continued the first, and (plugin) each
 * process exported to the receiver, `opencode.session.count` among it. Invalid samples are reported and left out of the figures.
 *
 * Everything stays on 127.0.0.1 (the fake model, the receiver); both stop by themselves if this process dies.
 */
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises"
import { join, relative } from "node:path"
import { startFakeLlm, type FakeLlm, type ScriptStep } from "../test/support/fake-llm.ts"
import {
  createOpencodeHome,
  initGitRepo,
  isolatedEnv,
  opencodeVersion,
  type OpencodeHome,
  REPO_ROOT,
  removeOpencodeHome,
  runOpencode,
} from "../test/support/opencode.ts"
import { type Protocol, type Receiver, startReceiver } from "../test/support/otlp-receiver.ts"
import { type Scenario, usage } from "../test/support/scenarios.ts"

// ---- the session every sample runs ----------------------------------------------------------------------------

/** Two turns in one session; the model's calls are consumed in order across both `opencode run`s. */
export const MULTI_TURN_SESSION: Scenario = {
  name: "bench-multi-turn",
  description:
    "Turn 1: write hello.txt, edit it, bash `git status --short`, then text. " +
    "Turn 2 (--continue): write notes.txt, then text.",
  runs: [
    { prompt: "Create hello.txt, change its second line, then show git status." },
    { prompt: "Now write notes.txt.", args: ["--continue"] },
  ],
  script: [
    { toolCall: { name: "write", arguments: { filePath: "hello.txt", content: "line one\nline two\nline three\n" } }, usage: usage(1) },
    {
      toolCall: { name: "edit", arguments: { filePath: "hello.txt", oldString: "line two\n", newString: "line 2\n" } },
      usage: usage(2),
    },
    { toolCall: { name: "bash", arguments: { command: "git status --short" } }, usage: usage(3) },
    { text: "Created hello.txt, edited it and checked git status.", usage: usage(4) },
    { toolCall: { name: "write", arguments: { filePath: "notes.txt", content: "notes\n" } }, usage: usage(1) },
    { text: "Wrote notes.txt.", usage: usage(2) },
  ] satisfies ScriptStep[],
  expect: { exitCodes: [0, 0], sessions: 1 },
}

const SESSION_COUNT_METRIC = "opencode.session.count"
/** The built package's entry (what `npm install` gives opencode) when built, else the source entry. */
export const defaultPluginEntry = (): string => {
  const built = join(REPO_ROOT, "dist", "plugin.js")
  return existsSync(built) ? built : join(REPO_ROOT, "src", "plugin.ts")
}
/** Untracked: a run never changes a file of the repository. */
export const RESULTS_FILE = join(REPO_ROOT, ".tmp", "bench", "e2e-latest.json")

// ---- API ------------------------------------------------------------------------------------------------------

export type Variant = "none" | "plugin"

export interface E2EOptions {
  /** Rounds; each measures one sample of each variant (default 8). */
  readonly rounds?: number
  /** The OTLP protocol of the plugin and the receiver (default "http/protobuf"). */
  readonly protocol?: Protocol
  /** The plugin module opencode loads (default {@link defaultPluginEntry}). */
  readonly pluginEntry?: string
  /** The overhead target in percent (default 3). */
  readonly targetPct?: number
  /** SIGKILL one opencode process after this long (default 120 s). */
  readonly timeoutMs?: number
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void
  /** Stop after the current sample (the partial result is returned, temp dirs removed). */
  readonly signal?: AbortSignal
}

export interface E2ESample {
  readonly variant: Variant
  /** 0-based round; -1 for the warm-up. */
  readonly round: number
  /** Wall time of all the session's opencode processes, spawn to exit, added up. */
  readonly ms: number
  /** Per process (turn), in order. */
  readonly runsMs: number[]
  readonly valid: boolean
  /** Why the sample is invalid (empty when valid). */
  readonly problems: string[]
}

export interface VariantStats {
  readonly variant: Variant
  readonly samples: number
  readonly valid: number
  /** Over the valid samples; null when there are none. */
  readonly medianMs: number | null
  readonly minMs: number | null
  readonly maxMs: number | null
}

export interface E2EResult {
  readonly date: string
  readonly opencodeVersion: string
  readonly bunVersion: string
  readonly platform: string
  readonly protocol: Protocol
  /** The plugin module, relative to the repository. */
  readonly pluginEntry: string
  readonly rounds: number
  /** Rounds actually run (fewer than `rounds` when aborted). */
  readonly roundsRun: number
  readonly session: { readonly name: string; readonly description: string; readonly turns: number; readonly modelCalls: number }
  readonly warmup: E2ESample[]
  readonly samples: E2ESample[]
  readonly stats: { readonly none: VariantStats; readonly plugin: VariantStats }
  /** plugin median / none median; null without valid samples of both. */
  readonly ratio: number | null
  /** (ratio - 1) * 100 */
  readonly overheadPct: number | null
  /** Median over rounds with both samples valid of (plugin / none - 1) * 100: less sensitive to drift. */
  readonly pairedOverheadPct: number | null
  readonly targetPct: number
  /** overheadPct <= targetPct; null when there is no ratio. */
  readonly targetMet: boolean | null
  readonly invalidSamples: number
  /** Wall time of the whole benchmark, set-up and clean-up included. */
  readonly totalMs: number
}

/** Run the benchmark. Never leaves temp dirs or servers behind, also when it throws. */
export async function runE2EBench(options: E2EOptions = {}): Promise<E2EResult> {
  const started = performance.now()
  const rounds = options.rounds ?? 8
  const protocol = options.protocol ?? "http/protobuf"
  const targetPct = options.targetPct ?? 3
  const timeoutMs = options.timeoutMs ?? 120_000
  const pluginEntry = options.pluginEntry ?? defaultPluginEntry()
  const log = options.log ?? (() => {})
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be a positive integer, got ${rounds}`)

  const home = await createOpencodeHome()
  try {
    const measure = (variant: Variant, round: number) => measureSession({ variant, round, home, protocol, timeoutMs, pluginEntry })
    const describe = (s: E2ESample) =>
      `${s.variant.padEnd(6)} ${String(s.ms).padStart(6)} ms${s.valid ? "" : `  INVALID: ${s.problems.join("; ")}`}`

    const warmup: E2ESample[] = []
    for (const variant of ["none", "plugin"] as const) {
      const sample = await measure(variant, -1)
      log(`warm-up  ${describe(sample)}`)
      // A broken set-up would fail every sample, each up to the timeout: stop now.
      if (!sample.valid) throw new Error(`the ${variant} warm-up session failed: ${sample.problems.join("; ")}`)
      warmup.push(sample)
    }

    const samples: E2ESample[] = []
    let roundsRun = 0
    for (let round = 0; round < rounds && !options.signal?.aborted; round++) {
      const order: Variant[] = round % 2 === 0 ? ["none", "plugin"] : ["plugin", "none"]
      for (const variant of order) {
        if (options.signal?.aborted) break
        const sample = await measure(variant, round)
        log(`round ${round + 1}/${rounds}  ${describe(sample)}`)
        samples.push(sample)
      }
      if (samples.filter((s) => s.round === round).length === order.length) roundsRun++
    }

    const stats = { none: statsOf("none", samples), plugin: statsOf("plugin", samples) }
    const ratio = stats.none.medianMs !== null && stats.plugin.medianMs !== null ? stats.plugin.medianMs / stats.none.medianMs : null
    const overheadPct = ratio === null ? null : (ratio - 1) * 100
    return {
      date: new Date().toISOString(),
      opencodeVersion: await opencodeVersion(),
      bunVersion: Bun.version,
      platform: `${process.platform}-${process.arch}, ${navigator.hardwareConcurrency} cpus`,
      protocol,
      pluginEntry: relative(REPO_ROOT, pluginEntry),
      rounds,
      roundsRun,
      session: {
        name: MULTI_TURN_SESSION.name,
        description: MULTI_TURN_SESSION.description,
        turns: MULTI_TURN_SESSION.runs.length,
        modelCalls: MULTI_TURN_SESSION.script.length,
      },
      warmup,
      samples,
      stats,
      ratio,
      overheadPct,
      pairedOverheadPct: pairedOverhead(samples),
      targetPct,
      targetMet: overheadPct === null ? null : overheadPct <= targetPct,
      invalidSamples: samples.filter((s) => !s.valid).length,
      totalMs: Math.round(performance.now() - started),
    }
  } finally {
    await removeOpencodeHome(home)
  }
}

// ---- one sample -----------------------------------------------------------------------------------------------

interface SampleSetup {
  readonly variant: Variant
  readonly round: number
  readonly home: OpencodeHome
  readonly protocol: Protocol
  readonly timeoutMs: number
  readonly pluginEntry: string
}

/**
 * One session of {@link MULTI_TURN_SESSION} in a fresh git repo, against a fresh fake model (and, for the plugin,
 * a fresh receiver). Only the opencode processes are timed; servers and repo are set up and checked outside it.
 */
async function measureSession({ variant, round, home, protocol, timeoutMs, pluginEntry }: SampleSetup): Promise<E2ESample> {
  const session = MULTI_TURN_SESSION
  const serverLifetimeMs = session.runs.length * timeoutMs + 60_000
  let llm: FakeLlm | undefined
  let receiver: Receiver | undefined
  try {
    llm = await startFakeLlm({ script: session.script, lifetimeMs: serverLifetimeMs })
    if (variant === "plugin") receiver = await startReceiver({ protocol, lifetimeMs: serverLifetimeMs })
    const plugins: Array<[string, Record<string, unknown>]> =
      receiver === undefined ? [] : [[pluginEntry, { enabled: true, endpoint: receiver.url, protocol }]]

    const project = await mkdtemp(join(home.root, "project-"))
    await initGitRepo(project, isolatedEnv(home))

    const problems: string[] = []
    const runsMs: number[] = []
    /** Index into llm.requests of each turn's first request. */
    const turnFirstRequest: number[] = []
    for (const [turn, run] of session.runs.entries()) {
      const requestsBefore = receiver?.requests.length ?? 0
      turnFirstRequest.push(llm.requests.length)
      const result = await runOpencode({
        prompt: run.prompt,
        llmUrl: llm.url,
        plugins,
        cwd: project,
        home,
        extraArgs: run.args ?? [],
        timeoutMs,
      })
      runsMs.push(result.durationMs)
      const expectedExit = session.expect.exitCodes[turn] ?? 0
      if (result.exitCode !== expectedExit) {
        const why = result.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${result.exitCode ?? result.signal}`
        problems.push(`turn ${turn + 1}: ${why}: ${lastLine(result.stderr)}`)
      }
      if (receiver !== undefined) {
        // dispose flushes before exit, so this normally holds at once; the grace is outside the measured time.
        const exported = await receiver
          .waitFor((r) => r.requests.length > requestsBefore && r.requests.every((q) => q.accepted), 3_000)
          .then(() => true, () => false)
        if (!exported) problems.push(`turn ${turn + 1}: nothing (or nothing valid) exported to the receiver`)
      }
    }
    // The session is created in the first turn only, so that is where session.count is recorded.
    if (receiver !== undefined && !receiver.metrics().some((m) => m.name === SESSION_COUNT_METRIC)) {
      problems.push(`the receiver got no ${SESSION_COUNT_METRIC} (${receivedSummary(receiver)})`)
    }
    problems.push(...(await sessionProblems(llm, project, turnFirstRequest[1] ?? 0)))
    return { variant, round, ms: runsMs.reduce((a, b) => a + b, 0), runsMs, valid: problems.length === 0, problems }
  } finally {
    await receiver?.stop()
    await llm?.stop()
  }
}

/** What shows that the session ran as scripted: every model call answered once, the tools' files, a continued turn. */
async function sessionProblems(llm: FakeLlm, project: string, secondTurnStart: number): Promise<string[]> {
  const session = MULTI_TURN_SESSION
  const problems: string[] = []
  const scripted = llm.requests.filter((r) => r.kind === "script")
  const answered = scripted.filter((r) => r.step !== undefined).length
  if (answered !== session.script.length || scripted.length !== answered) {
    problems.push(`model calls: ${scripted.length} (${answered} scripted), expected ${session.script.length}`)
  }
  const hello = await readFile(join(project, "hello.txt"), "utf8").catch(() => undefined)
  if (hello !== "line one\nline 2\nline three\n") problems.push("hello.txt was not written and edited")
  if (!existsSync(join(project, "notes.txt"))) problems.push("notes.txt was not written")
  // The second turn's first model call carries the first turn's prompt only when it continued that session.
  const firstPrompt = session.runs[0]!.prompt
  const secondTurnFirstCall = llm.requests.slice(secondTurnStart).find((r) => r.kind === "script")
  if (secondTurnFirstCall === undefined || !JSON.stringify(secondTurnFirstCall.body).includes(firstPrompt)) {
    problems.push("the second turn did not continue the first turn's session")
  }
  return problems
}

/** e.g. "traces 3, metrics 2 [opencode.token.usage, ...], logs 4" */
function receivedSummary(receiver: Receiver): string {
  const count = (signal: string) => receiver.requests.filter((r) => r.signal === signal).length
  const metricNames = [...new Set(receiver.metrics().map((m) => m.name))]
  return `got traces ${count("traces")}, metrics ${count("metrics")} [${metricNames.join(", ")}], logs ${count("logs")} request(s)`
}

const lastLine = (text: string): string => text.trim().split("\n").at(-1)?.slice(0, 200) ?? ""

// ---- figures --------------------------------------------------------------------------------------------------

const median = (values: number[]): number | null => {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function statsOf(variant: Variant, samples: E2ESample[]): VariantStats {
  const mine = samples.filter((s) => s.variant === variant)
  const times = mine.filter((s) => s.valid).map((s) => s.ms)
  return {
    variant,
    samples: mine.length,
    valid: times.length,
    medianMs: median(times),
    minMs: times.length > 0 ? Math.min(...times) : null,
    maxMs: times.length > 0 ? Math.max(...times) : null,
  }
}

function pairedOverhead(samples: E2ESample[]): number | null {
  const perRound: number[] = []
  for (const round of new Set(samples.map((s) => s.round))) {
    const none = samples.find((s) => s.round === round && s.variant === "none")
    const plugin = samples.find((s) => s.round === round && s.variant === "plugin")
    if (none?.valid && plugin?.valid) perRound.push((plugin.ms / none.ms - 1) * 100)
  }
  return median(perRound)
}

// ---- report ---------------------------------------------------------------------------------------------------

const fmtMs = (ms: number | null) => (ms === null ? "-" : String(Math.round(ms)))
const fmtPct = (pct: number | null) => (pct === null ? "-" : `${pct >= 0 ? "+" : ""}${pct.toFixed(1)}%`)

/** A markdown table per variant, then the ratio, the overhead against the target and any invalid samples. */
export function formatE2EReport(result: E2EResult): string {
  const row = (s: VariantStats) => `| ${s.variant} | ${s.valid}/${s.samples} | ${fmtMs(s.medianMs)} | ${fmtMs(s.minMs)} | ${fmtMs(s.maxMs)} |`
  const verdict = result.targetMet === null ? "no figure" : result.targetMet ? "met" : "NOT met"
  const lines = [
    `opencode ${result.opencodeVersion}, ${result.session.turns} turns / ${result.session.modelCalls} model calls per sample, ` +
      `plugin exporting over ${result.protocol}, ${result.roundsRun} round(s), ${result.platform}`,
    "",
    "| variant | valid | median ms | min ms | max ms |",
    "| --- | ---: | ---: | ---: | ---: |",
    row(result.stats.none),
    row(result.stats.plugin),
    "",
    `ratio plugin/none (medians): ${result.ratio === null ? "-" : result.ratio.toFixed(3)}, ` +
      `overhead ${fmtPct(result.overheadPct)} (per-round paired median ${fmtPct(result.pairedOverheadPct)}); ` +
      `target within ${result.targetPct}%: ${verdict}`,
  ]
  const invalid = result.samples.filter((s) => !s.valid)
  if (invalid.length > 0) {
    lines.push("", `${invalid.length} INVALID sample(s), left out of the figures:`)
    for (const s of invalid) lines.push(`- round ${s.round + 1} ${s.variant}: ${s.problems.join("; ")}`)
  }
  lines.push("", `total ${(result.totalMs / 1000).toFixed(1)} s`)
  return lines.join("\n")
}

// ---- CLI ------------------------------------------------------------------------------------------------------

const PROTOCOLS: Protocol[] = ["http/protobuf", "grpc", "http/json"]

const USAGE = `bun run bench/e2e.ts [options]
  --rounds N         rounds, each one sample with and one without the plugin (default 8)
  --protocol P       OTLP protocol of the plugin and the receiver: ${PROTOCOLS.join(", ")} (default http/protobuf)
  --strict           exit 1 when a sample is invalid (a failed run, or no ${SESSION_COUNT_METRIC} received)
  --json             print the JSON result instead of the table
  --help             this text
Writes ${relative(REPO_ROOT, RESULTS_FILE)}. Progress goes to stderr.`

interface CliArgs {
  readonly rounds: number
  readonly protocol: Protocol
  readonly strict: boolean
  readonly json: boolean
}

function parseCliArgs(argv: string[]): CliArgs | "help" {
  let rounds = 8
  let protocol: Protocol = "http/protobuf"
  let strict = false
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === "--help" || arg === "-h") return "help"
    else if (arg === "--strict") strict = true
    else if (arg === "--json") json = true
    else if (arg === "--rounds") {
      rounds = Number(argv[++i])
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds expects a positive integer")
    } else if (arg === "--protocol") {
      const value = argv[++i]
      if (!PROTOCOLS.includes(value as Protocol)) throw new Error(`--protocol expects one of ${PROTOCOLS.join(", ")}`)
      protocol = value as Protocol
    } else throw new Error(`unknown argument ${arg}\n${USAGE}`)
  }
  return { rounds, protocol, strict, json }
}

async function main(): Promise<number> {
  const args = parseCliArgs(process.argv.slice(2))
  if (args === "help") {
    console.log(USAGE)
    return 0
  }
  // Ctrl-C: finish the current sample, then clean up and report what was measured. A second one exits at once.
  const abort = new AbortController()
  process.once("SIGINT", () => {
    console.error("[e2e] interrupted: stopping after the current sample (Ctrl-C again to quit at once)")
    abort.abort()
    process.once("SIGINT", () => process.exit(130))
  })
  const result = await runE2EBench({
    rounds: args.rounds,
    protocol: args.protocol,
    signal: abort.signal,
    log: (line) => console.error(`[e2e] ${line}`),
  })
  await mkdir(join(RESULTS_FILE, ".."), { recursive: true })
  await writeFile(RESULTS_FILE, JSON.stringify(result, null, 2) + "\n")
  console.log(args.json ? JSON.stringify(result, null, 2) : formatE2EReport(result))
  console.error(`[e2e] wrote ${relative(REPO_ROOT, RESULTS_FILE)}`)
  return args.strict && result.invalidSamples > 0 ? 1 : 0
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`[e2e] ${error instanceof Error ? error.message : String(error)}`)
      process.exit(1)
    },
  )
}
