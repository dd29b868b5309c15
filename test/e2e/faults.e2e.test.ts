/**
 * Reliability and security: whatever goes wrong on the telemetry side, opencode is never harmed.
 *
 * Each fault runs the real pinned opencode CLI (`opencode run`, the fake LLM's default one-answer script, a fresh
 * fake LLM per run) with the plugin loaded from src/plugin.ts, and is compared with baseline runs without the
 * plugin:
 * - same exit code and byte-identical stdout (nothing from the plugin reaches the terminal), and the same
 *   non-log stderr lines (opencode's "> build · m" banner and nothing else);
 * - the user's answer is not delayed: time from launch to the answer on stdout, against the baselines' median
 *   (tolerance below, generous because other heavy tests share the machine);
 * - opencode exits within the shutdown budget (OPENCODE_OTLP_SHUTDOWN_TIMEOUT=1500) after the turn ends: from
 *   opencode's own `exiting loop` log line to the process's exit and its output pipes closing;
 * - the plugin's messages in opencode's log (`--print-logs`) are few and clear, and no header value appears in
 *   stdout or stderr.
 * Events of an unexpected shape and exceptions inside handlers cannot be provoked through opencode, so those are
 * checked on the plugin's hooks directly.
 *
 * The measured figures are written to .tmp/faults.results.md (a Markdown table, not tracked) at the end of the run;
 * docs/reliability.md holds the figures of one run.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { spawn } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { mkdtemp } from "node:fs/promises"
import { createServer, type AddressInfo, type Server, type Socket } from "node:net"
import { loadavg } from "node:os"
import { join } from "node:path"
import { OpenTelemetryPlugin } from "../../src/plugin.ts"
import { VARIABLES, type Variable } from "../../src/services/Config.ts"
import { DEFAULT_ANSWER, startFakeLlm } from "../support/fake-llm.ts"
import {
  createOpencodeHome,
  fakeProviderConfig,
  initGitRepo,
  isolatedEnv,
  opencodeBin,
  REPO_ROOT,
  removeOpencodeHome,
  type OpencodeHome,
  type PluginSpec,
} from "../support/opencode.ts"
import { latestPoints } from "../lib/received.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"
import { captureClient } from "../lib/telemetry.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
/** Untracked (.tmp/ is ignored): a test never writes a file of the repository. */
const RESULTS = join(REPO_ROOT, ".tmp", "faults.results.md")
const PROMPT = "Say hello to the telemetry test."
const PREFIX = "opencode-plugin-opentelemetry: "
/** OPENCODE_OTLP_SHUTDOWN_TIMEOUT for every fault run: tight, to show that it is honoured. */
const BUDGET_MS = 1500
const BASELINE_RUNS = 3
/**
 * Allowed extra time to the answer: 1.5 s plus a quarter of the reference (on a loaded machine the baseline
 * itself varies by seconds from run to run). A plugin that made opencode wait on the collector or the header
 * helper would add at least the budget or the helper's timeout; a run outside the tolerance is measured twice.
 */
const answerTolerance = (median: number) => 1500 + Math.round(median / 4)
/**
 * Allowed time from the end of the turn to exit: the budget, opencode's own time to exit, and 1 s of slack
 * (less than the 3000 ms default budget, so a budget that was not honoured would show).
 */
const exitTolerance = (baselineExit: number) => BUDGET_MS + baselineExit + 1000
/** A fresh baseline run after this many fault runs. */
const RUNS_PER_BASELINE = 6
const RUN_TIMEOUT_MS = 120_000
const TEST_TIMEOUT_MS = 180_000

// ---------------------------------------------------------------------------------------------------------------
// Running opencode, measured

interface Measured {
  readonly exitCode: number | null
  readonly signal: string | null
  readonly timedOut: boolean
  readonly stdout: string
  readonly stderr: string
  /** opencode's log lines (`timestamp=... level=... message=...`). */
  readonly logs: ReadonlyArray<string>
  /** Launch to the answer's appearance on stdout (ms); undefined if it never appeared. */
  readonly answerMs: number | undefined
  /** opencode's prompt loop, `loop step=0` to `exiting loop`, from its log timestamps (ms). */
  readonly turnMs: number | undefined
  /** `exiting loop` to the process's exit (ms). */
  readonly exitAfterTurnMs: number | undefined
  /** `exiting loop` to the output pipes closing (what a shell waiting on opencode's output sees) (ms). */
  readonly closeAfterTurnMs: number | undefined
  readonly totalMs: number
  /** The plugin's messages (text after the prefix). */
  readonly messages: ReadonlyArray<string>
}

const logTime = (line: string | undefined): number | undefined => {
  const m = line === undefined ? null : /^timestamp=(\S+)/.exec(line)
  if (m === null) return undefined
  const t = Date.parse(m[1]!)
  return Number.isNaN(t) ? undefined : t
}

/** The text of a plugin message in an opencode log line (`message="opencode-plugin-opentelemetry: ..."`). */
/**
 * The start line and the first-delivery confirmations, in every run where the plugin starts
 * (test/e2e/mismatch.e2e.test.ts checks them): the messages compared here are what a fault adds.
 */
const HEALTHY_LINES = /^(Telemetry started \(profile |OTLP (traces|logs|metrics): first export delivered to )/

const messageOf = (line: string): string => {
  const start = line.indexOf(PREFIX)
  let text = line.slice(start + PREFIX.length)
  // opencode quotes the value; the rest of the line holds other fields, if any.
  const end = text.search(/(?<!\\)"(\s|$)/)
  if (end >= 0) text = text.slice(0, end)
  return text.replace(/\\"/g, '"')
}

/** One `opencode run` against a fresh fake LLM, with timings taken from outside and from opencode's log. */
const runOpencode = async (options: {
  readonly home: OpencodeHome
  readonly plugins?: ReadonlyArray<PluginSpec>
  readonly env?: Record<string, string>
}): Promise<Measured> => {
  const llm = await startFakeLlm({ lifetimeMs: RUN_TIMEOUT_MS + 30_000 })
  try {
    const config = fakeProviderConfig(llm.url, [...(options.plugins ?? [])])
    const env = isolatedEnv(options.home, { OPENCODE_CONFIG_CONTENT: JSON.stringify(config), ...(options.env ?? {}) })
    const cwd = await mkdtemp(join(options.home.root, "project-"))
    await initGitRepo(cwd, env)
    env["PWD"] = cwd
    delete env["OLDPWD"]
    return await new Promise<Measured>((resolve, reject) => {
      const started = Date.now()
      const child = spawn(opencodeBin(), ["run", "--print-logs", "--log-level", "INFO", PROMPT], {
        cwd,
        env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      })
      const out: Array<Buffer> = []
      const err: Array<Buffer> = []
      let answerAt: number | undefined
      let exitedAt: number | undefined
      child.stdout!.on("data", (b: Buffer) => {
        out.push(b)
        if (answerAt === undefined && Buffer.concat(out).toString("utf8").includes(DEFAULT_ANSWER)) answerAt = Date.now()
      })
      child.stderr!.on("data", (b: Buffer) => err.push(b))
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        try {
          process.kill(-child.pid!, "SIGKILL")
        } catch {
          child.kill("SIGKILL")
        }
      }, RUN_TIMEOUT_MS)
      child.on("exit", () => void (exitedAt = Date.now()))
      child.on("error", (e) => {
        clearTimeout(timer)
        reject(e)
      })
      child.on("close", (code, signal) => {
        clearTimeout(timer)
        const closedAt = Date.now()
        const stderr = Buffer.concat(err).toString("utf8")
        const logs = stderr.split("\n").filter((l) => l.startsWith("timestamp="))
        const turnStart = logTime(logs.find((l) => /message=loop .*step=0\b/.test(l)))
        const turnEnd = logTime(logs.find((l) => l.includes('message="exiting loop"')))
        resolve({
          exitCode: code,
          signal: signal ?? null,
          timedOut,
          stdout: Buffer.concat(out).toString("utf8"),
          stderr,
          logs,
          answerMs: answerAt === undefined ? undefined : answerAt - started,
          turnMs: turnStart === undefined || turnEnd === undefined ? undefined : turnEnd - turnStart,
          exitAfterTurnMs: turnEnd === undefined ? undefined : (exitedAt ?? closedAt) - turnEnd,
          closeAfterTurnMs: turnEnd === undefined ? undefined : closedAt - turnEnd,
          totalMs: closedAt - started,
          messages: logs.filter((l) => l.includes(PREFIX)).map(messageOf).filter((m) => !HEALTHY_LINES.test(m)),
        })
      })
    })
  } finally {
    await llm.stop()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Baselines, comparison, results

const median = (values: ReadonlyArray<number>) => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2)
}

let home: OpencodeHome
let scratch: string
/** Runs without the plugin, interleaved with the fault runs so that the reference follows the machine's load. */
const baselines: Array<Measured> = []
let runsSinceBaseline = 0

interface Reference {
  readonly answerMs: number
  readonly turnMs: number
  readonly exitAfterTurnMs: number
}
/** Medians of the latest baselines. */
const reference = (): Reference => {
  const recent = baselines.slice(-BASELINE_RUNS)
  return {
    answerMs: median(recent.map((b) => b.answerMs ?? Number.NaN)),
    turnMs: median(recent.map((b) => b.turnMs ?? Number.NaN)),
    exitAfterTurnMs: median(recent.map((b) => b.closeAfterTurnMs ?? Number.NaN)),
  }
}

const runBaseline = async () => {
  const run = await runOpencode({ home })
  expect(run.exitCode).toBe(0)
  expect(run.stdout).toContain(DEFAULT_ANSWER)
  if (baselines.length > 0) expect(run.stdout).toBe(baselines[0]!.stdout)
  expect(run.messages).toEqual([])
  baselines.push(run)
  runsSinceBaseline = 0
}

/** stderr lines that are not log lines: opencode's CLI output ("> build · m"). The plugin must add none. */
const bannerOf = (run: Measured) =>
  run.stderr
    .split("\n")
    .filter((l) => !l.startsWith("timestamp=") && l.trim() !== "")
    .join("\n")

const timingOk = (run: Measured, ref: Reference) =>
  run.answerMs !== undefined &&
  run.answerMs <= ref.answerMs + answerTolerance(ref.answerMs) &&
  run.closeAfterTurnMs !== undefined &&
  run.closeAfterTurnMs <= exitTolerance(ref.exitAfterTurnMs)

/** One fault run: what opencode did, and what the collector (or helper) saw, captured before cleanup. */
interface Attempt<T> {
  readonly run: Measured
  readonly collector: string
  readonly data: T
}
interface Measurement<T> extends Attempt<T> {
  readonly reference: Reference
}

interface Row {
  readonly fault: string
  readonly protocol: string
  readonly run: Measured
  readonly collector: string
  readonly reference: Reference
  readonly note?: string | undefined
}
const rows: Array<Row> = []

/**
 * Runs a fault (set up, run opencode, tear down). When its timing is outside the tolerance, which a burst of load
 * from other processes can cause, a fresh baseline is taken and the fault is measured once more: a real delay
 * caused by the plugin shows twice.
 */
const measure = async <T>(fault: string, protocol: string, attempt: () => Promise<Attempt<T>>): Promise<Measurement<T>> => {
  if (runsSinceBaseline >= RUNS_PER_BASELINE) await runBaseline()
  runsSinceBaseline++
  let result = await attempt()
  let note: string | undefined
  if (!timingOk(result.run, reference())) {
    const first = result.run
    await runBaseline()
    result = await attempt()
    note = `measured twice: the first run answered after ${fmt(first.answerMs)} and exited ${fmt(first.closeAfterTurnMs)} after the turn`
  }
  const ref = reference()
  rows.push({ fault, protocol, run: result.run, collector: result.collector, reference: ref, note })
  return { ...result, reference: ref }
}

/** What the user sees is unchanged and not delayed; opencode exits within the budget; no secret is shown. */
const expectUnharmed = (m: Measurement<unknown>, secrets: ReadonlyArray<string> = []) => {
  const { run, reference: ref } = m
  const first = baselines[0]!
  const context = `exit ${run.exitCode}, answer ${run.answerMs} ms (reference ${ref.answerMs}), turn ${run.turnMs} ms, exit after turn ${run.exitAfterTurnMs}/${run.closeAfterTurnMs} ms (reference ${ref.exitAfterTurnMs})\n${run.messages.join("\n")}`
  expect(run.timedOut, context).toBe(false)
  expect(run.exitCode, context).toBe(first.exitCode)
  expect(run.stdout, context).toBe(first.stdout)
  expect(bannerOf(run), context).toBe(bannerOf(first))
  expect(run.answerMs, context).toBeDefined()
  expect(run.answerMs!, context).toBeLessThanOrEqual(ref.answerMs + answerTolerance(ref.answerMs))
  expect(run.exitAfterTurnMs, context).toBeDefined()
  expect(run.exitAfterTurnMs!, context).toBeLessThanOrEqual(exitTolerance(ref.exitAfterTurnMs))
  expect(run.closeAfterTurnMs!, context).toBeLessThanOrEqual(exitTolerance(ref.exitAfterTurnMs))
  for (const secret of secrets) {
    expect(run.stdout).not.toContain(secret)
    expect(run.stderr).not.toContain(secret)
  }
}

/** No message is repeated: failures are reported once when they start, not per export. */
const expectNoRepeats = (run: Measured) => {
  const counts = new Map<string, number>()
  for (const m of run.messages) counts.set(m, (counts.get(m) ?? 0) + 1)
  expect([...counts].filter(([, n]) => n > 1)).toEqual([])
}

const telemetryEnv = (endpoint: string, protocol: Protocol, extra: Record<string, string> = {}) => ({
  OPENCODE_ENABLE_TELEMETRY: "1",
  OPENCODE_OTLP_ENDPOINT: endpoint,
  OPENCODE_OTLP_PROTOCOL: protocol,
  OPENCODE_OTLP_SHUTDOWN_TIMEOUT: String(BUDGET_MS),
  ...extra,
})

const sessionCount = (receiver: Receiver) =>
  latestPoints({ metrics: receiver.metrics() }, "opencode.session.count").reduce((sum, m) => sum + Number(m.value), 0)

/** A short account of what a receiver got. */
const arrived = (receiver: Receiver): string => {
  const requests = receiver.requests
  if (requests.length === 0) return "nothing"
  const accepted = requests.filter((r) => r.accepted).length
  const answer = (r: Receiver["requests"][number]) => ("httpStatus" in r.response ? `HTTP ${r.response.httpStatus}` : `gRPC ${r.response.grpcCode}`)
  const rejected = [...new Set(requests.filter((r) => !r.accepted).map(answer))]
  const parts = [`${requests.length} requests, ${accepted} accepted${rejected.length > 0 ? ` (the others answered ${rejected.join(", ")})` : ""}`]
  if (accepted > 0) {
    const count = latestPoints({ metrics: receiver.metrics() }, "opencode.session.count").length > 0 ? `session.count=${sessionCount(receiver)}` : "no session.count"
    parts.push(`${count}, ${receiver.logs().length} log events, ${receiver.spans().length} spans`)
  }
  return parts.join("; ")
}

const fmt = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? "—" : `${(ms / 1000).toFixed(2)} s`)
const delta = (ms: number | undefined, base: number) =>
  ms === undefined ? "—" : `${fmt(ms)} (${ms - base >= 0 ? "+" : "−"}${(Math.abs(ms - base) / 1000).toFixed(2)})`
/** No machine paths in the results: temp directories and the checkout become placeholders. */
const scrub = (text: string) =>
  text
    .replaceAll(scratch ?? "\u0000", "<tmp>")
    .replaceAll(home?.root ?? "\u0000", "<tmp>")
    .replaceAll(REPO_ROOT, "<repo>")
const cell = (text: string) => scrub(text).replace(/\|/g, "\\|").replace(/\n/g, " ")

interface HookRow {
  readonly fault: string
  readonly outcome: string
  readonly messages: ReadonlyArray<string>
}
const hookRows: Array<HookRow> = []

/** Written after every run that measured at least one fault (a run filtered with -t writes a partial table). */
const writeResults = () => {
  if (baselines.length === 0 || rows.length === 0) return
  const first = baselines[0]!
  const answers = baselines.map((b) => b.answerMs ?? Number.NaN).filter((v) => !Number.isNaN(v))
  const lines = [
    "<!-- Written by test/e2e/faults.e2e.test.ts; do not edit by hand. -->",
    `Measured on ${new Date().toISOString().slice(0, 10)} with opencode 1.18.33 (\`opencode run\`, one answer from the scripted model) and ` +
      `OPENCODE_OTLP_SHUTDOWN_TIMEOUT=${BUDGET_MS} on every faulty run. Load average at the end: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(", ")} (other test suites ran concurrently).`,
    "",
    `Baselines without the plugin: ${baselines.length} runs interleaved with the faults, exit code ${first.exitCode}, ` +
      `answer after ${fmt(Math.min(...answers))} to ${fmt(Math.max(...answers))} (median ${fmt(median(answers))}), ` +
      `exit ${fmt(median(baselines.map((b) => b.closeAfterTurnMs ?? Number.NaN)))} after the turn (median).`,
    "",
    "- **Answer**: launch to the answer on stdout; Δ to the median of the latest baselines at the time.",
    "- **Turn**: opencode's prompt loop, `loop step=0` to `exiting loop` in its log.",
    `- **Exit after turn**: \`exiting loop\` to the process's exit with its output closed (budget ${BUDGET_MS} ms).`,
    "- **Plugin messages**: the plugin's lines in opencode's log (`--print-logs`); stdout was compared byte for byte.",
    "",
    "| Fault | Protocol | Exit code | stdout same | Answer (Δ) | Turn | Exit after turn | Plugin messages in opencode's log | At the collector |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ]
  for (const { fault, protocol, run, collector, reference: ref, note } of rows) {
    const messages = run.messages.length === 0 ? "none" : run.messages.map((m) => cell(m.length > 220 ? `${m.slice(0, 219)}…` : m)).join("<br>")
    lines.push(
      `| ${cell(fault)} | ${protocol} | ${run.exitCode ?? run.signal} | ${run.stdout === first.stdout ? "yes" : "**no**"} | ` +
        `${delta(run.answerMs, ref.answerMs)}${note === undefined ? "" : ` (${cell(note)})`} | ${fmt(run.turnMs)} | ${fmt(run.closeAfterTurnMs)} | ` +
        `${messages} | ${cell(collector)} |`,
    )
  }
  if (hookRows.length > 0) {
    lines.push("", "Hook-level faults (the plugin's hooks called directly, as opencode calls them):", "")
    lines.push("| Fault | Outcome | Plugin messages |", "| --- | --- | --- |")
    for (const { fault, outcome, messages } of hookRows)
      lines.push(`| ${cell(fault)} | ${cell(outcome)} | ${messages.length === 0 ? "none" : messages.map(cell).join("<br>")} |`)
  }
  mkdirSync(join(RESULTS, ".."), { recursive: true })
  writeFileSync(RESULTS, `${lines.join("\n")}\n`)
}

beforeAll(async () => {
  home = await createOpencodeHome()
  scratch = await mkdtemp(join(home.root, "faults-"))
  for (let i = 0; i < BASELINE_RUNS; i++) await runBaseline()
}, TEST_TIMEOUT_MS)

afterAll(async () => {
  writeResults()
  if (home) await removeOpencodeHome(home)
})

// ---------------------------------------------------------------------------------------------------------------
// Helpers for the faults

/** A TCP server that accepts connections and never answers; `stop` destroys the held sockets. */
const startBlackHole = async () => {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on("error", () => undefined)
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  let connections = 0
  server.on("connection", () => void connections++)
  const lifetime = setTimeout(() => void stop(), 5 * 60_000)
  lifetime.unref()
  const stop = async () => {
    clearTimeout(lifetime)
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections, stop }
}

/** A port nothing listens on: a receiver is started and stopped to get one. */
const closedPortUrl = async (protocol: Protocol) => {
  const receiver = await startReceiver({ protocol })
  const url = receiver.url
  await receiver.stop()
  return url
}

let scripts = 0
const helperScript = (body: string, mode = 0o755) => {
  const path = join(scratch, `helper-${++scripts}.sh`)
  writeFileSync(path, `#!/bin/sh\n${body}\n`)
  chmodSync(path, mode)
  return path
}

// ---------------------------------------------------------------------------------------------------------------
// 1-3. The collector: refused, silent, unavailable

const EXPORT_FAILED = /^OTLP (traces|logs|metrics) export failed/

describe("the collector", () => {
  for (const protocol of ["http/protobuf", "grpc"] as Array<Protocol>)
    test(
      `refuses connections (${protocol})`,
      async () => {
        const m = await measure("Collector refuses connections (closed port)", protocol, async () => {
          const url = await closedPortUrl(protocol)
          const run = await runOpencode({ home, plugins: [PLUGIN], env: telemetryEnv(url, protocol) })
          return { run, collector: "nothing (connection refused)", data: undefined }
        })
        expectUnharmed(m)
        expect(m.run.messages.some((x) => EXPORT_FAILED.test(x)), m.run.messages.join("\n")).toBe(true)
        expectNoRepeats(m.run)
      },
      TEST_TIMEOUT_MS,
    )

  for (const protocol of ["http/protobuf", "grpc"] as Array<Protocol>)
    test(
      `accepts TCP connections and never answers (${protocol})`,
      async () => {
        const m = await measure("Collector accepts TCP connections and never answers", protocol, async () => {
          const hole = await startBlackHole()
          try {
            const run = await runOpencode({ home, plugins: [PLUGIN], env: telemetryEnv(hole.url, protocol) })
            return { run, collector: `${hole.connections()} connection(s) accepted, never answered`, data: hole.connections() }
          } finally {
            await hole.stop()
          }
        })
        expectUnharmed(m)
        expect(m.data).toBeGreaterThan(0)
        expect(m.run.messages.some((x) => EXPORT_FAILED.test(x)), m.run.messages.join("\n")).toBe(true)
        expectNoRepeats(m.run)
      },
      TEST_TIMEOUT_MS,
    )

  for (const protocol of ["http/protobuf", "grpc"] as Array<Protocol>)
    test(
      `answers ${protocol === "grpc" ? "UNAVAILABLE" : "503"} for the whole run (${protocol})`,
      async () => {
        const fault = `Collector answers ${protocol === "grpc" ? "UNAVAILABLE (14)" : "HTTP 503"} throughout`
        const m = await measure(fault, protocol, async () => {
          const receiver = await startReceiver({ protocol })
          receiver.setResponder(() => ({ status: 503 }))
          try {
            const run = await runOpencode({ home, plugins: [PLUGIN], env: telemetryEnv(receiver.url, protocol) })
            return { run, collector: arrived(receiver), data: receiver }
          } finally {
            await receiver.stop()
          }
        })
        expectUnharmed(m)
        expect(m.data.requests.length).toBeGreaterThan(0)
        expect(m.data.requests.every((r) => !r.accepted)).toBe(true)
        expect(m.run.messages.some((x) => EXPORT_FAILED.test(x)), m.run.messages.join("\n")).toBe(true)
        expectNoRepeats(m.run)
      },
      TEST_TIMEOUT_MS,
    )
})

// ---------------------------------------------------------------------------------------------------------------
// 4. 401 forever, with a header helper: refresh + one retry, one failure message per signal

describe("authentication", () => {
  for (const protocol of ["http/protobuf", "grpc"] as Array<Protocol>)
    test(
      `the collector answers ${protocol === "grpc" ? "UNAUTHENTICATED" : "401"} forever: the helper is run again, each export retried once, one failure message per signal (${protocol})`,
      async () => {
        const fault = `Collector answers ${protocol === "grpc" ? "UNAUTHENTICATED (16)" : "HTTP 401"} forever; header helper configured`
        const m = await measure(fault, protocol, async () => {
          const counter = join(scratch, `count-${++scripts}`)
          const helper = helperScript(
            `c=$(cat "${counter}" 2>/dev/null || echo 0); c=$((c+1)); echo $c > "${counter}"\nprintf '{"Authorization":"Bearer helper-token-%s"}' "$c"`,
          )
          const receiver = await startReceiver({ protocol })
          receiver.setResponder(() => ({ status: 401 }))
          try {
            const run = await runOpencode({
              home,
              plugins: [PLUGIN],
              env: telemetryEnv(receiver.url, protocol, { OPENCODE_OTLP_HEADERS: "x-api-key=static-secret-401", OPENCODE_OTLP_HEADERS_HELPER: helper }),
            })
            const runs = existsSync(counter) ? Number(readFileSync(counter, "utf8").trim()) : 0
            return { run, collector: `${arrived(receiver)}; the helper ran ${runs} times`, data: { receiver, runs } }
          } finally {
            await receiver.stop()
          }
        })
        const { receiver, runs } = m.data
        expectUnharmed(m, ["helper-token-", "static-secret-401"])
        // The prewarm, then a refresh after the first rejection, whose headers the retry carries.
        expect(runs).toBeGreaterThanOrEqual(2)
        const tokens = new Set(receiver.requests.map((r) => r.headers["authorization"]))
        expect(tokens.has("Bearer helper-token-1")).toBe(true)
        expect(tokens.has("Bearer helper-token-2")).toBe(true)
        expect(receiver.requests.every((r) => r.headers["x-api-key"] === "static-secret-401")).toBe(true)
        // One "export failed" message per signal, never one per export; 401 is not retryable: the data is dropped, and said so.
        const failed = m.run.messages.filter((x) => EXPORT_FAILED.test(x))
        expect(failed.length).toBeGreaterThanOrEqual(1)
        for (const signal of ["traces", "logs", "metrics"]) expect(failed.filter((x) => x.startsWith(`OTLP ${signal} `)).length).toBeLessThanOrEqual(1)
        expect(failed.every((x) => /401|UNAUTHENTICATED/.test(x))).toBe(true)
        expectNoRepeats(m.run)
      },
      TEST_TIMEOUT_MS,
    )
})

// ---------------------------------------------------------------------------------------------------------------
// 5. The header helper fails; exports go on with the static headers

describe("the header helper", () => {
  const SECRET = "static-secret-helper-fault"
  const helperEnv = (receiver: Receiver, helper: string, extra: Record<string, string> = {}) =>
    telemetryEnv(receiver.url, "http/protobuf", { OPENCODE_OTLP_HEADERS: `authorization=Bearer ${SECRET}`, OPENCODE_OTLP_HEADERS_HELPER: helper, ...extra })

  const cases: Array<{ what: string; make: () => string; reason: RegExp; env?: Record<string, string> }> = [
    {
      what: "hangs (exec sleep 60), helper timeout 1000 ms",
      make: () => helperScript("exec sleep 60"),
      reason: /did not finish within 1000 ms and was stopped/,
      env: { OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT: "1000" },
    },
    { what: "crashes (exit 1)", make: () => helperScript("echo crashing >&2; exit 1"), reason: /exited with code 1/ },
    { what: "prints garbage", make: () => helperScript("echo 'Bearer garbage-not-json'"), reason: /not a JSON object of string values/ },
    { what: "is not executable (chmod 644)", make: () => helperScript(`printf '{"a":"b"}'`, 0o644), reason: /could not be started \(EACCES\)/ },
  ]
  for (const { what, make, reason, env } of cases)
    test(
      `${what}: one message naming OPENCODE_OTLP_HEADERS_HELPER and the reason; session.count arrives with the static headers`,
      async () => {
        const m = await measure(`Header helper ${what}`, "http/protobuf", async () => {
          const receiver = await startReceiver({ protocol: "http/protobuf" })
          try {
            const run = await runOpencode({ home, plugins: [PLUGIN], env: helperEnv(receiver, make(), env) })
            return { run, collector: arrived(receiver), data: receiver }
          } finally {
            await receiver.stop()
          }
        })
        const receiver = m.data
        expectUnharmed(m, [SECRET, "garbage-not-json"])
        const helperMessages = m.run.messages.filter((x) => x.includes("OPENCODE_OTLP_HEADERS_HELPER"))
        expect(helperMessages, m.run.messages.join("\n")).toHaveLength(1)
        expect(helperMessages[0]).toMatch(reason)
        expect(helperMessages[0]).toContain("Exports continue with the static headers")
        expect(sessionCount(receiver)).toBe(1)
        expect(receiver.requests.length).toBeGreaterThan(0)
        expect(receiver.requests.every((r) => r.headers["authorization"] === `Bearer ${SECRET}`)).toBe(true)
        expectNoRepeats(m.run)
      },
      TEST_TIMEOUT_MS,
    )

  /**
   * A helper that hangs for longer than the whole run (its timeout is longer than the run; the default 5000 ms is,
   * on an idle machine, where the turn ends about 2 s after the plugin starts), through a child process, as a shell
   * script around a token command would.
   */
  let longHang: { readonly m: Measurement<Receiver>; readonly alive: { helper: boolean; child: boolean } } | undefined
  const alive = (pid: number | undefined) => {
    if (pid === undefined || !Number.isInteger(pid)) return false
    try {
      process.kill(pid, 0)
    } catch {
      return false
    }
    // A killed process whose parent is gone stays a zombie until reaped: dead, not running.
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
    } catch {
      return true
    }
  }
  const readPid = (path: string) => (existsSync(path) ? Number(readFileSync(path, "utf8").trim()) : undefined)

  test(
    "hangs for longer than the run, in a child process (helper timeout 60000 ms): opencode is unaffected",
    async () => {
      let pids: { helper: string; child: string } | undefined
      const m = await measure("Header helper hangs longer than the run, in a child process (helper timeout 60000 ms)", "http/protobuf", async () => {
        const receiver = await startReceiver({ protocol: "http/protobuf" })
        pids = { helper: join(scratch, `helper-pid-${++scripts}`), child: join(scratch, `child-pid-${scripts}`) }
        const helper = helperScript(`echo $$ > "${pids.helper}"\nsleep 120 &\necho $! > "${pids.child}"\nwait`)
        try {
          const run = await runOpencode({ home, plugins: [PLUGIN], env: helperEnv(receiver, helper, { OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT: "60000" }) })
          return { run, collector: arrived(receiver), data: receiver }
        } finally {
          await receiver.stop()
        }
      })
      // Whether the helper and its child outlived opencode; then stop them (they are this test's processes).
      const helperPid = readPid(pids!.helper)
      const childPid = readPid(pids!.child)
      longHang = { m, alive: { helper: alive(helperPid), child: alive(childPid) } }
      for (const pid of [helperPid, childPid]) if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL")
      const row = rows.at(-1)!
      rows[rows.length - 1] = {
        ...row,
        collector: `${row.collector}; after opencode exited, the helper was ${longHang.alive.helper ? "still running" : "gone"} and its child ${longHang.alive.child ? "still running" : "gone"}`,
      }
      expectUnharmed(m, [SECRET])
      expectNoRepeats(m.run)
    },
    TEST_TIMEOUT_MS,
  )

  // Exports wait for the helper's first answer at most PREWARM_WAIT_MS, then go out with the static headers and
  // say so once, even when the helper is still running when opencode exits.
  test("hangs for longer than the run: a message names the helper, and session.count arrives with the static headers", () => {
    expect(longHang).toBeDefined()
    const { m } = longHang!
    expect(m.run.messages.filter((x) => x.includes("OPENCODE_OTLP_HEADERS_HELPER"))).toHaveLength(1)
    expect(sessionCount(m.data)).toBe(1)
  })

  // The helper runs in its own process group, killed as a whole on timeout, interruption or opencode's exit:
  // its children (here `sleep 120`, in real life a token command) do not outlive opencode.
  test("hangs for longer than the run: the helper and its child process do not outlive opencode", () => {
    expect(longHang).toBeDefined()
    expect(longHang!.alive).toEqual({ helper: false, child: false })
  })
})

// ---------------------------------------------------------------------------------------------------------------
// 6. Every configuration variable, malformed, one at a time

/**
 * One malformed value per variable, and what the plugin must say. OPENCODE_ENABLE_TELEMETRY accepts any value
 * (it is the switch itself). A few others accept every value too (ACCEPTS_ANY: a switch that any non-empty value
 * turns on or off, a free-form name, a list of keys): they run with odd values and must stay silent.
 */
const MALFORMED: Record<Exclude<Variable, "OPENCODE_ENABLE_TELEMETRY">, { value: string; extra?: Record<string, string>; off?: string }> = {
  OPENCODE_OTLP_ENDPOINT: { value: "localhost:4318", off: "Telemetry is disabled" },
  OPENCODE_OTLP_PROTOCOL: { value: "carrier-pigeon", off: "Telemetry is disabled" },
  OPENCODE_OTLP_COMPRESSION: { value: "brotli" },
  OPENCODE_OTLP_METRICS_INTERVAL: { value: "soon", off: "Metrics export is disabled" },
  OPENCODE_OTLP_LOGS_INTERVAL: { value: "-5", off: "Log export is disabled" },
  OPENCODE_METRIC_PREFIX: { value: "9 bad prefix!", off: "Metrics export is disabled" },
  OPENCODE_DISABLE_METRICS: { value: "no.such.metric" },
  OPENCODE_DISABLE_LOGS: { value: "maybe?" },
  OPENCODE_DISABLE_TRACES: { value: "spans" },
  OPENCODE_OTLP_HEADERS: { value: "authorization=Bearer config-secret-1234,oops", off: "Telemetry is disabled" },
  OPENCODE_OTLP_HEADERS_HELPER: { value: "relative/helper.sh" },
  OPENCODE_RESOURCE_ATTRIBUTES: { value: "team" },
  OPENCODE_SPAN_ATTRIBUTES: { value: "=x" },
  OPENCODE_METRIC_ATTRIBUTES: { value: "a=%zz" },
  OPENCODE_EXCLUDE_METRICS_ATTRIBUTES: { value: ",, =, ;" },
  OPENCODE_OTLP_METRICS_TEMPORALITY: { value: "sometimes", off: "Metrics export is disabled" },
  OPENCODE_COST_USAGE_SCALE: { value: "-1" },
  OPENCODE_TRACEPARENT: { value: "00-not-a-trace-01" },
  OPENCODE_TRACESTATE: { value: "=bad=", extra: { OPENCODE_TRACEPARENT: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } },
  OPENCODE_OTLP_SHUTDOWN_TIMEOUT: { value: "3s" },
  OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT: { value: "0" },
  OPENCODE_SERVICE_NAME: { value: " \t|odd service name| " },
  // Reads as "off": reported, and the opt-in stays off (the prompt text is not exported).
  OPENCODE_LOG_USER_PROMPTS: { value: "disabled" },
  OPENCODE_LOG_TOOL_DETAILS: { value: "maybe?" },
  OPENCODE_LOG_TOOL_CONTENT: { value: "[]" },
  OPENCODE_PROFILE: { value: "claude-kode" },
  OPENCODE_METRICS_EXPORTER: { value: "statsd" },
  OPENCODE_PROMETHEUS_HOST: { value: "odd host name" },
  OPENCODE_PROMETHEUS_PORT: { value: "99999", extra: { OPENCODE_METRICS_EXPORTER: "otlp,prometheus" } },
  OPENCODE_PROMETHEUS_LINGER: { value: "a while", extra: { OPENCODE_METRICS_EXPORTER: "otlp,prometheus" } },
  OPENCODE_LOGS_EXPORTER: { value: "kafka,otlp" },
  OPENCODE_TRACES_EXPORTER: { value: "jaeger" },
  OPENCODE_METRICS_INCLUDE_SESSION_ID: { value: "maybe?" },
  OPENCODE_METRICS_INCLUDE_VERSION: { value: "sometimes" },
  OPENCODE_OTLP_HEADERS_HELPER_REFRESH: { value: "5m" },
  OPENCODE_OTLP_SPOOL_DIR: { value: "relative/spool" },
  OPENCODE_OTLP_SPOOL_MAX_MB: { value: "lots" },
  OPENCODE_METRICS_INCLUDE_REPOSITORY: { value: "sometimes" },
  OPENCODE_OTLP_FILE_DIR: { value: "relative/telemetry" },
  OPENCODE_OTLP_FILE_MAX_MB: { value: "lots" },
  OPENCODE_OTLP_CERTIFICATE: { value: "/nonexistent/ca.pem" },
  OPENCODE_OTLP_CLIENT_KEY: { value: "/nonexistent/client.key" },
  OPENCODE_OTLP_CLIENT_CERTIFICATE: { value: "/nonexistent/client.crt" },
  OPENCODE_SEMCONV_STABILITY_OPT_IN: { value: "http,no_such_category" },
  OPENCODE_TRACE_PROPAGATION_PROVIDERS: { value: "not a provider" },
  OPENCODE_LOG_ASSISTANT_RESPONSES: { value: "redacted" },
}
/** Variables for which every value is valid. */
const ACCEPTS_ANY = new Set<Variable>([
  "OPENCODE_DISABLE_LOGS",
  "OPENCODE_EXCLUDE_METRICS_ATTRIBUTES",
  "OPENCODE_SERVICE_NAME",
  // Only read when the Prometheus endpoint is on (it is not here).
  "OPENCODE_PROMETHEUS_HOST",
  // A list shared with other instrumentations: their categories are not this plugin's to report.
  "OPENCODE_SEMCONV_STABILITY_OPT_IN",
])

describe("a malformed setting", () => {
  test("the list covers every variable the plugin reads", () => {
    expect(Object.keys(MALFORMED).sort()).toEqual(Object.keys(VARIABLES).filter((v) => v !== "OPENCODE_ENABLE_TELEMETRY").sort())
  })

  for (const [variable, { value, extra, off }] of Object.entries(MALFORMED) as Array<[Variable, (typeof MALFORMED)[keyof typeof MALFORMED]]>)
    test(
      `${variable}=${JSON.stringify(value)}: same exit code and output, one message naming it`,
      async () => {
        const m = await measure(`${variable}=${JSON.stringify(value)}`, "http/protobuf", async () => {
          const receiver = await startReceiver({ protocol: "http/protobuf" })
          try {
            // The shutdown variable itself is what is malformed in its own case.
            const env: Record<string, string> = { ...telemetryEnv(receiver.url, "http/protobuf", { ...extra }), [variable]: value }
            const run = await runOpencode({ home, plugins: [PLUGIN], env })
            const promptSent = receiver.logs().some((l) => String(l.attributes["prompt"] ?? "").includes(PROMPT))
            return { run, collector: `${arrived(receiver)}${promptSent ? "; the prompt text was exported" : ""}`, data: receiver }
          } finally {
            await receiver.stop()
          }
        })
        const receiver = m.data
        // An unclear opt-in value never sends content.
        expect(receiver.logs().some((l) => String(l.attributes["prompt"] ?? "").includes(PROMPT))).toBe(false)
        expectUnharmed(m, variable === "OPENCODE_OTLP_HEADERS" ? ["config-secret-1234"] : [])
        expectNoRepeats(m.run)
        if (ACCEPTS_ANY.has(variable)) {
          expect(m.run.messages).toEqual([])
          return
        }
        const naming = m.run.messages.filter((x) => x.includes(variable))
        expect(naming, m.run.messages.join("\n")).toHaveLength(1)
        // Header values are secrets: the message names the variable, never the value.
        if (variable === "OPENCODE_OTLP_HEADERS") expect(naming[0]).not.toContain("Bearer")
        else expect(naming[0]).toContain(JSON.stringify(value))
        if (off !== undefined) expect(naming[0]).toContain(off)
        if (off === "Telemetry is disabled") expect(receiver.requests).toHaveLength(0)
        else if (off !== "Metrics export is disabled") expect(sessionCount(receiver)).toBe(1)
      },
      TEST_TIMEOUT_MS,
    )
})

// ---------------------------------------------------------------------------------------------------------------
// 7/8. Events of an unexpected shape, exceptions inside handlers: on the hooks directly

describe("hostile input to the hooks", () => {
  const created = (id: string) => ({
    type: "session.created",
    properties: { sessionID: id, info: { id, title: "t", time: { created: Date.now(), updated: Date.now() } } },
  })
  const boom = () => {
    throw new Error("hostile getter")
  }
  const throwing = <T extends object>(target: T, key: string) => Object.defineProperty(target, key, { get: boom, enumerable: true })

  const start = async () => {
    const receiver = await startReceiver({ protocol: "http/json" })
    const { client, logs } = captureClient()
    const hooks = await OpenTelemetryPlugin(
      { client, directory: REPO_ROOT, worktree: REPO_ROOT },
      { enabled: true, endpoint: receiver.url, protocol: "http/json", shutdownTimeout: BUDGET_MS },
    )
    return { receiver, logs, hooks }
  }

  test("events of unexpected shapes and throwing getters: every hook resolves, later events count, a message is logged", async () => {
    const { receiver, logs, hooks } = await start()
    try {
      const malformed: Array<unknown> = [
        undefined,
        null,
        0,
        "session.created",
        [],
        { type: 42 },
        { type: "session.created" },
        { type: "session.created", properties: "x" },
        { type: "session.created", properties: { info: { id: 7 } } },
        { type: "message.updated", properties: { info: { role: "assistant", tokens: "many" } } },
        { type: "message.part.updated", properties: { part: { type: "tool", state: null } } },
        { type: "session.idle", properties: {} },
        throwing({ type: "session.created" }, "properties"),
        throwing({ type: "message.updated" }, "properties"),
        throwing({ type: "session.idle" }, "properties"),
        { type: "session.created", properties: throwing({ sessionID: "ses_h" }, "info") },
      ]
      for (const event of malformed) await expect(hooks.event!({ event })).resolves.toBeUndefined()
      const message = { id: "msg_h", sessionID: "ses_h", role: "user", time: { created: Date.now() } }
      const input = { sessionID: "ses_h", agent: "build", model: { providerID: "fake", modelID: "m" }, messageID: "msg_h" }
      await expect(hooks["chat.message"]!(input, throwing({ message }, "parts"))).resolves.toBeUndefined()
      await expect(hooks["chat.message"]!(throwing({}, "sessionID"), { message, parts: [] })).resolves.toBeUndefined()
      await expect(hooks["chat.message"]!(undefined, null)).resolves.toBeUndefined()
      await expect(hooks["shell.env"]!({}, throwing({}, "env") as { env: Record<string, string> })).resolves.toBeUndefined()
      // Later events still count.
      await hooks.event!({ event: created("ses_after_hostile") })
      await hooks.dispose!()
      const counts = latestPoints({ metrics: receiver.metrics() }, "opencode.session.count")
      expect(counts.map((m) => [m.attributes["session.id"], m.value])).toEqual([["ses_after_hostile", 1]])
      const text = logs.map((l) => l.message)
      hookRows.push({
        fault: `${malformed.length} events of unexpected shapes or with throwing getters; chat.message with a throwing \`parts\` getter, a throwing input, undefined; shell.env with a throwing \`env\``,
        outcome: `every hook resolved; the next session.created counted (session.count=${counts[0]?.value ?? 0})`,
        messages: [...new Set(text.map((m) => m.slice(PREFIX.length)))],
      })
      expect(text.some((m) => m.includes("Telemetry event handling failed; opencode is unaffected"))).toBe(true)
      expect(text.some((m) => m.includes("Telemetry prompt handling failed; opencode is unaffected"))).toBe(true)
      expect(text.some((m) => /Skipped a \S+ event with an unexpected shape/.test(m))).toBe(true)
      expect(logs.every((l) => l.message.startsWith(PREFIX))).toBe(true)
    } finally {
      await receiver.stop()
    }
  })

  // An event whose `type` getter throws (or a Proxy that throws on every read): the hook still resolves.
  test("an event whose `type` getter throws: the event hook resolves", async () => {
    const { receiver, logs, hooks } = await start()
    try {
      const outcomes: Array<string> = []
      for (const [what, event] of [
        ["`type` getter throws", throwing({}, "type")],
        ["a Proxy that throws on every read", new Proxy({}, { get: boom, has: boom, ownKeys: boom })],
      ] as const)
        outcomes.push(
          await hooks.event!({ event }).then(
            () => `${what}: resolved`,
            (error: unknown) => `${what}: **the hook rejected** (${error instanceof Error ? error.message : String(error)})`,
          ),
        )
      hookRows.push({
        fault: "event whose `type` getter throws / a Proxy that throws on every read",
        outcome: outcomes.join("; "),
        messages: [...new Set(logs.map((l) => l.message.slice(PREFIX.length)))],
      })
      expect(outcomes.every((o) => o.endsWith("resolved"))).toBe(true)
    } finally {
      await hooks.dispose!()
      await receiver.stop()
    }
  })
})
