/**
 * Schemas of the opencode bus events the plugin reads, as opencode 1.18.33 really sends them
 * (SDK v2 shapes; see ../shared/opencode-facts.md). Only the fields the plugin uses are declared:
 * extra fields are ignored, missing or mistyped ones make the event fail to decode, and it is skipped.
 */
import { Schema } from "effect"

export const SessionInfo = Schema.Struct({
  id: Schema.String,
  parentID: Schema.optional(Schema.String),
  projectID: Schema.optional(Schema.String),
  directory: Schema.optional(Schema.String),
  title: Schema.optional(Schema.String),
  version: Schema.optional(Schema.String),
  time: Schema.Struct({
    created: Schema.Number,
    updated: Schema.optional(Schema.Number),
  }),
})
export type SessionInfo = typeof SessionInfo.Type

export const SessionCreated = Schema.Struct({
  type: Schema.Literal("session.created"),
  properties: Schema.Struct({
    sessionID: Schema.optional(Schema.String),
    info: SessionInfo,
  }),
})

export const SessionIdle = Schema.Struct({
  type: Schema.Literal("session.idle"),
  properties: Schema.Struct({ sessionID: Schema.String }),
})

export const SessionDeleted = Schema.Struct({
  type: Schema.Literal("session.deleted"),
  properties: Schema.Struct({
    sessionID: Schema.optional(Schema.String),
    info: SessionInfo,
  }),
})

/** The events handled so far, keyed by type, so an event of another type costs one lookup. */
export const HandledEvent = Schema.Union([SessionCreated, SessionIdle, SessionDeleted])
export type HandledEvent = typeof HandledEvent.Type

export const HANDLED_TYPES: ReadonlySet<string> = new Set(["session.created", "session.idle", "session.deleted"])
