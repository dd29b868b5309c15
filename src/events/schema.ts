/**
 * Schemas of the opencode bus events and hook payloads the plugin reads, as opencode 1.18.33 really sends them
 * (SDK v2 shapes; see test/fixtures/README.md, recorded from the real CLI). Only the fields the plugin uses are
 * declared: extra fields are ignored; a missing or mistyped field makes the event fail to decode, and it is
 * skipped and counted, never cast.
 */
import { Option, Schema } from "effect"
import * as SchemaJITCompiler from "effect/schema/SchemaJITCompiler"

const Unknowns = Schema.Record(Schema.String, Schema.Unknown)

export const Tokens = Schema.Struct({
  input: Schema.Number,
  output: Schema.Number,
  reasoning: Schema.Number,
  cache: Schema.Struct({ read: Schema.Number, write: Schema.Number }),
})
export type Tokens = typeof Tokens.Type

export const SessionInfo = Schema.Struct({
  id: Schema.String,
  parentID: Schema.optional(Schema.String),
  title: Schema.optional(Schema.String),
  version: Schema.optional(Schema.String),
  agent: Schema.optional(Schema.String),
  /** Session totals (opencode's own accounting), when present. */
  cost: Schema.optional(Schema.Number),
  tokens: Schema.optional(Tokens),
  time: Schema.Struct({
    created: Schema.Number,
    updated: Schema.optional(Schema.Number),
  }),
})
export type SessionInfo = typeof SessionInfo.Type

/**
 * A provider or session error: `{name, data: {message?, statusCode?, ...}}`. Only these fields are decoded: an
 * APIError's data also holds the provider's `responseBody`, `responseHeaders` and `metadata.url`, never exported.
 */
export const ErrorInfo = Schema.Struct({
  name: Schema.String,
  data: Schema.optional(
    Schema.Struct({
      message: Schema.optional(Schema.String),
      statusCode: Schema.optional(Schema.Number),
      isRetryable: Schema.optional(Schema.Boolean),
    }),
  ),
})
export type ErrorInfo = typeof ErrorInfo.Type

export const UserMessage = Schema.Struct({
  id: Schema.String,
  sessionID: Schema.String,
  role: Schema.Literal("user"),
  time: Schema.Struct({ created: Schema.Number }),
  agent: Schema.optional(Schema.String),
  model: Schema.optional(Schema.Struct({ providerID: Schema.String, modelID: Schema.String })),
})
export type UserMessage = typeof UserMessage.Type

export const AssistantMessage = Schema.Struct({
  id: Schema.String,
  sessionID: Schema.String,
  role: Schema.Literal("assistant"),
  parentID: Schema.optional(Schema.String),
  modelID: Schema.String,
  providerID: Schema.String,
  agent: Schema.optional(Schema.String),
  mode: Schema.optional(Schema.String),
  /** True on a compaction's summary message (mode "compaction"). */
  summary: Schema.optional(Schema.Boolean),
  cost: Schema.Number,
  tokens: Tokens,
  finish: Schema.optional(Schema.String),
  error: Schema.optional(ErrorInfo),
  time: Schema.Struct({ created: Schema.Number, completed: Schema.optional(Schema.Number) }),
})
export type AssistantMessage = typeof AssistantMessage.Type

export const ToolState = Schema.Union([
  Schema.Struct({ status: Schema.Literal("pending"), input: Schema.optional(Unknowns) }),
  Schema.Struct({
    status: Schema.Literal("running"),
    input: Schema.optional(Unknowns),
    metadata: Schema.optional(Unknowns),
    time: Schema.Struct({ start: Schema.Number }),
  }),
  Schema.Struct({
    status: Schema.Literal("completed"),
    input: Schema.optional(Unknowns),
    output: Schema.String,
    metadata: Schema.optional(Unknowns),
    time: Schema.Struct({ start: Schema.Number, end: Schema.Number }),
  }),
  Schema.Struct({
    status: Schema.Literal("error"),
    input: Schema.optional(Unknowns),
    error: Schema.String,
    metadata: Schema.optional(Unknowns),
    time: Schema.Struct({ start: Schema.Number, end: Schema.Number }),
  }),
])
export type ToolState = typeof ToolState.Type

export const ToolPart = Schema.Struct({
  id: Schema.String,
  sessionID: Schema.String,
  messageID: Schema.String,
  type: Schema.Literal("tool"),
  callID: Schema.String,
  tool: Schema.String,
  state: ToolState,
})
export type ToolPart = typeof ToolPart.Type

/**
 * A text part. An assistant's is sent when it starts (empty) and when it ends (its whole text, `time.end` set);
 * the deltas between are message.part.delta events, not read.
 */
export const TextPart = Schema.Struct({
  id: Schema.String,
  sessionID: Schema.String,
  messageID: Schema.String,
  type: Schema.Literal("text"),
  text: Schema.String,
  synthetic: Schema.optional(Schema.Boolean),
  time: Schema.optional(Schema.Struct({ start: Schema.optional(Schema.Number), end: Schema.optional(Schema.Number) })),
})
export type TextPart = typeof TextPart.Type

/** The part of the user message that asks for a compaction: `auto` when opencode's context filled up. */
export const CompactionPart = Schema.Struct({
  sessionID: Schema.String,
  messageID: Schema.String,
  type: Schema.Literal("compaction"),
  auto: Schema.optional(Schema.Boolean),
})
export type CompactionPart = typeof CompactionPart.Type

/** Per-edit facts on completed `edit`-like tool parts. */
export const FileDiff = Schema.Struct({
  additions: Schema.Number,
  deletions: Schema.Number,
})

export const SessionCreated = Schema.Struct({
  type: Schema.Literal("session.created"),
  properties: Schema.Struct({ info: SessionInfo }),
})
export const SessionUpdated = Schema.Struct({
  type: Schema.Literal("session.updated"),
  properties: Schema.Struct({ info: SessionInfo }),
})
export const SessionDeleted = Schema.Struct({
  type: Schema.Literal("session.deleted"),
  properties: Schema.Struct({ info: SessionInfo }),
})
export const SessionIdle = Schema.Struct({
  type: Schema.Literal("session.idle"),
  properties: Schema.Struct({ sessionID: Schema.String }),
})
export const SessionError = Schema.Struct({
  type: Schema.Literal("session.error"),
  properties: Schema.Struct({ sessionID: Schema.optional(Schema.String), error: Schema.optional(ErrorInfo) }),
})
export const SessionStatus = Schema.Struct({
  type: Schema.Literal("session.status"),
  properties: Schema.Struct({
    sessionID: Schema.String,
    status: Schema.Union([
      Schema.Struct({ type: Schema.Literal("idle") }),
      Schema.Struct({ type: Schema.Literal("busy") }),
      Schema.Struct({
        type: Schema.Literal("retry"),
        attempt: Schema.Number,
        message: Schema.optional(Schema.String),
        next: Schema.optional(Schema.Number),
      }),
    ]),
  }),
})
export const SessionDiff = Schema.Struct({
  type: Schema.Literal("session.diff"),
  properties: Schema.Struct({ sessionID: Schema.String, diff: Schema.Array(FileDiff) }),
})
export const MessageUpdated = Schema.Struct({
  type: Schema.Literal("message.updated"),
  properties: Schema.Struct({ info: Schema.Union([UserMessage, AssistantMessage]) }),
})
export const MessagePartUpdated = Schema.Struct({
  type: Schema.Literal("message.part.updated"),
  properties: Schema.Struct({ part: Schema.Union([ToolPart, TextPart, CompactionPart]) }),
})
export const PermissionAsked = Schema.Struct({
  type: Schema.Literal("permission.asked"),
  properties: Schema.Struct({
    id: Schema.String,
    sessionID: Schema.String,
    permission: Schema.String,
    metadata: Schema.optional(Schema.Struct({ filepath: Schema.optional(Schema.String) })),
    tool: Schema.optional(Schema.Struct({ messageID: Schema.String, callID: Schema.String })),
  }),
})
export const PermissionReplied = Schema.Struct({
  type: Schema.Literal("permission.replied"),
  properties: Schema.Struct({
    sessionID: Schema.String,
    requestID: Schema.String,
    reply: Schema.Literals(["once", "always", "reject"]),
  }),
})

/** The schema of every event type the plugin reads. */
export const EVENTS = {
  "session.created": SessionCreated,
  "session.updated": SessionUpdated,
  "session.deleted": SessionDeleted,
  "session.idle": SessionIdle,
  "session.error": SessionError,
  "session.status": SessionStatus,
  "session.diff": SessionDiff,
  "message.updated": MessageUpdated,
  "message.part.updated": MessagePartUpdated,
  "permission.asked": PermissionAsked,
  "permission.replied": PermissionReplied,
} as const
export type HandledType = keyof typeof EVENTS

/** Every event the plugin reads. */
export const HandledEvent = Schema.Union(Object.values(EVENTS))
export type HandledEvent = typeof HandledEvent.Type

/**
 * A synchronous decoder of a schema read on the per-event path, compiled to JavaScript by Effect's Schema JIT
 * compiler (the same decoding, about a third cheaper once warm; where `new Function` is blocked it interprets).
 */
export const eventDecoder = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S): ((u: unknown) => Option.Option<S["Type"]>) => {
  SchemaJITCompiler.enable(schema.ast)
  return Schema.decodeUnknownOption(schema)
}

/** Event types worth decoding; everything else (dozens of plugin.added, deltas, ...) costs one lookup. */
export const isHandledType = (type: string): type is HandledType => Object.hasOwn(EVENTS, type)

/** The message parts read: tools, text and compaction requests. */
const READ_PARTS: ReadonlySet<unknown> = new Set(["tool", "text", "compaction"])

/**
 * Events that change nothing, skipped before decoding: a session.status `idle` (session.idle is the one read) and
 * a session.diff with no files (opencode sends one after each step; only a revert's is non-empty).
 */
export const isNoOpEvent = (type: HandledType, event: unknown): boolean => {
  if (type !== "session.status" && type !== "session.diff") return false
  const properties = propertiesOf(event)
  if (properties === undefined) return false
  if (type === "session.diff") return "diff" in properties && Array.isArray(properties.diff) && properties.diff.length === 0
  if (!("status" in properties)) return false
  const status = properties.status
  return typeof status === "object" && status !== null && "type" in status && status.type === "idle"
}

/** An event's `properties` object, read without decoding (for the filters above and below). */
const propertiesOf = (event: unknown): object | undefined => {
  if (typeof event !== "object" || event === null || !("properties" in event)) return undefined
  const properties = event.properties
  return typeof properties === "object" && properties !== null ? properties : undefined
}

/** Step, patch, reasoning and other parts are skipped before decoding. */
export const isIgnoredPart = (event: unknown): boolean => {
  const properties = propertiesOf(event)
  if (properties === undefined || !("part" in properties)) return false
  const part = properties.part
  return typeof part === "object" && part !== null && "type" in part && !READ_PARTS.has(part.type)
}

/** The `chat.message` hook's payload: the user's message and its parts. */
export const ChatMessageInput = Schema.Struct({ sessionID: Schema.String })
export const ChatMessageOutput = Schema.Struct({
  message: Schema.Struct({
    id: Schema.optional(Schema.String),
    agent: Schema.optional(Schema.String),
    model: Schema.optional(Schema.Struct({ providerID: Schema.String, modelID: Schema.String })),
  }),
  parts: Schema.Array(Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) })),
})

/** Bash tool metadata (on the completed part and in `tool.execute.after`). */
export const BashMetadata = Schema.Struct({ exit: Schema.optional(Schema.NullOr(Schema.Number)), output: Schema.optional(Schema.String) })
export const BashInput = Schema.Struct({ command: Schema.String })
export const WriteInput = Schema.Struct({ content: Schema.String })
export const WriteMetadata = Schema.Struct({ exists: Schema.optional(Schema.Boolean), filediff: Schema.optional(FileDiff) })
export const EditMetadata = Schema.Struct({ filediff: FileDiff })

/**
 * The `chat.headers` hook's input: only the ids it is matched by. `provider` also carries its options (the API
 * key among them); the schema names `id` alone, so nothing else of it is decoded or kept.
 */
export const ChatHeadersInput = Schema.Struct({
  sessionID: Schema.String,
  agent: Schema.optional(Schema.String),
  provider: Schema.Struct({ id: Schema.String }),
  message: Schema.optional(Schema.Struct({ id: Schema.optional(Schema.String) })),
})
