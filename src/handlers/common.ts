/**
 * What every handler shares: finding a session's state, the attributes every signal carries, log events with
 * their per-session sequence and prompt.id, and recording a session's end exactly once.
 */
import { SpanStatusCode, TraceFlags, type Attributes, type Span } from "@opentelemetry/api"
import type { EventName } from "../services/Instruments.ts"
import { endCallSpans, newSessionState, type SessionState } from "../services/SessionStore.ts"
import type { HandlerContext } from "./context.ts"
import { spanName } from "../signals.ts"

/** Attributes every signal of a session carries (metrics may strip them through the exclusion list). */
export const sessionAttributes = (state: SessionState): Attributes => ({
  "session.id": state.id,
  // Dropped by Instruments unless OTEL_METRICS_INCLUDE_VERSION opts in.
  ...(state.version === undefined ? {} : { "app.version": state.version }),
})

/**
 * Who did the work, on the signals of an LLM or tool call: the agent (a configured name) and the skill loaded
 * earlier in the turn (a skill's configured name). Built once per call, spread into each of its signals.
 */
export const attribution = (state: SessionState, agent: string | undefined, messageID: string): Attributes => {
  const skill = state.activeSkill
  if (agent === undefined) return skill === undefined || skill.messageID === messageID ? {} : { "skill.name": skill.name }
  return skill === undefined || skill.messageID === messageID ? { "agent.name": agent } : { "agent.name": agent, "skill.name": skill.name }
}

/**
 * The state of a session, created on first sight when opencode did not announce it in this process
 * (`opencode run --continue` or `--session`, a client of `opencode serve` opening an older session, or a plugin
 * loaded mid-session). Such a session starts in this process as Claude Code counts a resumed one: session.count,
 * start_type `continue` (opencode's events do not tell --continue from --session). Sessions pushed out of the
 * bounded store end here.
 */
export const sessionState = (ctx: HandlerContext, sessionID: string, createdAt?: number): SessionState => {
  const { state, created, evicted } = ctx.sessions.getOrCreate(sessionID, () =>
    newSessionState(sessionID, { createdAt: createdAt ?? Date.now(), seenCreated: false }),
  )
  for (const old of evicted) endSession(ctx, old, Date.now())
  if (created) ctx.instruments.count("session.count", 1, { ...sessionAttributes(state), start_type: "continue" })
  return state
}

export const existingSession = (ctx: HandlerContext, sessionID: string): SessionState | undefined => ctx.sessions.get(sessionID)

/** A log event of a session: session.id, event.sequence and prompt.id are added. */
export const emitEvent = (ctx: HandlerContext, state: SessionState, name: EventName, attributes: Attributes, timestamp?: number) => {
  state.sequence += 1
  ctx.instruments.event(
    name,
    {
      ...sessionAttributes(state),
      "event.sequence": state.sequence,
      ...(state.promptId === undefined ? {} : { "prompt.id": state.promptId }),
      ...attributes,
    },
    timestamp,
  )
}

/**
 * A session's totals. opencode's own figures (session.updated) include turns run by earlier processes but can lag
 * the latest message; this process's count is current but may miss earlier turns. Each is a lower bound of the
 * truth, so the larger wins, field by field.
 */
export const sessionTotals = (state: SessionState) => {
  const counted = state.totals
  const reported = state.reported
  const pick = (a: number, b: number | undefined) => Math.max(a, b ?? 0)
  const input = pick(counted.input, reported?.tokens.input)
  const output = pick(counted.output, reported?.tokens.output)
  const reasoning = pick(counted.reasoning, reported?.tokens.reasoning)
  const cacheRead = pick(counted.cacheRead, reported?.tokens.cacheRead)
  const cacheWrite = pick(counted.cacheWrite, reported?.tokens.cacheWrite)
  return {
    input,
    output,
    reasoning,
    cacheRead,
    cacheWrite,
    total: input + output + reasoning + cacheRead + cacheWrite,
    cost: pick(counted.cost, reported?.cost),
    messages: counted.messages,
  }
}

/**
 * Records a session's end once: session.duration (created -> last idle), session.token.total and
 * session.cost.total, then ends every span still open. Called on deletion, eviction and shutdown.
 */
export const endSession = (ctx: HandlerContext, state: SessionState, now: number) => {
  if (state.ended) return
  state.ended = true
  const { instruments } = ctx
  const attributes = sessionAttributes(state)
  const endTime = state.lastIdleAt ?? now
  // Duration and totals belong to the process that saw the session begin; a continued session's earlier turns
  // were recorded by the process that ran them.
  if (state.seenCreated) {
    const totals = sessionTotals(state)
    instruments.record("session.duration", Math.max(0, endTime - state.createdAt), attributes)
    instruments.record("session.token.total", totals.total, attributes)
    instruments.record("session.cost.total", totals.cost, attributes)
  }
  const at = Math.max(endTime, state.createdAt)
  cutCalls(state, at, "not finished when the session ended")
  endTurn(state, at)
}

/**
 * Starts a turn: the root of its trace (a subagent's under the `task` call that spawned it), named after the agent
 * as the GenAI conventions name `invoke_agent` spans. A turn still open is ended first.
 */
export const startTurn = (ctx: HandlerContext, state: SessionState, at: number, agent = state.agent) => {
  endTurn(state, at)
  cutCalls(state, at, "not finished when the turn ended")
  state.errored = false
  state.turn = ctx.instruments.startSpan("session", spanName("session", agent), {
    startTime: at,
    parent: state.turnParent,
    attributes: {
      ...sessionAttributes(state),
      ...(state.parentID === undefined ? {} : { "session.parent_id": state.parentID }),
      "session.kind": state.parentID === undefined ? "main" : "subagent",
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.conversation.id": state.id,
      ...(agent === undefined ? {} : { "gen_ai.agent.name": agent }),
      ...(state.promptId === undefined ? {} : { "prompt.id": state.promptId }),
    },
  })
}

/**
 * The open turn's span, starting one for work seen outside any prompt (a compaction, a plugin loaded mid-turn),
 * named after that work's agent. Such a turn belongs to no prompt: it carries no prompt.id.
 */
export const ensureTurn = (ctx: HandlerContext, state: SessionState, at: number, agent?: string): Span | undefined => {
  if (state.turn === undefined) {
    if (state.parentID === undefined) state.promptId = undefined
    startTurn(ctx, state, at, agent ?? state.agent)
  }
  return state.turn
}

/**
 * Ends the turn at its session.idle. A call opencode reports finished just after the idle (an aborted tool, an
 * errored LLM call) keeps its span open until then, under the ended turn; whatever is still open when the next
 * turn starts, or the session ends, is ended then, marked unfinished.
 */
export const endTurn = (state: SessionState, at: number) => {
  state.activeSkill = undefined
  if (state.turn === undefined) return
  state.turn.setStatus(state.errored ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.OK })
  state.turn.end(at)
  state.turn = undefined
}

/**
 * Call spans still open when their turn is over (a new turn starts, the session ends): ended, marked unfinished;
 * their late reports start nothing.
 */
const cutCalls = (state: SessionState, at: number, why: string) => {
  for (const [id, open] of [...state.toolSpans, ...state.llmSpans]) {
    open.span.setStatus({ code: SpanStatusCode.ERROR, message: why })
    state.cutShort.add(id)
  }
  endCallSpans(state, at)
}

/** Busy time since the last checkpoint, as active_time (type=cli); counted as it accrues, not only at idle. */
export const countActiveTime = (ctx: HandlerContext, state: SessionState, now: number) => {
  if (state.busySince === undefined || now <= state.busySince) return
  ctx.instruments.count("active_time.total", (now - state.busySince) / 1000, { ...sessionAttributes(state), type: "cli" })
  state.busySince = now
}

export const startToolSpan = (
  ctx: HandlerContext,
  state: SessionState,
  part: { readonly tool: string; readonly callID: string; readonly messageID: string },
  start: number,
) => {
  const { instruments } = ctx
  const toolName = instruments.toolName(part.tool)
  const name = spanName("tool", toolName)
  const span = instruments.startSpan("tool", name, {
    startTime: start,
    // Under the LLM call that asked for it while that is open, else under the prompt, else the session.
    parent: state.llmSpans.get(part.messageID)?.span ?? ensureTurn(ctx, state, start),
    attributes: {
      ...sessionAttributes(state),
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": toolName,
      "gen_ai.tool.call.id": part.callID,
      "message.id": part.messageID,
      ...(state.promptId === undefined ? {} : { "prompt.id": state.promptId }),
    },
  })
  if (span === undefined) return undefined
  const open = { span, name, tool: part.tool, messageID: part.messageID }
  state.toolSpans.set(part.callID, open)
  return open
}

/** A span's W3C trace context, for a process or request that nests its own spans under it. */
export const traceContextOf = (span: Span): { readonly traceparent: string; readonly tracestate?: string } => {
  const context = span.spanContext()
  const traceparent = `00-${context.traceId}-${context.spanId}-${context.traceFlags.toString(16).padStart(2, "0")}`
  const tracestate = context.traceState?.serialize()
  return tracestate ? { traceparent, tracestate } : { traceparent }
}

/** Whether a span will be exported (recording and sampled): a not-sampled one never arrives anywhere. */
export const isExported = (span: Span): boolean => span.isRecording() && (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0

/** Sets a key in a map that keeps at most `max` entries: the oldest inserted goes first. */
export const setBounded = <K, V>(map: Map<K, V>, key: K, value: V, max: number) => {
  map.set(key, value)
  if (map.size > max) map.delete(map.keys().next().value!)
}
