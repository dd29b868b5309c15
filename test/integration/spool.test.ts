/**
 * Nothing lost across an exit: what the plugin could not deliver before opencode exits (the collector refused)
 * is kept in the spool and delivered by the next plugin instance that sends to the same endpoint: in order, once,
 * with its own resource (the first instance's service.instance.id). Exit does not wait for it.
 */
import { afterEach, expect, test } from "bun:test"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { OpenTelemetryPlugin } from "../../src/plugin.ts"
import { freePort } from "../lib/net.ts"
import { captureClient } from "../lib/telemetry.ts"
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
    expect(disposeMs).toBeLessThan(300)
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

test("a process ended by a signal (no dispose): its buffer's copy, written when the export failed, is delivered by the next", async () => {
  const protocol = "http/protobuf"
  const port = await freePort()
  const dir = spoolDir()
  const first = plugin(protocol, port, dir)
  const hooks1 = await first.hooks
  await turn(hooks1, "ses_spool_sig")
  // The turn's flush (1 s after idle) fails; the buffer's copy is written then.
  const deadline = Date.now() + 10_000
  while (files(dir).length < 3 && Date.now() < deadline) await Bun.sleep(100)
  expect(files(dir).length).toBe(3)
  // As if that process were gone: its files carry the pid of a process that has ended.
  const firstId = spooledInstance(dir)
  const gone = spawnSync("true").pid!
  for (const f of files(dir)) renameSync(join(dir, f), join(dir, f.replace(`.${process.pid}.`, `.${gone}.`)))

  const receiver = await startReceiver({ protocol, port })
  receivers.push(receiver)
  const second = plugin(protocol, port, dir)
  const hooks2 = await second.hooks
  await receiver.waitFor((r) => r.spans().length >= 2, 10_000)
  await hooks2.dispose!()
  const a = from(receiver, firstId)
  expect(a.spans.map((s) => s.name).sort()).toEqual(["chat m", "invoke_agent"])
  expect(a.logs.filter((l) => l.attributes["event.name"] === "api_request").length).toBe(1)
  expect(files(dir)).toEqual([])
  await hooks1.dispose!()
}, 30_000)

test("a live process's spool is its own: another instance does not take it", async () => {
  const protocol = "http/protobuf"
  const port = await freePort()
  const dir = spoolDir()
  const first = plugin(protocol, port, dir)
  const hooks1 = await first.hooks
  await turn(hooks1, "ses_spool_live")
  const deadline = Date.now() + 10_000
  while (files(dir).length < 2 && Date.now() < deadline) await Bun.sleep(100)
  const receiver = await startReceiver({ protocol, port })
  receivers.push(receiver)
  const second = plugin(protocol, port, dir)
  const hooks2 = await second.hooks
  await Bun.sleep(500)
  await hooks2.dispose!()
  // The first is alive (this process): the second delivered only its own (nothing: it had no turn).
  expect(receiver.spans()).toEqual([])
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

test("the size cap: what does not fit is dropped, counted, and named", async () => {
  const port = await freePort()
  const dir = spoolDir()
  const first = plugin("http/protobuf", port, dir, { spoolMaxMb: 0 })
  const hooks = await first.hooks
  await turn(hooks, "ses_spool_cap")
  await hooks.dispose!()
  // 0 MB switches the spool off.
  expect(files(dir)).toEqual([])
})
