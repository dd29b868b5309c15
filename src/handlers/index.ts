/**
 * The event router: decodes an opencode bus event with Schema and runs its handler. Events of types the plugin
 * does not read cost one set lookup; events of a read type with an unexpected shape are skipped and counted
 * (`skippedEvents`), never cast.
 *
 * Each hook has two forms: a plain function of the handler context (`dispatchEvent`, ...), which the plugin's
 * runtime calls for every event, and an Effect (`handleEvent`, ...) for programs that embed the layers.
 */
import { Effect, Option, Schema } from "effect"
import {
  ChatHeadersInput,
  ChatMessageInput,
  ChatMessageOutput,
  EVENTS,
  eventDecoder,
  isHandledType,
  isIgnoredPart,
  isNoOpEvent,
  type HandledEvent,
  type HandledType,
} from "../events/schema.ts"
import { onAssistantMessage, onChatMessage, onCompactionPart, onTextPart, onUserMessage } from "./message.ts"
import { onPermissionAsked, onPermissionReplied } from "./permission.ts"
import {
  endAllSessions as endAll,
  onSessionCreated,
  onSessionDeleted,
  onSessionDiff,
  onSessionError,
  onSessionIdle,
  onSessionStatus,
  onSessionUpdated,
  sweepSessions as sweep,
} from "./session.ts"
import { onToolBefore, onToolPart, toolTraceContext } from "./tool.ts"
import { propagatesTo, requestTraceContext } from "./propagation.ts"
import { handlerContext, type Handled, type HandlerContext } from "./context.ts"

export { endAll, handlerContext, sweep, type Handled, type HandlerContext }

/**
 * One decoder per event type, picked by the type already read: the event is decoded against its own schema
 * only, synchronously (no fiber per decode), compiled. This runs for nearly every event opencode publishes.
 */
const decoders: { readonly [K in HandledType]: (u: unknown) => Option.Option<Extract<HandledEvent, { type: K }>> } = {
  "session.created": eventDecoder(EVENTS["session.created"]),
  "session.updated": eventDecoder(EVENTS["session.updated"]),
  "session.deleted": eventDecoder(EVENTS["session.deleted"]),
  "session.idle": eventDecoder(EVENTS["session.idle"]),
  "session.error": eventDecoder(EVENTS["session.error"]),
  "session.status": eventDecoder(EVENTS["session.status"]),
  "session.diff": eventDecoder(EVENTS["session.diff"]),
  "message.updated": eventDecoder(EVENTS["message.updated"]),
  "message.part.updated": eventDecoder(EVENTS["message.part.updated"]),
  "permission.asked": eventDecoder(EVENTS["permission.asked"]),
  "permission.replied": eventDecoder(EVENTS["permission.replied"]),
}
const decodeEvent = (type: HandledType, event: unknown): Option.Option<HandledEvent> => decoders[type](event)

const skip = (ctx: HandlerContext, type: string) => {
  // The first of each type is worth a line in opencode's log; the rest are counted.
  if (ctx.sessions.recordSkipped(type) === 1) ctx.warn(`Skipped a ${type} event with an unexpected shape; further ones are counted silently`)
}

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
  try {
    if (type === "message.part.updated") return isIgnoredPart(event) ? undefined : type
    return isNoOpEvent(type, event) ? undefined : type
  } catch {
    return type // a throwing getter: decoding will fail, and say so
  }
}

/**
 * Decodes one bus event and runs its handler. `type`: the event's type when the caller has read it already
 * (`readType`, as the runtime does to skip unread events without queueing them), so that it is read once.
 */
export const dispatchEvent = (ctx: HandlerContext, event: unknown, type: HandledType | undefined = readType(event)): Handled => {
  if (type === undefined) return
  const decoded = decodeEvent(type, event)
  if (decoded._tag === "None") return skip(ctx, type)
  const e = decoded.value
  switch (e.type) {
    case "session.created":
      return onSessionCreated(ctx, e.properties.info)
    case "session.updated":
      return onSessionUpdated(ctx, e.properties.info)
    case "session.deleted":
      return onSessionDeleted(ctx, e.properties.info)
    case "session.idle":
      return onSessionIdle(ctx, e.properties.sessionID)
    case "session.error":
      return onSessionError(ctx, e.properties.sessionID, e.properties.error)
    case "session.status":
      return onSessionStatus(ctx, e.properties.sessionID, e.properties.status)
    case "session.diff":
      return onSessionDiff(ctx, e.properties.sessionID, e.properties.diff)
    case "message.updated":
      return e.properties.info.role === "user" ? onUserMessage(ctx, e.properties.info) : onAssistantMessage(ctx, e.properties.info)
    case "message.part.updated": {
      const part = e.properties.part
      return part.type === "tool" ? onToolPart(ctx, part) : part.type === "text" ? onTextPart(ctx, part) : onCompactionPart(ctx, part)
    }
    case "permission.asked":
      return onPermissionAsked(ctx, e.properties)
    case "permission.replied":
      return onPermissionReplied(ctx, e.properties)
  }
}

const shellEnvInput = Schema.decodeUnknownOption(Schema.Struct({ sessionID: Schema.String, callID: Schema.String }))

/** The `shell.env` hook: the trace context the bash tool's processes should carry, if its span is open. */
export const shellEnvContext = (ctx: HandlerContext, input: unknown) => {
  const decoded = shellEnvInput(input)
  return decoded._tag === "None" ? undefined : toolTraceContext(ctx, decoded.value.sessionID, decoded.value.callID)
}

const toolBeforeInput = Schema.decodeUnknownOption(Schema.Struct({ tool: Schema.String, sessionID: Schema.String, callID: Schema.String }))
const toolBeforeOutput = Schema.decodeUnknownOption(Schema.Struct({ args: Schema.Unknown }))

/** The `tool.execute.before` hook: a tool is about to run (a write's target is read to count its lines). */
export const toolBefore = (ctx: HandlerContext, input: unknown, output: unknown, directory: string): Handled => {
  const i = toolBeforeInput(input)
  const o = toolBeforeOutput(output)
  if (i._tag === "None" || o._tag === "None") return skip(ctx, "tool.execute.before")
  return onToolBefore(ctx, i.value.sessionID, i.value.callID, i.value.tool, o.value.args, directory)
}

const chatMessageInput = eventDecoder(ChatMessageInput)
const chatMessageOutput = eventDecoder(ChatMessageOutput)

/** The `chat.message` hook: a prompt was submitted. */
export const chatMessage = (ctx: HandlerContext, input: unknown, output: unknown): Handled => {
  const i = chatMessageInput(input)
  const o = chatMessageOutput(output)
  if (i._tag === "None" || o._tag === "None") return skip(ctx, "chat.message")
  return onChatMessage(ctx, i.value.sessionID, o.value.message, o.value.parts)
}

const chatHeadersInput = eventDecoder(ChatHeadersInput)

/**
 * Whether a `chat.headers` call is for a listed provider: decided synchronously, so that a request to any other
 * provider never waits for the plugin's queue.
 */
export const wantsTraceContext = (input: unknown, listed: ReadonlySet<string> | "*"): boolean => {
  const decoded = chatHeadersInput(input)
  return decoded._tag === "Some" && propagatesTo(listed, decoded.value.provider.id)
}

/** The `chat.headers` hook: the trace context a model request should carry, if its provider is listed. */
export const chatHeadersContext = (ctx: HandlerContext, input: unknown) => {
  const decoded = chatHeadersInput(input)
  if (decoded._tag === "None") return undefined
  const { sessionID, agent, provider, message } = decoded.value
  return requestTraceContext(ctx, { sessionID, providerID: provider.id, agent, userMessageID: message?.id })
}

// ---- the same hooks as effects, for programs that embed the layers ----

/** Runs a handler with the context of the services in scope, waiting for its promise if it returns one. */
const handled = (run: (ctx: HandlerContext) => Handled) =>
  Effect.gen(function* () {
    const result = run(yield* handlerContext)
    if (result !== undefined) yield* Effect.promise(() => result)
  })

/** `dispatchEvent` as an effect. */
export const handleEvent = (event: unknown, type?: HandledType) => handled((ctx) => dispatchEvent(ctx, event, type))
/** `toolBefore` as an effect. */
export const handleToolBefore = (input: unknown, output: unknown, directory: string) => handled((ctx) => toolBefore(ctx, input, output, directory))
/** `chatMessage` as an effect. */
export const handleChatMessage = (input: unknown, output: unknown) => handled((ctx) => chatMessage(ctx, input, output))
/** `shellEnvContext` as an effect. */
export const handleShellEnv = (input: unknown) => Effect.map(handlerContext, (ctx) => shellEnvContext(ctx, input))
/** `chatHeadersContext` as an effect. */
export const handleChatHeaders = (input: unknown) => Effect.map(handlerContext, (ctx) => chatHeadersContext(ctx, input))
/** Ends every session, recording each one's end (at shutdown). */
export const endAllSessions = () => Effect.map(handlerContext, endAll)
/** Ends the sessions untouched for `idleMs` (their state is released). */
export const sweepSessions = (idleMs: number) => Effect.map(handlerContext, (ctx) => sweep(ctx, idleMs))
