/**
 * Protocol mismatches: gRPC to an HTTP/1.1 server, OTLP/HTTP to a gRPC (HTTP/2-only) server, https:// to a
 * plain-text server, http:// to a TLS server. Each is found by one short check in the background, named once in
 * opencode's log with what to set, and nothing is sent there; a healthy collector says once per signal that its
 * first export arrived.
 *
 * The cases that could end the process run under opencode's own Bun (`BUN_BE_BUN=1 opencode <script>`): its
 * node:http2 throws, outside any promise, on an HTTP/1.1 answer; the test runner's newer Bun does not.
 */
import { afterEach, describe, expect, test } from "bun:test"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer as createHttpServer, type Server } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { Effect } from "effect"
import { classify, diagnose, type Mismatch } from "../../src/exporters/probe.ts"
import { withoutCredentials } from "../../src/exporters/otlp.ts"
import { handleEvent } from "../../src/handlers/index.ts"
import { opencodeBin, REPO_ROOT } from "../support/opencode.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"
import { freePort } from "../lib/net.ts"
import { captureClient, liveLayer, runScoped, type CapturedLog } from "../lib/telemetry.ts"
import { turnEvents } from "../lib/turn.ts"

const PREFIX = "opencode-plugin-opentelemetry: "
const tlsDir = join(import.meta.dir, "..", "support", "tls")
const serverTls = { key: readFileSync(join(tlsDir, "server.key")), cert: readFileSync(join(tlsDir, "server.crt")) }

const stops: Array<() => unknown> = []
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop()
})

/** A plain web server (HTTP/1.1 only), over TLS when asked, answering 404 to everything. */
const startWebServer = async (tls = false): Promise<{ url: string }> => {
  const handler = (_req: unknown, res: { writeHead(code: number): void; end(body: string): void }) => {
    res.writeHead(404)
    res.end("not an OTLP endpoint")
  }
  const server: Server = tls ? createHttpsServer(serverTls, handler) : createHttpServer(handler)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const lifetime = setTimeout(() => server.close(), 120_000)
  lifetime.unref()
  stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `${tls ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

const receiver = async (protocol: Protocol, tls = false): Promise<Receiver> => {
  const r = await startReceiver({ protocol, ...(tls ? { tls: serverTls } : {}) })
  stops.push(() => r.stop())
  return r
}

const withScheme = (url: string, scheme: "http" | "https") => url.replace(/^https?:/, `${scheme}:`)

const messages = (logs: ReadonlyArray<CapturedLog>) => logs.map((l) => l.message.slice(PREFIX.length))
const MISMATCH_LINE = /^OTLP endpoint \S+ (answers|expects) /

describe("classify: the first bytes of an answer", () => {
  test("an HTTP/1.1 status line, HTTP/2 SETTINGS and GOAWAY frames, a TLS alert, nothing", () => {
    expect(classify(Buffer.from("HTTP/1.1 400 Bad Request\r\n"), false)).toBe("http1")
    expect(classify(Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]), false)).toBe("http2")
    expect(classify(Buffer.from([0, 0, 8, 7, 0, 0, 0, 0, 0]), false)).toBe("http2")
    expect(classify(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]), false)).toBe("tls")
    expect(classify(Buffer.from("HTT"), false)).toBeUndefined()
    expect(classify(Buffer.alloc(0), true)).toBe("closed")
    // "HTTP/1.1 " read as a frame header: stream 0x312e3120, not 0; the bytes that crashed Bun's node:http2.
    expect(classify(Buffer.from("SSH-2.0-OpenSSH\r\n"), false)).toBe("other")
  })
})

describe("diagnose: what the endpoint speaks, against real servers", () => {
  const cases: Array<{ name: string; server: () => Promise<{ url: string }>; protocol: Protocol; scheme: "http" | "https"; expected: Mismatch | undefined }> = [
    { name: "gRPC to an HTTP/1.1 web server", server: () => startWebServer(), protocol: "grpc", scheme: "http", expected: "grpc-to-http1" },
    { name: "gRPC to an OTLP/HTTP receiver", server: () => receiver("http/protobuf"), protocol: "grpc", scheme: "http", expected: "grpc-to-http1" },
    { name: "http/protobuf to a gRPC receiver", server: () => receiver("grpc"), protocol: "http/protobuf", scheme: "http", expected: "http-to-http2" },
    { name: "http/json to a gRPC receiver over TLS", server: () => receiver("grpc", true), protocol: "http/json", scheme: "https", expected: "http-to-http2" },
    { name: "https to a plain OTLP/HTTP receiver", server: () => receiver("http/protobuf"), protocol: "http/protobuf", scheme: "https", expected: "tls-to-plain" },
    { name: "https to a plain gRPC receiver (gRPC)", server: () => receiver("grpc"), protocol: "grpc", scheme: "https", expected: "tls-to-plain" },
    { name: "http to an OTLP/HTTP receiver over TLS", server: () => receiver("http/protobuf", true), protocol: "http/protobuf", scheme: "http", expected: "plain-to-tls" },
    { name: "http to a gRPC receiver over TLS (gRPC)", server: () => receiver("grpc", true), protocol: "grpc", scheme: "http", expected: "plain-to-tls" },
    { name: "http to a TLS web server (http/protobuf)", server: () => startWebServer(true), protocol: "http/protobuf", scheme: "http", expected: "plain-to-tls" },
    { name: "gRPC to a gRPC receiver", server: () => receiver("grpc"), protocol: "grpc", scheme: "http", expected: undefined },
    { name: "gRPC over TLS to a gRPC receiver over TLS", server: () => receiver("grpc", true), protocol: "grpc", scheme: "https", expected: undefined },
    { name: "http/protobuf to an OTLP/HTTP receiver", server: () => receiver("http/protobuf"), protocol: "http/protobuf", scheme: "http", expected: undefined },
    { name: "https to an OTLP/HTTP receiver over TLS", server: () => receiver("http/json", true), protocol: "http/json", scheme: "https", expected: undefined },
  ]
  for (const { name, server, protocol, scheme, expected } of cases)
    test(`${name}: ${expected ?? "no mismatch"}`, async () => {
      const { url } = await server()
      expect(await diagnose({ url: withScheme(url, scheme), protocol, timeoutMs: 2_000 })).toBe(expected)
    })

  test("a closed port or a silent server is no mismatch (the exporters' retries handle those)", async () => {
    const port = await freePort()
    expect(await diagnose({ url: `http://127.0.0.1:${port}`, protocol: "grpc", timeoutMs: 1_000 })).toBeUndefined()
    expect(await diagnose({ url: `https://127.0.0.1:${port}`, protocol: "http/protobuf", timeoutMs: 1_000 })).toBeUndefined()
  })
})

/** The live layer in this process: one session recorded, then flushed and shut down. */
const runLive = async (settings: Record<string, string>) => {
  const { client, logs } = captureClient()
  await runScoped(
    liveLayer({ OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "1500", ...settings }, client),
    Effect.gen(function* () {
      for (const event of turnEvents("ses_mismatch")) yield* handleEvent(event)
      // Past the check at start, so that the order of the lines is the one opencode shows.
      yield* Effect.sleep("300 millis")
    }),
  )
  return logs
}

describe("in opencode's log", () => {
  test("http/protobuf to a gRPC receiver: one line naming the mismatch and what to set, nothing sent, no export failures", async () => {
    const grpc = await receiver("grpc")
    const logs = await runLive({ OPENCODE_OTLP_ENDPOINT: grpc.url, OPENCODE_OTLP_PROTOCOL: "http/protobuf" })
    const lines = messages(logs)
    expect(lines.filter((l) => MISMATCH_LINE.test(l)), lines.join("\n")).toEqual([
      `OTLP endpoint ${grpc.url} answers gRPC (HTTP/2 only), not OTLP/HTTP: set OPENCODE_OTLP_PROTOCOL=grpc, or use the collector's OTLP/HTTP port (4318). ` +
        "Traces, logs and metrics are not sent there; what they record is counted as dropped.",
    ])
    expect(lines.filter((l) => /export failed|Dropped/.test(l)), lines.join("\n")).toEqual([])
    expect(grpc.requests).toHaveLength(0)
  })

  test("https to a plain receiver: one line saying to use http://", async () => {
    const http = await receiver("http/json")
    const logs = await runLive({ OPENCODE_OTLP_ENDPOINT: withScheme(http.url, "https"), OPENCODE_OTLP_PROTOCOL: "http/json" })
    const found = messages(logs).filter((l) => MISMATCH_LINE.test(l))
    expect(found).toHaveLength(1)
    expect(found[0]).toContain(`answers plain HTTP, not TLS: set OPENCODE_OTLP_ENDPOINT=${http.url}.`)
  })

  test("a per-signal endpoint names that signal's variables", async () => {
    const grpc = await receiver("grpc")
    const http = await receiver("http/protobuf")
    const logs = await runLive({
      OPENCODE_OTLP_ENDPOINT: http.url,
      OPENCODE_OTLP_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${grpc.url}/v1/traces`,
    })
    const found = messages(logs).filter((l) => MISMATCH_LINE.test(l))
    expect(found).toEqual([
      `OTLP endpoint ${grpc.url} answers gRPC (HTTP/2 only), not OTLP/HTTP: set OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc, or use the collector's OTLP/HTTP port (4318). ` +
        "Traces are not sent there; what they record is counted as dropped.",
    ])
    // The other signals are unaffected.
    expect(http.metrics().some((m) => m.name === "opencode.session.count")).toBe(true)
  })

  test("a healthy collector: the start line, then one line per signal after its first export; no credentials", async () => {
    const http = await receiver("http/protobuf")
    const endpoint = http.url.replace("http://", "http://user:pa55word@")
    const logs = await runLive({
      OPENCODE_OTLP_ENDPOINT: endpoint,
      OPENCODE_OTLP_PROTOCOL: "http/protobuf",
      OPENCODE_OTLP_HEADERS: "authorization=Bearer header-secret",
      OPENCODE_METRICS_EXPORTER: "otlp,console",
    })
    const lines = messages(logs)
    // The console exporter's lines ("telemetry: ...") are info lines too.
    const info = messages(logs.filter((l) => l.level === "info")).filter((l) => !l.startsWith("telemetry: "))
    expect(info[0]).toBe(
      `Telemetry started (profile opencode): traces to otlp, metrics to otlp and console, logs to otlp; OTLP http/protobuf to ${http.url}`,
    )
    expect(info.slice(1).sort()).toEqual(["logs", "metrics", "traces"].map((s) => `OTLP ${s}: first export delivered to ${http.url}/v1/${s}`))
    for (const secret of ["pa55word", "header-secret"]) expect(lines.join("\n")).not.toContain(secret)
    expect(logs.filter((l) => l.level === "warn")).toEqual([])
  })

  test("withoutCredentials keeps scheme, host, port and path only", () => {
    expect(withoutCredentials("https://u:p@collector.example:4318/base/?api_key=x#y")).toBe("https://collector.example:4318/base/")
    expect(withoutCredentials("http://127.0.0.1:4317")).toBe("http://127.0.0.1:4317")
  })
})

/** Runs test/lib/mismatch-child.ts under opencode's embedded Bun. */
const runUnderOpencodeBun = (options: object) =>
  new Promise<{ code: number | null; stdout: string; stderr: string; logs: Array<CapturedLog> }>((resolve, reject) => {
    const child = spawn(opencodeBin(), [join(REPO_ROOT, "test", "lib", "mismatch-child.ts")], {
      cwd: REPO_ROOT,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", BUN_BE_BUN: "1", MISMATCH_CHILD: JSON.stringify(options) },
      stdio: ["ignore", "pipe", "pipe"],
    })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (b: Buffer) => out.push(b))
    child.stderr.on("data", (b: Buffer) => err.push(b))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("error", reject)
    child.on("close", (code) => {
      clearTimeout(timer)
      const stdout = Buffer.concat(out).toString("utf8")
      const logs = stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as CapturedLog)
      resolve({ code, stdout, stderr: Buffer.concat(err).toString("utf8"), logs })
    })
  })

describe("under opencode's own Bun, whose node:http2 throws on an HTTP/1.1 answer", () => {
  const GRPC_TO_HTTP1 = (url: string) =>
    `OTLP endpoint ${url} answers HTTP/1.1, not gRPC: set OPENCODE_OTLP_PROTOCOL=http/protobuf, or use the collector's gRPC port (4317). ` +
    "Traces, logs and metrics are not sent there; what they record is counted as dropped."

  test("gRPC to an HTTP/1.1 server: the process exits 0 with nothing on stderr, and one line names the mismatch", async () => {
    const web = await startWebServer()
    const run = await runUnderOpencodeBun({ settings: { OPENCODE_OTLP_ENDPOINT: web.url, OPENCODE_OTLP_PROTOCOL: "grpc", OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "1500" }, runMs: 300 })
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(messages(run.logs).filter((l) => MISMATCH_LINE.test(l))).toEqual([GRPC_TO_HTTP1(web.url)])
    expect(messages(run.logs).filter((l) => /export failed|Dropped/.test(l))).toEqual([])
  }, 90_000)

  test("gRPC, collector down at start, an HTTP/1.1 server comes up on its port: still no crash, and the line", async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const run = await runUnderOpencodeBun({
      settings: { OPENCODE_OTLP_ENDPOINT: url, OPENCODE_OTLP_PROTOCOL: "grpc", OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "1500" },
      http1Port: port,
      http1AfterMs: 300,
      // The exporters retry after 1 s, then 2 s: each retry opens a new connection.
      runMs: 4_000,
    })
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    expect(messages(run.logs).filter((l) => MISMATCH_LINE.test(l))).toEqual([GRPC_TO_HTTP1(url)])
  }, 90_000)

  test("gRPC to a gRPC receiver: delivered, one first-export line per signal", async () => {
    const grpc = await receiver("grpc")
    const run = await runUnderOpencodeBun({ settings: { OPENCODE_OTLP_ENDPOINT: grpc.url, OPENCODE_OTLP_PROTOCOL: "grpc", OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "1500" }, runMs: 300 })
    expect(run.stderr).toBe("")
    expect(run.code).toBe(0)
    const lines = messages(run.logs)
    expect(lines.filter((l) => l.includes("first export delivered")).sort()).toEqual(
      ["logs", "metrics", "traces"].map((s) => `OTLP ${s}: first export delivered to ${grpc.url}`),
    )
    expect(run.logs.filter((l) => l.level === "warn")).toEqual([])
    expect(grpc.metrics().some((m) => m.name === "opencode.session.count")).toBe(true)
  }, 90_000)
})
