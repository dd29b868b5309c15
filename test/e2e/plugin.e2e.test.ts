/**
 * The real opencode CLI (pinned opencode-ai) runs `opencode run` headless against a scripted fake LLM on
 * 127.0.0.1 with the plugin loaded, from the local source path and from an `npm pack` tarball installed where
 * opencode resolves npm plugins; a loopback OTLP receiver decodes what arrives on each protocol.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DEFAULT_ANSWER, startFakeLlm, type FakeLlm } from "../support/fake-llm.ts"
import {
  createOpencodeHome,
  fakeProviderConfig,
  installPackedPlugin,
  packPackage,
  REPO_ROOT,
  removeOpencodeHome,
  runOpencode,
  type OpencodeHome,
  type OpencodeRunResult,
} from "../support/opencode.ts"
import { bigintReplacer, latestPoints } from "../lib/received.ts"
import { startReceiver, type Protocol } from "../support/otlp-receiver.ts"
import { telemetryEnv } from "../lib/telemetry.ts"

const PLUGIN_SOURCE = join(REPO_ROOT, "src", "plugin.ts")
const PROMPT = "Say hello to the telemetry test."

let home: OpencodeHome
let baseline: OpencodeRunResult

/** One opencode run against a fresh scripted model (its script is consumed by each run). */
const run = async (options: Omit<Parameters<typeof runOpencode>[0], "prompt" | "llmUrl">) => {
  const llm: FakeLlm = await startFakeLlm()
  try {
    return await runOpencode({ prompt: PROMPT, llmUrl: llm.url, ...options })
  } finally {
    await llm.stop()
  }
}

beforeAll(async () => {
  home = await createOpencodeHome()
  baseline = await run({ home })
}, 120_000)

afterAll(async () => {
  if (home) await removeOpencodeHome(home)
})

/** What the user sees is unchanged by the plugin. */
const expectSameAsWithout = (result: OpencodeRunResult) => {
  expect(baseline.exitCode).toBe(0)
  expect(baseline.stdout).toContain(DEFAULT_ANSWER)
  expect(result.exitCode).toBe(baseline.exitCode)
  expect(result.stdout).toBe(baseline.stdout)
}

const pluginMessages = (result: OpencodeRunResult) =>
  result.logs.split("\n").filter((line) => line.includes("opencode-plugin-opentelemetry"))

describe.each(["grpc", "http/protobuf", "http/json"] as Array<Protocol>)("local path, %s", (protocol) => {
  test(
    "session.count = 1, the session.created event and the session span arrive; opencode's output is unchanged",
    async () => {
      const receiver = await startReceiver({ protocol })
      try {
        const result = await run({
          home,
          plugins: [PLUGIN_SOURCE],
          env: telemetryEnv(receiver.url, protocol),
        })
        expectSameAsWithout(result)
        // dispose flushed before exit: everything is there without waiting for an export interval.
        // Cumulative points are re-sent on every export (the final flush, then shutdown): read the latest.
        const counts = latestPoints({ metrics: receiver.metrics() }, "opencode.session.count")
        expect(counts).toHaveLength(1)
        expect(counts[0]!.value).toBe(1)
        const sessionID = counts[0]!.attributes["session.id"]
        expect(String(sessionID)).toMatch(/^ses_/)
        expect(counts[0]!.resource["service.name"]).toBe("opencode")

        const events = receiver.logs().filter((l) => l.attributes["event.name"] === "session.created")
        expect(events).toHaveLength(1)
        expect(events[0]!.attributes["session.id"]).toBe(sessionID!)

        const spans = receiver.spans().filter((s) => s.name.startsWith("invoke_agent"))
        expect(spans).toHaveLength(1)
        expect(spans[0]!.attributes["session.id"]).toBe(sessionID!)
        expect(spans[0]!.endTimeUnixNano).toBeGreaterThanOrEqual(spans[0]!.startTimeUnixNano)

        expect(pluginMessages(result).filter((l) => /level=(WARN|ERROR)/.test(l))).toEqual([])
      } finally {
        await receiver.stop()
      }
    },
    120_000,
  )
})

test(
  "installed from the packed tarball by package name, with options in the tuple form overriding the environment",
  async () => {
    const receiver = await startReceiver({ protocol: "http/protobuf" })
    const packDir = await mkdtemp(join(tmpdir(), "otel-pack-"))
    const packedHome = await createOpencodeHome()
    try {
      // prepack builds dist/ with tsc, as `npm publish` would.
      const tarball = await packPackage(REPO_ROOT, packDir, { ignoreScripts: false })
      await installPackedPlugin(tarball, packedHome)
      const result = await run({
        home: packedHome,
        plugins: [["opencode-plugin-opentelemetry", { endpoint: receiver.url, protocol: "http/protobuf" }]],
        // The environment points elsewhere, with another protocol: the options must win.
        env: telemetryEnv("http://127.0.0.1:9", "grpc"),
      })
      expectSameAsWithout(result)
      const counts = latestPoints({ metrics: receiver.metrics() }, "opencode.session.count")
      expect(counts).toHaveLength(1)
      expect(counts[0]!.value).toBe(1)
      expect(counts[0]!.scope.name).toBe("opencode-plugin-opentelemetry")
      expect(receiver.logs().filter((l) => l.attributes["event.name"] === "session.created")).toHaveLength(1)
      expect(receiver.spans().filter((s) => s.name.startsWith("invoke_agent"))).toHaveLength(1)
    } finally {
      await receiver.stop()
      await removeOpencodeHome(packedHome)
      await rm(packDir, { recursive: true, force: true })
    }
  },
  240_000,
)

test(
  "a malformed setting: one clear message in opencode's log, no terminal noise, same exit code and output",
  async () => {
    const result = await run({
      home,
      plugins: [PLUGIN_SOURCE],
      env: { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_PROTOCOL: "carrier-pigeon", OPENCODE_OTLP_HEADERS: "authorization=Bearer sekrit,bad" },
    })
    expectSameAsWithout(result)
    const messages = pluginMessages(result)
    expect(messages.some((l) => l.includes("OPENCODE_OTLP_PROTOCOL") && l.includes("carrier-pigeon"))).toBe(true)
    expect(messages.some((l) => l.includes("Telemetry is disabled"))).toBe(true)
    expect(result.stderr).not.toContain("sekrit")
    expect(result.stdout).not.toContain("OPENCODE_OTLP")
  },
  120_000,
)

test(
  "credentials never reach the bash tool's processes, yet every export request carries them",
  async () => {
    const receiver = await startReceiver({ protocol: "http/json" })
    const llm = await startFakeLlm({
      script: [
        { toolCall: { name: "bash", arguments: { command: "env; echo scan-done", description: "Print the environment" } } },
        { text: "Printed." },
      ],
    })
    try {
      const secret = "sk-planted-fake-secret-0451"
      const result = await runOpencode({
        prompt: PROMPT,
        llmUrl: llm.url,
        home,
        plugins: [PLUGIN_SOURCE],
        extraArgs: ["--format", "json"],
        env: {
          ...telemetryEnv(receiver.url, "http/json"),
          OPENCODE_OTLP_HEADERS: `authorization=Bearer ${secret}`,
          OTEL_EXPORTER_OTLP_HEADERS: `x-other=${secret}`,
          UNRELATED_VARIABLE: "still-visible",
        },
      })
      expect(result.exitCode).toBe(0)
      // The bash tool's output (in opencode's JSON event stream) shows the environment the child saw.
      const toolOutput = result.stdout.split("\n").find((l) => l.includes("scan-done") && l.includes("tool_use"))
      expect(toolOutput).toBeDefined()
      expect(toolOutput).toContain("UNRELATED_VARIABLE=still-visible")
      expect(toolOutput).not.toContain(secret)
      expect(toolOutput).not.toContain("OPENCODE_OTLP_HEADERS")
      expect(toolOutput).not.toContain("OTEL_EXPORTER_OTLP_HEADERS")
      // The exports themselves are authenticated, and the secret is not in what they carry.
      expect(receiver.requests.length).toBeGreaterThan(0)
      for (const request of receiver.requests) expect(request.headers["authorization"]).toBe(`Bearer ${secret}`)
      expect(JSON.stringify(receiver.requests.map((r) => r.body), bigintReplacer)).not.toContain(secret)
      expect(result.stderr).not.toContain(secret)
      // The provider API key opencode holds (visible to plugins in chat.params) is never exported either.
      const apiKey = String((fakeProviderConfig(llm.url).provider as { fake: { options: { apiKey: string } } }).fake.options.apiKey)
      expect(apiKey.length).toBeGreaterThan(3)
      expect(JSON.stringify(receiver.requests.map((r) => r.body), bigintReplacer)).not.toContain(apiKey)
    } finally {
      await llm.stop()
      await receiver.stop()
    }
  },
  120_000,
)

test(
  "trace context out: the bash tool's process gets the TRACEPARENT of its exported tool span",
  async () => {
    const receiver = await startReceiver({ protocol: "grpc" })
    const llm = await startFakeLlm({
      script: [
        { toolCall: { name: "bash", arguments: { command: 'echo "TP=$TRACEPARENT"', description: "Show trace context" } } },
        { text: "Shown." },
      ],
    })
    try {
      const result = await runOpencode({
        prompt: PROMPT,
        llmUrl: llm.url,
        home,
        plugins: [PLUGIN_SOURCE],
        extraArgs: ["--format", "json"],
        env: telemetryEnv(receiver.url, "grpc"),
      })
      expect(result.exitCode).toBe(0)
      const seen = /TP=(00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})/.exec(result.stdout)?.[1]
      expect(seen).toBeDefined()
      const [, traceId, spanId] = seen!.split("-")
      const tool = receiver.spans().find((s) => s.name === "execute_tool bash")!
      expect(tool).toBeDefined()
      expect([tool.traceId, tool.spanId]).toEqual([traceId!, spanId!])
    } finally {
      await llm.stop()
      await receiver.stop()
    }
  },
  120_000,
)

test(
  "installed but switched off: opencode's output unchanged, and one line at DEBUG says the plugin is loaded",
  async () => {
    const result = await run({ home, plugins: [PLUGIN_SOURCE], logLevel: "DEBUG" })
    expectSameAsWithout(result)
    expect(pluginMessages(result).filter((l) => l.includes("loaded; telemetry is off"))).toHaveLength(1)
    expect(pluginMessages(result).filter((l) => /level=(INFO|WARN|ERROR)/.test(l))).toEqual([])
  },
  120_000,
)
