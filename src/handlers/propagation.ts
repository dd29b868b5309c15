/**
 * Trace context into model requests (opencode's `chat.headers` hook, called before each request, also for the
 * title agent and on every retry): a listed provider's request carries the traceparent of a span that is
 * exported, so an LLM gateway nests its own spans under it. Only ids leave the machine.
 */
import type { Span } from "@opentelemetry/api"
import type { HandlerContext } from "./context.ts"
import { existingSession, isExported, traceContextOf } from "./common.ts"

/** Whether requests to this provider carry trace context (OPENCODE_TRACE_PROPAGATION_PROVIDERS). */
export const propagatesTo = (listed: ReadonlySet<string> | "*", providerID: string): boolean => listed === "*" || listed.has(providerID)

/**
 * The context for one request. opencode sends the assistant message's `message.updated` (which opens its `chat`
 * span) before that request's chat.headers; the request names the session, the agent and the user message the
 * call answers, so the open chat span with that agent and user message is the call's (a retry finds the same one).
 * A request with no chat span (the title agent's, or llm traces off) gets its turn's span: the request belongs to
 * that turn, and the span is exported. With neither, no header: never the id of a span that will not arrive.
 */
export const requestTraceContext = (ctx: HandlerContext, request: {
  readonly sessionID: string
  readonly providerID: string
  readonly agent?: string | undefined
  readonly userMessageID?: string | undefined
}): { readonly traceparent: string; readonly tracestate?: string } | undefined => {
  if (!propagatesTo(ctx.config.traces.propagationProviders, request.providerID)) return undefined
  const state = existingSession(ctx, request.sessionID)
  if (state === undefined) return undefined
  // The latest open call of that agent answering that user message (calls of a session run one after another).
  let call: Span | undefined
  for (const open of state.llmSpans.values())
    if (open.agent === request.agent && (request.userMessageID === undefined || open.userMessageID === undefined || open.userMessageID === request.userMessageID))
      call = open.span
  const span = call ?? state.turn
  return span !== undefined && isExported(span) ? traceContextOf(span) : undefined
}
