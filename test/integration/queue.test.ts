/**
 * The runtime's job queue (src/start.ts): hooks are handled one at a time, in opencode's order, off opencode's
 * call; a job that throws is reported once in opencode's log and the jobs after it still run; a hook's promise
 * resolves whatever became of its job.
 */
import { expect, test } from "bun:test"
import { OpenTelemetryPlugin } from "../../src/plugin.ts"
import { startReceiver } from "../support/otlp-receiver.ts"
import { captureClient } from "../lib/telemetry.ts"

const created = (id: string, at: number) => ({
  type: "session.created",
  properties: { sessionID: id, info: { id, title: "t", time: { created: at, updated: at } } },
})

/** An event whose every field read throws: its decoding fails with a defect, not a decoding error. */
const hostile = (type: string) =>
  new Proxy(
    { type },
    {
      get: (target, key) => {
        if (key === "type") return target.type
        throw new Error("a hostile getter")
      },
      has: () => true,
      ownKeys: () => ["type", "properties"],
      getOwnPropertyDescriptor: (target, key) =>
        key === "type" ? { value: target.type, enumerable: true, configurable: true } : { get: () => { throw new Error("a hostile getter") }, enumerable: true, configurable: true },
    },
  )

test("a job that throws is reported once, every job after it still runs, in order, and every hook resolves", async () => {
  const receiver = await startReceiver({ protocol: "http/json" })
  const { client, logs } = captureClient()
  try {
    const hooks = await OpenTelemetryPlugin(
      { client, directory: process.cwd(), worktree: process.cwd(), project: { worktree: process.cwd() } },
      { enabled: true, endpoint: receiver.url, protocol: "http/json" },
    )
    // Queued in one macrotask: the hostile ones between the good ones.
    const calls = [
      hooks.event!({ event: created("ses_q1", 1_000) }),
      hooks.event!({ event: hostile("session.created") }),
      hooks.event!({ event: created("ses_q2", 2_000) }),
      hooks.event!({ event: hostile("message.updated") }),
      hooks["chat.message"]!(hostile("x") as never, hostile("y") as never),
      hooks.event!({ event: created("ses_q3", 3_000) }),
    ]
    await Promise.all(calls)
    await hooks.dispose!()
    const sessions = receiver.logs().filter((l) => l.attributes["event.name"] === "session.created").map((l) => l.attributes["session.id"])
    expect(sessions).toEqual(["ses_q1", "ses_q2", "ses_q3"])
    const counted = receiver.metrics().filter((m) => m.name === "opencode.session.count")
    expect(counted.map((m) => [m.attributes["session.id"], m.value]).sort()).toEqual([["ses_q1", 1], ["ses_q2", 1], ["ses_q3", 1]])
    // One line per job that failed, naming the hook's work; nothing else was wrong.
    expect(logs.filter((l) => l.level === "warn" || l.level === "error").map((l) => l.message.replace(/^[^:]+: /, ""))).toEqual([
      "Telemetry event handling failed; opencode is unaffected",
      "Telemetry event handling failed; opencode is unaffected",
      "Telemetry prompt handling failed; opencode is unaffected",
    ])
  } finally {
    await receiver.stop()
  }
})
