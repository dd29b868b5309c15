/**
 * Messages: a user's prompt (user_prompt, a new prompt.id) and each assistant message — one LLM call — counted
 * exactly once, when it is first seen finished, however often opencode re-sends it; with it, what its parts and
 * the session's retries say: the reply's text (assistant_response), a compaction, retries that ended in an error.
 */
import { SpanKind, SpanStatusCode } from "@opentelemetry/api"
import type { AssistantMessage, CompactionPart, TextPart, UserMessage } from "../events/schema.ts"
import type { HandlerContext } from "./context.ts"
import { CONTENT_LIMIT, truncateText } from "./content.ts"
import type { SessionState } from "../services/SessionStore.ts"
import { attribution, countActiveTime, emitEvent, ensureTurn, sessionAttributes, setBounded, sessionState, startTurn } from "./common.ts"
import { errorAttributes } from "./errors.ts"
import { spanName } from "../signals.ts"

/** The `chat.message` hook: a prompt submitted by a person (or `opencode run`). A subagent's task prompt is not one. */
export const onChatMessage = (
  ctx: HandlerContext,
  sessionID: string,
  message: {
    readonly agent?: string | undefined
    readonly model?: { readonly providerID: string; readonly modelID: string } | undefined
  },
  parts: ReadonlyArray<{ readonly type: string; readonly text?: string | undefined }>,
) => {
  const state = sessionState(ctx, sessionID)
  if (state.parentID !== undefined) return
  // The prompt's own model: it arrives before the user message's message.updated.
  if (message.model !== undefined) state.model = { modelID: message.model.modelID, providerID: message.model.providerID }
  const { config } = ctx
  state.promptId = crypto.randomUUID()
  if (message.agent !== undefined) state.agent = message.agent
  // The prompt starts a turn: the root of one trace holding its LLM calls and tools.
  startTurn(ctx, state, Date.now())
  const text = parts.filter((p) => p.type === "text").map((p) => p.text ?? "")
  emitEvent(ctx, state, "user_prompt", {
    prompt_length: text.reduce((n, t) => n + t.length, 0),
    // The prompt itself only when the user opted in (OTEL_LOG_USER_PROMPTS).
    ...(config.content.userPrompts ? { prompt: truncateText(text.join("\n"), CONTENT_LIMIT) } : {}),
    // The seed plugin's user_prompt names the model `<provider>/<model>` (dashboards for it group by that); Claude
    // Code's, and every other event here, by the model alone.
    ...(state.model === undefined
      ? {}
      : {
          model: config.profile === "claude-code" ? state.model.modelID : `${state.model.providerID}/${state.model.modelID}`,
          provider: state.model.providerID,
        }),
    ...optional("agent", message.agent ?? state.agent),
  })
}

export const onUserMessage = (ctx: HandlerContext, info: UserMessage) => {
  const state = sessionState(ctx, info.sessionID)
  if (info.model !== undefined) state.model = { modelID: info.model.modelID, providerID: info.model.providerID }
  if (info.agent !== undefined) {
    if (state.agent === undefined) {
      state.turn?.updateName(spanName("session", info.agent))
      state.turn?.setAttribute("gen_ai.agent.name", info.agent)
    }
    state.agent = info.agent
  }
}

export const onAssistantMessage = (ctx: HandlerContext, info: AssistantMessage) => {
  const state = sessionState(ctx, info.sessionID)
  if (state.countedMessages.has(info.id)) return
  if (info.agent !== undefined) state.messageAgent = info.agent
  const finished = info.time.completed !== undefined || info.error !== undefined
  const open = state.llmSpans.get(info.id) ?? (state.cutShort.has(info.id) ? undefined : startLlmSpan(ctx, state, info))
  if (!finished) return
  state.countedMessages.add(info.id)
  state.cutShort.delete(info.id)
  state.llmSpans.delete(info.id)
  countActiveTime(ctx, state, Date.now())

  const { instruments } = ctx
  const base = sessionAttributes(state)
  const model = { model: info.modelID, provider: info.providerID }
  // The call's agent and active skill, once for all its signals (bounded: configured names).
  const attributed = attribution(state, info.agent, info.id)
  const usageAttributes = { ...base, ...model, ...attributed }
  const tokens = {
    input: info.tokens.input,
    output: info.tokens.output,
    reasoning: info.tokens.reasoning,
    cacheRead: info.tokens.cache.read,
    cacheCreation: info.tokens.cache.write,
  }
  const end = info.time.completed ?? Date.now()
  const duration = Math.max(0, end - info.time.created)

  // Tokens and cost are spent whether or not the call succeeded: they match opencode's own accounting.
  state.totals.input += tokens.input
  state.totals.output += tokens.output
  state.totals.reasoning += tokens.reasoning
  state.totals.cacheRead += tokens.cacheRead
  state.totals.cacheWrite += tokens.cacheCreation
  state.totals.cost += info.cost
  for (const [type, value] of Object.entries(tokens)) instruments.count("token.usage", value, { ...usageAttributes, type })
  instruments.count("cost.usage", info.cost, usageAttributes)
  if (tokens.cacheRead > 0) instruments.count("cache.count", 1, { ...base, type: "cacheRead" })
  if (tokens.cacheCreation > 0) instruments.count("cache.count", 1, { ...base, type: "cacheCreation" })
  recordGenAi(ctx, info, tokens, duration)

  const usage = {
    input_tokens: tokens.input,
    output_tokens: tokens.output,
    reasoning_tokens: tokens.reasoning,
    cache_read_tokens: tokens.cacheRead,
    cache_creation_tokens: tokens.cacheCreation,
    cost_usd: info.cost,
    duration_ms: duration,
  }
  // No model on these: dashboards count events that carry one as LLM calls (api_request/api_error already do);
  // message.id joins them to their call.
  emitReplyEvents(ctx, state, info, { "message.id": info.id }, usage, end)
  if (info.error !== undefined) {
    emitEvent(ctx, state, "api_error", { ...model, ...attributed, ...usage, ...errorAttributes(info.error), "message.id": info.id }, end)
    open?.span.setStatus({ code: SpanStatusCode.ERROR, message: info.error.name })
    open?.span.setAttribute("error.type", info.error.name)
  } else {
    state.totals.messages += 1
    instruments.count("message.count", 1, { ...base, ...model })
    instruments.count("model.usage", 1, { ...base, ...model })
    emitEvent(
      ctx,
      state,
      "api_request",
      { ...model, ...attributed, ...usage, ...(info.finish === undefined ? {} : { finish_reason: info.finish }), "message.id": info.id },
      end,
    )
  }
  if (open !== undefined) {
    open.span.setAttributes({
      "gen_ai.response.model": info.modelID,
      // The conventions' totals, as the GenAI metrics count them (genAiInput, genAiOutput).
      "gen_ai.usage.input_tokens": genAiInput(tokens),
      "gen_ai.usage.output_tokens": genAiOutput(tokens),
      "gen_ai.usage.reasoning.output_tokens": tokens.reasoning,
      "gen_ai.usage.cache_read.input_tokens": tokens.cacheRead,
      // Renamed cache_write in the latest conventions.
      [ctx.config.semconv.genAiLatest ? "gen_ai.usage.cache_write.input_tokens" : "gen_ai.usage.cache_creation.input_tokens"]: tokens.cacheCreation,
      cost_usd: info.cost,
      ...(info.finish === undefined ? {} : { "gen_ai.response.finish_reasons": [info.finish] }),
    })
    open.span.end(Math.max(end, info.time.created))
  }
}

interface Tokens {
  readonly input: number
  readonly output: number
  readonly reasoning: number
  readonly cacheRead: number
  readonly cacheCreation: number
}

/** The conventions' input: every input token, cached included; opencode's `input` excludes cache reads and writes. */
const genAiInput = (t: Tokens) => t.input + t.cacheRead + t.cacheCreation
/** The conventions' output: billable output, reasoning included; opencode's `output` excludes reasoning. */
const genAiOutput = (t: Tokens) => t.output + t.reasoning

/**
 * The GenAI conventions' client metrics for one LLM call; Instruments keeps the set OTEL_SEMCONV_STABILITY_OPT_IN
 * chose. The duration is the chat span's: from the message's creation to its completion.
 */
const recordGenAi = (ctx: HandlerContext, info: AssistantMessage, tokens: Tokens, durationMs: number) => {
  const { instruments } = ctx
  const call = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": info.providerID,
    "gen_ai.request.model": info.modelID,
    "gen_ai.response.model": info.modelID,
  }
  const failed = info.error === undefined ? call : { ...call, "error.type": info.error.name }
  const input = genAiInput(tokens)
  const output = genAiOutput(tokens)
  const seconds = durationMs / 1000
  instruments.genAi("gen_ai.client.token.usage", input, { ...call, "gen_ai.token.type": "input" })
  instruments.genAi("gen_ai.client.token.usage", output, { ...call, "gen_ai.token.type": "output" })
  instruments.genAi("gen_ai.client.operation.duration", seconds, failed)
  instruments.genAi("gen_ai.client.inference.duration", seconds, failed)
  instruments.genAi("gen_ai.client.inference.operation.input_tokens", input, failed)
  instruments.genAi("gen_ai.client.inference.operation.output_tokens", output, failed)
  const usage = { ...call, "gen_ai.token.modality": "unknown" }
  instruments.genAi("gen_ai.client.inference.usage.input_tokens", input, usage)
  instruments.genAi("gen_ai.client.inference.usage.output_tokens", output, usage)
  instruments.genAi("gen_ai.client.inference.usage.cache_read.input_tokens", tokens.cacheRead, usage)
  instruments.genAi("gen_ai.client.inference.usage.cache_write.input_tokens", tokens.cacheCreation, usage)
  instruments.genAi("gen_ai.client.inference.usage.reasoning.output_tokens", tokens.reasoning, usage)
}

/** How many unfinished messages' texts (and compaction requests) a session keeps: more are never open at once. */
const MAX_OPEN_MESSAGES = 16

const remember = <V>(map: Map<string, V>, key: string, value: V) => setBounded(map, key, value, MAX_OPEN_MESSAGES)

/**
 * A text part's final text (`time.end` set) is kept for its message's assistant_response. A user's prompt parts
 * have no time, and opencode's own synthetic parts (the "Continue if you have next steps" after a compaction) are
 * not the model's words: neither is kept.
 */
export const onTextPart = (ctx: HandlerContext, part: TextPart) => {
  if (part.time?.end === undefined || part.synthetic === true || part.text === "") return
  const state = sessionState(ctx, part.sessionID)
  if (state.countedMessages.has(part.messageID)) return
  const texts = state.responseText.get(part.messageID) ?? new Map<string, string | number>()
  texts.set(part.id, ctx.config.content.assistantResponses ? part.text : part.text.length)
  remember(state.responseText, part.messageID, texts)
}

/** The user message that asks for a compaction: its summary message answers it (parentID), manual or auto. */
export const onCompactionPart = (ctx: HandlerContext, part: CompactionPart) => {
  const state = sessionState(ctx, part.sessionID)
  remember(state.compactions, part.messageID, part.auto === true)
}

/** opencode's last attempt of a retried call can fail for good; an abort is the user's doing, not that. */
const ABORTED = "MessageAbortedError"

/**
 * What a finished assistant message says besides its usage: its text (assistant_response), the compaction it
 * was (compaction), the retries it spent before failing (api_retries_exhausted).
 */
const emitReplyEvents = (
  ctx: HandlerContext,
  state: SessionState,
  info: AssistantMessage,
  about: Record<string, string>,
  usage: Record<string, number>,
  end: number,
) => {
  const { config } = ctx
  const { instruments } = ctx
  const parts = [...(state.responseText.get(info.id)?.values() ?? [])]
  state.responseText.delete(info.id)
  // The parts' texts joined by newlines: its length, and the text itself only when the user opted in
  // (OPENCODE_LOG_ASSISTANT_RESPONSES; otherwise only lengths were kept).
  const length = parts.reduce<number>((n, p) => n + (typeof p === "number" ? p : p.length), Math.max(0, parts.length - 1))
  if (length > 0)
    emitEvent(
      ctx,
      state,
      "assistant_response",
      {
        ...about,
        response_length: length,
        ...(config.content.assistantResponses ? { response: truncateText(parts.filter((p) => typeof p === "string").join("\n"), CONTENT_LIMIT) } : {}),
      },
      end,
    )

  const tokens = info.tokens
  const context = tokens.input + tokens.output + tokens.reasoning + tokens.cache.read + tokens.cache.write
  if (info.summary === true || info.mode === "compaction") {
    const auto = info.parentID === undefined ? undefined : state.compactions.get(info.parentID)
    if (info.parentID !== undefined) state.compactions.delete(info.parentID)
    emitEvent(
      ctx,
      state,
      "compaction",
      {
        ...about,
        ...(auto === undefined ? {} : { trigger: auto ? "auto" : "manual" }),
        success: instruments.success(info.error === undefined),
        ...usage,
        // The context it summarised (the last call before it), and what replaces it: the summary.
        ...(state.contextTokens === undefined ? {} : { pre_tokens: state.contextTokens }),
        post_tokens: tokens.output,
        ...(info.error === undefined ? {} : { error: errorAttributes(info.error).error }),
      },
      end,
    )
    if (info.error === undefined) state.contextTokens = tokens.output
  } else if (context > 0) state.contextTokens = context

  // The retries opencode reported while this call ran end with it.
  const retried = state.retrying
  state.retrying = undefined
  if (retried !== undefined && info.error !== undefined && info.error.name !== ABORTED)
    emitEvent(
      ctx,
      state,
      "api_retries_exhausted",
      {
        ...about,
        ...errorAttributes(info.error),
        total_attempts: retried.attempts + 1,
        total_retry_duration_ms: Math.max(0, end - info.time.created),
      },
      end,
    )
}

const optional = (key: string, value: string | undefined) => (value === undefined ? {} : { [key]: value })

/** One CLIENT span per assistant message, under its prompt's interaction span. */
const startLlmSpan = (ctx: HandlerContext, state: SessionState, info: AssistantMessage) => {
  const { instruments } = ctx
  const turn = ensureTurn(ctx, state, info.time.created, info.agent)
  const span = instruments.startSpan("llm", spanName("llm", info.modelID), {
    kind: SpanKind.CLIENT,
    startTime: info.time.created,
    parent: turn,
    attributes: {
      ...sessionAttributes(state),
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": info.providerID,
      "gen_ai.request.model": info.modelID,
      "gen_ai.response.id": info.id,
      "gen_ai.conversation.id": state.id,
      "message.id": info.id,
      ...(info.agent === undefined ? {} : { "gen_ai.agent.name": info.agent }),
      ...(state.promptId === undefined ? {} : { "prompt.id": state.promptId }),
    },
  })
  if (span === undefined) return undefined
  const open = { span, name: spanName("llm", info.modelID), agent: info.agent, userMessageID: info.parentID }
  state.llmSpans.set(info.id, open)
  return open
}
