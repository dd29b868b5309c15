/**
 * Trace context into model requests, end to end: the real `opencode run` (pinned 1.18.33) with the fake provider
 * listed in OPENCODE_TRACE_PROPAGATION_PROVIDERS. Every request the fake LLM got carries a traceparent naming a
 * span that arrived at the receiver: a scripted call's is its `chat` span (a retry's the same one), the title
 * agent's (which has no chat span) its turn's `invoke_agent` span; each LLM call has its own. With the provider
 * not listed, no request carries one. Then `opencode serve`: two prompts in one long-lived server.
 */
import { describe, expect, test } from "bun:test"
import { join } from "node:path"
import type { FakeLlmRequest } from "../support/fake-llm.ts"
import { REPO_ROOT } from "../support/opencode.ts"
import { startReceiver, type FlatSpan } from "../support/otlp-receiver.ts"
import { runScenario, scenarioNamed } from "../support/scenarios.ts"
import { startReactiveLlm, startServe } from "../support/serve.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
const TIMEOUT_MS = 180_000
/** The fake provider's id (test/support/opencode.ts fakeProviderConfig). */
const FAKE_PROVIDER = "fake"
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/

const runWith = async (scenario: string, providers: string) => {
  const receiver = await startReceiver({ protocol: "http/protobuf", lifetimeMs: 5 * 60_000 })
  try {
    const result = await runScenario(scenarioNamed(scenario), {
      plugins: [PLUGIN],
      env: {
        OPENCODE_ENABLE_TELEMETRY: "1",
        OPENCODE_OTLP_ENDPOINT: receiver.url,
        OPENCODE_OTLP_PROTOCOL: "http/protobuf",
        OPENCODE_TRACE_PROPAGATION_PROVIDERS: providers,
      },
    })
    expect(result.exitCodes.every((code) => code === 0)).toBe(true)
    return { requests: result.llmRequests.filter((r) => r.kind !== "other"), spans: receiver.spans() }
  } finally {
    await receiver.stop()
  }
}

/** The exported span each request's traceparent names (throws when a request has none, or names none). */
const spanOf = (spans: ReadonlyArray<FlatSpan>, headers: Record<string, string>): FlatSpan => {
  const match = TRACEPARENT.exec(headers["traceparent"] ?? "")
  if (match === null) throw new Error(`no valid traceparent: ${JSON.stringify(headers["traceparent"])}`)
  const span = spans.find((s) => s.traceId === match[1] && s.spanId === match[2])
  if (span === undefined) throw new Error(`traceparent ${headers["traceparent"]} names no exported span`)
  return span
}

const expectEachCallItsOwnChatSpan = (requests: ReadonlyArray<FakeLlmRequest>, spans: ReadonlyArray<FlatSpan>, expectedCalls: number) => {
  expect(requests.length).toBeGreaterThan(0)
  const named = requests.map((r) => ({ kind: r.kind, step: r.step, span: spanOf(spans, r.headers) }))
  for (const { kind, span } of named) expect(span.name).toStartWith(kind === "title" ? "invoke_agent " : "chat ")
  const chatSpans = spans.filter((s) => s.name.startsWith("chat "))
  expect(chatSpans).toHaveLength(expectedCalls)
  // Every chat span was named by a request, and no two calls share one.
  expect(new Set(named.filter((n) => n.kind === "script").map((n) => n.span.spanId))).toEqual(new Set(chatSpans.map((s) => s.spanId)))
  return named
}

describe("opencode run with the fake provider listed", () => {
  test(
    "plain: the call's request carries its chat span, the title request its turn's span",
    async () => {
      const { requests, spans } = await runWith("text", FAKE_PROVIDER)
      const named = expectEachCallItsOwnChatSpan(requests, spans, 1)
      expect(named.map((n) => n.kind).sort()).toEqual(["script", "title"])
      const chat = named.find((n) => n.kind === "script")!.span
      const title = named.find((n) => n.kind === "title")!.span
      // The gateway's spans land in the prompt's trace: the chat span is the turn's child.
      expect(chat.parentSpanId).toBe(title.spanId)
      expect(chat.traceId).toBe(title.traceId)
    },
    TIMEOUT_MS,
  )

  test(
    "retry: the failed attempts and the answered one carry the same chat span",
    async () => {
      const { requests, spans } = await runWith("retry", FAKE_PROVIDER)
      const named = expectEachCallItsOwnChatSpan(requests, spans, 1)
      const script = named.filter((n) => n.kind === "script")
      expect(script.length).toBe(scenarioNamed("retry").script.length)
      expect(new Set(script.map((n) => n.span.spanId)).size).toBe(1)
    },
    TIMEOUT_MS,
  )

  test(
    "subagent: the subagent's calls carry its own chat spans, distinct from its parent's",
    async () => {
      const { requests, spans } = await runWith("subagent", "*")
      const chatSpans = spans.filter((s) => s.name.startsWith("chat "))
      const named = expectEachCallItsOwnChatSpan(requests, spans, chatSpans.length)
      const sessions = new Set(named.filter((n) => n.kind === "script").map((n) => n.span.attributes["session.id"]))
      expect(sessions.size).toBe(2)
      expect(chatSpans.length).toBe(requests.filter((r) => r.kind === "script").length)
    },
    TIMEOUT_MS,
  )

  test(
    "the provider not listed: no request carries a traceparent",
    async () => {
      const { requests, spans } = await runWith("retry", "anthropic")
      expect(requests.length).toBeGreaterThan(1)
      expect(spans.some((s) => s.name.startsWith("chat "))).toBe(true)
      expect(requests.filter((r) => r.headers["traceparent"] !== undefined || r.headers["tracestate"] !== undefined)).toEqual([])
    },
    TIMEOUT_MS,
  )
})

test(
  "opencode serve: two prompts in one server get distinct, exported traceparents per request",
  async () => {
    const receiver = await startReceiver({ protocol: "http/protobuf", lifetimeMs: 5 * 60_000 })
    const llm = await startReactiveLlm()
    const serve = await startServe({
      llmUrl: llm.url,
      plugins: [PLUGIN],
      env: {
        OPENCODE_ENABLE_TELEMETRY: "1",
        OPENCODE_OTLP_ENDPOINT: receiver.url,
        OPENCODE_OTLP_PROTOCOL: "http/protobuf",
        OPENCODE_TRACE_PROPAGATION_PROVIDERS: FAKE_PROVIDER,
      },
    })
    try {
      const session = await serve.createSession("propagation")
      await serve.prompt(session, "First. [[bash: echo first]]")
      await serve.prompt(session, "Second, just talk.")
      await serve.waitIdle([session])
      // A turn's telemetry goes out 1 s after it ends; SIGTERM then loses nothing of these turns.
      await Bun.sleep(2_500)
      await serve.stop()
      const spans = receiver.spans()
      const answered = llm.requests.filter((r) => r.kind !== "title")
      // First prompt: a tool call, then its answer; second: one answer.
      expect(answered.map((r) => r.kind)).toEqual(["tool", "text", "text"])
      const named = answered.map((r) => spanOf(spans, r.headers))
      for (const span of named) expect(span.name).toStartWith("chat ")
      expect(new Set(named.map((s) => s.spanId)).size).toBe(3)
      // Two prompts, two traces.
      expect(new Set(named.map((s) => s.traceId)).size).toBe(2)
      for (const r of llm.requests.filter((r) => r.kind === "title")) expect(spanOf(spans, r.headers).name).toStartWith("invoke_agent ")
    } finally {
      await serve.stop().catch(() => undefined)
      await serve.cleanup()
      await llm.stop()
      await receiver.stop()
    }
  },
  TIMEOUT_MS,
)
