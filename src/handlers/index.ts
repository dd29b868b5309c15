/**
 * The event router: decodes an opencode bus event with Schema and runs its handler. Events of types the plugin
 * does not read cost one set lookup; events of a read type with an unexpected shape are skipped and counted
 * (`skippedEvents`), never cast.
 */
import { Effect, Option, Schema } from "effect"
import { ChatHeadersInput, ChatMessageInput, ChatMessageOutput, EVENTS, isHandledType, isIgnoredPart, type HandledEvent, type HandledType } from "../events/schema.ts"
import { onAssistantMessage, onChatMessage, onCompactionPart, onTextPart, onUserMessage } from "./message.ts"
import { onPermissionAsked, onPermissionReplied } from "./permission.ts"
import {
  onSessionCreated,
  onSessionDeleted,
  onSessionDiff,
  onSessionError,
  onSessionIdle,
  onSessionStatus,
  onSessionUpdated,
} from "./session.ts"
import { onToolBefore, onToolPart, toolTraceContext } from "./tool.ts"
import { propagatesTo, requestTraceContext } from "./propagation.ts"
import { SessionStore } from "../services/SessionStore.ts"

export { endAllSessions, sweepSessions } from "./session.ts"

/**
 * One decoder per event type, picked by the type already read: the event is decoded against its own schema
 * only, synchronously (no fiber per decode). This runs for nearly every event opencode publishes.
 */
const decoders: { readonly [K in HandledType]: (u: unknown) => Option.Option<Extract<HandledEvent, { type: K }>> } = {
  "session.created": Schema.decodeUnknownOption(EVENTS["session.created"]),
  "session.updated": Schema.decodeUnknownOption(EVENTS["session.updated"]),
  "session.deleted": Schema.decodeUnknownOption(EVENTS["session.deleted"]),
  "session.idle": Schema.decodeUnknownOption(EVENTS["session.idle"]),
  "session.error": Schema.decodeUnknownOption(EVENTS["session.error"]),
  "session.status": Schema.decodeUnknownOption(EVENTS["session.status"]),
  "session.diff": Schema.decodeUnknownOption(EVENTS["session.diff"]),
  "message.updated": Schema.decodeUnknownOption(EVENTS["message.updated"]),
  "message.part.updated": Schema.decodeUnknownOption(EVENTS["message.part.updated"]),
  "permission.asked": Schema.decodeUnknownOption(EVENTS["permission.asked"]),
  "permission.replied": Schema.decodeUnknownOption(EVENTS["permission.replied"]),
}
const decodeEvent = (type: HandledType, event: unknown): Option.Option<HandledEvent> => decoders[type](event)
const decodeChatInput = Schema.decodeUnknownEffect(ChatMessageInput)
const decodeChatOutput = Schema.decodeUnknownEffect(ChatMessageOutput)

const skip = Effect.fnUntraced(function* (type: string) {
  const count = yield* (yield* SessionStore).recordSkipped(type)
  // The first of each type is worth a line in opencode's log; the rest are counted.
  if (count === 1) yield* Effect.logWarning(`Skipped a ${type} event with an unexpected shape; further ones are counted silently`)
})

const eventType = (event: unknown): string | undefined => {
  try {
    return typeof event === "object" && event !== null && "type" in event && typeof event.type === "string" ? event.type : undefined
  } catch {
    return undefined // a throwing getter or Proxy
  }
}

/** The type of an event the plugin reads, or undefined for every other event (checked without decoding). */
export const readType = (event: unknown): HandledType | undefined => {
  const type = eventType(event)
  if (type === undefined || !isHandledType(type)) return undefined
  return type === "message.part.updated" && isIgnoredPart(event) ? undefined : type
}

/**
 * Decodes one bus event and runs its handler. `type`: the event's type when the caller has read it already
 * (`readType`, as the runtime does to skip unread events without queueing them), so that it is read once.
 */
export const handleEvent = Effect.fnUntraced(function* (event: unknown, type: HandledType | undefined = readType(event)) {
  if (type === undefined) return
  const decoded = decodeEvent(type, event)
  if (decoded._tag === "None") return yield* skip(type)
  const e = decoded.value
  switch (e.type) {
    case "session.created":
      return yield* onSessionCreated(e.properties.info)
    case "session.updated":
      return yield* onSessionUpdated(e.properties.info)
    case "session.deleted":
      return yield* onSessionDeleted(e.properties.info)
    case "session.idle":
      return yield* onSessionIdle(e.properties.sessionID)
    case "session.error":
      return yield* onSessionError(e.properties.sessionID, e.properties.error)
    case "session.status":
      return yield* onSessionStatus(e.properties.sessionID, e.properties.status)
    case "session.diff":
      return yield* onSessionDiff(e.properties.sessionID, e.properties.diff)
    case "message.updated":
      return e.properties.info.role === "user" ? yield* onUserMessage(e.properties.info) : yield* onAssistantMessage(e.properties.info)
    case "message.part.updated": {
      const part = e.properties.part
      return part.type === "tool" ? yield* onToolPart(part) : part.type === "text" ? yield* onTextPart(part) : yield* onCompactionPart(part)
    }
    case "permission.asked":
      return yield* onPermissionAsked(e.properties)
    case "permission.replied":
      return yield* onPermissionReplied(e.properties)
  }
})

const decodeShellEnvInput = Schema.decodeUnknownEffect(Schema.Struct({ sessionID: Schema.String, callID: Schema.String }))

/** The `shell.env` hook: the trace context the bash tool's processes should carry, if its span is open. */
export const handleShellEnv = Effect.fnUntraced(function* (input: unknown) {
  const decoded = yield* decodeShellEnvInput(input).pipe(Effect.option)
  if (decoded._tag === "None") return undefined
  return yield* toolTraceContext(decoded.value.sessionID, decoded.value.callID)
})

const decodeToolBeforeInput = Schema.decodeUnknownEffect(Schema.Struct({ tool: Schema.String, sessionID: Schema.String, callID: Schema.String }))
const decodeToolBeforeOutput = Schema.decodeUnknownEffect(Schema.Struct({ args: Schema.Unknown }))

/** The `tool.execute.before` hook: a tool is about to run (a write's target is read to count its lines). */
export const handleToolBefore = Effect.fnUntraced(function* (input: unknown, output: unknown, directory: string) {
  const i = yield* decodeToolBeforeInput(input).pipe(Effect.option)
  const o = yield* decodeToolBeforeOutput(output).pipe(Effect.option)
  if (i._tag === "None" || o._tag === "None") return yield* skip("tool.execute.before")
  yield* onToolBefore(i.value.sessionID, i.value.callID, i.value.tool, o.value.args, directory)
})

/** The `chat.message` hook: a prompt was submitted. */
export const handleChatMessage = Effect.fnUntraced(function* (input: unknown, output: unknown) {
  const i = yield* decodeChatInput(input).pipe(Effect.option)
  const o = yield* decodeChatOutput(output).pipe(Effect.option)
  if (i._tag === "None" || o._tag === "None") return yield* skip("chat.message")
  yield* onChatMessage(i.value.sessionID, o.value.message, o.value.parts)
})

const decodeChatHeadersInput = Schema.decodeUnknownEffect(ChatHeadersInput)
const chatHeadersOption = Schema.decodeUnknownOption(ChatHeadersInput)

/**
 * Whether a `chat.headers` call is for a listed provider: decided synchronously, so that a request to any other
 * provider never waits for the plugin's queue.
 */
export const wantsTraceContext = (input: unknown, listed: ReadonlySet<string> | "*"): boolean => {
  const decoded = chatHeadersOption(input)
  return decoded._tag === "Some" && propagatesTo(listed, decoded.value.provider.id)
}

/** The `chat.headers` hook: the trace context a model request should carry, if its provider is listed. */
export const handleChatHeaders = Effect.fnUntraced(function* (input: unknown) {
  const decoded = yield* decodeChatHeadersInput(input).pipe(Effect.option)
  if (decoded._tag === "None") return undefined
  const { sessionID, agent, provider, message } = decoded.value
  return yield* requestTraceContext({ sessionID, providerID: provider.id, agent, userMessageID: message?.id })
})
