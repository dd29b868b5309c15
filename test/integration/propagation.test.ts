/**
 * The chat.headers hook through the plugin entry, as opencode calls it: the assistant message's event is sent
 * without waiting (opencode does not await `event`), then chat.headers is awaited. The header set must name the
 * call's chat span as it arrives at the receiver; a malformed output never throws.
 */
import { afterEach, expect, test } from "bun:test"
import { OpenTelemetryPlugin } from "../../src/plugin.ts"
import { startReceiver, type Receiver } from "../support/otlp-receiver.ts"
import { captureClient } from "../lib/telemetry.ts"

const SESSION = "ses_hdr"
const now = Date.now()
const events = [
  { type: "session.created", properties: { sessionID: SESSION, info: { id: SESSION, title: "t", time: { created: now, updated: now } } } },
  {
    type: "message.updated",
    properties: {
      info: {
        id: "msg_call",
        sessionID: SESSION,
        role: "assistant",
        parentID: "msg_user",
        modelID: "m",
        providerID: "fake",
        agent: "build",
        cost: 0,
        tokens: { input: 1, output: 1, reasoning: 0, cache: { read: 0, write: 0 } },
        time: { created: now },
      },
    },
  },
]
const request = (provider: string) => ({
  sessionID: SESSION,
  agent: "build",
  provider: { id: provider, options: { apiKey: "sk-secret" } },
  message: { id: "msg_user", role: "user" },
})

let receiver: Receiver | undefined
afterEach(async () => {
  await receiver?.stop()
  receiver = undefined
})

test("through the entry: a listed provider's request names the exported chat span; others get nothing; never throws", async () => {
  receiver = await startReceiver({ protocol: "http/protobuf" })
  const { client } = captureClient()
  const hooks = await OpenTelemetryPlugin({ client, directory: process.cwd(), worktree: process.cwd() }, {
    enabled: true,
    endpoint: receiver.url,
    protocol: "http/protobuf",
    tracePropagationProviders: "fake",
  })
  await hooks["chat.message"]!({ sessionID: SESSION }, { message: { agent: "build" }, parts: [{ type: "text", text: "hi" }] })
  // Not awaited, as opencode sends events.
  for (const event of events) void hooks.event!({ event })
  const listed = { headers: {} as Record<string, string> }
  await hooks["chat.headers"]!(request("fake"), listed)
  const other = { headers: {} as Record<string, string> }
  await hooks["chat.headers"]!(request("anthropic"), other)
  await hooks["chat.headers"]!(request("fake"), null as never)
  await hooks["chat.headers"]!(undefined, { headers: {} })
  await hooks.dispose!()
  expect(other.headers).toEqual({})
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(listed.headers["traceparent"] ?? "")
  expect(match).not.toBeNull()
  const chat = receiver.spans().find((s) => s.name === "chat m")
  expect(chat).toBeDefined()
  expect([chat!.traceId, chat!.spanId]).toEqual([match![1]!, match![2]!])
})

test("through the entry: nothing listed (the default), no header at all", async () => {
  receiver = await startReceiver({ protocol: "http/protobuf" })
  const { client } = captureClient()
  const hooks = await OpenTelemetryPlugin({ client, directory: process.cwd(), worktree: process.cwd() }, {
    enabled: true,
    endpoint: receiver.url,
    protocol: "http/protobuf",
  })
  await hooks["chat.message"]!({ sessionID: SESSION }, { message: { agent: "build" }, parts: [{ type: "text", text: "hi" }] })
  for (const event of events) void hooks.event!({ event })
  const output = { headers: {} as Record<string, string> }
  await hooks["chat.headers"]!(request("fake"), output)
  await hooks.dispose!()
  expect(output.headers).toEqual({})
  expect(receiver.spans().some((s) => s.name === "chat m")).toBe(true)
})
