import { describe, expect, test } from "bun:test"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import * as Config from "../../src/services/Config.ts"
import { parseKeyValueList } from "../../src/config/keyValue.ts"
import { runEffect } from "../lib/effect.ts"

const on = { OPENCODE_ENABLE_TELEMETRY: "1" }
const decode = (raw: Config.RawSettings, workspace?: Config.Workspace) => Config.decodeSettings({ ...on, ...raw }, workspace)

describe("defaults", () => {
  test("telemetry is off until OPENCODE_ENABLE_TELEMETRY is set", () => {
    expect(Config.decodeSettings({}).config.enabled).toBe(false)
    expect(Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "" }).config.enabled).toBe(false)
    expect(Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "yes" }).config.enabled).toBe(true)
  })
  test("every documented default", () => {
    const { config, problems } = decode({})
    expect(problems).toEqual([])
    expect(config.endpoint).toBe("http://localhost:4317")
    expect(config.protocol).toBe("grpc")
    expect(config.metrics.intervalMs).toBe(60_000)
    expect(config.logs.intervalMs).toBe(5_000)
    expect(config.metrics.prefix).toBe("opencode.")
    expect(config.metrics.temporality).toBe("cumulative")
    expect(config.metrics.costUsageScale).toBe(1)
    expect(config.metrics.disabled.size).toBe(0)
    expect(config.logs.enabled).toBe(true)
    expect(config.metrics.enabled).toBe(true)
    expect(config.traces.disabled.size).toBe(0)
    expect(Option.isNone(config.traces.parent)).toBe(true)
    expect(Option.isNone(config.headers.helper)).toBe(true)
    expect(config.shutdownTimeoutMs).toBe(3_000)
  })
})

// [variable, value, expected decoded value (by selector) ]
const valid: Array<[Config.Variable, string, (c: Config.TelemetryConfig) => unknown, unknown]> = [
  ["OPENCODE_OTLP_ENDPOINT", "http://collector:4317", (c) => c.endpoint, "http://collector:4317"],
  ["OPENCODE_OTLP_ENDPOINT", "https://otlp.example.com/otlp/", (c) => c.endpoint, "https://otlp.example.com/otlp"],
  ["OPENCODE_OTLP_ENDPOINT", "grpc://collector:4317", (c) => c.endpoint, "grpc://collector:4317"],
  ["OPENCODE_OTLP_PROTOCOL", "http/protobuf", (c) => c.protocol, "http/protobuf"],
  ["OPENCODE_OTLP_PROTOCOL", "HTTP/JSON", (c) => c.protocol, "http/json"],
  ["OPENCODE_OTLP_PROTOCOL", "grpc", (c) => c.protocol, "grpc"],
  ["OPENCODE_OTLP_METRICS_INTERVAL", "1000", (c) => c.metrics.intervalMs, 1000],
  ["OPENCODE_OTLP_LOGS_INTERVAL", " 250 ", (c) => c.logs.intervalMs, 250],
  ["OPENCODE_METRIC_PREFIX", "claude_code.", (c) => c.metrics.prefix, "claude_code."],
  ["OPENCODE_METRIC_PREFIX", "", (c) => c.metrics.prefix, ""],
  ["OPENCODE_DISABLE_METRICS", "cache.count, retry.count", (c) => [...c.metrics.disabled], ["cache.count", "retry.count"]],
  ["OPENCODE_DISABLE_LOGS", "1", (c) => c.logs.enabled, false],
  ["OPENCODE_DISABLE_TRACES", "llm,tool", (c) => [...c.traces.disabled], ["llm", "tool"]],
  ["OPENCODE_DISABLE_TRACES", "all", (c) => c.traces.disabled.size, 3],
  ["OPENCODE_DISABLE_TRACES", "*", (c) => c.traces.disabled.size, 3],
  ["OPENCODE_DISABLE_TRACES", "true", (c) => c.traces.disabled.size, 3],
  ["OPENCODE_DISABLE_TRACES", "1", (c) => c.traces.disabled.size, 3],
  ["OPENCODE_OTLP_HEADERS", "x-team=a,Authorization=Basic%20abc==", (c) => Object.fromEntries(Object.entries(c.headers.static).map(([k, v]) => [k, Redacted.value(v)])), { "x-team": "a", authorization: "Basic abc==" }],
  ["OPENCODE_RESOURCE_ATTRIBUTES", "service.version=1.2.3,deployment.environment=prod", (c) => c.resourceAttributes, { "service.version": "1.2.3", "deployment.environment": "prod" }],
  ["OPENCODE_SPAN_ATTRIBUTES", "team=platform", (c) => c.traces.attributes, { team: "platform" }],
  ["OPENCODE_METRIC_ATTRIBUTES", "a=1,b=x=y", (c) => c.metrics.attributes, { a: "1", b: "x=y" }],
  ["OPENCODE_EXCLUDE_METRICS_ATTRIBUTES", "session.id, user.id", (c) => [...c.metrics.excludeAttributes], ["session.id", "user.id"]],
  ["OPENCODE_OTLP_COMPRESSION", "none", (c) => c.compression, "none"],
  ["OPENCODE_OTLP_COMPRESSION", "GZIP", (c) => c.compression, "gzip"],
  ["OPENCODE_OTLP_METRICS_TEMPORALITY", "delta", (c) => c.metrics.temporality, "delta"],
  ["OPENCODE_OTLP_METRICS_TEMPORALITY", "LowMemory", (c) => c.metrics.temporality, "lowmemory"],
  ["OPENCODE_COST_USAGE_SCALE", "1000000", (c) => c.metrics.costUsageScale, 1_000_000],
  ["OPENCODE_COST_USAGE_SCALE", "0.5", (c) => c.metrics.costUsageScale, 0.5],
  ["OPENCODE_TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", (c) => Option.getOrUndefined(c.traces.parent), { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", traceFlags: 1, traceState: undefined }],
  ["OPENCODE_OTLP_SHUTDOWN_TIMEOUT", "1500", (c) => c.shutdownTimeoutMs, 1500],
  ["OPENCODE_OTLP_HEADERS_HELPER", "/usr/local/bin/token", (c) => Option.getOrUndefined(c.headers.helper), "/usr/local/bin/token"],
]

describe("valid values", () => {
  for (const [variable, value, select, expected] of valid)
    test(`${variable}=${JSON.stringify(value)}`, () => {
      const { config, problems } = decode({ [variable]: value })
      expect(problems.map((p) => p.message)).toEqual([])
      expect(config.enabled).toBe(true)
      expect(select(config)).toEqual(expected)
    })

  test("OPENCODE_TRACESTATE rides on a valid traceparent", () => {
    const { config, problems } = decode({
      OPENCODE_TRACEPARENT: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
      OPENCODE_TRACESTATE: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    })
    expect(problems).toEqual([])
    expect(Option.getOrThrow(config.traces.parent)).toEqual({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      traceFlags: 0,
      traceState: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    })
  })

  test("helper placeholders are substituted as whole path segments", () => {
    const { config, problems } = decode(
      { OPENCODE_OTLP_HEADERS_HELPER: "${PROJECT_ROOT}/scripts/headers.sh" },
      { projectRoot: "/repo", worktree: "/repo-wt", directory: "/repo/sub" },
    )
    expect(problems).toEqual([])
    expect(Option.getOrThrow(config.headers.helper)).toBe("/repo/scripts/headers.sh")
    expect(Option.getOrThrow(decode({ OPENCODE_OTLP_HEADERS_HELPER: "${WORKTREE}/h" }, { projectRoot: "/r", worktree: "/w", directory: "/d" }).config.headers.helper)).toBe("/w/h")
    expect(Option.getOrThrow(decode({ OPENCODE_OTLP_HEADERS_HELPER: "${DIRECTORY}/h" }, { projectRoot: "/r", worktree: "/w", directory: "/d" }).config.headers.helper)).toBe("/d/h")
  })
})

// [variable, value, what stays enabled]
const invalid: Array<[Config.Variable, string, "plugin off" | "metrics off" | "logs off" | "ignored" | "cost off"]> = [
  ["OPENCODE_OTLP_ENDPOINT", "localhost:4317", "plugin off"],
  ["OPENCODE_OTLP_ENDPOINT", "collector", "plugin off"],
  ["OPENCODE_OTLP_ENDPOINT", "ftp://collector:21", "plugin off"],
  ["OPENCODE_OTLP_ENDPOINT", "http://", "plugin off"],
  ["OPENCODE_OTLP_PROTOCOL", "http", "plugin off"],
  ["OPENCODE_OTLP_PROTOCOL", "grpc/json", "plugin off"],
  ["OPENCODE_OTLP_METRICS_INTERVAL", "0", "metrics off"],
  ["OPENCODE_OTLP_METRICS_INTERVAL", "-5", "metrics off"],
  ["OPENCODE_OTLP_METRICS_INTERVAL", "1.5", "metrics off"],
  ["OPENCODE_OTLP_METRICS_INTERVAL", "soon", "metrics off"],
  ["OPENCODE_OTLP_LOGS_INTERVAL", "0", "logs off"],
  ["OPENCODE_OTLP_LOGS_INTERVAL", "abc", "logs off"],
  ["OPENCODE_METRIC_PREFIX", "1bad", "metrics off"],
  ["OPENCODE_METRIC_PREFIX", "has space.", "metrics off"],
  ["OPENCODE_DISABLE_METRICS", "tokens", "ignored"],
  ["OPENCODE_DISABLE_TRACES", "spans", "ignored"],
  ["OPENCODE_OTLP_HEADERS", "novalue", "plugin off"],
  ["OPENCODE_OTLP_HEADERS", "=secretvalue1", "plugin off"],
  ["OPENCODE_OTLP_HEADERS", "bad header=secretvalue2", "plugin off"],
  ["OPENCODE_OTLP_HEADERS", "a=%zzsecret3", "plugin off"],
  ["OPENCODE_OTLP_HEADERS_HELPER", "relative/helper.sh", "ignored"],
  ["OPENCODE_OTLP_HEADERS_HELPER", "${HOME}/helper.sh", "ignored"],
  ["OPENCODE_RESOURCE_ATTRIBUTES", "novalue", "ignored"],
  ["OPENCODE_SPAN_ATTRIBUTES", "a=1,b", "ignored"],
  ["OPENCODE_METRIC_ATTRIBUTES", "=1", "ignored"],
  ["OPENCODE_OTLP_METRICS_TEMPORALITY", "sometimes", "metrics off"],
  ["OPENCODE_OTLP_COMPRESSION", "brotli", "ignored"],
  ["OPENCODE_COST_USAGE_SCALE", "0", "cost off"],
  ["OPENCODE_COST_USAGE_SCALE", "-1", "cost off"],
  ["OPENCODE_COST_USAGE_SCALE", "lots", "cost off"],
  ["OPENCODE_TRACEPARENT", "not-a-traceparent", "ignored"],
  ["OPENCODE_TRACEPARENT", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "ignored"],
  ["OPENCODE_TRACEPARENT", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "ignored"],
  ["OPENCODE_TRACEPARENT", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "ignored"],
  ["OPENCODE_OTLP_SHUTDOWN_TIMEOUT", "0", "ignored"],
]

describe("invalid values", () => {
  for (const [variable, value, effect] of invalid)
    test(`${variable}=${JSON.stringify(value)} -> ${effect}`, () => {
      const { config, problems } = decode({ [variable]: value })
      expect(problems).toHaveLength(1)
      const problem = problems[0]!
      expect(problem).toBeInstanceOf(Config.ConfigError)
      expect(problem._tag).toBe("ConfigError")
      expect(problem.variable).toBe(variable)
      expect(problem.message).toContain(variable)
      expect(problem.message).toContain("expected")
      if (variable === "OPENCODE_OTLP_HEADERS") {
        // Header values are secrets: never in the error.
        expect(problem.value).toBeUndefined()
        expect(problem.message).not.toContain(value.split("=")[1] || "\u0000")
      } else expect(problem.message).toContain(JSON.stringify(value.split(",").find((v) => !/^[a-z]=1$/.test(v)) ?? value).slice(1, -1))
      expect(config.enabled).toBe(effect !== "plugin off")
      expect(config.metrics.enabled).toBe(effect !== "metrics off")
      expect(config.logs.enabled).toBe(effect !== "logs off")
      expect(config.metrics.disabled.has("cost.usage")).toBe(effect === "cost off")
    })

  test("unknown protocol does not fall back to grpc silently", () => {
    const { problems } = decode({ OPENCODE_OTLP_PROTOCOL: "http" })
    expect(problems[0]!.message).toContain("grpc, http/protobuf, http/json")
  })

  test("one bad entry in a list leaves the others in force", () => {
    const { config } = decode({ OPENCODE_DISABLE_METRICS: "cache.count,nope,retry.count" })
    expect([...config.metrics.disabled]).toEqual(["cache.count", "retry.count"])
  })

  test("an invalid tracestate is dropped, the traceparent kept", () => {
    const { config, problems } = decode({
      OPENCODE_TRACEPARENT: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      OPENCODE_TRACESTATE: "Not Valid",
    })
    expect(problems.map((p) => p.variable)).toEqual(["OPENCODE_TRACESTATE"])
    expect(Option.getOrThrow(config.traces.parent).traceState).toBeUndefined()
  })

  test("header secrets never appear in a problem", () => {
    const secret = "s3cr3t-token-value"
    const { problems } = decode({ OPENCODE_OTLP_HEADERS: `authorization=Bearer ${secret},broken` })
    expect(problems).toHaveLength(1)
    expect(JSON.stringify(problems)).not.toContain(secret)
    expect(problems[0]!.message).not.toContain(secret)
    expect(String(problems[0])).not.toContain(secret)
  })
})

describe("key=value lists", () => {
  test("split on the first '=', trimmed, percent-decoded", () => {
    expect(parseKeyValueList(" a = 1 , b=c=d,, e%20f=%2C ")).toEqual({ _tag: "Right", value: { a: "1", b: "c=d", "e f": "," } })
  })
})

describe("plugin options override the environment", () => {
  const read = (env: Record<string, string>, options: unknown) =>
    runEffect(
      Effect.gen(function* () {
        return yield* Config.Config
      }).pipe(
        Effect.provide(Config.layerFrom({ options })),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))),
      ),
    )

  test("options win over variables, typed values accepted", async () => {
    const config = await read(
      { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_PROTOCOL: "grpc", OPENCODE_OTLP_ENDPOINT: "http://env:4317" },
      {
        protocol: "http/json",
        metricsInterval: 1000,
        disableTraces: ["tool"],
        resourceAttributes: { "deployment.environment": "ci" },
        disableLogs: true,
      },
    )
    expect(config.problems).toEqual([])
    expect(config.endpoint).toBe("http://env:4317")
    expect(config.protocol).toBe("http/json")
    expect(config.metrics.intervalMs).toBe(1000)
    expect([...config.traces.disabled]).toEqual(["tool"])
    expect(config.resourceAttributes).toEqual({ "deployment.environment": "ci" })
    expect(config.logs.enabled).toBe(false)
  })

  test("enabled:false in options switches an enabled environment off", async () => {
    expect((await read({ OPENCODE_ENABLE_TELEMETRY: "1" }, { enabled: false })).enabled).toBe(false)
    expect((await read({}, { enabled: true })).enabled).toBe(true)
  })

  test("unknown options and bad option types are reported, not fatal", async () => {
    const config = await read({ OPENCODE_ENABLE_TELEMETRY: "1" }, { endpint: "x", protocol: { nested: { deep: 1 } } })
    expect(config.enabled).toBe(true)
    expect(config.problems.map((p) => p.variable)).toEqual(['plugin option "endpint"', 'OPENCODE_OTLP_PROTOCOL (plugin option "protocol")'])
  })

  test("options may use the variable names too", async () => {
    const config = await read({}, { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_METRIC_PREFIX: "x." })
    expect(config.enabled).toBe(true)
    expect(config.metrics.prefix).toBe("x.")
  })
})

describe("standard OpenTelemetry variables", () => {
  const read = (env: Record<string, string>, options?: unknown) =>
    runEffect(
      Effect.gen(function* () {
        return yield* Config.Config
      }).pipe(Effect.provide(Config.layerFrom({ options })), Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))),
    )

  test("used when the OPENCODE_* variable is unset", async () => {
    const config = await read({
      OPENCODE_ENABLE_TELEMETRY: "1",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel:4318",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_HEADERS: "x-key=otel",
      OTEL_METRIC_EXPORT_INTERVAL: "10000",
      OTEL_LOGS_EXPORT_INTERVAL: "2000",
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "delta",
      OTEL_SERVICE_NAME: "my-opencode",
      OTEL_LOG_USER_PROMPTS: "1",
      OTEL_LOG_TOOL_DETAILS: "1",
    })
    expect(config.problems).toEqual([])
    expect(config.endpoint).toBe("http://otel:4318")
    expect(config.protocol).toBe("http/protobuf")
    expect(Redacted.value(config.headers.static["x-key"]!)).toBe("otel")
    expect(config.metrics.intervalMs).toBe(10_000)
    expect(config.logs.intervalMs).toBe(2_000)
    expect(config.metrics.temporality).toBe("delta")
    expect(config.serviceName).toBe("my-opencode")
    expect(config.content).toEqual({ userPrompts: true, toolDetails: true, toolContent: false, assistantResponses: false })
  })

  test("precedence: plugin options > OPENCODE_* > OTEL_* > defaults", async () => {
    const env = { OPENCODE_ENABLE_TELEMETRY: "1", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OPENCODE_OTLP_PROTOCOL: "http/protobuf" }
    expect((await read(env)).protocol).toBe("http/protobuf")
    expect((await read(env, { protocol: "grpc" })).protocol).toBe("grpc")
    expect((await read({ OPENCODE_ENABLE_TELEMETRY: "1", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })).protocol).toBe("http/json")
    expect((await read({ OPENCODE_ENABLE_TELEMETRY: "1" })).protocol).toBe("grpc")
  })

  test("resource attributes merge, ours on top", async () => {
    const config = await read({
      OPENCODE_ENABLE_TELEMETRY: "1",
      OTEL_RESOURCE_ATTRIBUTES: "team=a,region=eu",
      OPENCODE_RESOURCE_ATTRIBUTES: "team=b",
    })
    expect(config.resourceAttributes).toEqual({ team: "b", region: "eu" })
  })

  test("a problem names the standard variable the value came from", async () => {
    const config = await read({ OPENCODE_ENABLE_TELEMETRY: "1", OTEL_EXPORTER_OTLP_PROTOCOL: "thrift" })
    expect(config.enabled).toBe(false)
    expect(config.problems.map((p) => p.variable)).toEqual(["OTEL_EXPORTER_OTLP_PROTOCOL"])
    expect(config.problems[0]!.message).toContain('OTEL_EXPORTER_OTLP_PROTOCOL="thrift"')
  })

  test("OTEL_LOG_ASSISTANT_RESPONSES is read when OPENCODE_LOG_ASSISTANT_RESPONSES is unset; the option wins", async () => {
    const env = { OPENCODE_ENABLE_TELEMETRY: "1", OTEL_LOG_ASSISTANT_RESPONSES: "1" }
    expect((await read(env)).content.assistantResponses).toBe(true)
    expect((await read({ ...env, OPENCODE_LOG_ASSISTANT_RESPONSES: "0" })).content.assistantResponses).toBe(false)
    expect((await read(env, { logAssistantResponses: "0" })).content.assistantResponses).toBe(false)
  })

  test("OTEL_* alone does not switch telemetry on", async () => {
    expect((await read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel:4317" })).enabled).toBe(false)
  })
})

describe("exporter selection and cardinality switches", () => {
  test("OTEL_*_EXPORTER=none switches a signal off; otlp keeps it", () => {
    const { config, problems } = decode({ OPENCODE_METRICS_EXPORTER: "none", OPENCODE_LOGS_EXPORTER: "otlp", OPENCODE_TRACES_EXPORTER: "none" })
    expect(problems).toEqual([])
    expect(config.metrics.enabled).toBe(false)
    expect(config.logs.enabled).toBe(true)
    expect(config.traces.disabled.size).toBe(3)
  })
  test("an unknown exporter is reported and otlp applies", () => {
    const { config, problems } = decode({ OPENCODE_METRICS_EXPORTER: "zipkin" })
    expect(problems.map((p) => p.variable)).toEqual(["OPENCODE_METRICS_EXPORTER"])
    expect(config.metrics.enabled).toBe(true)
  })
  test("session.id on metrics unless OTEL_METRICS_INCLUDE_SESSION_ID is false", () => {
    expect(decode({}).config.metrics.includeSessionId).toBe(true)
    expect(decode({ OPENCODE_METRICS_INCLUDE_SESSION_ID: "false" }).config.metrics.includeSessionId).toBe(false)
    expect(decode({ OPENCODE_METRICS_INCLUDE_SESSION_ID: "true" }).config.metrics.includeSessionId).toBe(true)
  })
})

test("content opt-ins take only clear values; anything else is reported and stays off", () => {
  expect(decode({ OPENCODE_LOG_USER_PROMPTS: "1" }).config.content.userPrompts).toBe(true)
  expect(decode({ OPENCODE_LOG_USER_PROMPTS: "on" }).config.content.userPrompts).toBe(true)
  const { config, problems } = decode({ OPENCODE_LOG_USER_PROMPTS: "disabled", OPENCODE_LOG_TOOL_DETAILS: "maybe?" })
  expect(config.content).toEqual({ userPrompts: false, toolDetails: false, toolContent: false, assistantResponses: false })
  expect(problems.map((p) => p.variable)).toEqual(["OPENCODE_LOG_USER_PROMPTS", "OPENCODE_LOG_TOOL_DETAILS"])
})

test("assistant responses: off by default, on by name, never through the prompts switch", () => {
  expect(decode({}).config.content.assistantResponses).toBe(false)
  expect(decode({ OPENCODE_LOG_USER_PROMPTS: "1" }).config.content.assistantResponses).toBe(false)
  expect(decode({ OPENCODE_LOG_ASSISTANT_RESPONSES: "1" }).config.content.assistantResponses).toBe(true)
  const unclear = decode({ OPENCODE_LOG_ASSISTANT_RESPONSES: "redacted" })
  expect(unclear.config.content.assistantResponses).toBe(false)
  expect(unclear.problems.map((p) => p.variable)).toEqual(["OPENCODE_LOG_ASSISTANT_RESPONSES"])
})

describe("per-signal settings", () => {
  test("default: the shared endpoint, /v1/<signal> appended for HTTP", () => {
    const { config } = decode({ OPENCODE_OTLP_ENDPOINT: "http://c:4318/otlp", OPENCODE_OTLP_PROTOCOL: "http/json" })
    expect(config.signals.traces.url).toBe("http://c:4318/otlp/v1/traces")
    expect(config.signals.metrics.url).toBe("http://c:4318/otlp/v1/metrics")
    expect(config.signals.logs.protocol).toBe("http/json")
  })
  test("a bad per-signal value switches off that signal only, naming its variable", () => {
    const { config, problems } = decode({
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "collector:4318",
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: "smtp",
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: "novalue-secret",
    })
    expect(problems.map((p) => p.variable)).toEqual([
      "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
      "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
      "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
    ])
    expect(JSON.stringify(problems.map((p) => p.message))).not.toContain("novalue-secret")
    expect(config.enabled).toBe(true)
    expect(config.metrics.enabled).toBe(false)
    expect(config.logs.enabled).toBe(false)
    expect(config.traces.disabled.size).toBe(3)
  })
})
