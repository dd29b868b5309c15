/**
 * Permission decisions, from `permission.asked` + `permission.replied` (opencode never calls the typed
 * `permission.ask` hook): once/always accept, reject rejects; the tool is the one the request was for.
 */
import { isBuiltinTool } from "../naming/toolNames.ts"
import type { HandlerContext } from "./context.ts"
import { emitEvent, sessionAttributes, sessionState } from "./common.ts"
import { languageOf } from "./language.ts"
import { spanName } from "../signals.ts"

export const onPermissionAsked = (ctx: HandlerContext, asked: {
  readonly id: string
  readonly sessionID: string
  readonly permission: string
  readonly metadata?: { readonly filepath?: string | undefined } | undefined
  readonly tool?: { readonly messageID: string; readonly callID: string } | undefined
}) => {
  const state = sessionState(ctx, asked.sessionID)
  // opencode may send the same request again: its wait is already open (a second span would never end).
  if (state.blocked.has(asked.id)) return
  const { instruments } = ctx
  const callID = asked.tool?.callID
  // The tool part (if already seen) names the tool exactly; else `permission` names its class (edit covers write),
  // or something that is no tool at all (external_directory, doom_loop): that is exported as opencode names it.
  const named = (callID === undefined ? undefined : state.callTools.get(callID)) ?? (isBuiltinTool(asked.permission) ? asked.permission : undefined)
  const tool = named === undefined ? asked.permission : instruments.toolName(named)
  // The wait for the user's answer, under the tool's span (Claude Code's `tool.blocked_on_user`).
  const toolSpan = callID === undefined ? undefined : state.toolSpans.get(callID)?.span
  if (toolSpan !== undefined) {
    const blocked = instruments.startSpan("blocked", spanName("blocked"), {
      parent: toolSpan,
      attributes: { ...sessionAttributes(state), "gen_ai.tool.name": tool, "gen_ai.tool.call.id": callID! },
    })
    if (blocked !== undefined) state.blocked.set(asked.id, blocked)
  }
  state.permissions.set(asked.id, {
    // As exported (Claude Code's name in that profile).
    tool,
    callID,
    // Only the file's language leaves the machine, never its path.
    language: asked.permission === "edit" ? languageOf(asked.metadata?.filepath) : undefined,
  })
}

const SOURCES = { once: "user_temporary", always: "user_permanent", reject: "user_reject" } as const

export const onPermissionReplied = (ctx: HandlerContext, replied: {
  readonly sessionID: string
  readonly requestID: string
  readonly reply: "once" | "always" | "reject"
}) => {
  const state = sessionState(ctx, replied.sessionID)
  const request = state.permissions.get(replied.requestID)
  if (request === undefined) return
  state.permissions.delete(replied.requestID)
  const decision = replied.reply === "reject" ? "reject" : "accept"
  const source = SOURCES[replied.reply]
  const blocked = state.blocked.get(replied.requestID)
  state.blocked.delete(replied.requestID)
  blocked?.setAttributes({ decision, source })
  blocked?.end()
  if (request.callID !== undefined) state.decisions.set(request.callID, { decision, source, at: Date.now() })
  if (request.language !== undefined) {
    ctx.instruments.count("code_edit_tool.decision", 1, {
      ...sessionAttributes(state),
      tool_name: request.tool,
      decision,
      source,
      language: request.language,
    })
  }
  emitEvent(ctx, state, "tool_decision", {
    tool_name: request.tool,
    decision,
    source,
    ...(request.callID === undefined ? {} : { "call.id": request.callID }),
  })
}
