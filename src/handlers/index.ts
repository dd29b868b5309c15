/**
 * The event router: decodes an opencode bus event with Schema and runs its handler. Events of types the
 * plugin does not read cost one set lookup; events of a read type with an unexpected shape are skipped and
 * reported at debug level, never cast.
 */
import { Effect, Schema } from "effect"
import { HANDLED_TYPES, HandledEvent } from "../events/schema.ts"
import { onSessionCreated, onSessionDeleted, onSessionIdle } from "./session.ts"

const decodeEvent = Schema.decodeUnknownEffect(HandledEvent)

export const eventType = (event: unknown): string | undefined =>
  typeof event === "object" && event !== null && "type" in event && typeof event.type === "string" ? event.type : undefined

export const handleEvent = Effect.fn("handlers.handleEvent")(function* (event: unknown) {
  const type = eventType(event)
  if (type === undefined || !HANDLED_TYPES.has(type)) return
  const decoded = yield* decodeEvent(event).pipe(Effect.option)
  if (decoded._tag === "None") {
    yield* Effect.logDebug(`Skipped a ${type} event with an unexpected shape`)
    return
  }
  const e = decoded.value
  switch (e.type) {
    case "session.created":
      return yield* onSessionCreated(e.properties.info)
    case "session.idle":
      return yield* onSessionIdle(e.properties.sessionID)
    case "session.deleted":
      return yield* onSessionDeleted(e.properties.info)
  }
})
