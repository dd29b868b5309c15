/**
 * SessionStore: what the plugin remembers about each opencode session between events.
 *
 * Bounded: at most `maxSessions` sessions are kept; the least recently touched is evicted first and its
 * open spans are ended, so neither memory nor spans leak however many sessions a long-lived opencode sees.
 */
import type { Span } from "@opentelemetry/api"
import { Context, Effect, Layer, Option } from "effect"

export interface OpenSpan {
  readonly span: Span
  readonly name: string
}

export interface TokenTotals {
  input: number
  output: number
  reasoning: number
  cacheRead: number
  cacheWrite: number
}

export interface SessionState {
  readonly id: string
  parentID: string | undefined
  /** Epoch ms at which opencode created the session (or the plugin first saw it). */
  createdAt: number
  /** True when this process saw session.created (so session.count and the session span belong here). */
  seenCreated: boolean
  /** opencode's version, as the session reports it. */
  version: string | undefined
  /**
   * The current turn's root span (`invoke_agent <agent>`), from its prompt (a subagent: its session's start) to its
   * session.idle. No span outlives its turn: a session open for days gives one complete trace per turn.
   */
  turn: Span | undefined
  /** A subagent session's turns nest under the parent's `task` tool call that spawned it. */
  turnParent: Span | undefined
  /**
   * Assistant message ids and tool callIDs whose spans the end of their turn cut short (opencode may report an
   * errored call after session.idle): their late completion is counted, but starts no span, and no new turn.
   */
  readonly cutShort: Set<string>
  /** Spans of permission waits (`tool.blocked_on_user`) by permission request id. */
  readonly blocked: Map<string, Span>
  /** Per-session counter for event.sequence on log events. */
  sequence: number
  /** prompt.id of the prompt being processed: links every event of one user prompt. */
  promptId: string | undefined
  /** Model and agent of the latest user message. */
  model: { readonly modelID: string; readonly providerID: string } | undefined
  agent: string | undefined
  /** Epoch ms of the latest session.idle. */
  lastIdleAt: number | undefined
  /** Totals accumulated from completed assistant messages seen by this process. */
  readonly totals: TokenTotals & { cost: number; messages: number }
  /** opencode's own session totals (session.updated), when it reports them. */
  reported: { readonly cost: number; readonly tokens: TokenTotals } | undefined
  /** Assistant message ids already counted: a completed message is re-sent, and forks replay old ones. */
  readonly countedMessages: Set<string>
  /**
   * Open LLM spans by assistant message id, with the agent and the user message (its parentID) the call answers:
   * what opencode's chat.headers hook names a request by.
   */
  readonly llmSpans: Map<string, OpenSpan & { readonly agent?: string | undefined; readonly userMessageID?: string | undefined }>
  /** Open tool spans by callID; callIDs already finished are remembered so re-sent parts start nothing. */
  readonly toolSpans: Map<string, OpenSpan & { readonly tool: string; readonly messageID: string }>
  /** The session's finished tool calls (its size is a subagent's tool_use_count). */
  readonly finishedCalls: Set<string>
  /** Distinct retry attempts already counted. */
  readonly retries: Set<string>
  /** Lines of code: gross churn counted per edit, and the session's current value for the gauge. */
  readonly lines: { added: number; removed: number; currentAdded: number; currentRemoved: number }
  /** Permission requests awaiting a reply: request id -> tool. */
  readonly permissions: Map<string, { readonly tool: string; readonly callID: string | undefined; readonly language: string | undefined }>
  /** Epoch ms of the busy status that started the current turn (for active_time). */
  busySince: number | undefined
  /** Decisions by callID, to annotate the tool's result. */
  readonly decisions: Map<string, { readonly decision: "accept" | "reject"; readonly source: string; readonly at: number }>
  /** The tool of each call not finished yet (callID -> tool), whether or not its span is recorded. */
  readonly callTools: Map<string, string>
  /** A file's content before a `write` call overwrote it (callID -> text), to count the lines it changed. */
  readonly writesBefore: Map<string, string>
  /** Tool calls announced (pending) but not started yet: callID -> tool and message. */
  readonly pendingCalls: Map<string, { readonly tool: string; readonly messageID: string }>
  /** Child session ids by the `task` tool callID that spawned them (from the tool part's metadata). */
  readonly childSessions: Map<string, string>
  /** True between a session.idle and the next busy status: a repeated idle is not a new turn end. */
  idleSinceBusy: boolean
  /** True once a session.error was reported since the last busy status. */
  errorSinceBusy: boolean
  /** Whether the current turn had an error (for its span's status). */
  errored: boolean
  /** Whether the session's end was recorded (duration, totals, span end). */
  ended: boolean
  /** The agent of the latest assistant message: the agent whose calls run the tools that follow. */
  messageAgent: string | undefined
  /** The skill loaded in the current turn (and the message that loaded it): later calls of the turn carry it. */
  activeSkill: { readonly name: string; readonly messageID: string } | undefined
  /**
   * Assistant messages not finished yet: message id -> part id -> a part's final text, or only its length when
   * the reply text is not opted in (OPENCODE_LOG_ASSISTANT_RESPONSES): text not to be sent is not kept either.
   */
  readonly responseText: Map<string, Map<string, string | number>>
  /** Compaction requests: the user message id that asks for it -> whether opencode asked on its own (auto). */
  readonly compactions: Map<string, boolean>
  /** Retries of the LLM call under way (session.status retry): the highest attempt (its duration is the call's). */
  retrying: { attempts: number } | undefined
  /** The context the latest finished LLM call used (all its tokens): what a compaction starts from. */
  contextTokens: number | undefined
}

export const newSessionState = (id: string, init: { parentID?: string | undefined; createdAt: number; seenCreated: boolean }): SessionState => ({
  id,
  parentID: init.parentID,
  createdAt: init.createdAt,
  seenCreated: init.seenCreated,
  version: undefined,
  turn: undefined,
  turnParent: undefined,
  cutShort: new Set(),
  blocked: new Map(),
  sequence: 0,
  promptId: undefined,
  model: undefined,
  agent: undefined,
  lastIdleAt: undefined,
  totals: { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0, cost: 0, messages: 0 },
  reported: undefined,
  countedMessages: new Set(),
  llmSpans: new Map(),
  toolSpans: new Map(),
  finishedCalls: new Set(),
  retries: new Set(),
  lines: { added: 0, removed: 0, currentAdded: 0, currentRemoved: 0 },
  permissions: new Map(),
  busySince: undefined,
  decisions: new Map(),
  callTools: new Map(),
  writesBefore: new Map(),
  pendingCalls: new Map(),
  childSessions: new Map(),
  idleSinceBusy: false,
  errorSinceBusy: false,
  errored: false,
  ended: false,
  messageAgent: undefined,
  activeSkill: undefined,
  responseText: new Map(),
  compactions: new Map(),
  retrying: undefined,
  contextTokens: undefined,
})

/** Ends the call spans still open in a session: permission waits, tools, then LLM calls. */
export const endCallSpans = (state: SessionState, endTime?: number) => {
  for (const span of state.blocked.values()) span.end(endTime)
  state.blocked.clear()
  for (const open of state.toolSpans.values()) open.span.end(endTime)
  state.toolSpans.clear()
  for (const open of state.llmSpans.values()) open.span.end(endTime)
  state.llmSpans.clear()
}

/** Ends every span still open in a session: its calls, then its turn. */
export const endOpenSpans = (state: SessionState, endTime?: number) => {
  endCallSpans(state, endTime)
  state.turn?.end(endTime)
  state.turn = undefined
}

/**
 * The store's operations as plain synchronous calls: the per-event path (src/handlers) calls them for nearly
 * every event, where an Effect per call would cost more than the map operation it wraps (see the README's
 * "Where the hot path departs").
 */
export interface Sessions {
  readonly get: (id: string) => SessionState | undefined
  /**
   * Returns the existing state, or stores `init()` as new state. `created` tells which (false too for a session
   * this store ended before, taken up again: not a new start); `evicted` lists the
   * least recently used sessions pushed out to stay within `maxSessions` (the caller ends them).
   */
  readonly getOrCreate: (
    id: string,
    init: () => SessionState,
  ) => { readonly state: SessionState; readonly created: boolean; readonly evicted: ReadonlyArray<SessionState> }
  readonly remove: (id: string) => SessionState | undefined
  /** Removes and returns the sessions not touched since `before` (epoch ms). */
  readonly takeIdle: (before: number) => ReadonlyArray<SessionState>
  /** Removes and returns every session (at shutdown). */
  readonly takeAll: () => ReadonlyArray<SessionState>
  /** The next event.sequence of a session (1, 2, 3, ...). */
  readonly nextSequence: (id: string) => number
  readonly size: () => number
  /** Counts an event skipped for its unexpected shape; returns the count for its type. */
  readonly recordSkipped: (type: string) => number
}

export interface Interface {
  readonly get: (id: string) => Effect.Effect<Option.Option<SessionState>>
  /** See `Sessions.getOrCreate`. */
  readonly getOrCreate: (
    id: string,
    init: () => SessionState,
  ) => Effect.Effect<{ readonly state: SessionState; readonly created: boolean; readonly evicted: ReadonlyArray<SessionState> }>
  readonly remove: (id: string) => Effect.Effect<Option.Option<SessionState>>
  /** Removes and returns the sessions not touched since `before` (epoch ms). */
  readonly takeIdle: (before: number) => Effect.Effect<ReadonlyArray<SessionState>>
  /** Removes and returns every session (at shutdown). */
  readonly takeAll: Effect.Effect<ReadonlyArray<SessionState>>
  /** The next event.sequence of a session (1, 2, 3, ...). */
  readonly nextSequence: (id: string) => Effect.Effect<number>
  readonly size: Effect.Effect<number>
  /** Counts an event skipped for its unexpected shape; returns the count for its type. */
  readonly recordSkipped: (type: string) => Effect.Effect<number>
  /** The same operations, synchronous, for the per-event path. */
  readonly sessions: Sessions
}

export class SessionStore extends Context.Service<SessionStore, Interface>()("opencode-plugin-opentelemetry/SessionStore") {}

export const DEFAULT_MAX_SESSIONS = 1_000
/** How many ended session ids are remembered (a few hundred KB at most). */
const MAX_ENDED_IDS = 10_000

export const make = (options: { readonly maxSessions?: number } = {}) =>
  Effect.sync(() => {
    const sessions = makeSessions(options)
    return SessionStore.of({
      get: (id) => Effect.sync(() => Option.fromNullishOr(sessions.get(id))),
      getOrCreate: (id, init) => Effect.sync(() => sessions.getOrCreate(id, init)),
      remove: (id) => Effect.sync(() => Option.fromNullishOr(sessions.remove(id))),
      takeIdle: (before) => Effect.sync(() => sessions.takeIdle(before)),
      takeAll: Effect.sync(sessions.takeAll),
      nextSequence: (id) => Effect.sync(() => sessions.nextSequence(id)),
      size: Effect.sync(sessions.size),
      recordSkipped: (type) => Effect.sync(() => sessions.recordSkipped(type)),
      sessions,
    })
  })

/** The store's state and its synchronous operations. */
const makeSessions = (options: { readonly maxSessions?: number }): Sessions => {
  const maxSessions = Math.max(1, options.maxSessions ?? DEFAULT_MAX_SESSIONS)
  // A Map iterates in insertion order; re-inserting on access makes it an LRU.
  const sessions = new Map<string, { state: SessionState; touchedAt: number }>()
  // Sessions this process already ended (deleted, evicted, released idle): one seen again (a late event, a TUI
  // going back to it) is taken up again, not a new start. Bounded: the oldest ids are forgotten first.
  const ended = new Set<string>()
  const rememberEnded = (id: string) => {
    ended.add(id)
    if (ended.size > MAX_ENDED_IDS) ended.delete(ended.values().next().value!)
  }

  // Called for nearly every event: the entry is moved, not reallocated.
  const touch = (id: string, entry: { state: SessionState; touchedAt: number }) => {
    entry.touchedAt = Date.now()
    sessions.delete(id)
    sessions.set(id, entry)
  }

  const noneEvicted: ReadonlyArray<SessionState> = []
  const skippedByType = new Map<string, number>()
  return {
    get: (id) => {
      const entry = sessions.get(id)
      if (entry === undefined) return undefined
      touch(id, entry)
      return entry.state
    },
    getOrCreate: (id, init) => {
      const existing = sessions.get(id)
      if (existing !== undefined) {
        touch(id, existing)
        return { state: existing.state, created: false, evicted: noneEvicted }
      }
      const state = init()
      sessions.set(id, { state, touchedAt: Date.now() })
      const evicted: Array<SessionState> = []
      while (sessions.size > maxSessions) {
        const [oldestId, oldest] = sessions.entries().next().value!
        sessions.delete(oldestId)
        rememberEnded(oldestId)
        evicted.push(oldest.state)
      }
      return { state, created: !ended.has(id), evicted }
    },
    remove: (id) => {
      const entry = sessions.get(id)
      sessions.delete(id)
      rememberEnded(id)
      return entry?.state
    },
    takeIdle: (before) => {
      const idle: Array<SessionState> = []
      // LRU order: the first entry touched after `before` ends the scan.
      for (const [id, entry] of sessions) {
        if (entry.touchedAt >= before) break
        sessions.delete(id)
        rememberEnded(id)
        idle.push(entry.state)
      }
      return idle
    },
    takeAll: () => {
      const all = [...sessions.values()].map((e) => e.state)
      sessions.clear()
      return all
    },
    nextSequence: (id) => {
      const entry = sessions.get(id)
      if (entry === undefined) return 0
      entry.state.sequence += 1
      return entry.state.sequence
    },
    size: () => sessions.size,
    recordSkipped: (type) => {
      const count = (skippedByType.get(type) ?? 0) + 1
      skippedByType.set(type, count)
      return count
    },
  }
}

/**
 * The store. On release, spans still open are ended so the exporter's final flush carries them (the plugin
 * records each session's end before that; this is the last guard against a leaked span).
 */
export const layer = (options: { readonly maxSessions?: number } = {}) =>
  Layer.effect(
    SessionStore,
    Effect.acquireRelease(make(options), (store) =>
      store.takeAll.pipe(Effect.map((states) => states.forEach((state) => endOpenSpans(state)))),
    ),
  )

export const defaultLayer = layer()
