/**
 * Session lifecycle: created, updated, idle, error, retries, reverts and deletion.
 */
import { SpanStatusCode } from "@opentelemetry/api"
import type { ErrorInfo, SessionInfo } from "../events/schema.ts"
import { newSessionState, type SessionState } from "../services/SessionStore.ts"
import type { HandlerContext } from "./context.ts"
import { errorAttributes } from "./errors.ts"
import {
  countActiveTime,
  emitEvent,
  endSession,
  endTurn,
  existingSession,
  sessionAttributes,
  sessionState,
  sessionTotals,
  startToolSpan,
  startTurn,
} from "./common.ts"

export const onSessionCreated = (ctx: HandlerContext, info: SessionInfo) => {
  const { state, created, evicted } = ctx.sessions.getOrCreate(info.id, () =>
    newSessionState(info.id, { parentID: info.parentID, createdAt: info.time.created, seenCreated: true }),
  )
  for (const old of evicted) endSession(ctx, old, Date.now())
  // session.created can be re-sent; a session is counted once. A state made earlier from a stray event is
  // completed here instead.
  if (!created) {
    if (state.seenCreated) return
    state.seenCreated = true
    state.createdAt = info.time.created
    state.parentID = info.parentID
  }

  state.version = info.version
  if (info.agent !== undefined) state.agent ??= info.agent
  // A session counted already (a stray event made it first) keeps its count: one per session start.
  if (created) ctx.instruments.count("session.count", 1, { ...sessionAttributes(state), start_type: startType(info) })
  emitEvent(ctx, state, "session.created", info.parentID === undefined ? {} : { "session.parent_id": info.parentID }, info.time.created)
  // A subagent's session runs one turn at once, nested under the parent's tool call that spawned it, and shares
  // its prompt. A main session's turns start with its prompts.
  const parent = info.parentID === undefined ? undefined : existingSession(ctx, info.parentID)
  if (parent !== undefined) {
    state.promptId = parent.promptId
    state.model = parent.model
    state.turnParent = spawningToolSpan(ctx, parent, info.id, info.time.created) ?? parent.turn
    startTurn(ctx, state, info.time.created)
  }
}

/**
 * How a session opencode created began. opencode's fork (`opencode run --fork`, `POST /session/:id/fork`) creates a
 * session titled "<title> (fork #N)" without a parent, then copies the messages; nothing else in its events tells
 * it from a new session. A session this process did not see created counts as `continue` (see common.ts).
 */
const FORK_TITLE = / \(fork #\d+\)$/
const startType = (info: SessionInfo) => (info.parentID === undefined && FORK_TITLE.test(info.title ?? "") ? "fork" : "fresh")

/**
 * The parent's `task` tool span that started this child: by the child's id in the call's metadata, else the
 * latest open task call. opencode creates the child session while the task call is still pending (before it
 * runs and names the child), so a pending task call gets its span started here, at the child's creation.
 */
const spawningToolSpan = (ctx: HandlerContext, parent: SessionState, childID: string, createdAt: number) => {
  const tasks = [...parent.toolSpans.entries()].filter(([, open]) => open.tool === "task")
  const known = tasks.find(([callID]) => parent.childSessions.get(callID) === childID)
  if (known !== undefined) return known[1].span
  const pending = [...parent.pendingCalls.entries()].filter(([, call]) => call.tool === "task").at(-1)
  if (pending !== undefined) {
    const [callID, call] = pending
    parent.pendingCalls.delete(callID)
    parent.childSessions.set(callID, childID)
    const open = startToolSpan(ctx, parent, { tool: call.tool, callID, messageID: call.messageID }, createdAt)
    if (open !== undefined) return open.span
  }
  return tasks.at(-1)?.[1].span
}

/** opencode's own session totals, used for session.idle and the session histograms when present. */
export const onSessionUpdated = (ctx: HandlerContext, info: SessionInfo) => {
  const state = existingSession(ctx, info.id)
  if (state === undefined) return
  state.version ??= info.version
  if (info.cost !== undefined && info.tokens !== undefined)
    state.reported = {
      cost: info.cost,
      tokens: {
        input: info.tokens.input,
        output: info.tokens.output,
        reasoning: info.tokens.reasoning,
        cacheRead: info.tokens.cache.read,
        cacheWrite: info.tokens.cache.write,
      },
    }
}

/** Fires after every turn: the session.idle event with the session's totals so far. */
export const onSessionIdle = (ctx: HandlerContext, sessionID: string) => {
  const state = existingSession(ctx, sessionID)
  if (state === undefined) return
  const now = Date.now()
  // After an error opencode sends session.idle twice; the second carries nothing new.
  if (state.lastIdleAt !== undefined && state.idleSinceBusy) return
  state.lastIdleAt = now
  state.idleSinceBusy = true
  // The prompt's work is done.
  endTurn(state, now)
  countActiveTime(ctx, state, now)
  state.busySince = undefined
  const totals = sessionTotals(state)
  emitEvent(
    ctx,
    state,
    "session.idle",
    {
      // Session totals, named apart from api_request's per-call input_tokens, cost_usd, duration_ms: a sum over
      // events must not add the two. total_tokens, total_cost_usd, total_messages are the seed plugin's names.
      session_duration_ms: Math.max(0, now - state.createdAt),
      total_input_tokens: totals.input,
      total_output_tokens: totals.output,
      total_reasoning_tokens: totals.reasoning,
      total_cache_read_tokens: totals.cacheRead,
      total_cache_creation_tokens: totals.cacheWrite,
      total_tokens: totals.total,
      total_cost_usd: totals.cost,
      total_messages: totals.messages,
    },
    now,
  )
}

export const onSessionStatus = (
  ctx: HandlerContext,
  sessionID: string,
  status: { readonly type: "idle" } | { readonly type: "busy" } | { readonly type: "retry"; readonly attempt: number; readonly next?: number | undefined },
) => {
  if (status.type === "idle") return
  const state = sessionState(ctx, sessionID)
  if (status.type === "busy") {
    state.idleSinceBusy = false
    state.errorSinceBusy = false
    state.busySince ??= Date.now()
    return
  }
  // The call under way is being retried: if it still fails, its retries were spent (api_retries_exhausted).
  state.retrying = { attempts: Math.max(state.retrying?.attempts ?? 0, status.attempt) }
  // One status event per attempt, possibly re-sent: count each attempt once.
  const key = `${state.promptId ?? ""}:${status.attempt}:${status.next ?? ""}`
  if (state.retries.has(key)) return
  state.retries.add(key)
  ctx.instruments.count("retry.count", 1, {
    ...sessionAttributes(state),
    ...(state.model === undefined ? {} : { model: state.model.modelID, provider: state.model.providerID }),
  })
}

export const onSessionError = (ctx: HandlerContext, sessionID: string | undefined, error: ErrorInfo | undefined) => {
  if (sessionID === undefined) return
  const state = sessionState(ctx, sessionID)
  // One failure ends the turn; the same error re-sent before the next busy status is not another one.
  if (state.errorSinceBusy) return
  state.errorSinceBusy = true
  state.errored = true
  state.turn?.setStatus({ code: SpanStatusCode.ERROR, message: error?.name ?? "error" })
  emitEvent(ctx, state, "session.error", errorAttributes(error))
}

/** opencode reports the session's current diff (non-empty on revert): the gauge follows it. */
export const onSessionDiff = (
  ctx: HandlerContext,
  sessionID: string,
  diff: ReadonlyArray<{ readonly additions: number; readonly deletions: number }>,
) => {
  const state = existingSession(ctx, sessionID)
  if (state === undefined || diff.length === 0) return
  const added = diff.reduce((n, d) => n + d.additions, 0)
  const removed = diff.reduce((n, d) => n + d.deletions, 0)
  state.lines.currentAdded = added
  state.lines.currentRemoved = removed
  ctx.instruments.gauge("lines_of_code.total", added, { ...sessionAttributes(state), type: "added" })
  ctx.instruments.gauge("lines_of_code.total", removed, { ...sessionAttributes(state), type: "removed" })
}

export const onSessionDeleted = (ctx: HandlerContext, info: SessionInfo) => {
  const state = ctx.sessions.remove(info.id)
  if (state !== undefined) endSession(ctx, state, Date.now())
}

/** Ends sessions untouched for `idleMs` (their state is released). */
export const sweepSessions = (ctx: HandlerContext, idleMs: number) => {
  const now = Date.now()
  for (const state of ctx.sessions.takeIdle(now - idleMs)) endSession(ctx, state, now)
}

/** Ends every session (at shutdown). */
export const endAllSessions = (ctx: HandlerContext) => {
  const now = Date.now()
  for (const state of ctx.sessions.takeAll()) endSession(ctx, state, now)
}


