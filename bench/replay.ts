/**
 * One replay, in a process of its own: loads a plugin as opencode does (the module's exported function, called
 * with opencode's plugin input and the plugin's options), feeds it recorded opencode sessions through its hooks,
 * and measures what the plugin costs the process it lives in. `bench/run.ts` starts these, alternating the real
 * plugin with a no-op one, and reads the collector's counts.
 *
 * Sessions are interleaved: `concurrency` of them are open at once and get one hook call each in turn, as the
 * sessions of one opencode server (or a TUI with subagents) would. `event` is called without being awaited, as
 * opencode does; `chat.message`, `tool.execute.before` and `shell.env` are awaited, as opencode does. The event
 * loop turns every few calls, so timers, I/O and the plugin's background work run during the replay, as they
 * would between a real session's events.
 *
 *   bun run bench/replay.ts --child '{"plugin":"plugin","sessions":100,...}'   (see ReplayOptions)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { instantiate, loadRecordings, neverIdle, turnsIn, type HookCall } from "./lib/streams.ts"

/** The plugin measured: this one, the no-op floor, or the plain-SDK plugin compared with (bench/lib/peer.ts). */
export type Variant = "plugin" | "noop" | "peer"

export interface ReplayOptions {
  readonly plugin: Variant
  /** The peer's entry module (variant `peer`). */
  readonly peerEntry?: string
  /** The plugin's module: the source entry (src/plugin.ts) or the built package entry (dist/plugin.js). */
  readonly from: "src" | "dist"
  /** Recorded sessions to replay (each recording's replay counts as one; a subagent replay opens two opencode sessions). */
  readonly sessions: number
  /** Sessions open at once. */
  readonly concurrency: number
  /** The collector's base URL (http/protobuf or http/json). */
  readonly endpoint: string
  readonly protocol: "http/protobuf" | "http/json"
  /** Extra plugin options (OPENCODE_* option names). */
  readonly settings?: Readonly<Record<string, string>>
  /** Only these recordings (default: all, round-robin). */
  readonly recordings?: ReadonlyArray<string>
  /** Stop every session before its first session.idle. */
  readonly neverIdle?: boolean
  /**
   * How long to let background work finish before measuring memory (default 1,500 ms, past the end-of-turn
   * flush). 0 ends as `opencode run` does, disposing right after the last turn.
   */
  readonly memorySettleMs?: number
  /** Result file. */
  readonly out: string
}

export interface ReplayResult {
  readonly plugin: Variant
  readonly sessions: number
  readonly opencodeSessions: number
  /** Turns replayed (prompts and subagent sessions): one trace, rooted at an invoke_agent span, each. */
  readonly opencodeTurns: number
  readonly calls: number
  readonly events: number
  readonly init: {
    /** `import()` of the plugin module. */
    readonly importMs: number
    /** The plugin function, until its hooks are returned (what opencode waits for). */
    readonly factoryMs: number
    /** From the import until the plugin handled its first awaited hook: it is running (loaded in the background). */
    readonly readyMs: number
    /** RSS and heap once ready, after a full GC, minus before the import. */
    readonly rssMb: number
    readonly heapMb: number
  }
  readonly cpu: {
    /** Process CPU (user + system) of the whole replay, background work included, per hook call. */
    readonly perCallUs: number
    /** Per hook call within each slice of sessions: the median and 99th percentile over slices. */
    readonly sliceMedianUs: number
    readonly sliceP99Us: number
    readonly slices: number
  }
  /** Wall time of the synchronous part of `event()` (until it returns its promise): what opencode's bus waits for. */
  readonly eventSync: { readonly medianUs: number; readonly p99Us: number }
  readonly memory: {
    /** After a full GC, at 20, 40, 60 and 80% of the sessions and at the end. */
    readonly checkpoints: ReadonlyArray<{ readonly sessions: number; readonly heapMb: number; readonly rssMb: number }>
    readonly end: { readonly heapMb: number; readonly rssMb: number }
    /**
     * The least-squares slope through the checkpoints, per 1,000 sessions. One GC'd heap reading varies by a few
     * MB (what is in flight, conservative stack scanning); the slope over five is steadier than end minus start.
     */
    readonly heapPer1000Mb: number
    readonly rssPer1000Mb: number
  }
  readonly replayMs: number
  readonly disposeMs: number
  /** What the plugin wrote to opencode's log at warn or error (the first 20). */
  readonly warnings: ReadonlyArray<string>
}

const MB = 1024 * 1024
const MEMORY_SETTLE_MS = 1_500
const now = () => performance.now()
const cpuMicros = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
/**
 * Lets pending background work finish, then collects all garbage. Memory is measured after `ms`: long enough for
 * the plugin's end-of-turn flush (1 s after the last turn) to have sent what it holds, so that the heap shows
 * what the plugin keeps, not what happens to be in flight.
 */
const settle = async (ms = 50): Promise<{ readonly backgroundCpu: number }> => {
  const cpu = cpuMicros()
  for (let i = 0; i < 3; i++) await turn()
  await sleep(ms)
  // The plugin's background work while waiting (a flush) is part of its cost; the forced GC is not.
  const backgroundCpu = cpuMicros() - cpu
  Bun.gc(true)
  Bun.gc(true)
  return { backgroundCpu }
}
const memory = () => {
  const m = process.memoryUsage()
  return { heapMb: m.heapUsed / MB, rssMb: m.rss / MB }
}

/** Least-squares slope of y over x; 0 with fewer than two points. */
export const slope = (points: ReadonlyArray<readonly [number, number]>): number => {
  if (points.length < 2) return 0
  const mx = points.reduce((a, [x]) => a + x, 0) / points.length
  const my = points.reduce((a, [, y]) => a + y, 0) / points.length
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0)
  return sxx === 0 ? 0 : points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx
}

export const quantile = (values: ArrayLike<number>, q: number): number => {
  const sorted = Float64Array.from(values).sort()
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** opencode's plugin input, as far as a plugin can tell: an SDK client whose log is kept here, the project. */
const pluginInput = (directory: string, warnings: Array<string>) => ({
  client: {
    app: {
      log: async (options: { body: { level: string; message: string } }) => {
        if (options.body.level !== "debug" && options.body.level !== "info" && warnings.length < 20) warnings.push(options.body.message)
        return true
      },
    },
  },
  project: { id: "bench", worktree: directory, vcs: "git" },
  directory,
  worktree: directory,
  serverUrl: new URL("http://localhost:4096/"),
})

type Hooks = {
  event?: (input: { event: unknown }) => Promise<void>
  "chat.message"?: (input: unknown, output: unknown) => Promise<void>
  "tool.execute.before"?: (input: unknown, output: unknown) => Promise<void>
  "shell.env"?: (input: unknown, output: { env: Record<string, string | undefined> }) => Promise<void>
  dispose?: () => Promise<void>
}

export const replay = async (options: ReplayOptions): Promise<ReplayResult> => {
  // Everything the replay itself needs is loaded and built before the plugin, so init measures only the plugin.
  const all = loadRecordings()
  const recordings = options.recordings === undefined ? all : all.filter((r) => options.recordings!.includes(r.name))
  if (recordings.length === 0) throw new Error(`no recording named ${options.recordings?.join(", ")}`)
  const directory = mkdtempSync(join(tmpdir(), "otel-bench-"))
  const warnings: Array<string> = []
  const input = pluginInput(directory, warnings)
  const pluginOptions = { enabled: "1", endpoint: options.endpoint, protocol: options.protocol, ...options.settings }
  const maxCalls = Math.max(...recordings.map((r) => r.calls))
  const syncSamples = new Float64Array(options.sessions * maxCalls)
  await settle()

  // ---- init: import + factory ----
  const before = memory()
  const t0 = now()
  const path =
    options.plugin === "noop"
      ? "./lib/noop-plugin.ts"
      : options.plugin === "peer"
        ? options.peerEntry!
        : options.from === "dist"
          ? "../dist/plugin.js"
          : "../src/plugin.ts"
  const module: Record<string, unknown> = await import(path)
  const t1 = now()
  // As opencode does: every exported function is a plugin (each module here exports one).
  const plugin = Object.values(module).find((value) => typeof value === "function") as (input: unknown, options: unknown) => Promise<Hooks>
  const hooks = await plugin(input, pluginOptions)
  const t2 = now()
  // An awaited hook resolves once the plugin has handled it: the plugin is then fully started. (A session it has
  // never seen: nothing is recorded.)
  await hooks["shell.env"]?.({ cwd: directory, sessionID: "ses_bench_ready", callID: "ready" }, { env: {} })
  const t3 = now()
  await settle()
  const afterInit = memory()

  // ---- replay ----
  const sliceSize = Math.max(1, Math.floor(options.sessions / 20))
  // From 20% of N on (at N = 10,000 the store of idle sessions, 1,000, is full by then), growth is what leaks.
  const checkpointAt = new Set([1, 2, 3, 4].map((k) => Math.floor((options.sessions * k) / 5)).filter((n) => n > 0))
  const checkpoints: Array<{ sessions: number; heapMb: number; rssMb: number }> = []
  const slices: Array<number> = []
  let started = 0
  let finished = 0
  let opencodeSessions = 0
  let opencodeTurns = 0
  let calls = 0
  let events = 0
  let sliceCalls = 0
  let replayCpu = 0
  let replayMs = 0

  type Open = { readonly calls: ReadonlyArray<HookCall>; next: number }
  const open: Array<Open> = []
  const openNext = () => {
    if (started >= options.sessions) return
    const recording = recordings[started % recordings.length]!
    const sessionCalls = instantiate(recording, started)
    const replayed = options.neverIdle ? neverIdle(sessionCalls) : sessionCalls
    open.push({ calls: replayed, next: 0 })
    opencodeSessions += recording.sessions
    opencodeTurns += options.neverIdle ? turnsIn(replayed) : recording.turns
    started++
  }
  while (open.length < options.concurrency && started < options.sessions) openNext()

  const deliver = async (call: HookCall) => {
    calls++
    switch (call.hook) {
      case "event": {
        const t = now()
        void hooks.event?.({ event: call.input })
        syncSamples[events++] = now() - t
        return
      }
      case "chat.message":
        return hooks["chat.message"]?.(call.input, call.output)
      case "tool.execute.before":
        return hooks["tool.execute.before"]?.(call.input, call.output)
      case "shell.env":
        return hooks["shell.env"]?.(call.input, { env: {} })
    }
  }

  let cpuAt = cpuMicros()
  let sliceStart = cpuAt
  let wallStart = now()
  let index = 0
  while (open.length > 0) {
    index = index % open.length
    const session = open[index]!
    await deliver(session.calls[session.next++]!)
    sliceCalls++
    if (calls % 16 === 0) await turn()
    if (session.next < session.calls.length) {
      index++
      continue
    }
    open.splice(index, 1)
    finished++
    openNext()
    if (finished % sliceSize === 0) {
      const cpu = cpuMicros()
      slices.push((cpu - sliceStart) / sliceCalls)
      sliceStart = cpu
      sliceCalls = 0
    }
    if (checkpointAt.has(finished) && finished < options.sessions) {
      // The pause for this measurement is kept out of the wall time and, but for the plugin's background work
      // during it, out of the CPU time.
      replayCpu += cpuMicros() - cpuAt
      replayMs += now() - wallStart
      replayCpu += (await settle(options.memorySettleMs ?? MEMORY_SETTLE_MS)).backgroundCpu
      checkpoints.push({ sessions: finished, ...memory() })
      cpuAt = cpuMicros()
      sliceStart = cpuAt
      wallStart = now()
    }
  }
  // The plugin's work on the last events (and what it sends in the background) belongs to the replay.
  for (let i = 0; i < 3; i++) await turn()
  replayCpu += cpuMicros() - cpuAt
  replayMs += now() - wallStart
  await settle(options.memorySettleMs ?? MEMORY_SETTLE_MS)
  const end = memory()
  checkpoints.push({ sessions: finished, ...end })

  // ---- dispose ----
  const disposeStart = now()
  await hooks.dispose?.()
  const disposeMs = now() - disposeStart
  rmSync(directory, { recursive: true, force: true })

  const sync = syncSamples.subarray(0, events)
  return {
    plugin: options.plugin,
    sessions: finished,
    opencodeSessions,
    opencodeTurns,
    calls,
    events,
    init: {
      importMs: t1 - t0,
      factoryMs: t2 - t1,
      readyMs: t3 - t0,
      rssMb: afterInit.rssMb - before.rssMb,
      heapMb: afterInit.heapMb - before.heapMb,
    },
    cpu: {
      perCallUs: replayCpu / calls,
      sliceMedianUs: quantile(slices, 0.5),
      sliceP99Us: quantile(slices, 0.99),
      slices: slices.length,
    },
    eventSync: { medianUs: quantile(sync, 0.5) * 1000, p99Us: quantile(sync, 0.99) * 1000 },
    memory: {
      checkpoints,
      end,
      heapPer1000Mb: slope(checkpoints.map((c) => [c.sessions, c.heapMb])) * 1000,
      rssPer1000Mb: slope(checkpoints.map((c) => [c.sessions, c.rssMb])) * 1000,
    },
    replayMs,
    disposeMs,
    warnings,
  }
}

if (import.meta.main) {
  const i = process.argv.indexOf("--child")
  if (i === -1) {
    console.error("bench/replay.ts is started by bench/run.ts (npm run bench)")
    process.exit(2)
  }
  const options = JSON.parse(process.argv[i + 1]!) as ReplayOptions
  const result = await replay(options)
  writeFileSync(options.out, JSON.stringify(result))
  // Whatever the plugin left behind must not keep the process (opencode exits after dispose the same way).
  process.exit(0)
}
