/**
 * Nothing lost across an exit: what the plugin could not deliver before opencode exits (the collector refused)
 * is kept in the spool and delivered by the next plugin instance that sends to the same endpoint: in order, once,
 * with its own resource (the first instance's service.instance.id). Exit does not wait for it.
 */
import { afterEach, expect, test } from "bun:test"
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { OpenTelemetryPlugin } from "../../src/plugin.ts"
import { Exporter } from "../../src/services/Exporter.ts"
import { Instruments } from "../../src/services/Instruments.ts"
import { freePort } from "../lib/net.ts"
import { captureClient, liveLayer, runScoped } from "../lib/telemetry.ts"
import { turnEvents } from "../lib/turn.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"

const SECRET = "spool-secret-7f3a"
const dirs: Array<string> = []
const receivers: Array<Receiver> = []
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.stop()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const spoolDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "oc-otel-spool-"))
  dirs.push(dir)
  return join(dir, "spool")
}

const plugin = (protocol: Protocol, port: number, dir: string, extra: Record<string, unknown> = {}) => {
  const { client, logs } = captureClient()
  const hooks = OpenTelemetryPlugin(
    { client, directory: process.cwd(), worktree: process.cwd() },
    { enabled: true, endpoint: `http://127.0.0.1:${port}`, protocol, spoolDir: dir, headers: `x-api-key=${SECRET}`, metricsTemporality: "delta", ...extra },
  )
  return { hooks, logs }
}
const turn = async (hooks: Awaited<ReturnType<typeof OpenTelemetryPlugin>>, id: string) => {
  for (const event of turnEvents(id)) await hooks.event!({ event })
}
const files = (dir: string) => {
  try {
    return readdirSync(dir).filter((f) => f.endsWith(".jsonl") || f.includes(".jsonl."))
  } catch {
    return []
  }
}
/** What the receiver got from one plugin instance (by service.instance.id). */
const from = (receiver: Receiver, instance: string) => ({
  spans: receiver.spans().filter((s) => s.resource["service.instance.id"] === instance),
  logs: receiver.logs().filter((l) => l.resource["service.instance.id"] === instance),
  tokens: receiver
    .metrics()
    .filter((m) => m.resource["service.instance.id"] === instance && m.name === "opencode.token.usage")
    .reduce((total, m) => total + (typeof m.value === "number" ? m.value : 0), 0),
  dropped: receiver.metrics().filter((m) => m.resource["service.instance.id"] === instance && m.name === "opencode.telemetry.dropped"),
})
const instanceOf = (receiver: Receiver, not?: string) =>
  receiver.spans().map((s) => String(s.resource["service.instance.id"])).find((id) => id !== not)
/** The service.instance.id the spooled spans carry. */
const spooledInstance = (dir: string) => {
  const traces = files(dir).find((f) => f.includes(".traces."))!
  return /"service\.instance\.id":"([0-9a-f-]{36})"/.exec(readFileSync(join(dir, traces), "utf8"))![1]!
}

test.each(["grpc", "http/protobuf", "http/json"] as const)(
  "%s: refused at exit, spooled in no time; the next instance delivers it once, with its own resource",
  async (protocol) => {
    const port = await freePort()
    const dir = spoolDir()
    const first = plugin(protocol, port, dir)
    const hooks1 = await first.hooks
    await turn(hooks1, "ses_spool_a")
    const started = performance.now()
    await hooks1.dispose!()
    const disposeMs = performance.now() - started
    // The e2e suite holds opencode to 0.3 s after its turn; in process, a loaded machine gets some slack.
    expect(disposeMs).toBeLessThan(500)
    const kept = first.logs.map((l) => l.message).filter((m) => m.includes("kept in the spool"))
    expect(kept.map((m) => /OTLP (\w+):/.exec(m)?.[1]).sort()).toEqual(["logs", "metrics", "traces"])
    expect(first.logs.some((l) => l.message.includes("Dropped"))).toBe(false)
    // Owner-only, no header value.
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    const written = files(dir)
    expect(written.length, written.join("\n")).toBe(3)
    for (const f of written) {
      expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600)
      expect(readFileSync(join(dir, f), "utf8")).not.toContain(SECRET)
    }

    const firstId = spooledInstance(dir)
    const receiver = await startReceiver({ protocol, port })
    receivers.push(receiver)
    const second = plugin(protocol, port, dir)
    const hooks2 = await second.hooks
    await receiver.waitFor((r) => r.spans().length >= 2 && r.logs().length >= 1, 10_000)
    await turn(hooks2, "ses_spool_b")
    await hooks2.dispose!()
    const a = from(receiver, firstId)
    // turnEvents: one invoke_agent and one chat span, one api_request, 12 tokens.
    expect(a.spans.map((s) => s.name).sort()).toEqual(["chat m", "invoke_agent"])
    expect(new Set(a.spans.map((s) => s.spanId)).size).toBe(a.spans.length)
    expect(a.logs.filter((l) => l.attributes["event.name"] === "api_request").length).toBe(1)
    expect(a.tokens).toBe(12)
    expect(a.dropped).toEqual([])
    expect(second.logs.map((l) => l.message).filter((m) => m.includes("an earlier opencode kept in the spool")).length).toBe(3)
    const b = from(receiver, instanceOf(receiver, firstId)!)
    expect(b.spans.length).toBe(2)
    expect(b.tokens).toBe(12)
    expect(files(dir)).toEqual([])

    // Once: a third instance has nothing of the first to send.
    receiver.clear()
    const third = plugin(protocol, port, dir)
    const hooks3 = await third.hooks
    await turn(hooks3, "ses_spool_c")
    await hooks3.dispose!()
    expect(from(receiver, firstId).spans).toEqual([])
    expect(from(receiver, firstId).logs).toEqual([])
  },
  30_000,
)

test.each(["SIGTERM", "SIGKILL"] as const)(
  "a process ended by %s (no dispose): the copy written when its export failed is delivered by the next, once",
  async (signal) => {
    const protocol = "http/protobuf"
    const port = await freePort()
    const dir = spoolDir()
    const child = spawn(process.execPath, [join(import.meta.dir, "..", "lib", "spool-child.ts")], {
      env: { ...process.env, SPOOL_CHILD: JSON.stringify({ dir, options: { enabled: true, endpoint: `http://127.0.0.1:${port}`, protocol, spoolDir: dir, headers: `x-api-key=${SECRET}` } }) },
      stdio: ["ignore", "pipe", "pipe"],
    })
    const ready = await new Promise<string>((resolve) => {
      let out = ""
      child.stdout!.on("data", (b: Buffer) => {
        out += b.toString()
        if (out.includes("\n")) resolve(out.trim())
      })
      child.on("exit", () => resolve(out.trim()))
    })
    expect(ready).toBe("ready")
    const firstId = spooledInstance(dir)
    const ended = new Promise((resolve) => child.on("exit", resolve))
    child.kill(signal)
    await ended

    const receiver = await startReceiver({ protocol, port })
    receivers.push(receiver)
    const second = plugin(protocol, port, dir)
    const hooks2 = await second.hooks
    await receiver.waitFor((r) => r.spans().length >= 2, 10_000)
    await hooks2.dispose!()
    const a = from(receiver, firstId)
    expect(a.spans.map((s) => s.name).sort()).toEqual(["chat m", "invoke_agent"])
    expect(a.logs.filter((l) => l.attributes["event.name"] === "api_request").length).toBe(1)
    expect(a.tokens).toBe(12)
    expect(files(dir)).toEqual([])
  },
  30_000,
)

test("a live process's spool is its own: another instance does not take it", async () => {
  const protocol = "http/protobuf"
  const port = await freePort()
  const dir = spoolDir()
  const first = plugin(protocol, port, dir)
  const hooks1 = await first.hooks
  await turn(hooks1, "ses_spool_live")
  const deadline = Date.now() + 10_000
  while (files(dir).length < 3 && Date.now() < deadline) await Bun.sleep(100)
  const before = files(dir).sort()
  expect(before.length).toBe(3)
  // A collector that answers 503: neither instance delivers, so only a claim could change the files.
  const receiver = await startReceiver({ protocol, port })
  receivers.push(receiver)
  receiver.setResponder(() => ({ status: 503 }))
  const second = plugin(protocol, port, dir)
  const hooks2 = await second.hooks
  await Bun.sleep(800)
  expect(second.logs.some((l) => l.message.includes("an earlier opencode kept in the spool"))).toBe(false)
  expect(files(dir).filter((f) => f.includes(".claimed-"))).toEqual([])
  await hooks2.dispose!()
  await hooks1.dispose!()
}, 30_000)

test("OPENCODE_OTLP_SPOOL_DIR=none: nothing is written; what is undelivered is dropped and counted", async () => {
  const port = await freePort()
  const dir = spoolDir()
  const first = plugin("http/protobuf", port, "none")
  const hooks = await first.hooks
  await turn(hooks, "ses_spool_none")
  await hooks.dispose!()
  expect(files(dir)).toEqual([])
  expect(first.logs.some((l) => l.message.includes("not delivered before shutdown"))).toBe(true)
})

test("OPENCODE_OTLP_SPOOL_MAX_MB=0 switches the spool off", async () => {
  const port = await freePort()
  const dir = spoolDir()
  const first = plugin("http/protobuf", port, dir, { spoolMaxMb: 0 })
  const hooks = await first.hooks
  await turn(hooks, "ses_spool_cap")
  await hooks.dispose!()
  expect(files(dir)).toEqual([])
  expect(first.logs.some((l) => l.message.includes("not delivered before shutdown"))).toBe(true)
})

/** The runs of consecutive numbers in `sha<n>` values, as [first, last] pairs. */
const runsOf = (shas: Array<string>) => {
  const runs: Array<[number, number]> = []
  for (const s of shas) {
    const n = Number(s.slice(3))
    const last = runs.at(-1)
    if (last !== undefined && last[1] + 1 === n) last[1] = n
    else runs.push([n, n])
  }
  return runs
}
/** Emits `n` commit events numbered from `from`, and flushes. */
const emitCommits = (from: number, n: number, session: string) =>
  Effect.gen(function* () {
    const instruments = yield* Instruments
    for (let i = from; i < from + n; i++) yield* instruments.event("commit", { "session.id": session, "commit.sha": `sha${i}` })
    yield* (yield* Exporter).flush
  })

test(
  "past the retry buffer, the oldest go to the spool, not away: 9,000 records while refused arrive once and in order with the next instance, before its own",
  async () => {
    const port = await freePort()
    const dir = spoolDir()
    const settings = (extra: Record<string, string> = {}) => ({
      OPENCODE_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OPENCODE_OTLP_PROTOCOL: "http/protobuf",
      OPENCODE_DISABLE_TRACES: "all",
      OPENCODE_METRICS_EXPORTER: "none",
      OPENCODE_OTLP_SPOOL_DIR: dir,
      OPENCODE_OTLP_LOGS_INTERVAL: "100",
      ...extra,
    })
    const first = captureClient()
    // 9,000 log records while nothing listens: 8,192 fit the buffer, the 808 oldest overflow to the spool. A short
    // budget (its requests' timeout is 300 ms): the request in flight at exit, whose batch is spooled too, is
    // retried by the OTLP exporter within that timeout, and must not find the collector of the next step.
    await runScoped(liveLayer(settings({ OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "500" }), first.client), Effect.forEach([0, 1, 2, 3, 4, 5, 6, 7, 8], (i) => emitCommits(i * 1000, 1000, "ses_over"), { discard: true }))
    expect(first.logs.some((l) => l.message.includes("Dropped"))).toBe(false)
    expect(files(dir).some((f) => f.includes(".overflow."))).toBe(true)
    await Bun.sleep(600)

    const receiver = await startReceiver({ protocol: "http/protobuf", port })
    receivers.push(receiver)
    const second = captureClient()
    await runScoped(
      liveLayer(settings(), second.client),
      Effect.gen(function* () {
        yield* Effect.promise(() => receiver.waitFor((r) => r.logs().length >= 9_000, 30_000))
        yield* emitCommits(9_000, 10, "ses_over_next")
      }),
    )
    const shas = receiver.logs().map((l) => String(l.attributes["commit.sha"]))
    // Runs of consecutive numbers: one run from 0 is everything once and in order (and a short message if not).
    expect(runsOf(shas)).toEqual([[0, 9_009]])
    expect(shas.length).toBe(9_010)
    expect(second.logs.some((l) => l.message.includes("Dropped"))).toBe(false)
    expect(files(dir)).toEqual([])
  },
  90_000,
)

test(
  "the size cap: a full spool keeps what it holds; what does not fit is dropped, counted and named; the rest arrives in order, once",
  async () => {
    const port = await freePort()
    const dir = spoolDir()
    const settings = {
      OPENCODE_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OPENCODE_OTLP_PROTOCOL: "http/protobuf",
      OPENCODE_DISABLE_TRACES: "all",
      OPENCODE_METRICS_EXPORTER: "none",
      OPENCODE_OTLP_SPOOL_DIR: dir,
      OPENCODE_OTLP_SPOOL_MAX_MB: "1",
      OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "500",
    }
    const first = captureClient()
    // About 2.5 MB of log records, 1 MB of spool.
    await runScoped(liveLayer(settings, first.client), Effect.forEach([0, 1, 2, 3, 4, 5, 6, 7, 8], (i) => emitCommits(i * 1000, 1000, "ses_cap"), { discard: true }))
    expect(first.logs.filter((l) => l.message.includes("spool full (OPENCODE_OTLP_SPOOL_MAX_MB)")).length).toBe(1)
    const bytes = files(dir).reduce((total, f) => total + statSync(join(dir, f)).size, 0)
    expect(bytes).toBeLessThanOrEqual(1024 * 1024)
    await Bun.sleep(600)

    const receiver = await startReceiver({ protocol: "http/protobuf", port })
    receivers.push(receiver)
    await runScoped(
      liveLayer(settings, captureClient().client),
      Effect.promise(() => receiver.waitFor((r) => r.logs().length > 1_000, 30_000).then(() => Bun.sleep(1_500))),
    )
    // What is delivered comes in order and once (ascending runs that never overlap); part of it is gone.
    const shas = receiver.logs().map((l) => String(l.attributes["commit.sha"]))
    const numbers = shas.map((sha) => Number(sha.slice(3)))
    expect(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), JSON.stringify(runsOf(shas))).toBe(true)
    expect(numbers.length).toBeGreaterThan(1_000)
    expect(numbers.length).toBeLessThan(8_000)
  },
  90_000,
)
