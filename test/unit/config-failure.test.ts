/**
 * A fatal setting as a typed failure of the embedder's Config layers, warnings as a list, and each decoder of
 * src/config/ through the public decodeSettings: one good and one bad value, the bad one with its declared
 * severity (what it switches off) and the consequence derived from it.
 */
import { describe, expect, test } from "bun:test"
import { ConfigProvider, Effect, Exit, Layer, Option, Redacted } from "effect"
import * as Config from "../../src/services/Config.ts"
import { readFileSync } from "node:fs"
import { join } from "node:path"

const on = { OPENCODE_ENABLE_TELEMETRY: "1" }
const decode = (raw: Config.RawSettings, host?: Config.Host) => Config.decodeSettings({ ...on, ...raw }, undefined, {}, host)
const fromEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

/** An embedder's program: reads the config, or says why telemetry cannot run. */
const embedder = (layer: Layer.Layer<Config.Config, Config.ConfigError>) =>
  Effect.gen(function* () {
    const config = yield* Config.Config
    return { running: config.enabled, warnings: config.problems.map((p) => p.message) }
  }).pipe(
    Effect.provide(layer),
    Effect.catchTag("ConfigError", (error) => Effect.succeed({ refused: error.variable, reason: error.message })),
  )

describe("a fatal setting fails the embedder's layer with a typed ConfigError", () => {
  test("layerFromEnv: a bad endpoint, caught by tag, names the variable and the reason", async () => {
    const result = await Effect.runPromise(
      embedder(Config.layerFromEnv()).pipe(Effect.provide(fromEnv({ ...on, OPENCODE_OTLP_ENDPOINT: "localhost:4317" }))),
    )
    expect(result).toEqual({
      refused: "OPENCODE_OTLP_ENDPOINT",
      reason:
        'OPENCODE_OTLP_ENDPOINT="localhost:4317" is invalid: expected a URL with a scheme, such as http://localhost:4317 or https://collector.example:4318. Telemetry is disabled.',
    })
  })

  test("the failure is a ConfigError on the error channel, with what it switched off", async () => {
    const error = await Effect.runPromise(
      Effect.service(Config.Config).pipe(
        Effect.provide(Config.layerFromEnv()),
        Effect.flip,
        Effect.provide(fromEnv({ ...on, OPENCODE_OTLP_PROTOCOL: "carrier-pigeon", OPENCODE_OTLP_COMPRESSION: "brotli" })),
      ),
    )
    expect(error).toBeInstanceOf(Config.ConfigError)
    expect(error._tag).toBe("ConfigError")
    expect(error.switchesOff).toBe("telemetry")
    expect(error.variable).toBe("OPENCODE_OTLP_PROTOCOL")
    expect(error.value).toBe("carrier-pigeon")
    expect(error.consequence).toBe("Telemetry is disabled.")
  })

  test("the error names where the value came from: a standard OTEL_* variable, or a plugin option", async () => {
    const viaStandard = await Effect.runPromise(
      embedder(Config.layerFromEnv()).pipe(Effect.provide(fromEnv({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: "thrift" }))),
    )
    expect(viaStandard).toMatchObject({ refused: "OTEL_EXPORTER_OTLP_PROTOCOL" })
    const viaOption = await Effect.runPromise(
      embedder(Config.layerFromEnv({ options: { endpoint: "collector" } })).pipe(Effect.provide(fromEnv(on))),
    )
    expect(viaOption).toMatchObject({ refused: 'OPENCODE_OTLP_ENDPOINT (plugin option "endpoint")' })
  })

  test("layer(settings): bad headers fail it, and the secret is nowhere in the error", async () => {
    const secret = "s3cr3t-token"
    const exit = await Effect.runPromiseExit(
      Effect.service(Config.Config).pipe(Effect.provide(Config.layer({ ...on, OPENCODE_OTLP_HEADERS: `authorization=Bearer ${secret},broken` }))),
    )
    if (!Exit.isFailure(exit)) throw new Error("expected a failure")
    expect(JSON.stringify(exit.cause)).not.toContain(secret)
    const result = await Effect.runPromise(embedder(Config.layer({ ...on, OPENCODE_OTLP_HEADERS: `authorization=Bearer ${secret},broken` })))
    expect(result).toMatchObject({ refused: "OPENCODE_OTLP_HEADERS" })
    expect(JSON.stringify(result)).not.toContain(secret)
  })

  test("the opencode plugin's layerFrom never fails: the fatal setting is enabled: false and a listed problem", async () => {
    const config = await Effect.runPromise(
      Effect.service(Config.Config).pipe(Effect.provide(Config.layerFrom()), Effect.provide(fromEnv({ ...on, OPENCODE_OTLP_ENDPOINT: "collector" }))),
    )
    expect(config.enabled).toBe(false)
    expect(config.problems.map((p) => [p.variable, p.switchesOff])).toEqual([["OPENCODE_OTLP_ENDPOINT", "telemetry"]])
  })
})

describe("a non-fatal setting: warnings and a working config", () => {
  test("layerFromEnv succeeds; the problem is a warning and its default applies", async () => {
    const result = await Effect.runPromise(
      embedder(Config.layerFromEnv()).pipe(Effect.provide(fromEnv({ ...on, OPENCODE_OTLP_COMPRESSION: "brotli", OPENCODE_OTLP_METRICS_INTERVAL: "soon" }))),
    )
    expect(result).toEqual({
      running: true,
      warnings: [
        'OPENCODE_OTLP_METRICS_INTERVAL="soon" is invalid: expected a positive whole number of milliseconds. Metrics export is disabled.',
        'OPENCODE_OTLP_COMPRESSION="brotli" is invalid: expected one of gzip, none. gzip applies.',
      ],
    })
  })

  test("layer(settings) with a bad signal setting: that signal off, the rest running", async () => {
    const config = await Effect.runPromise(Effect.service(Config.Config).pipe(Effect.provide(Config.layer({ ...on, OPENCODE_OTLP_LOGS_INTERVAL: "-5" }))))
    expect(config.enabled).toBe(true)
    expect(config.logs.enabled).toBe(false)
    expect(config.metrics.enabled).toBe(true)
    expect(config.problems.map((p) => p.switchesOff)).toEqual(["logs"])
  })

  test("telemetry merely not switched on is no failure", async () => {
    const config = await Effect.runPromise(Effect.service(Config.Config).pipe(Effect.provide(Config.layer({}))))
    expect(config.enabled).toBe(false)
    expect(config.problems).toEqual([])
  })
})

// [decoder, settings, selector, expected] — good values
const good: Array<[string, Config.RawSettings, (c: Config.TelemetryConfig) => unknown, unknown]> = [
  ["transport", { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "grpcs://t:4317" }, (c) => c.signals.traces.url, "https://t:4317"],
  ["transport", { OTEL_EXPORTER_OTLP_LOGS_HEADERS: "X-Key=v" }, (c) => Redacted.value(c.signals.logs.headers["x-key"]!), "v"],
  ["headers", { OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT: "800", OPENCODE_OTLP_HEADERS_HELPER_REFRESH: "60000" }, (c) => [c.headers.helperTimeoutMs, c.headers.helperRefreshMs], [800, 60_000]],
  ["tls", { OPENCODE_OTLP_CERTIFICATE: " /ca.pem ", OPENCODE_OTLP_CLIENT_KEY: "/k.pem", OPENCODE_OTLP_CLIENT_CERTIFICATE: "/c.pem" }, (c) => c.tls, { ca: "/ca.pem", clientKey: "/k.pem", clientCertificate: "/c.pem" }],
  ["profile", { OPENCODE_PROFILE: "Claude_Code" }, (c) => [c.profile, c.serviceName, c.metrics.prefix, c.metrics.temporality], ["claude-code", "claude-code", "claude_code.", "delta"]],
  ["metrics", { OPENCODE_METRICS_INCLUDE_VERSION: "yes" }, (c) => c.metrics.includeVersion, true],
  ["logs", { OPENCODE_LOGS_EXPORTER: "console" }, (c) => [c.logs.enabled, c.exportTo.console.logs, c.exportTo.otlp.logs], [true, true, false]],
  ["traces", { OPENCODE_TRACES_EXPORTER: "console,otlp" }, (c) => [c.traces.disabled.size, c.exportTo.console.traces], [0, true]],
  ["content", { OPENCODE_LOG_TOOL_CONTENT: "YES" }, (c) => c.content.toolContent, true],
  ["content", { OPENCODE_LOG_ASSISTANT_RESPONSES: "On" }, (c) => c.content.assistantResponses, true],
  ["spool", { OPENCODE_OTLP_SPOOL_DIR: "/var/spool/otel", OPENCODE_OTLP_SPOOL_MAX_MB: "2" }, (c) => c.spool, { dir: "/var/spool/otel", maxBytes: 2 * 1024 * 1024 }],
  ["spool", { OPENCODE_OTLP_SPOOL_MAX_MB: "0" }, (c) => c.spool, undefined],
  ["file", { OPENCODE_TRACES_EXPORTER: "otlp,file", OPENCODE_OTLP_FILE_DIR: "/var/otel", OPENCODE_OTLP_FILE_MAX_MB: "2" }, (c) => [c.file, c.exportTo.file, c.exportTo.otlp.traces], [{ dir: "/var/otel", maxBytes: 2 * 1024 * 1024 }, { traces: true, logs: false, metrics: false }, true]],
  ["file", { OPENCODE_OTLP_FILE_DIR: "/var/otel" }, (c) => c.file, undefined],
  ["prometheus", { OPENCODE_METRICS_EXPORTER: "prometheus", OPENCODE_PROMETHEUS_PORT: "0", OPENCODE_PROMETHEUS_LINGER: "1000" }, (c) => c.metrics.prometheus, { host: "127.0.0.1", port: 0, lingerMs: 1000 }],
  ["traces", { OPENCODE_TRACE_PROPAGATION_PROVIDERS: "anthropic, fake" }, (c) => c.traces.propagationProviders, new Set(["anthropic", "fake"])],
]

describe("each decoder: a good value", () => {
  for (const [decoder, settings, select, expected] of good)
    test(`${decoder}: ${JSON.stringify(settings)}`, () => {
      const { config, problems } = decode(settings, { spoolDir: "/state" })
      expect(problems.map((p) => p.message)).toEqual([])
      expect(select(config)).toEqual(expected)
    })
})

// [decoder, settings, variable, switches off, consequence, selector, expected]
const bad: Array<[string, Config.RawSettings, string, Config.SwitchesOff, string, (c: Config.TelemetryConfig) => unknown, unknown]> = [
  ["transport", { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: "collector:4318" }, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "logs", "Logs export is disabled.", (c) => [c.enabled, c.logs.enabled], [true, false]],
  ["transport", { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "zipkin" }, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "traces", "Traces export is disabled.", (c) => c.traces.disabled.size, 3],
  ["headers", { OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT: "0" }, "OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT", "setting", "The default of 5000 ms applies.", (c) => c.headers.helperTimeoutMs, 5_000],
  ["headers", { OPENCODE_OTLP_HEADERS_HELPER: "relative/helper" }, "OPENCODE_OTLP_HEADERS_HELPER", "setting", "The header helper is not used; static headers still apply.", (c) => Option.isNone(c.headers.helper), true],
  ["tls", { OPENCODE_OTLP_CLIENT_KEY: "/k.pem" }, "OPENCODE_OTLP_CLIENT_KEY", "setting", "No client certificate is presented.", (c) => c.tls, { ca: undefined }],
  ["profile", { OPENCODE_PROFILE: "claude-kode", OPENCODE_METRIC_PREFIX: "claude_code." }, "OPENCODE_PROFILE", "setting", "The claude-code profile applies.", (c) => c.profile, "claude-code"],
  ["metrics", { OPENCODE_OTLP_METRICS_TEMPORALITY: "sometimes" }, "OPENCODE_OTLP_METRICS_TEMPORALITY", "metrics", "Metrics export is disabled.", (c) => [c.enabled, c.metrics.enabled], [true, false]],
  ["metrics", { OPENCODE_COST_USAGE_SCALE: "lots" }, "OPENCODE_COST_USAGE_SCALE", "setting", "The cost.usage metric is disabled; other metrics still apply.", (c) => [c.metrics.enabled, [...c.metrics.disabled]], [true, ["cost.usage"]]],
  ["logs", { OPENCODE_LOGS_EXPORTER: "kafka" }, "OPENCODE_LOGS_EXPORTER", "setting", "This setting is ignored; otlp applies.", (c) => [c.logs.enabled, c.exportTo.otlp.logs], [true, true]],
  ["logs", { OPENCODE_OTLP_LOGS_INTERVAL: "abc" }, "OPENCODE_OTLP_LOGS_INTERVAL", "logs", "Log export is disabled.", (c) => c.logs.enabled, false],
  ["file", { OPENCODE_LOGS_EXPORTER: "file", OPENCODE_OTLP_FILE_DIR: "relative/dir" }, "OPENCODE_OTLP_FILE_DIR", "setting", "Nothing is written to files; the other exporters still apply.", (c) => [c.logs.enabled, c.file], [false, undefined]],
  ["file", { OPENCODE_METRICS_EXPORTER: "file,otlp", OPENCODE_OTLP_FILE_DIR: "/d", OPENCODE_OTLP_FILE_MAX_MB: "0" }, "OPENCODE_OTLP_FILE_MAX_MB", "setting", "The default of 64 MB applies.", (c) => c.file?.maxBytes, 64 * 1024 * 1024],
  ["traces", { OPENCODE_TRACEPARENT: "00-zz-01" }, "OPENCODE_TRACEPARENT", "setting", "Spans are exported as root spans.", (c) => Option.isNone(c.traces.parent), true],
  ["content", { OPENCODE_LOG_USER_PROMPTS: "disabled" }, "OPENCODE_LOG_USER_PROMPTS", "setting", "The default (off) applies.", (c) => c.content.userPrompts, false],
  ["content", { OPENCODE_METRICS_INCLUDE_SESSION_ID: "maybe" }, "OPENCODE_METRICS_INCLUDE_SESSION_ID", "setting", "The default (on) applies.", (c) => c.metrics.includeSessionId, true],
  ["spool", { OPENCODE_OTLP_SPOOL_DIR: "relative/spool" }, "OPENCODE_OTLP_SPOOL_DIR", "setting", "Nothing is spooled: data undelivered at exit is dropped and counted.", (c) => c.spool, undefined],
  ["spool", { OPENCODE_OTLP_SPOOL_MAX_MB: "2048" }, "OPENCODE_OTLP_SPOOL_MAX_MB", "setting", "The default of 32 MB applies.", (c) => c.spool?.maxBytes, 32 * 1024 * 1024],
  ["prometheus", { OPENCODE_METRICS_EXPORTER: "prometheus", OPENCODE_PROMETHEUS_PORT: "99999" }, "OPENCODE_PROMETHEUS_PORT", "setting", "The Prometheus endpoint is not served.", (c) => [c.metrics.prometheus, c.metrics.enabled], [undefined, false]],
  ["prometheus", { OPENCODE_METRICS_EXPORTER: "otlp,prometheus", OPENCODE_PROMETHEUS_LINGER: "40000" }, "OPENCODE_PROMETHEUS_LINGER", "setting", "The endpoint does not wait at exit.", (c) => c.metrics.prometheus?.lingerMs, 0],  ["traces", { OPENCODE_TRACE_PROPAGATION_PROVIDERS: "fake,not a provider" }, "OPENCODE_TRACE_PROPAGATION_PROVIDERS", "setting", "This entry is ignored; the other providers listed still get a traceparent.", (c) => c.traces.propagationProviders, new Set(["fake"])],
]

describe("each decoder: a bad value, its declared severity and derived consequence", () => {
  for (const [decoder, settings, variable, switchesOff, consequence, select, expected] of bad)
    test(`${decoder}: ${JSON.stringify(settings)}`, () => {
      const { config, problems } = decode(settings, { spoolDir: "/state" })
      expect(problems.map((p) => [p.variable, p.switchesOff, p.consequence])).toEqual([[variable, switchesOff, consequence]])
      expect(problems[0]!.message.endsWith(`. ${consequence}`)).toBe(true)
      expect(config.enabled).toBe(true)
      expect(select(config)).toEqual(expected)
    })
})

test("the catalog: every option name and fallback as before, per-signal variables listed apart", () => {
  expect(Config.VARIABLES.OPENCODE_OTLP_ENDPOINT).toBe("endpoint")
  expect(Config.FALLBACKS.OPENCODE_OTLP_HEADERS_HELPER_REFRESH).toBe("CLAUDE_CODE_OTEL_HEADERS_HELPER_DEBOUNCE_MS")
  expect(Config.FALLBACKS.OPENCODE_METRIC_PREFIX).toBeUndefined()
  // Every setting is documented: each variable has its row in the README's settings tables.
  const readme = readFileSync(join(import.meta.dir, "..", "..", "README.md"), "utf8")
  expect(Object.keys(Config.VARIABLES).filter((variable) => !readme.includes(`\`${variable}\``))).toEqual([])
  expect(Object.keys(Config.VARIABLES).length).toBeGreaterThanOrEqual(41)
  expect(Config.FALLBACKS.OPENCODE_LOG_ASSISTANT_RESPONSES).toBe("OTEL_LOG_ASSISTANT_RESPONSES")
  expect(Config.SIGNAL_VARIABLES).toHaveLength(9)
})
