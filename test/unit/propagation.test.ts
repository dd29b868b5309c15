/**
 * Trace context into model requests (the chat.headers hook): which request gets which span's context, through
 * the test layer (in-memory exporters). Every traceparent handed out must name a span that is exported.
 */
import { describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { endAllSessions, handleChatHeaders, handleChatMessage, handleEvent } from "../../src/handlers/index.ts"
import { decodeSettings } from "../../src/config/settings.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import { effectTest } from "../lib/effect.ts"

const T0 = 1_800_000_000_000
const SESSION = "ses_p"
const USER_MESSAGE = "msg_user"
const SECRET_KEY = "sk-never-read-1234"

const created = (id: string, extra: Record<string, unknown> = {}) => ({
  type: "session.created",
  properties: { sessionID: id, info: { id, projectID: "p", directory: "/project", title: "t", time: { created: T0, updated: T0 }, ...extra } },
})
const assistant = (id: string, options: { session?: string; agent?: string; completed?: boolean; parentID?: string } = {}) => ({
  type: "message.updated",
  properties: {
    info: {
      id,
      sessionID: options.session ?? SESSION,
      role: "assistant",
      parentID: options.parentID ?? USER_MESSAGE,
      modelID: "m",
      providerID: "fake",
      mode: options.agent ?? "build",
      agent: options.agent ?? "build",
      cost: 0,
      tokens: { input: 1, output: 1, reasoning: 0, cache: { read: 0, write: 0 } },
      time: { created: T0 + 10, ...(options.completed ? { completed: T0 + 20 } : {}) },
    },
  },
})
/** What opencode 1.18.33 passes (test/fixtures/text.jsonl), the provider's API key included. */
const request = (options: { provider?: string; agent?: string; session?: string; userMessage?: string } = {}) => ({
  sessionID: options.session ?? SESSION,
  agent: options.agent ?? "build",
  model: { id: "m", providerID: options.provider ?? "fake" },
  provider: { id: options.provider ?? "fake", name: "Fake", options: { baseURL: "http://127.0.0.1:1/v1", apiKey: SECRET_KEY } },
  message: { id: options.userMessage ?? USER_MESSAGE, role: "user", sessionID: options.session ?? SESSION },
})

/** A prompt whose first LLM call has started (its chat span open), as opencode orders them. */
const promptWithOpenCall = (callID = "msg_a1") =>
  Effect.gen(function* () {
    yield* handleEvent(created(SESSION))
    yield* handleChatMessage({ sessionID: SESSION }, { message: { agent: "build" }, parts: [{ type: "text", text: "hi" }] })
    yield* handleEvent(assistant(callID))
  })

const parse = (traceparent: string) => {
  const [, traceId, spanId, flags] = traceparent.split("-")
  return { traceId, spanId, flags }
}

const exportedSpans = Effect.gen(function* () {
  yield* endAllSessions()
  return yield* (yield* MemoryExporter).spans
})

describe("chat.headers with a provider listed", () => {
  const it = effectTest(Telemetry.layerTest({ OPENCODE_TRACE_PROPAGATION_PROVIDERS: "fake" }))

  it("a listed provider's request carries its chat span's context; retries reuse it; the next call gets its own", () =>
    Effect.gen(function* () {
      yield* promptWithOpenCall("msg_a1")
      const first = yield* handleChatHeaders(request())
      const retry = yield* handleChatHeaders(request())
      expect(first?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
      expect(retry).toEqual(first)
      yield* handleEvent(assistant("msg_a1", { completed: true }))
      yield* handleEvent(assistant("msg_a2"))
      const second = yield* handleChatHeaders(request())
      expect(second?.traceparent).not.toBe(first?.traceparent)
      const spans = yield* exportedSpans
      const chat = (id: string) => spans.find((s) => s.attributes["message.id"] === id)!
      for (const [context, id] of [[first, "msg_a1"], [second, "msg_a2"]] as const) {
        const { traceId, spanId } = parse(context!.traceparent)
        expect(chat(id).spanContext().traceId).toBe(traceId!)
        expect(chat(id).spanContext().spanId).toBe(spanId!)
        expect(chat(id).name).toBe("chat m")
      }
    }),
  )

  it("a provider not listed gets nothing; the API key is never part of what is returned", () =>
    Effect.gen(function* () {
      yield* promptWithOpenCall()
      expect(yield* handleChatHeaders(request({ provider: "anthropic" }))).toBeUndefined()
      expect(JSON.stringify(yield* handleChatHeaders(request()))).not.toContain(SECRET_KEY)
    }),
  )

  it("the title agent's request (no chat span of its own) gets the turn's span, never the build call's", () =>
    Effect.gen(function* () {
      yield* promptWithOpenCall()
      const title = yield* handleChatHeaders(request({ agent: "title" }))
      const build = yield* handleChatHeaders(request())
      expect(title).toBeDefined()
      expect(title?.traceparent).not.toBe(build?.traceparent)
      const spans = yield* exportedSpans
      const turn = spans.find((s) => s.name === "invoke_agent build")!
      expect(parse(title!.traceparent).spanId).toBe(turn.spanContext().spanId)
      expect(parse(title!.traceparent).traceId).toBe(turn.spanContext().traceId)
    }),
  )

  it("a subagent session's request gets the subagent's own chat span", () =>
    Effect.gen(function* () {
      yield* promptWithOpenCall()
      yield* handleEvent(created("ses_child", { parentID: SESSION }))
      yield* handleEvent(assistant("msg_c1", { session: "ses_child", agent: "general", parentID: "msg_child_user" }))
      const child = yield* handleChatHeaders(request({ session: "ses_child", agent: "general", userMessage: "msg_child_user" }))
      const parent = yield* handleChatHeaders(request())
      expect(child?.traceparent).not.toBe(parent?.traceparent)
      const spans = yield* exportedSpans
      const chat = spans.find((s) => s.attributes["message.id"] === "msg_c1")!
      expect(parse(child!.traceparent).spanId).toBe(chat.spanContext().spanId)
    }),
  )

  it("an unknown session, or an input of another shape, gets nothing and fails nothing", () =>
    Effect.gen(function* () {
      expect(yield* handleChatHeaders(request({ session: "ses_unknown" }))).toBeUndefined()
      expect(yield* handleChatHeaders(null)).toBeUndefined()
      expect(yield* handleChatHeaders({ sessionID: SESSION, provider: "fake" })).toBeUndefined()
    }),
  )
})

describe("chat.headers: *, traces off, no span", () => {
  effectTest(Telemetry.layerTest({ OPENCODE_TRACE_PROPAGATION_PROVIDERS: "*" }))("* lists every provider", () =>
    Effect.gen(function* () {
      yield* promptWithOpenCall()
      expect(yield* handleChatHeaders(request({ provider: "anthropic" }))).toBeDefined()
      expect(yield* handleChatHeaders(request({ provider: "openai" }))).toBeDefined()
    }),
  )

  effectTest(Telemetry.layerTest({}))("unset: no provider gets a header", () =>
    Effect.gen(function* () {
      yield* promptWithOpenCall()
      expect(yield* handleChatHeaders(request())).toBeUndefined()
    }),
  )

  effectTest(Telemetry.layerTest({ OPENCODE_TRACE_PROPAGATION_PROVIDERS: "fake", OPENCODE_DISABLE_TRACES: "llm" }))(
    "llm traces off: the request gets the turn's span (exported), not a chat span that does not exist",
    () =>
      Effect.gen(function* () {
        yield* promptWithOpenCall()
        const context = yield* handleChatHeaders(request())
        const spans = yield* exportedSpans
        expect(spans.map((s) => s.name)).toEqual(["invoke_agent build"])
        expect(parse(context!.traceparent).spanId).toBe(spans[0]!.spanContext().spanId)
      }),
  )

  effectTest(Telemetry.layerTest({ OPENCODE_TRACE_PROPAGATION_PROVIDERS: "fake", OPENCODE_DISABLE_TRACES: "all" }))(
    "all traces off: no span is exported, so no header",
    () =>
      Effect.gen(function* () {
        yield* promptWithOpenCall()
        expect(yield* handleChatHeaders(request())).toBeUndefined()
        expect(yield* exportedSpans).toEqual([])
      }),
  )

  effectTest(
    Telemetry.layerTest({
      OPENCODE_TRACE_PROPAGATION_PROVIDERS: "fake",
      OPENCODE_TRACEPARENT: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    }),
  )("a not-sampled parent: the spans are not exported, so no header names them", () =>
    Effect.gen(function* () {
      yield* promptWithOpenCall()
      expect(yield* handleChatHeaders(request())).toBeUndefined()
      expect(yield* exportedSpans).toEqual([])
    }),
  )

  effectTest(Telemetry.layerTest({ OPENCODE_TRACE_PROPAGATION_PROVIDERS: "fake", OPENCODE_TRACESTATE: "vendor=abc", OPENCODE_TRACEPARENT: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }))(
    "a trace state travels with the traceparent",
    () =>
      Effect.gen(function* () {
        yield* promptWithOpenCall()
        const context = yield* handleChatHeaders(request())
        expect(context?.tracestate).toBe("vendor=abc")
        expect(parse(context!.traceparent).traceId).toBe("0af7651916cd43dd8448eb211c80319c")
      }),
  )
})

describe("OPENCODE_TRACE_PROPAGATION_PROVIDERS decoding", () => {
  const decode = (value: string | undefined) =>
    decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", ...(value === undefined ? {} : { OPENCODE_TRACE_PROPAGATION_PROVIDERS: value }) })
  test("unset is none; a list; *; a bad entry is reported and the others apply", () => {
    expect(decode(undefined).config.traces.propagationProviders).toEqual(new Set())
    expect(decode("anthropic, fake").config.traces.propagationProviders).toEqual(new Set(["anthropic", "fake"]))
    expect(decode("fake,*").config.traces.propagationProviders).toBe("*")
    const bad = decode("fake,not a provider")
    expect(bad.config.traces.propagationProviders).toEqual(new Set(["fake"]))
    expect(bad.problems.map((p) => p.message).join("\n")).toContain("OPENCODE_TRACE_PROPAGATION_PROVIDERS")
  })
})
