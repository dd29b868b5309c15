/**
 * docs/collector.yaml, the example OpenTelemetry Collector configuration of the README: its pipelines are
 * complete (every signal received over OTLP, every component it names defined), and the plugin, configured
 * with the `export` lines the file gives, delivers all three signals to an OTLP receiver listening where the
 * collector's would (the same ports, the same OTLP paths and gRPC services).
 */
import { describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { OpenTelemetryPlugin } from "../../src/plugin.ts"
import { REPO_ROOT } from "../support/opencode.ts"
import { startReceiver, type Protocol } from "../support/otlp-receiver.ts"
import { captureClient } from "../lib/telemetry.ts"
import { turnEvents } from "../lib/turn.ts"

const text = readFileSync(join(REPO_ROOT, "docs", "collector.yaml"), "utf8")
const config = Bun.YAML.parse(text) as {
  receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } }
  processors: Record<string, unknown>
  exporters: Record<string, unknown>
  service: { pipelines: Record<string, { receivers: Array<string>; processors: Array<string>; exporters: Array<string> }> }
}

/** The plugin settings the file's header gives, one set per `export` line group (gRPC first, then HTTP). */
const documentedSettings = (): Array<Record<string, string>> => {
  const exports = text
    .split("\n")
    .filter((line) => /^#\s+export /.test(line))
    .map((line) => line.replace(/^#\s+export /, "").replace(/\s+#.*$/, ""))
  const common: Record<string, string> = {}
  const variants: Array<Record<string, string>> = []
  for (const line of exports) {
    const pairs = Object.fromEntries(line.split(/\s+/).map((pair) => pair.split("=", 2) as [string, string]))
    if ("OPENCODE_OTLP_ENDPOINT" in pairs) variants.push(pairs)
    else Object.assign(common, pairs)
  }
  return variants.map((variant) => ({ ...common, ...variant }))
}

const port = (endpoint: string) => Number(endpoint.split(":").pop())

test("every signal has a pipeline from the OTLP receiver, and every component it names is defined", () => {
  expect(Object.keys(config.service.pipelines).sort()).toEqual(["logs", "metrics", "traces"])
  for (const pipeline of Object.values(config.service.pipelines)) {
    expect(pipeline.receivers).toEqual(["otlp"])
    for (const name of pipeline.processors) expect(Object.keys(config.processors)).toContain(name)
    for (const name of pipeline.exporters) expect(Object.keys(config.exporters)).toContain(name)
  }
  expect(port(config.receivers.otlp.protocols.grpc.endpoint)).toBe(4317)
  expect(port(config.receivers.otlp.protocols.http.endpoint)).toBe(4318)
})

describe("the plugin, configured as the file says, reaches the collector's receiver", () => {
  const settings = documentedSettings()
  test("the file documents one setting per receiver protocol", () => {
    expect(settings.map((s) => s["OPENCODE_OTLP_PROTOCOL"] ?? "grpc")).toEqual(["grpc", "http/protobuf"])
  })

  test.each(settings.map((s) => [s["OPENCODE_OTLP_PROTOCOL"] ?? "grpc", s] as const))("%s", async (protocol, documented) => {
    const receiverEndpoint = protocol === "grpc" ? config.receivers.otlp.protocols.grpc.endpoint : config.receivers.otlp.protocols.http.endpoint
    expect(port(documented["OPENCODE_OTLP_ENDPOINT"]!)).toBe(port(receiverEndpoint))
    const receiver = await startReceiver({ protocol: protocol as Protocol, port: port(receiverEndpoint) })
    try {
      const { client } = captureClient()
      // Plugin options may be written with the variable names: the documented settings exactly, environment aside.
      const hooks = await OpenTelemetryPlugin({ client, directory: process.cwd(), worktree: process.cwd() }, documented)
      const now = Date.now()
      for (const event of turnEvents("ses_collector", now)) await hooks.event!({ event })
      await hooks.dispose!()
      expect(receiver.metrics().find((m) => m.name === "opencode.session.count")?.value).toBe(1)
      expect(receiver.logs().map((l) => l.attributes["event.name"])).toContain("session.created")
      expect(receiver.spans().some((s) => s.name.startsWith("invoke_agent"))).toBe(true)
    } finally {
      await receiver.stop()
    }
  })
})
