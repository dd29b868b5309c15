/**
 * The plugin entry as opencode calls it: factory, event hook, dispose. Never throws, never prints, reports
 * configuration problems once through opencode's log, and shuts down within the budget.
 */
import { afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test"
import { createServer, type Server } from "node:net"
import { Option, Redacted } from "effect"
import { OpenTelemetryPlugin } from "../../src/plugin.ts"
import { TELEMETRY_OFF } from "../../src/host/opencodeClient.ts"
import { sendsCredentialsInClear } from "../../src/services/Exporter.ts"
import * as pluginModule from "../../src/plugin.ts"
import { startReceiver, type Receiver } from "../support/otlp-receiver.ts"
import { captureClient } from "../lib/telemetry.ts"
import { turnEvents } from "../lib/turn.ts"

const input = (client: ReturnType<typeof captureClient>["client"]) => ({
  client,
  project: { worktree: process.cwd() },
  directory: process.cwd(),
  worktree: process.cwd(),
})

const created = (id: string) => ({
  type: "session.created",
  properties: { sessionID: id, info: { id, title: "t", time: { created: Date.now(), updated: Date.now() } } },
})

let receiver: Receiver | undefined
// Inside opencode's TUI any write to the terminal corrupts the screen: no test here may print.
let spies: Array<ReturnType<typeof spyOn>> = []
beforeEach(() => {
  spies = [
    spyOn(process.stdout, "write"),
    spyOn(process.stderr, "write"),
    ...(["log", "error", "warn", "info", "debug", "trace"] as const).map((m) => spyOn(console, m)),
  ]
})
afterEach(async () => {
  const printed = spies.flatMap((s) => s.mock.calls.map((c: Array<unknown>) => String(c[0])))
  for (const s of spies) s.mockRestore()
  await receiver?.stop()
  receiver = undefined
  expect(printed).toEqual([])
})

test("the module exports exactly one function: the plugin", () => {
  const functions = Object.entries(pluginModule).filter(([, v]) => typeof v === "function")
  expect(functions.map(([k]) => k)).toEqual(["OpenTelemetryPlugin"])
})

test("switched off by default: no hooks, one line at DEBUG saying so", async () => {
  const { client, logs } = captureClient()
  const hooks = await OpenTelemetryPlugin(input(client), {})
  expect(hooks).toEqual({})
  expect(logs.map((l) => [l.level, l.message])).toEqual([["debug", `opencode-plugin-opentelemetry: ${TELEMETRY_OFF}`]])
})

test("switched off explicitly (enabled: false): the same single DEBUG line", async () => {
  const { client, logs } = captureClient()
  const hooks = await OpenTelemetryPlugin(input(client), { enabled: false })
  await hooks.dispose?.()
  expect(logs.map((l) => [l.level, l.message])).toEqual([["debug", `opencode-plugin-opentelemetry: ${TELEMETRY_OFF}`]])
})

describe("configuration problems", () => {
  test("a bad protocol disables the plugin with one clear message per problem", async () => {
    const { client, logs } = captureClient()
    const hooks = await OpenTelemetryPlugin(input(client), { enabled: true, protocol: "http", headers: "authorization=Bearer hunter2,oops" })
    // The settings are decoded by the part loaded in the background; its hooks then do nothing.
    await hooks.event?.({ event: created("ses_bad") })
    await hooks.dispose?.()
    const text = logs.map((l) => l.message).join("\n")
    expect(text).toContain('OPENCODE_OTLP_PROTOCOL (plugin option "protocol")')
    expect(text).toContain("OPENCODE_OTLP_HEADERS")
    expect(text).toContain("Telemetry is disabled")
    expect(text).not.toContain("hunter2")
  })

  test("a bad interval disables only that signal; the plugin runs on", async () => {
    receiver = await startReceiver({ protocol: "http/protobuf" })
    const { client, logs } = captureClient()
    const hooks = await OpenTelemetryPlugin(input(client), {
      enabled: true,
      endpoint: receiver.url,
      protocol: "http/protobuf",
      logsInterval: 0,
    })
    expect(typeof hooks.event).toBe("function")
    await hooks.event!({ event: created("ses_p1") })
    await hooks.dispose!()
    expect(logs.some((l) => l.message.includes("OPENCODE_OTLP_LOGS_INTERVAL") && l.message.includes("Log export is disabled"))).toBe(true)
    expect(receiver.metrics().some((m) => m.name === "opencode.session.count")).toBe(true)
    expect(receiver.logs()).toHaveLength(0)
  })
})

test("hooks never throw, whatever the event or the client", async () => {
  receiver = await startReceiver({ protocol: "http/json" })
  const throwingClient = {
    app: {
      log: () => {
        throw new Error("log is broken")
      },
    },
  }
  {
    const hooks = await OpenTelemetryPlugin({ client: throwingClient, directory: process.cwd() }, {
      enabled: true,
      endpoint: receiver.url,
      protocol: "http/json",
    })
    for (const event of [undefined, null, 42, "x", {}, { type: "session.created" }, { type: "session.created", properties: null }, created("ses_ok")])
      await hooks.event!({ event })
    await hooks.dispose!()
    await hooks.dispose!() // twice is harmless
    await hooks.event!({ event: created("after") }) // after dispose: ignored
  }
  expect(receiver.metrics().find((m) => m.name === "opencode.session.count")?.value).toBe(1)
})

test("service.version is the version opencode reports (GET /global/health), on every signal's resource", async () => {
  receiver = await startReceiver({ protocol: "http/protobuf" })
  const { client } = captureClient()
  const health = { get: async (o: { url: string }) => (o.url === "/global/health" ? { data: { healthy: true, version: "9.8.7" } } : {}) }
  const hooks = await OpenTelemetryPlugin({ ...input(client), client: Object.assign(client, { _client: health }) }, {
    enabled: true,
    endpoint: receiver.url,
    protocol: "http/protobuf",
  })
  for (const event of turnEvents("ses_version")) await hooks.event!({ event })
  await hooks.dispose!()
  const resources = [...receiver.metrics(), ...receiver.logs(), ...receiver.spans()].map((r) => r.resource)
  expect(resources.length).toBeGreaterThan(2)
  expect(new Set(resources.map((r) => r["service.version"]))).toEqual(new Set(["9.8.7"]))
  expect(new Set(resources.map((r) => r["service.instance.id"])).size).toBe(1)
})

test("a plugin that cannot start says so once and its hooks do nothing, instead of throwing", async () => {
  const { client, logs } = captureClient()
  // A getter that throws stands in for any unexpected failure while starting.
  const hostile = Object.defineProperty({ client }, "directory", {
    get() {
      throw new Error("boom")
    },
  })
  const hooks = await OpenTelemetryPlugin(hostile, { enabled: true })
  await hooks.event?.({ event: created("ses_hostile") })
  await hooks["chat.message"]?.({ sessionID: "ses_hostile" }, { message: {}, parts: [] })
  await hooks.dispose?.()
  expect(logs.filter((l) => l.level === "error" && l.message.includes("failed to start"))).toHaveLength(1)
})

test("dispose is bounded when the collector accepts connections and never answers", async () => {
  const sockets = new Set<import("node:net").Socket>()
  const server: Server = createServer((socket) => void sockets.add(socket))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as import("node:net").AddressInfo).port
  try {
    const { client } = captureClient()
    const hooks = await OpenTelemetryPlugin(input(client), {
      enabled: true,
      endpoint: `http://127.0.0.1:${port}`,
      protocol: "http/protobuf",
      shutdownTimeout: 1000,
    })
    await hooks.event!({ event: created("ses_hang") })
    const started = Date.now()
    await hooks.dispose!()
    const elapsed = Date.now() - started
    // One deadline for all of dispose: the 1000 ms budget, plus scheduling slack.
    expect(elapsed).toBeLessThan(1500)
  } finally {
    for (const s of sockets) s.destroy()
    server.close()
  }
})

describe("credentials over plain http", () => {
  const config = (endpoint: string, headers: Record<string, string> = { authorization: "Bearer x" }) => ({
    endpoint,
    headers: { static: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Redacted.make(v)])), helper: Option.none<string>() },
  })
  test("warned only for a non-loopback host without TLS", () => {
    expect(sendsCredentialsInClear(config("http://collector.example.com:4318"))).toBe(true)
    expect(sendsCredentialsInClear(config("grpc://10.1.2.3:4317"))).toBe(true)
    expect(sendsCredentialsInClear(config("https://collector.example.com"))).toBe(false)
    expect(sendsCredentialsInClear(config("http://127.0.0.1:4318"))).toBe(false)
    expect(sendsCredentialsInClear(config("http://localhost:4318"))).toBe(false)
    expect(sendsCredentialsInClear(config("http://[::1]:4318"))).toBe(false)
    expect(sendsCredentialsInClear(config("http://collector.example.com:4318", {}))).toBe(false)
  })

  test("the plugin logs the warning once, without the header value", async () => {
    const { client, logs } = captureClient()
    // An unroutable documentation address: nothing is sent during the test (no event happens).
    const hooks = await OpenTelemetryPlugin(input(client), {
      enabled: true,
      endpoint: "http://192.0.2.1:4318",
      protocol: "http/protobuf",
      headers: "authorization=Bearer not-to-be-logged",
      shutdownTimeout: 200,
    })
    await hooks.dispose!()
    const warnings = logs.filter((l) => l.message.includes("sent over plain http"))
    expect(warnings).toHaveLength(1)
    expect(JSON.stringify(logs)).not.toContain("not-to-be-logged")
  })
})

test("the end of a turn sends what it produced, before any dispose (a later SIGTERM loses at most the next turn)", async () => {
  receiver = await startReceiver({ protocol: "http/protobuf" })
  const { client } = captureClient()
  const hooks = await OpenTelemetryPlugin(input(client), { enabled: true, endpoint: receiver.url, protocol: "http/protobuf" })
  try {
    await hooks.event!({ event: created("ses_turn") })
    await hooks.event!({ event: { type: "session.idle", properties: { sessionID: "ses_turn" } } })
    // Default intervals are 60 s (metrics) and 5 s (logs): only the turn-end flush can deliver this quickly.
    await receiver.waitFor((r) => r.metrics().some((m) => m.name === "opencode.session.count") && r.logs().length >= 2, 3_000)
    expect(receiver.logs().map((l) => l.attributes["event.name"])).toEqual(["session.created", "session.idle"])
  } finally {
    await hooks.dispose!()
  }
})

test("the console exporter writes to opencode's log, never to the terminal", async () => {
  const { client, logs } = captureClient()
  const hooks = await OpenTelemetryPlugin(input(client), {
    enabled: true,
    metricsExporter: "console",
    logsExporter: "console",
    tracesExporter: "console",
  })
  for (const event of turnEvents("ses_console")) await hooks.event!({ event })
  await hooks.dispose!()
  const lines = logs.map((l) => l.message)
  expect(lines.some((l) => l.includes("telemetry: event session.created") && l.includes("session.id=ses_console"))).toBe(true)
  expect(lines.some((l) => l.includes("telemetry: metric opencode.session.count") && l.includes("= 1"))).toBe(true)
  expect(lines.some((l) => l.includes("telemetry: span invoke_agent"))).toBe(true)
})
