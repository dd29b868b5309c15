/**
 * Header helper: prewarm, refresh on auth failure with a rebuilt exporter and one retry, and the failure
 * modes (hang, non-zero exit, non-JSON, not executable) falling back to static headers.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Exporter } from "../../src/services/Exporter.ts"
import { HeaderProvider, runHelper } from "../../src/services/HeaderProvider.ts"
import { Instruments } from "../../src/services/Instruments.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"
import { captureClient, liveLayer, runScoped } from "../lib/telemetry.ts"
import { runEffect } from "../lib/effect.ts"

const dir = mkdtempSync(join(tmpdir(), "otel-helper-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let n = 0
const script = (body: string, mode = 0o755) => {
  const path = join(dir, `helper-${++n}.sh`)
  writeFileSync(path, `#!/bin/sh\n${body}\n`)
  chmodSync(path, mode)
  return path
}

/** A helper that prints token-<run number> and records each run in a counter file. */
const countingHelper = () => {
  const counter = join(dir, `count-${++n}`)
  const path = script(
    `c=$(cat "${counter}" 2>/dev/null || echo 0); c=$((c+1)); echo $c > "${counter}"\nprintf '{"Authorization":"Bearer token-%s","x-run":"%s"}' "$c" "$c"`,
  )
  return { path, runs: () => (existsSync(counter) ? Number(readFileSync(counter, "utf8").trim()) : 0) }
}

const emitOneSpan = Effect.gen(function* () {
  const instruments = yield* Instruments
  const span = yield* instruments.startSpan("session", "probe")
  span?.end()
  yield* (yield* Exporter).flush
})

let receiver: Receiver | undefined
afterEach(async () => {
  await receiver?.stop()
  receiver = undefined
})

describe("runHelper", () => {
  test("decodes a JSON object of strings", async () => {
    const headers = await runEffect(runHelper(script(`printf '{"a":"1","b":"x=y"}'`), { timeoutMs: 2000 }))
    expect(headers).toEqual({ a: "1", b: "x=y" })
  })

  test("does not pass credential variables to the helper", async () => {
    const path = script(`printf '{"seen":"%s"}' "$OPENCODE_OTLP_HEADERS$OTEL_EXPORTER_OTLP_HEADERS"`)
    const headers = await runEffect(
      runHelper(path, { timeoutMs: 2000, env: { ...process.env, OPENCODE_OTLP_HEADERS: "a=secret", OTEL_EXPORTER_OTLP_HEADERS: "b=secret" } }),
    )
    expect(headers).toEqual({ seen: "" })
  })

  const failures: Array<[string, () => string, RegExp]> = [
    ["hangs", () => script("sleep 30"), /did not finish within 300 ms/],
    ["exits non-zero", () => script("echo '{}'; exit 3"), /exited with code 3/],
    ["prints non-JSON", () => script("echo 'Bearer abc'"), /not a JSON object of string values/],
    ["prints JSON of the wrong shape", () => script(`echo '{"a":1}'`), /not a JSON object of string values/],
    ["is not executable", () => script("echo '{}'", 0o644), /could not be started \(EACCES\)/],
    ["does not exist", () => join(dir, "missing.sh"), /could not be started \(ENOENT\)/],
    ["prints too much", () => script("yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), /more than 65536 bytes/],
  ]
  for (const [what, make, reason] of failures)
    test(`a helper that ${what} gives a clear error without its output`, async () => {
      const started = Date.now()
      const error = await runEffect(Effect.flip(runHelper(make(), { timeoutMs: 300 })))
      expect(error._tag).toBe("HeaderHelperError")
      expect(error.message).toMatch(reason)
      expect(error.message).not.toContain("Bearer abc")
      expect(Date.now() - started).toBeLessThan(3000)
    })
})

describe.each(["http/protobuf", "grpc"] as Array<Protocol>)("helper with a collector (%s)", (protocol) => {
  test("prewarm runs the helper once at start; its headers override static ones", async () => {
    receiver = await startReceiver({ protocol })
    const helper = countingHelper()
    const { client } = captureClient()
    const layer = liveLayer(
      {
        OPENCODE_OTLP_ENDPOINT: receiver.url,
        OPENCODE_OTLP_PROTOCOL: protocol,
        OPENCODE_OTLP_HEADERS: "authorization=static,x-static=1",
        OPENCODE_OTLP_HEADERS_HELPER: helper.path,
        OPENCODE_DISABLE_LOGS: "1",
        OPENCODE_DISABLE_METRICS: "session.count",
      },
      client,
    )
    await runScoped(
      layer,
      Effect.gen(function* () {
        const headers = yield* HeaderProvider
        expect((yield* headers.current).headers).toEqual({ authorization: "Bearer token-1", "x-static": "1", "x-run": "1" })
        yield* emitOneSpan
      }),
    )
    expect(helper.runs()).toBe(1)
    const traces = receiver.requests.filter((r) => r.signal === "traces")
    expect(traces.length).toBeGreaterThan(0)
    expect(traces[0]!.headers["authorization"]).toBe("Bearer token-1")
    expect(traces[0]!.headers["x-static"]).toBe("1")
  })

  test("401 for the first token: headers refreshed, exporter rebuilt, the export retried once and delivered", async () => {
    receiver = await startReceiver({ protocol })
    receiver.setResponder((req) => (req.headers["authorization"] === "Bearer token-2" ? undefined : { status: 401 }))
    const helper = countingHelper()
    const { client, logs } = captureClient()
    const layer = liveLayer(
      {
        OPENCODE_OTLP_ENDPOINT: receiver.url,
        OPENCODE_OTLP_PROTOCOL: protocol,
        OPENCODE_OTLP_HEADERS_HELPER: helper.path,
        OPENCODE_DISABLE_LOGS: "1",
        OPENCODE_DISABLE_METRICS: "session.count",
      },
      client,
    )
    await runScoped(layer, emitOneSpan)
    const traces = receiver.requests.filter((r) => r.signal === "traces")
    expect(traces.map((r) => [r.headers["authorization"], r.accepted])).toEqual([
      ["Bearer token-1", false],
      ["Bearer token-2", true],
    ])
    expect(helper.runs()).toBe(2)
    expect(receiver.spans().map((s) => s.name)).toEqual(["probe"])
    expect(JSON.stringify(logs)).not.toContain("token-")
  })

  test("401 forever: exactly one retry per export, then the export fails and says so once", async () => {
    receiver = await startReceiver({ protocol })
    receiver.setResponder(() => ({ status: 401 }))
    const helper = countingHelper()
    const { client, logs } = captureClient()
    const layer = liveLayer(
      {
        OPENCODE_OTLP_ENDPOINT: receiver.url,
        OPENCODE_OTLP_PROTOCOL: protocol,
        OPENCODE_OTLP_HEADERS_HELPER: helper.path,
        OPENCODE_DISABLE_LOGS: "1",
        OPENCODE_DISABLE_METRICS: "session.count",
      },
      client,
    )
    await runScoped(layer, emitOneSpan)
    expect(receiver.requests.filter((r) => r.signal === "traces")).toHaveLength(2)
    const failures = logs.filter((l) => l.message.includes("OTLP traces export failed"))
    expect(failures).toHaveLength(1)
    expect(JSON.stringify(logs)).not.toContain("token-")
  })
})

test("concurrent refreshes share one helper run", async () => {
  const helper = countingHelper()
  const { client } = captureClient()
  const layer = liveLayer({ OPENCODE_OTLP_HEADERS_HELPER: helper.path, OPENCODE_DISABLE_LOGS: "1" }, client)
  await runScoped(
    layer,
    Effect.gen(function* () {
      const headers = yield* HeaderProvider
      yield* headers.current // prewarm done: run 1
      const fibers = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.forkChild(headers.refresh))
      const results = yield* Effect.forEach(fibers, Fiber.join)
      expect(new Set(results.map((r) => r.headers["authorization"]))).toEqual(new Set(["Bearer token-2"]))
    }),
  )
  expect(helper.runs()).toBe(2)
})

test("a failing helper: one clear message, exports continue with the static headers", async () => {
  receiver = await startReceiver({ protocol: "http/json" })
  const { client, logs } = captureClient()
  const layer = liveLayer(
    {
      OPENCODE_OTLP_ENDPOINT: receiver.url,
      OPENCODE_OTLP_PROTOCOL: "http/json",
      OPENCODE_OTLP_HEADERS: "authorization=Bearer static-secret",
      OPENCODE_OTLP_HEADERS_HELPER: script("echo 'not json at all'"),
      OPENCODE_DISABLE_LOGS: "1",
      OPENCODE_DISABLE_METRICS: "session.count",
    },
    client,
  )
  await runScoped(layer, emitOneSpan)
  expect(receiver.spans().map((s) => s.name)).toEqual(["probe"])
  expect(receiver.requests[0]!.headers["authorization"]).toBe("Bearer static-secret")
  const warnings = logs.filter((l) => l.level === "warn")
  expect(warnings).toHaveLength(1)
  expect(warnings[0]!.message).toContain("OPENCODE_OTLP_HEADERS_HELPER")
  expect(warnings[0]!.message).toContain("not a JSON object")
  expect(JSON.stringify(logs)).not.toContain("static-secret")
})

test("the helper also runs on a period (OPENCODE_OTLP_HEADERS_HELPER_REFRESH, 29 min by default), not only on auth failures", async () => {
  const helper = countingHelper()
  const { client } = captureClient()
  // On a TestClock: the default period, exactly, without waiting 29 minutes.
  const layer = liveLayer({ OPENCODE_OTLP_HEADERS_HELPER: helper.path, OPENCODE_DISABLE_LOGS: "1" }, client).pipe(Layer.provideMerge(TestClock.layer()))
  const period = 29 * 60_000
  /**
   * The helper is a real process: waits (in real time) until it has run `n` times and its headers are in use, and
   * a little more, so that the loop's next wait has begun before the clock moves.
   */
  const ran = (n: number) =>
    TestClock.withLive(
      Effect.gen(function* () {
        const headers = yield* HeaderProvider
        for (let i = 0; i < 150 && (yield* headers.current).headers["x-run"] !== String(n); i++) yield* Effect.sleep("20 millis")
        yield* Effect.sleep("50 millis")
        return helper.runs()
      }),
    )
  await runScoped(
    layer,
    Effect.gen(function* () {
      const headers = yield* HeaderProvider
      yield* headers.current
      expect(yield* ran(1)).toBe(1) // the prewarm
      yield* TestClock.adjust(period - 1_000)
      expect(yield* TestClock.withLive(Effect.sleep("200 millis").pipe(Effect.as(helper.runs())))).toBe(1)
      yield* TestClock.adjust(1_000)
      expect(yield* ran(2)).toBe(2)
      yield* TestClock.adjust(period)
      expect(yield* ran(3)).toBe(3)
      const now = yield* headers.current
      expect(now.headers["x-run"]).toBe("3")
    }),
  )
})
