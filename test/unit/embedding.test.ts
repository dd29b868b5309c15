/**
 * The README's embedding examples, kept compiling and passing: the public Effect API from
 * `opencode-plugin-opentelemetry/effect` used the way another Effect app would.
 */
import { expect, test } from "bun:test"
import { ConfigProvider, Effect, Layer } from "effect"
import { endAllSessions, Exporter, handleChatMessage, handleEvent, Instruments, Telemetry } from "../../src/index.ts"
import { startReceiver } from "../support/otlp-receiver.ts"

test("embedding: the live layer from a ConfigProvider, driven by your own events", async () => {
  const receiver = await startReceiver({ protocol: "http/json" })
  try {
    // --- README example (live) ---
    const TelemetryLive = Telemetry.layerLive({ options: { protocol: "http/json" } }).pipe(
      Layer.provide(
        ConfigProvider.layer(
          ConfigProvider.fromEnv({ env: { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_ENDPOINT: receiver.url } }),
        ),
      ),
    )
    const program = Effect.gen(function* () {
      const instruments = yield* Instruments.Instruments
      yield* instruments.count("commit.count", 1, { "session.id": "ses_embed" })
      yield* handleEvent({
        type: "session.created",
        properties: { info: { id: "ses_embed", time: { created: Date.now() } } },
      })
    })
    await Effect.runPromise(program.pipe(Effect.provide(TelemetryLive)))
    // --- end ---
    await receiver.waitFor((r) => r.metrics().some((m) => m.name === "opencode.commit.count"))
    expect(receiver.metrics().find((m) => m.name === "opencode.session.count")?.value).toBe(1)
  } finally {
    await receiver.stop()
  }
})

test("embedding: the test layer with in-memory exporters", async () => {
  // --- README example (test) ---
  const program = Effect.gen(function* () {
    yield* handleEvent({ type: "session.created", properties: { info: { id: "ses_t", time: { created: Date.now() } } } })
    const memory = yield* Exporter.MemoryExporter
    const logs = yield* memory.logs
    return logs.map((l) => l.attributes["event.name"])
  })
  const names = await Effect.runPromise(program.pipe(Effect.provide(Telemetry.layerTest({ OPENCODE_METRIC_PREFIX: "claude_code." }))))
  // --- end ---
  expect(names).toEqual(["session.created"])
})

test("embedding: a turn still open reaches the in-memory exporter when the session ends (endAllSessions)", async () => {
  const program = Effect.gen(function* () {
    yield* handleEvent({ type: "session.created", properties: { info: { id: "ses_open", time: { created: Date.now() } } } })
    yield* handleChatMessage({ sessionID: "ses_open" }, { message: {}, parts: [{ type: "text", text: "hi" }] })
    const memory = yield* Exporter.MemoryExporter
    const before = (yield* memory.spans).map((s) => s.name)
    yield* endAllSessions()
    const after = (yield* memory.spans).map((s) => s.name)
    return { before, after }
  })
  const { before, after } = await Effect.runPromise(program.pipe(Effect.provide(Telemetry.layerTest())))
  expect(before).toEqual([])
  expect(after.filter((name) => name.startsWith("invoke_agent"))).toHaveLength(1)
})

test("embedding: a setting that switches telemetry off fails the live layer with a ConfigError, caught by tag", async () => {
  // --- README example (typed failure) ---
  const TelemetryLive = Telemetry.layerLive().pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_PROTOCOL: "carrier-pigeon" } }))),
  )
  const outcome = await Effect.runPromise(
    Effect.void.pipe(
      Effect.provide(TelemetryLive),
      Effect.as("started"),
      Effect.catchTag("ConfigError", (error) => Effect.succeed(`${error.variable}: ${error.message}`)),
    ),
  )
  // --- end ---
  expect(outcome).toStartWith("OPENCODE_OTLP_PROTOCOL: ")
  expect(outcome).toContain("carrier-pigeon")
})

test("embedding: telemetry not switched on: the live layer builds, connects nowhere and exports nothing", async () => {
  const receiver = await startReceiver({ protocol: "http/json" })
  try {
    const TelemetryLive = Telemetry.layerLive({ options: { protocol: "http/json" } }).pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { OPENCODE_OTLP_ENDPOINT: receiver.url } }))),
    )
    const program = Effect.gen(function* () {
      yield* handleEvent({ type: "session.created", properties: { info: { id: "ses_off", time: { created: Date.now() } } } })
      yield* (yield* Exporter.Exporter).flush
    })
    await Effect.runPromise(program.pipe(Effect.provide(TelemetryLive)))
    await Bun.sleep(300)
    expect(receiver.requests).toEqual([])
  } finally {
    await receiver.stop()
  }
})
