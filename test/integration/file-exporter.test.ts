/**
 * The file exporter through the real layers: handlers -> Instruments -> Exporter -> OTLP JSON Lines files, each
 * line decoded with the OTLP .proto definitions (the receiver's http/json decoding) and checked.
 */
import { afterEach, describe, expect, test } from "bun:test"
import { Effect, Layer } from "effect"
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { handleEvent } from "../../src/handlers/index.ts"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import * as Config from "../../src/services/Config.ts"
import { Exporter } from "../../src/services/Exporter.ts"
import { startReceiver, type Receiver } from "../support/otlp-receiver.ts"
import { linesOf, readOtlpFiles } from "../lib/otlpFiles.ts"
import { captureClient, liveLayer, runScoped } from "../lib/telemetry.ts"
import { turnEvents } from "../lib/turn.ts"

const ALL_TO_FILE = { OPENCODE_METRICS_EXPORTER: "file", OPENCODE_LOGS_EXPORTER: "file", OPENCODE_TRACES_EXPORTER: "file" }

const turns = (ids: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    for (const id of ids) {
      for (const event of turnEvents(id)) yield* handleEvent(event)
      yield* (yield* Exporter).flush
    }
  })

let dir = ""
let receiver: Receiver | undefined
afterEach(async () => {
  await receiver?.stop()
  receiver = undefined
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
  dir = ""
})
const freshDir = () => (dir = mkdtempSync(join(tmpdir(), "otel-file-")))

describe("file exporter", () => {
  test("spans, events and metrics round-trip through traces.jsonl, logs.jsonl and metrics.jsonl (0600 files in a 0700 directory)", async () => {
    const files = join(freshDir(), "telemetry")
    const { client, logs } = captureClient()
    await runScoped(liveLayer({ ...ALL_TO_FILE, OPENCODE_OTLP_FILE_DIR: files, OPENCODE_OTLP_METRICS_TEMPORALITY: "delta" }, client), turns(["ses_a"]))

    expect(statSync(files).mode & 0o777).toBe(0o700)
    expect(readdirSync(files).sort()).toEqual(["logs.jsonl", "metrics.jsonl", "traces.jsonl"])
    for (const name of readdirSync(files)) expect(statSync(join(files, name)).mode & 0o777).toBe(0o600)
    const read = readOtlpFiles(files)

    const agent = read.spans.find((s) => s.name.startsWith("invoke_agent"))!
    expect(agent).toBeDefined()
    expect(agent.attributes["session.id"]).toBe("ses_a")
    expect(agent.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(agent.spanId).toMatch(/^[0-9a-f]{16}$/)
    expect(agent.resource["service.name"]).toBe("opencode")
    const chat = read.spans.find((s) => s.name === "chat m")!
    expect(chat).toBeDefined()
    expect(chat.parentSpanId).toBe(agent.spanId)
    expect(chat.traceId).toBe(agent.traceId)
    expect(chat.attributes["gen_ai.usage.input_tokens"]).toBe(10)

    const created = read.logs.find((l) => l.eventName === "session.created")!
    expect(created).toBeDefined()
    expect(created.attributes["session.id"]).toBe("ses_a")
    const apiRequest = read.logs.find((l) => l.eventName === "api_request")!
    expect(apiRequest).toBeDefined()
    expect(apiRequest.attributes["input_tokens"]).toBe(10)

    const count = read.metrics.find((m) => m.name === "opencode.session.count")!
    expect(count).toMatchObject({ value: 1, type: "sum", temporality: "delta", attributes: { "session.id": "ses_a" } })
    const input = read.metrics.find((m) => m.name === "opencode.token.usage" && m.attributes["type"] === "input")!
    expect(input.value).toBe(10)
    expect(logs.filter((l) => l.message.includes("File export"))).toEqual([])
    expect(logs.some((l) => l.message.includes(`files in ${files}`))).toBe(true)
  })

  test("cumulative metrics: each line carries the running totals, as OTLP would", async () => {
    const files = freshDir()
    const { client } = captureClient()
    await runScoped(liveLayer({ ...ALL_TO_FILE, OPENCODE_OTLP_FILE_DIR: files }, client), turns(["ses_a", "ses_b"]))
    const lines = linesOf(files, "metrics")
    expect(lines.length).toBeGreaterThanOrEqual(2)
    const inputs = readOtlpFiles(files).metrics.filter((m) => m.name === "opencode.token.usage" && m.attributes["type"] === "input")
    expect(inputs.every((m) => m.temporality === "cumulative")).toBe(true)
    expect(inputs.at(-1)!.value).toBe(10)
    expect(new Set(inputs.map((m) => m.attributes["session.id"]))).toEqual(new Set(["ses_a", "ses_b"]))
  })

  test("otlp,file: the collector and the files get the same spans, events and metrics", async () => {
    const files = freshDir()
    receiver = await startReceiver({ protocol: "http/json" })
    const { client } = captureClient()
    const both = { OPENCODE_METRICS_EXPORTER: "otlp,file", OPENCODE_LOGS_EXPORTER: "otlp,file", OPENCODE_TRACES_EXPORTER: "file,otlp" }
    const settings = { ...both, OPENCODE_OTLP_FILE_DIR: files, OPENCODE_OTLP_ENDPOINT: receiver.url, OPENCODE_OTLP_PROTOCOL: "http/json" }
    await runScoped(liveLayer(settings, client), turns(["ses_both"]))
    const r = receiver
    await r.waitFor((x) => x.metrics().length > 0 && x.logs().length > 0 && x.spans().length > 0)
    const read = readOtlpFiles(files)
    expect(read.spans.map((s) => s.spanId).sort()).toEqual(r.spans().map((s) => s.spanId).sort())
    expect(read.logs.map((l) => l.eventName).sort()).toEqual(r.logs().map((l) => l.eventName).sort())
    const value = (ms: ReadonlyArray<{ name: string; value: unknown }>) => ms.find((m) => m.name === "opencode.session.count")?.value
    expect(value(read.metrics)).toBe(1)
    expect(value(r.metrics())).toBe(1)
  })

  test("a file is rotated before it would pass the cap: one previous file, disk use bounded", async () => {
    const files = freshDir()
    const { client } = captureClient()
    const decoded = Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", ...ALL_TO_FILE, OPENCODE_OTLP_FILE_DIR: files })
    const maxBytes = 6_000
    const layer = Telemetry.layer.pipe(
      Layer.provideMerge(Config.layerDecoded({ ...decoded, config: { ...decoded.config, file: { dir: files, maxBytes } } })),
      Layer.provideMerge(OpencodeLog.layer(client)),
    )
    const ids = Array.from({ length: 12 }, (_, i) => `ses_${i}`)
    await runScoped(layer, turns(ids))
    expect(readdirSync(files).sort()).toEqual(["logs.1.jsonl", "logs.jsonl", "metrics.1.jsonl", "metrics.jsonl", "traces.1.jsonl", "traces.jsonl"])
    for (const name of readdirSync(files)) expect(statSync(join(files, name)).size).toBeLessThanOrEqual(maxBytes)
    // The newest session is in the current file, whole lines only (every line decodes).
    const read = readOtlpFiles(files)
    expect(read.spans.some((s) => s.attributes["session.id"] === "ses_11")).toBe(true)
    expect(read.spans.some((s) => s.attributes["session.id"] === "ses_0")).toBe(false)
  })

  test("an unwritable directory: one message in opencode's log, nothing thrown, the other exporters unharmed", async () => {
    const parent = freshDir()
    writeFileSync(join(parent, "not-a-dir"), "")
    const files = join(parent, "not-a-dir", "telemetry")
    receiver = await startReceiver({ protocol: "http/json" })
    const { client, logs } = captureClient()
    const settings = {
      OPENCODE_METRICS_EXPORTER: "otlp,file",
      OPENCODE_LOGS_EXPORTER: "file",
      OPENCODE_TRACES_EXPORTER: "file",
      OPENCODE_OTLP_FILE_DIR: files,
      OPENCODE_OTLP_ENDPOINT: receiver.url,
      OPENCODE_OTLP_PROTOCOL: "http/json",
    }
    await runScoped(liveLayer(settings, client), turns(["ses_x", "ses_y"]))
    await receiver.waitFor((x) => x.metrics().some((m) => m.name === "opencode.session.count"))
    const messages = logs.filter((l) => l.message.includes("File export"))
    expect(messages).toHaveLength(1)
    expect(messages[0]!.level).toBe("warn")
    expect(messages[0]!.message).toContain(join(parent, "not-a-dir", "telemetry"))
    expect(messages[0]!.message).toContain("opencode.telemetry.dropped")
    // The drops are counted (self-telemetry, over OTLP).
    await receiver.waitFor((x) => x.metrics().some((m) => m.name === "opencode.telemetry.dropped" && m.attributes["reason"] === "file_unwritable"))
  })

  test("an embedder that chooses file without a directory gets a ConfigError naming OPENCODE_OTLP_FILE_DIR; the other exporters apply", () => {
    const { config, problems } = Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_TRACES_EXPORTER: "otlp,file", OPENCODE_LOGS_EXPORTER: "file" })
    expect(problems.map((p) => p.variable)).toEqual(["OPENCODE_OTLP_FILE_DIR"])
    expect(problems[0]!.message).toContain("Nothing is written to files")
    expect(config.file).toBeUndefined()
    expect(config.exportTo.file).toEqual({ traces: false, logs: false, metrics: false })
    expect(config.traces.disabled.size).toBe(0)
    expect(config.logs.enabled).toBe(false)
    const plugin = Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_LOGS_EXPORTER: "file" }, undefined, {}, { fileDir: "/state/opencode/telemetry" })
    expect(plugin.problems).toEqual([])
    expect(plugin.config.file).toEqual({ dir: "/state/opencode/telemetry", maxBytes: 64 * 1024 * 1024 })
    expect(plugin.config.logs.enabled).toBe(true)
  })
})
