/**
 * Nothing lost across a transient outage: data exported while the collector is down (connection refused, or
 * answering 503/UNAVAILABLE) is kept in a bounded buffer and redelivered in order once it is back; what cannot
 * be kept is counted and reported, never dropped silently.
 */
import { afterEach, describe, expect, test } from "bun:test"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Exporter } from "../../src/services/Exporter.ts"
import { Instruments } from "../../src/services/Instruments.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"
import { captureClient, liveLayer, runScoped } from "../lib/telemetry.ts"

const receivers: Array<Receiver> = []
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.stop()
})
const start = async (protocol: Protocol, port?: number) => {
  const r = await startReceiver({ protocol, ...(port === undefined ? {} : { port }) })
  receivers.push(r)
  return r
}
const portOf = (r: Receiver) => Number(new URL(r.url).port)

/** Runs on the real clock inside a test on a TestClock. */
const live = TestClock.withLive
/** Polls (real time, at most 40 s) until `done`, nudging between polls. */
const until = (done: () => boolean, nudge: () => Effect.Effect<void> = () => Effect.void) =>
  Effect.gen(function* () {
    for (let i = 0; i < 400 && !done(); i++) {
      yield* TestClock.withLive(Effect.sleep("100 millis"))
      yield* nudge()
    }
  })

/** Emits `n` log events, spans and counter increments numbered from `from`. */
const emit = (from: number, n: number) =>
  Effect.gen(function* () {
    const instruments = yield* Instruments
    for (let i = from; i < from + n; i++) {
      yield* instruments.event("commit", { "session.id": "ses_outage", "commit.sha": `sha${i}` })
      const span = yield* instruments.startSpan("tool", `probe ${i}`)
      span?.end()
      yield* instruments.count("commit.count", 1, { "session.id": "ses_outage" })
    }
    yield* (yield* Exporter).flush
  })

const latestCumulative = (receivers: Array<Receiver>, name: string) => {
  const points = receivers.flatMap((r) => r.metrics()).filter((m) => m.name === name)
  points.sort((a, b) => (a.timeUnixNano < b.timeUnixNano ? -1 : 1))
  return points.at(-1)?.value
}

describe.each(["grpc", "http/protobuf", "http/json"] as Array<Protocol>)("%s", (protocol) => {
  test(
    "collector down (refused) mid-session through several redelivery attempts, then back on the same address: every event and span arrives once, totals right",
    async () => {
      const first = await start(protocol)
      const port = portOf(first)
      const { client, logs } = captureClient()
      const layer = liveLayer(
        {
          OPENCODE_OTLP_ENDPOINT: first.url,
          OPENCODE_OTLP_PROTOCOL: protocol,
          OPENCODE_OTLP_LOGS_INTERVAL: "200",
          OPENCODE_OTLP_METRICS_INTERVAL: "300",
        },
        client,
      ).pipe(Layer.provideMerge(TestClock.layer()))
      let second: Receiver | undefined
      // The redelivery schedule waits on the layer's clock, here a TestClock: its minutes pass at once.
      const failures = () => logs.filter((l) => l.message.includes("export failed")).length
      await runScoped(
        layer,
        Effect.gen(function* () {
          yield* emit(0, 20)
          yield* Effect.promise(() => first.stop()) // the collector goes away
          yield* emit(20, 15)
          // Exports fail meanwhile, and are kept: once each signal has failed, a few redelivery rounds pass.
          yield* until(() => failures() >= 3)
          for (let round = 0; round < 4; round++) yield* Effect.andThen(TestClock.adjust("30 seconds"), live(Effect.sleep("50 millis")))
          yield* emit(35, 15)
          second = yield* Effect.promise(() => start(protocol, port))
          yield* emit(50, 10)
          // Redelivered by the background schedule (its next attempt comes within 30 s), not only by the final flush.
          const delivered = () => second!.logs().length + first.logs().length >= 60
          yield* until(() => delivered(), () => TestClock.adjust("30 seconds"))
          expect(delivered()).toBe(true)
        }),
      )
      const all = [first, second!]
      const shas = all.flatMap((r) => r.logs()).map((l) => String(l.attributes["commit.sha"]))
      expect(shas.sort()).toEqual(Array.from({ length: 60 }, (_, i) => `sha${i}`).sort())
      const spans = all.flatMap((r) => r.spans()).map((s) => s.name)
      expect(new Set(spans).size).toBe(60)
      expect(spans).toHaveLength(60)
      expect(latestCumulative(all, "opencode.commit.count")).toBe(60)
      const messages = logs.map((l) => l.message).join("\n")
      expect(messages).toContain("export failed")
      expect(messages).toContain("recovered")
      expect(messages).not.toContain("Dropped")
    },
    90_000,
  )

  test(
    "collector answering 503 / UNAVAILABLE for a while: kept and redelivered in order",
    async () => {
      const receiver = await start(protocol)
      let unavailable = true
      receiver.setResponder(() => (unavailable ? { status: 503 } : undefined))
      const { client } = captureClient()
      const layer = liveLayer({ OPENCODE_OTLP_ENDPOINT: receiver.url, OPENCODE_OTLP_PROTOCOL: protocol, OPENCODE_OTLP_LOGS_INTERVAL: "100" }, client).pipe(
        Layer.provideMerge(TestClock.layer()),
      )
      await runScoped(
        layer,
        Effect.gen(function* () {
          yield* emit(0, 15)
          // Refused at least twice: the first attempt, and one of the redelivery schedule's.
          yield* until(() => receiver.requests.filter((r) => !r.accepted).length >= 2, () => TestClock.adjust("30 seconds"))
          unavailable = false
          yield* emit(15, 5)
          // The redelivery schedule delivers without waiting for shutdown.
          yield* until(() => receiver.logs().length >= 20, () => TestClock.adjust("30 seconds"))
          expect(receiver.logs().length).toBe(20)
        }),
      )
      const shas = receiver.logs().map((l) => String(l.attributes["commit.sha"]))
      // In order: what was kept goes first, nothing overtakes it.
      expect(shas).toEqual(Array.from({ length: 20 }, (_, i) => `sha${i}`))
    },
    30_000,
  )
})

test(
  "a buffer limit hit is counted and reported, never silent",
  async () => {
    const first = await start("http/protobuf")
    const port = portOf(first)
    await first.stop()
    const { client, logs } = captureClient()
    const layer = liveLayer(
      {
        OPENCODE_OTLP_ENDPOINT: first.url,
        OPENCODE_OTLP_PROTOCOL: "http/protobuf",
        OPENCODE_DISABLE_TRACES: "all",
        OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "500", // also each request's timeout: refused requests give up fast
      },
      client,
    )
    let second: Receiver | undefined
    await runScoped(
      layer,
      Effect.gen(function* () {
        // 9,000 log records while the collector is down: 8,192 fit the buffer; the 808 oldest are dropped.
        for (let i = 0; i < 9; i++) yield* emit(i * 1000, 1000)
        second = yield* Effect.promise(() => start("http/protobuf", port))
        // Redelivery runs in the background once the collector is back; give it time before shutting down.
        yield* Effect.promise(() => second!.waitFor((r) => r.logs().length >= 7000, 20_000))
        yield* Effect.sleep("500 millis")
      }),
    )
    // Whole export batches are kept or dropped, so the buffer ends at most at its limit.
    const received = second!.logs().length
    expect(received).toBeLessThanOrEqual(8192)
    expect(received).toBeGreaterThan(7000)
    const shas = second!.logs().map((l) => Number(String(l.attributes["commit.sha"]).slice(3)))
    expect(Math.min(...shas)).toBe(9000 - received) // the oldest went first
    expect(Math.max(...shas)).toBe(8999)
    expect(latestCumulative([second!], "opencode.telemetry.dropped")).toBe(9000 - received)
    console.log(JSON.stringify(logs.map((l) => l.message)))
    const dropped = logs.filter((l) => l.message.includes("Dropped"))
    expect(dropped).toHaveLength(1)
    expect(dropped[0]!.message).toContain("retry buffer full")
  },
  60_000,
)
