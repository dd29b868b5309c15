/**
 * A protocol mismatch never breaks opencode, and says once what to set. The real pinned opencode CLI runs
 * `opencode run` with the plugin (src/plugin.ts) against an endpoint that speaks something else than configured,
 * and is compared with a baseline run without the plugin: same exit code, byte-identical stdout, the same
 * non-log stderr lines (opencode's banner only), and exactly one line in opencode's log (`--print-logs`) naming
 * the mismatch and what to set. A healthy run shows the start line and one first-export line per signal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { DEFAULT_ANSWER, startFakeLlm } from "../support/fake-llm.ts"
import { createOpencodeHome, REPO_ROOT, removeOpencodeHome, runOpencode, type OpencodeHome, type OpencodeRunResult } from "../support/opencode.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"
import { telemetryEnv as sharedTelemetryEnv } from "../lib/telemetry.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
const PROMPT = "Say hello to the telemetry test."
const PREFIX = "opencode-plugin-opentelemetry: "
const TEST_TIMEOUT_MS = 180_000
const tlsDir = join(REPO_ROOT, "test", "support", "tls")
const serverTls = { key: readFileSync(join(tlsDir, "server.key")), cert: readFileSync(join(tlsDir, "server.crt")) }

let home: OpencodeHome
let baseline: OpencodeRunResult

const run = async (env?: Record<string, string>) => {
  const llm = await startFakeLlm()
  try {
    return await runOpencode({ prompt: PROMPT, llmUrl: llm.url, home, ...(env === undefined ? {} : { plugins: [PLUGIN], env }) })
  } finally {
    await llm.stop()
  }
}

beforeAll(async () => {
  home = await createOpencodeHome()
  baseline = await run()
}, TEST_TIMEOUT_MS)

afterAll(async () => {
  if (home) await removeOpencodeHome(home)
})

const telemetryEnv = (endpoint: string, protocol: Protocol) => sharedTelemetryEnv(endpoint, protocol, { OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "1500" })

/** The plugin's messages in opencode's log lines (`message="opencode-plugin-opentelemetry: ..."`). */
const messagesOf = (result: OpencodeRunResult) =>
  result.logs
    .split("\n")
    .filter((line) => line.startsWith("timestamp=") && line.includes(PREFIX))
    .map((line) => {
      const text = line.slice(line.indexOf(PREFIX) + PREFIX.length)
      const end = text.search(/(?<!\\)"(\s|$)/)
      return (end >= 0 ? text.slice(0, end) : text).replace(/\\"/g, '"')
    })

/** stderr lines that are not log lines: opencode's own CLI output. The plugin must add none. */
const bannerOf = (result: OpencodeRunResult) =>
  result.stderr
    .split("\n")
    .filter((l) => !l.startsWith("timestamp=") && l.trim() !== "")
    .join("\n")

const expectUnharmed = (result: OpencodeRunResult) => {
  const context = `exit ${result.exitCode}\n${result.stderr.slice(-3000)}`
  expect(baseline.exitCode).toBe(0)
  expect(baseline.stdout).toContain(DEFAULT_ANSWER)
  expect(result.timedOut, context).toBe(false)
  expect(result.exitCode, context).toBe(baseline.exitCode)
  expect(result.stdout, context).toBe(baseline.stdout)
  expect(bannerOf(result), context).toBe(bannerOf(baseline))
  expect(result.stderr).not.toContain("TypeError")
  expect(result.stderr).not.toContain("Malformed_HTTP_Response")
}

const MISMATCH_LINE = /^OTLP endpoint \S+ (answers|expects) /
const NOT_SENT = "Traces, logs and metrics are not sent there; what they record is counted as dropped."

/** A plain node:http server (HTTP/1.1 only) that answers 404 to everything; it closes itself after a while. */
const startWebServer = async () => {
  const server: Server = createServer((_req, res) => {
    res.writeHead(404)
    res.end("not an OTLP endpoint")
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const lifetime = setTimeout(() => server.close(), TEST_TIMEOUT_MS)
  lifetime.unref()
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

interface Case {
  readonly name: string
  readonly protocol: Protocol
  readonly server: () => Promise<{ url: string; stop: () => Promise<void>; receiver?: Receiver }>
  /** The endpoint as configured, from the server's URL. */
  readonly endpoint: (url: string) => string
  /** The one line expected, from the configured endpoint. */
  readonly line: (endpoint: string) => string
}

const receiverServer = (protocol: Protocol, tls = false) => async () => {
  const receiver = await startReceiver({ protocol, ...(tls ? { tls: serverTls } : {}) })
  return { url: receiver.url, stop: () => receiver.stop(), receiver }
}

const CASES: ReadonlyArray<Case> = [
  {
    name: "gRPC to the receiver's OTLP/HTTP port",
    protocol: "grpc",
    server: receiverServer("http/protobuf"),
    endpoint: (url) => url,
    line: (e) => `OTLP endpoint ${e} answers HTTP/1.1, not gRPC: set OPENCODE_OTLP_PROTOCOL=http/protobuf, or use the collector's gRPC port (4317). ${NOT_SENT}`,
  },
  {
    name: "gRPC to a plain node:http server",
    protocol: "grpc",
    server: startWebServer,
    endpoint: (url) => url,
    line: (e) => `OTLP endpoint ${e} answers HTTP/1.1, not gRPC: set OPENCODE_OTLP_PROTOCOL=http/protobuf, or use the collector's gRPC port (4317). ${NOT_SENT}`,
  },
  {
    name: "http/protobuf to a gRPC receiver",
    protocol: "http/protobuf",
    server: receiverServer("grpc"),
    endpoint: (url) => url,
    line: (e) => `OTLP endpoint ${e} answers gRPC (HTTP/2 only), not OTLP/HTTP: set OPENCODE_OTLP_PROTOCOL=grpc, or use the collector's OTLP/HTTP port (4318). ${NOT_SENT}`,
  },
  {
    name: "https to a plain OTLP/HTTP receiver",
    protocol: "http/protobuf",
    server: receiverServer("http/protobuf"),
    endpoint: (url) => url.replace("http://", "https://"),
    line: (e) => `OTLP endpoint ${e} answers plain HTTP, not TLS: set OPENCODE_OTLP_ENDPOINT=${e.replace("https://", "http://")}. ${NOT_SENT}`,
  },
  {
    name: "http to an OTLP/HTTP receiver over TLS",
    protocol: "http/protobuf",
    server: receiverServer("http/protobuf", true),
    endpoint: (url) => url.replace("https://", "http://"),
    line: (e) =>
      `OTLP endpoint ${e} expects TLS, not plain HTTP: set OPENCODE_OTLP_ENDPOINT=${e.replace("http://", "https://")} ` +
      `(and OPENCODE_OTLP_CERTIFICATE if a private CA signed its certificate). ${NOT_SENT}`,
  },
]

describe("a protocol mismatch", () => {
  for (const { name, protocol, server, endpoint, line } of CASES)
    test(
      `${name}: same exit code and output as without the plugin, one line naming it and what to set`,
      async () => {
        const target = await server()
        try {
          const configured = endpoint(target.url)
          const result = await run(telemetryEnv(configured, protocol))
          expectUnharmed(result)
          const messages = messagesOf(result)
          expect(messages.filter((m) => MISMATCH_LINE.test(m)), messages.join("\n")).toEqual([line(configured)])
          // Nothing else about it: no export failures, no drop messages (the line says the data is dropped).
          expect(messages.filter((m) => /export failed|Dropped|did not complete/.test(m)), messages.join("\n")).toEqual([])
          if (target.receiver !== undefined) expect(target.receiver.requests).toHaveLength(0)
        } finally {
          await target.stop()
        }
      },
      TEST_TIMEOUT_MS,
    )
})

describe("a healthy collector", () => {
  for (const protocol of ["grpc", "http/protobuf"] as Array<Protocol>)
    test(
      `${protocol}: one start line saying what goes where, then one line per signal after its first export`,
      async () => {
        const receiver = await startReceiver({ protocol })
        try {
          const result = await run(telemetryEnv(receiver.url, protocol))
          expectUnharmed(result)
          const messages = messagesOf(result)
          expect(messages.filter((m) => m.startsWith("Telemetry started")), messages.join("\n")).toEqual([
            `Telemetry started (profile opencode): traces to otlp, metrics to otlp, logs to otlp; OTLP ${protocol} to ${receiver.url}`,
          ])
          const at = (signal: string) => (protocol === "grpc" ? receiver.url : `${receiver.url}/v1/${signal}`)
          expect(messages.filter((m) => m.includes("first export delivered")).sort(), messages.join("\n")).toEqual(
            ["logs", "metrics", "traces"].map((s) => `OTLP ${s}: first export delivered to ${at(s)}`),
          )
          expect(messages.filter((m) => MISMATCH_LINE.test(m))).toEqual([])
          // Start line first, at INFO.
          expect(messages[0]).toStartWith("Telemetry started")
          expect(result.logs.split("\n").some((l) => l.includes("level=INFO") && l.includes(`${PREFIX}Telemetry started`))).toBe(true)
        } finally {
          await receiver.stop()
        }
      },
      TEST_TIMEOUT_MS,
    )
})
