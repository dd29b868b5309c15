/**
 * The whole path on each protocol: handlers -> Instruments -> Exporter -> OTLP -> a loopback receiver that
 * decodes with protobufjs and the OTLP .proto definitions.
 */
import { afterEach, describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { handleEvent } from "../../src/handlers/index.ts"
import { opencodeVersion } from "../../src/host/opencodeVersion.ts"
import { Exporter } from "../../src/services/Exporter.ts"
import { PACKAGE_VERSION } from "../../src/version.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"
import { captureClient, liveLayer, runScoped } from "../lib/telemetry.ts"
import { turnEvents } from "../lib/turn.ts"

const sessionEvents = (id: string) => turnEvents(id)

let receiver: Receiver | undefined
afterEach(async () => {
  await receiver?.stop()
  receiver = undefined
})

describe.each(["grpc", "http/protobuf", "http/json"] as Array<Protocol>)("OTLP %s", (protocol) => {
  test("session.count, the session.created event and the session span arrive with the resource and headers", async () => {
    receiver = await startReceiver({ protocol })
    const { client, logs } = captureClient()
    const layer = liveLayer(
      {
        OPENCODE_OTLP_ENDPOINT: receiver.url,
        OPENCODE_OTLP_PROTOCOL: protocol,
        OPENCODE_OTLP_HEADERS: "x-api-key=k%3D1,x-team=platform",
        OPENCODE_RESOURCE_ATTRIBUTES: "deployment.environment=test",
        OPENCODE_METRIC_ATTRIBUTES: "team=platform",
        OPENCODE_SPAN_ATTRIBUTES: "span.team=platform",
        OPENCODE_OTLP_METRICS_TEMPORALITY: "delta",
      },
      client,
    )
    await runScoped(
      layer,
      Effect.gen(function* () {
        for (const event of sessionEvents("ses_e2e")) yield* handleEvent(event)
        yield* (yield* Exporter).flush
      }),
    )
    // Release (above) flushed and shut down; everything has been delivered.
    const r = receiver
    await r.waitFor((x) => x.metrics().length > 0 && x.logs().length > 0 && x.spans().length > 0)

    const metric = r.metrics().find((m) => m.name === "opencode.session.count")!
    expect(metric).toBeDefined()
    expect(metric.value).toBe(1)
    expect(metric.type).toBe("sum")
    expect(metric.isMonotonic).toBe(true)
    expect(metric.temporality).toBe("delta")
    expect(metric.attributes).toEqual({ "session.id": "ses_e2e", team: "platform", start_type: "fresh" })
    expect(metric.resource["service.name"]).toBe("opencode")
    // opencode's version (undefined here, outside opencode, unless this machine has opencode's config directory).
    expect(metric.resource["service.version"]).toBe(opencodeVersion(process.env))
    expect(typeof metric.resource["service.instance.id"]).toBe("string")
    expect(metric.resource["opencode.plugin.version"]).toBe(PACKAGE_VERSION)
    expect(metric.resource["deployment.environment"]).toBe("test")
    expect(typeof metric.resource["os.type"]).toBe("string")
    expect(typeof metric.resource["host.arch"]).toBe("string")

    const log = r.logs().find((l) => l.attributes["event.name"] === "session.created")!
    expect(log).toBeDefined()
    expect(log.eventName).toBe("session.created")
    expect(log.attributes["session.id"]).toBe("ses_e2e")
    expect(log.attributes["event.sequence"]).toBe(1)
    expect(log.attributes["team"]).toBeUndefined() // metric-only attribute
    expect(log.resource["service.name"]).toBe("opencode")

    const span = r.spans().find((s) => s.name.startsWith("invoke_agent"))!
    expect(span).toBeDefined()
    expect(span.attributes["session.id"]).toBe("ses_e2e")
    expect(span.attributes["span.team"]).toBe("platform")
    expect(span.attributes["team"]).toBeUndefined()
    expect(span.parentSpanId).toBe("")

    for (const request of r.requests) {
      expect(request.headers["x-api-key"]).toBe("k=1")
      expect(request.headers["x-team"]).toBe("platform")
    }
    expect(new Set(r.requests.map((q) => q.signal))).toEqual(new Set(["metrics", "logs", "traces"]))
    expect(logs.filter((l) => l.level === "warn" || l.level === "error")).toEqual([])
  })
})

test("OPENCODE_TRACEPARENT parents each turn's span under the caller's trace", async () => {
  receiver = await startReceiver({ protocol: "http/protobuf" })
  const { client } = captureClient()
  const layer = liveLayer(
    {
      OPENCODE_OTLP_ENDPOINT: receiver.url,
      OPENCODE_OTLP_PROTOCOL: "http/protobuf",
      OPENCODE_TRACEPARENT: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    },
    client,
  )
  await runScoped(
    layer,
    Effect.gen(function* () {
      for (const event of sessionEvents("ses_tp")) yield* handleEvent(event)
    }),
  )
  await receiver.waitFor((x) => x.spans().length > 0)
  // Each turn's root nests under the caller's span; everything of the turn is in the caller's trace.
  const span = receiver.spans().find((s) => s.name.startsWith("invoke_agent"))!
  expect(span.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
  expect(span.parentSpanId).toBe("00f067aa0ba902b7")
  expect(receiver.spans().every((s) => s.traceId === "4bf92f3577b34da6a3ce929d0e0e4736")).toBe(true)
})

test("per-signal endpoints, protocols and headers (OTEL_EXPORTER_OTLP_<SIGNAL>_*) send each signal its own way", async () => {
  const shared = await startReceiver({ protocol: "http/protobuf" })
  const traces = await startReceiver({ protocol: "grpc" })
  const metrics = await startReceiver({ protocol: "http/json" })
  try {
    const { client, logs } = captureClient()
    const layer = liveLayer(
      {
        OPENCODE_OTLP_ENDPOINT: shared.url,
        OPENCODE_OTLP_PROTOCOL: "http/protobuf",
        OPENCODE_OTLP_HEADERS: "x-shared=1",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: traces.url,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${metrics.url}/v1/metrics`, // a full URL, used as it is
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_METRICS_HEADERS: "x-metrics-only=yes",
      },
      client,
    )
    await runScoped(
      layer,
      Effect.gen(function* () {
        for (const event of sessionEvents("ses_split")) yield* handleEvent(event)
      }),
    )
    expect(new Set(shared.requests.map((r) => r.signal))).toEqual(new Set(["logs"]))
    expect(new Set(traces.requests.map((r) => r.signal))).toEqual(new Set(["traces"]))
    expect(new Set(metrics.requests.map((r) => r.signal))).toEqual(new Set(["metrics"]))
    expect(metrics.requests.every((r) => r.headers["x-metrics-only"] === "yes" && r.headers["x-shared"] === "1")).toBe(true)
    expect(shared.requests.every((r) => r.headers["x-metrics-only"] === undefined)).toBe(true)
    expect(traces.spans().some((s) => s.name.startsWith("invoke_agent"))).toBe(true)
    expect(metrics.metrics().some((m) => m.name === "opencode.session.count")).toBe(true)
    expect(logs.filter((l) => l.level === "warn")).toEqual([])
  } finally {
    await Promise.all([shared.stop(), traces.stop(), metrics.stop()])
  }
})
