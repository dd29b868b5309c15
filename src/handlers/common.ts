/**
 * What every handler shares: finding a session's state, the attributes every signal carries, log events with
 * their per-session sequence and prompt.id, and recording a session's end exactly once.
 */
import { SpanStatusCode, type Attributes } from "@opentelemetry/api"
import { Effect, Option } from "effect"
import { Instruments, type EventName } from "../services/Instruments.ts"
import { endOpenSpans, newSessionState, SessionStore, type SessionState } from "../services/SessionStore.ts"

/** Attributes every signal of a session carries (metrics may strip them through the exclusion list). */
export const sessionAttributes = (state: SessionState): Attributes => ({ "session.id": state.id })

/**
 * The state of a session, created on first sight when opencode did not announce it in this process
 * (`opencode run --continue`, or a plugin loaded mid-session). Sessions pushed out of the bounded store end here.
 */
export const sessionState = Effect.fn("handlers.sessionState")(function* (sessionID: string, createdAt?: number) {
  const store = yield* SessionStore
  const { state, evicted } = yield* store.getOrCreate(sessionID, () =>
    newSessionState(sessionID, { createdAt: createdAt ?? Date.now(), seenCreated: false }),
  )
  for (const old of evicted) yield* endSession(old, Date.now())
  return state
})

export const existingSession = Effect.fn("handlers.existingSession")(function* (sessionID: string) {
  const store = yield* SessionStore
  return Option.getOrUndefined(yield* store.get(sessionID))
})

/** A log event of a session: session.id, event.sequence and prompt.id are added. */
export const emitEvent = Effect.fn("handlers.emitEvent")(function* (
  state: SessionState,
  name: EventName,
  attributes: Attributes,
  timestamp?: number,
) {
  const instruments = yield* Instruments
  state.sequence += 1
  yield* instruments.event(
    name,
    {
      ...sessionAttributes(state),
      "event.sequence": state.sequence,
      ...(state.promptId === undefined ? {} : { "prompt.id": state.promptId }),
      ...attributes,
    },
    timestamp,
  )
})

/** Total tokens of a session: opencode's own figure when reported, else what this process counted. */
export const sessionTotals = (state: SessionState) => {
  const counted = state.totals
  const reported = state.reported
  const tokens = reported?.tokens ?? counted
  return {
    input: tokens.input,
    output: tokens.output,
    reasoning: tokens.reasoning,
    cacheRead: tokens.cacheRead,
    cacheWrite: tokens.cacheWrite,
    total: tokens.input + tokens.output + tokens.reasoning + tokens.cacheRead + tokens.cacheWrite,
    cost: reported?.cost ?? counted.cost,
    messages: counted.messages,
  }
}

/**
 * Records a session's end once: session.duration (created -> last idle), session.token.total and
 * session.cost.total, then ends every span still open. Called on deletion, eviction and shutdown.
 */
export const endSession = Effect.fn("handlers.endSession")(function* (state: SessionState, now: number) {
  if (state.ended) return
  state.ended = true
  const instruments = yield* Instruments
  const attributes = sessionAttributes(state)
  const endTime = state.lastIdleAt ?? now
  // Duration and totals belong to the process that saw the session begin; a continued session's earlier turns
  // were recorded by the process that ran them.
  if (state.seenCreated) {
    const totals = sessionTotals(state)
    yield* instruments.record("session.duration", Math.max(0, endTime - state.createdAt), attributes)
    yield* instruments.record("session.token.total", totals.total, attributes)
    yield* instruments.record("session.cost.total", totals.cost, attributes)
  }
  for (const open of [...state.toolSpans.values(), ...state.llmSpans.values()])
    open.span.setStatus({ code: SpanStatusCode.ERROR, message: "not finished when the session ended" })
  state.span?.setStatus(state.errored ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.OK })
  endOpenSpans(state, Math.max(endTime, state.createdAt))
})
