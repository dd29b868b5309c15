/**
 * TLS and mutual TLS (OPENCODE_OTLP_CERTIFICATE / _CLIENT_KEY / _CLIENT_CERTIFICATE, or the standard
 * OTEL_EXPORTER_OTLP_* names): a loopback receiver with a test CA, demanding a client certificate.
 */
import { afterEach, describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { handleEvent } from "../../src/handlers/index.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"
import { captureClient, liveLayer, runScoped } from "../lib/telemetry.ts"

const dir = join(import.meta.dir, "..", "support", "tls")
const pem = (name: string) => readFileSync(join(dir, name))
const path = (name: string) => join(dir, name)

let receiver: Receiver | undefined
afterEach(async () => {
  await receiver?.stop()
  receiver = undefined
})

/**
 * gRPC under Bun refuses an IP address as the TLS server name, so gRPC goes to `localhost` (the test certificate
 * names both); HTTP works with either.
 */
const endpointOf = (r: Receiver, protocol: Protocol) => (protocol === "grpc" ? r.url.replace("127.0.0.1", "localhost") : r.url)

const session = Effect.gen(function* () {
  yield* handleEvent({ type: "session.created", properties: { info: { id: "ses_tls", time: { created: Date.now() } } } })
})

describe.each(["grpc", "http/protobuf", "http/json"] as Array<Protocol>)("%s over mutual TLS", (protocol) => {
  test("with the CA and a client certificate: delivered", async () => {
    receiver = await startReceiver({ protocol, tls: { key: pem("server.key"), cert: pem("server.crt"), ca: pem("ca.crt") } })
    expect(receiver.url.startsWith("https://")).toBe(true)
    const { client, logs } = captureClient()
    await runScoped(
      liveLayer(
        {
          OPENCODE_OTLP_ENDPOINT: endpointOf(receiver, protocol),
          OPENCODE_OTLP_PROTOCOL: protocol,
          OPENCODE_OTLP_CERTIFICATE: path("ca.crt"),
          OPENCODE_OTLP_CLIENT_KEY: path("client.key"),
          OPENCODE_OTLP_CLIENT_CERTIFICATE: path("client.crt"),
        },
        client,
      ),
      session,
    )
    expect(logs.filter((l) => l.level === "warn")).toEqual([])
    expect(receiver.metrics().some((m) => m.name === "opencode.session.count")).toBe(true)
    expect(receiver.logs()).toHaveLength(1)
  })

  test("without a client certificate: refused by the collector, and the failure is reported", async () => {
    receiver = await startReceiver({ protocol, tls: { key: pem("server.key"), cert: pem("server.crt"), ca: pem("ca.crt") } })
    const { client, logs } = captureClient()
    await runScoped(
      liveLayer(
        {
          OPENCODE_OTLP_ENDPOINT: endpointOf(receiver, protocol),
          OPENCODE_OTLP_PROTOCOL: protocol,
          OPENCODE_OTLP_CERTIFICATE: path("ca.crt"),
          OPENCODE_OTLP_SHUTDOWN_TIMEOUT: "1000",
        },
        client,
      ),
      session,
    )
    expect(receiver.requests.filter((r) => r.accepted)).toHaveLength(0)
    expect(logs.some((l) => l.message.includes("export failed"))).toBe(true)
  })
})
