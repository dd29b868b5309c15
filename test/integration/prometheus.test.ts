/**
 * The Prometheus pull endpoint (OTEL_METRICS_EXPORTER=prometheus): scraped over HTTP like a Prometheus server,
 * its values equal opencode's accounting of a recorded run, under the names a Collector would give them.
 */
import { describe, expect, test } from "bun:test"
import { createServer } from "node:net"
import { Effect } from "effect"
import { replay, loadFixture, truthTokens, truthCost } from "../lib/fixtures.ts"
import { freePort } from "../lib/net.ts"
import { captureClient, liveLayer, runScoped } from "../lib/telemetry.ts"
import { startReceiver } from "../support/otlp-receiver.ts"


/** `name{labels} value` lines of the text format, as samples. */
const parse = (text: string) =>
  text
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (.+)$/.exec(l)!
      const labels = Object.fromEntries([...(m[3] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
      return { name: m[1]!, labels, value: Number(m[4]) }
    })

const sum = (samples: ReturnType<typeof parse>, name: string, labels: Record<string, string> = {}) =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0)

test("claude-code profile: dashboard names and opencode's numbers, alongside OTLP", async () => {
  const port = await freePort()
  const receiver = await startReceiver({ protocol: "http/protobuf" })
  const fixture = loadFixture("write-edit")
  const { client, logs } = captureClient()
  try {
    const scraped = await runScoped(
      liveLayer(
        {
          OPENCODE_OTLP_ENDPOINT: receiver.url,
          OPENCODE_OTLP_PROTOCOL: "http/protobuf",
          OPENCODE_METRICS_EXPORTER: "otlp,prometheus",
          OPENCODE_PROMETHEUS_PORT: String(port),
          OPENCODE_PROFILE: "claude-code",
        },
        client,
      ),
      Effect.gen(function* () {
        yield* replay(fixture.lines.filter((l) => l.hook !== "dispose"))
        const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`))
        expect(response.headers.get("content-type")).toContain("text/plain")
        return yield* Effect.promise(() => response.text())
      }),
    )
    const samples = parse(scraped)
    const tokens = truthTokens(fixture)
    // The names Claude Code's own endpoint (OpenTelemetry JS's Prometheus exporter) serves: no unit in the name.
    expect(sum(samples, "claude_code_token_usage_total", { type: "input" })).toBe(tokens.input)
    expect(sum(samples, "claude_code_token_usage_total", { type: "output" })).toBe(tokens.output)
    expect(sum(samples, "claude_code_token_usage_total", { type: "cacheRead" })).toBe(tokens.cacheRead)
    expect(Math.abs(sum(samples, "claude_code_cost_usage_total") - truthCost(fixture))).toBeLessThan(1e-9)
    expect(sum(samples, "claude_code_session_count_total")).toBe(1)
    expect(sum(samples, "claude_code_lines_of_code_count_total", { type: "added" })).toBe(5)
    expect(sum(samples, "claude_code_lines_of_code_count_total", { type: "removed" })).toBe(1)
    expect(samples.some((s) => s.name === "claude_code_tool_duration_bucket" && s.labels["le"] === "+Inf")).toBe(true)
    expect(scraped).toContain("# TYPE claude_code_token_usage_total counter")
    expect(scraped).not.toContain("_tokens_total")
    // target_info carries the resource, as OpenTelemetry JS's exporter serves it.
    const info = samples.find((s) => s.name === "target_info")!
    expect([info.labels["service_name"], typeof info.labels["service_instance_id"]]).toEqual(["claude-code", "string"])
    // The OTLP path still gets everything.
    expect(receiver.metrics().some((m) => m.name === "claude_code.token.usage")).toBe(true)
    expect(logs.filter((l) => l.level === "warn")).toEqual([])
  } finally {
    await receiver.stop()
  }
})

test("a port already taken (another opencode): one message, and OTLP export continues", async () => {
  const blocker = createServer()
  const port = await new Promise<number>((resolve) =>
    blocker.listen(0, "127.0.0.1", () => resolve((blocker.address() as import("node:net").AddressInfo).port)),
  )
  const receiver = await startReceiver({ protocol: "http/json" })
  try {
    const { client, logs } = captureClient()
    await runScoped(
      liveLayer(
        {
          OPENCODE_OTLP_ENDPOINT: receiver.url,
          OPENCODE_OTLP_PROTOCOL: "http/json",
          OPENCODE_METRICS_EXPORTER: "prometheus,otlp",
          OPENCODE_PROMETHEUS_PORT: String(port),
        },
        client,
      ),
      replay(loadFixture("text").lines.filter((l) => l.hook !== "dispose")),
    )
    const messages = logs.filter((l) => l.message.includes("Prometheus endpoint"))
    expect(messages).toHaveLength(1)
    expect(messages[0]!.message).toContain("EADDRINUSE")
    expect(receiver.metrics().some((m) => m.name === "opencode.session.count")).toBe(true)
  } finally {
    blocker.close()
    await receiver.stop()
  }
})

describe("OPENCODE_PROMETHEUS_LINGER: at exit, the endpoint waits for one last scrape, bounded", () => {
  const settings = (port: number, linger?: string) => ({
    OPENCODE_METRICS_EXPORTER: "prometheus",
    OPENCODE_LOGS_EXPORTER: "none",
    OPENCODE_TRACES_EXPORTER: "none",
    OPENCODE_PROMETHEUS_PORT: String(port),
    ...(linger === undefined ? {} : { OPENCODE_PROMETHEUS_LINGER: linger }),
  })
  const fixture = loadFixture("write-edit")
  const run = (port: number, linger?: string) =>
    runScoped(liveLayer(settings(port, linger), captureClient().client), replay(fixture.lines.filter((l) => l.hook !== "dispose")))

  test("a scrape during the wait sees the final totals, and release follows it at once", async () => {
    const port = await freePort()
    const started = performance.now()
    const released = run(port, "20000").then(() => performance.now() - started)
    // The run's events are replayed in a few ms; then the layer is released and waits for a scrape.
    await new Promise((r) => setTimeout(r, 500))
    const scraped = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    const elapsed = await released
    expect(sum(parse(scraped), "opencode_token_usage_tokens_total", { type: "input" })).toBe(truthTokens(fixture).input)
    expect(elapsed).toBeLessThan(5_000)
    // Then the endpoint is gone.
    expect(await fetch(`http://127.0.0.1:${port}/metrics`).then(() => "served", () => "closed")).toBe("closed")
  }, 30_000)

  test("nobody scrapes: the wait ends at the bound", async () => {
    const port = await freePort()
    const started = performance.now()
    await run(port, "800")
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(750)
    expect(elapsed).toBeLessThan(5_000)
  }, 30_000)

  test("by default the endpoint does not wait", async () => {
    const port = await freePort()
    const started = performance.now()
    await run(port)
    expect(performance.now() - started).toBeLessThan(700)
  }, 30_000)
})
