/**
 * Session lifecycle handlers: session.count, the session.created log event and the session span.
 */
import { SpanStatusCode } from "@opentelemetry/api"
import { Effect, Option } from "effect"
import type { SessionInfo } from "../events/schema.ts"
import { Instruments } from "../services/Instruments.ts"
import { SessionStore } from "../services/SessionStore.ts"

export const onSessionCreated = Effect.fn("handlers.onSessionCreated")(function* (info: SessionInfo) {
  const store = yield* SessionStore
  const instruments = yield* Instruments
  // session.created can be re-sent; a session is counted once.
  const { state, created } = yield* store.getOrCreate(info.id, () => ({
    id: info.id,
    parentID: info.parentID,
    createdAt: info.time.created,
    span: undefined,
    sequence: 0,
  }))
  if (!created) return
  const attributes = { "session.id": info.id, ...(info.parentID === undefined ? {} : { "session.parent_id": info.parentID }) }
  yield* instruments.count("session.count", 1, attributes)
  yield* instruments.event(
    "session.created",
    { ...attributes, "event.sequence": yield* store.nextSequence(info.id) },
    info.time.created,
  )
  state.span = yield* instruments.startSpan("session", "opencode.session", {
    startTime: info.time.created,
    attributes: { ...attributes, ...(info.title === undefined ? {} : { "session.title_length": info.title.length }) },
  })
})

/** Ends the session span at the end of the session's first turn; later turns are handled by later work. */
export const onSessionIdle = Effect.fn("handlers.onSessionIdle")(function* (sessionID: string) {
  const store = yield* SessionStore
  const state = yield* store.get(sessionID)
  if (Option.isNone(state) || state.value.span === undefined) return
  state.value.span.setStatus({ code: SpanStatusCode.OK })
  state.value.span.end()
  state.value.span = undefined
})

export const onSessionDeleted = Effect.fn("handlers.onSessionDeleted")(function* (info: SessionInfo) {
  const store = yield* SessionStore
  const state = yield* store.remove(info.id)
  if (Option.isSome(state)) state.value.span?.end()
})
