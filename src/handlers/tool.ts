/**
 * Tool calls, from their parts: one span per callID however many `running` updates arrive, the tool_result
 * event and tool.duration once per call, lines of code from each completed edit, commits (from git's HEAD
 * reflogs) and pull requests from the bash tool.
 */
import { SpanStatusCode } from "@opentelemetry/api"
import { readFileSync, statSync } from "node:fs"
import { isAbsolute, resolve } from "node:path"
import { Option, Schema } from "effect"
import { commitsSince, snapshotReflogs, type ReflogCommit, type ReflogSnapshot } from "../git/reflog.ts"
import { lineDiff } from "../lines/diff.ts"
import { BashInput, BashMetadata, EditMetadata, eventDecoder, WriteInput, WriteMetadata, type ToolPart } from "../events/schema.ts"
import type { Handled, HandlerContext } from "./context.ts"
import { boundedJson, CONTENT_LIMIT, jsonByteLength, toolParameters, truncateText } from "./content.ts"
import { describeToolError, toolErrorText } from "./errors.ts"
import type { SessionState } from "../services/SessionStore.ts"
import { attribution, emitEvent, existingSession, sessionAttributes, sessionState, sessionTotals, setBounded, startToolSpan, traceContextOf } from "./common.ts"
import { mcpParts } from "../naming/toolNames.ts"
import { spanName } from "../signals.ts"

const decodeOption = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) => {
  const decode = eventDecoder(schema)
  return (value: unknown): S["Type"] | undefined => Option.getOrUndefined(decode(value))
}
const bashInput = decodeOption(BashInput)
const bashMetadata = decodeOption(BashMetadata)
const editMetadata = decodeOption(EditMetadata)
const writeInput = decodeOption(WriteInput)
const writeMetadata = decodeOption(WriteMetadata)
const taskMetadata = decodeOption(Schema.Struct({ sessionId: Schema.String }))
/** The skill tool's metadata names the skill it loaded (opencode: `{name, dir}`; the input's name may be wrong). */
const skillMetadata = decodeOption(Schema.Struct({ name: Schema.String }))

export const onToolPart = (ctx: HandlerContext, part: ToolPart): Handled => {
  const state = sessionState(ctx, part.sessionID)
  if (state.finishedCalls.has(part.callID)) return
  const s = part.state
  if (s.status === "pending" || s.status === "running") state.callTools.set(part.callID, part.tool)
  else state.callTools.delete(part.callID)
  if (s.status === "pending") {
    state.pendingCalls.set(part.callID, { tool: part.tool, messageID: part.messageID })
    return
  }
  state.pendingCalls.delete(part.callID)

  // A task tool names the child session it runs; the child's span nests under this call.
  const child = taskMetadata(s.metadata)
  if (part.tool === "task" && child !== undefined) state.childSessions.set(part.callID, child.sessionId)

  const open =
    state.toolSpans.get(part.callID) ?? (state.cutShort.has(part.callID) ? undefined : startToolSpan(ctx, state, part, s.time.start))
  if (s.status === "running") return

  state.finishedCalls.add(part.callID)
  state.cutShort.delete(part.callID)
  state.toolSpans.delete(part.callID)
  const { instruments } = ctx
  const success = s.status === "completed"
  const duration = Math.max(0, s.time.end - s.time.start)
  const decision = state.decisions.get(part.callID)
  state.decisions.delete(part.callID)
  // A failed tool's own text can quote files, commands, arguments or an MCP server's reply: spans and, by
  // default, the event carry only a description of it (see errors.ts).
  const errorDescription = s.status === "error" ? describeToolError(s.error) : undefined

  const { config } = ctx
  // Tool parameters and content only when the user opted in (OTEL_LOG_TOOL_DETAILS / OTEL_LOG_TOOL_CONTENT).
  const details = config.content.toolDetails
    ? { tool_parameters: boundedJson(toolParameters(part.tool, s.input, config.host.mcpServers())), tool_input: boundedJson(s.input ?? {}) }
    : {}
  if (open !== undefined) {
    open.span.setAttributes(details)
    if (config.content.toolContent) {
      open.span.setAttribute("gen_ai.tool.call.arguments", truncateText(JSON.stringify(s.input ?? {}), CONTENT_LIMIT))
      open.span.setAttribute("gen_ai.tool.call.result", truncateText(s.status === "completed" ? s.output : s.error, CONTENT_LIMIT))
    }
  }
  const toolName = instruments.toolName(part.tool)
  // The calling agent, the turn's skill and an MCP tool's server and tool: configured names, once per call.
  const mcp = mcpParts(part.tool, config.host.mcpServers())
  const attributed = {
    ...attribution(state, state.messageAgent ?? state.agent, part.messageID),
    ...(mcp === undefined ? {} : { "mcp_server.name": mcp.server, "mcp_tool.name": mcp.tool }),
  }
  instruments.record("tool.duration", duration, {
    ...sessionAttributes(state),
    ...attributed,
    tool_name: toolName,
    success: instruments.success(success),
  })
  emitEvent(
    ctx,
    state,
    "tool_result",
    {
      ...attributed,
      tool_name: toolName,
      success: instruments.success(success),
      duration_ms: duration,
      "call.id": part.callID,
      // Claude Code's names: the call's id, and the size of its arguments (never the arguments themselves).
      tool_use_id: part.callID,
      tool_input_size_bytes: jsonByteLength(s.input ?? {}),
      ...(s.status === "completed"
        ? { tool_result_size_bytes: Buffer.byteLength(s.output, "utf8") }
        : { error: toolErrorText(s.error, config.content.toolDetails) }),
      ...(decision === undefined ? {} : { decision_type: decision.decision, decision_source: decision.source }),
      ...details,
    },
    s.time.end,
  )
  if (open !== undefined) {
    // Claude Code's trace shape: the tool's own work, after any wait for the user's permission.
    if (decision?.decision !== "reject") {
      const start = Math.min(Math.max(s.time.start, decision?.at ?? s.time.start), s.time.end)
      const execution = instruments.startSpan("execution", spanName("execution"), {
        parent: open.span,
        startTime: start,
        attributes: { ...sessionAttributes(state), "gen_ai.tool.name": toolName, "gen_ai.tool.call.id": part.callID },
      })
      if (errorDescription !== undefined) execution?.setStatus({ code: SpanStatusCode.ERROR, message: errorDescription })
      execution?.end(Math.max(s.time.end, start))
    }
    if (errorDescription !== undefined) open.span.setStatus({ code: SpanStatusCode.ERROR, message: errorDescription })
    open.span.end(Math.max(s.time.end, s.time.start))
  }

  if (part.tool === "task") reportSubagent(ctx, state, part.callID, child?.sessionId, success, duration, s.time.end)
  const skill = s.status === "completed" && part.tool === "skill" ? skillMetadata(s.metadata) : undefined
  if (skill !== undefined) {
    state.activeSkill = { name: skill.name, messageID: part.messageID }
    emitEvent(ctx, state, "skill_activated", { "skill.name": skill.name }, s.time.end)
  }

  const before = state.writesBefore.get(part.callID)
  state.writesBefore.delete(part.callID)
  const reflogs = takeReflogSnapshot(state, part.callID)
  const changes = (): Handled => {
    if (s.status !== "completed") return
    countLines(ctx, state, part.tool, s.input, s.metadata, before)
    if (part.tool !== "bash") return
    countPullRequests(ctx, state, s.input, s.metadata)
    return countCommits(ctx, state, s.input, s.metadata, s.time.end, reflogs)
  }
  // A bash call may have switched branch (`git checkout`), even one that failed afterwards: what it changed is
  // recorded once HEAD is read again, so its commit events name the branch they were made on.
  const head = part.tool === "bash" ? ctx.instruments.refreshHead() : undefined
  return head === undefined ? changes() : head.then(changes)
}


/**
 * subagent_completed, when a `task` call ends: the child session's own accounting (its tokens, cost and tool
 * calls so far, as session.idle counts them), the subagent's agent and the call's duration and outcome.
 */
const reportSubagent = (
  ctx: HandlerContext,
  state: SessionState,
  callID: string,
  named: string | undefined,
  success: boolean,
  duration: number,
  end: number,
) => {
  const childID = state.childSessions.get(callID) ?? named
  state.childSessions.delete(callID)
  const child = childID === undefined ? undefined : existingSession(ctx, childID)
  const totals = child === undefined ? undefined : sessionTotals(child)
  emitEvent(
    ctx,
    state,
    "subagent_completed",
    {
      "call.id": callID,
      success: ctx.instruments.success(success),
      duration_ms: duration,
      ...(childID === undefined ? {} : { "subagent.session_id": childID }),
      ...(child?.agent === undefined ? {} : { "agent.name": child.agent }),
      ...(totals === undefined || child === undefined
        ? {}
        : {
            input_tokens: totals.input,
            output_tokens: totals.output,
            reasoning_tokens: totals.reasoning,
            cache_read_tokens: totals.cacheRead,
            cache_creation_tokens: totals.cacheWrite,
            total_tokens: totals.total,
            cost_usd: totals.cost,
            tool_use_count: child.finishedCalls.size,
          }),
    },
    end,
  )
}

/**
 * Lines of code per completed edit: the edit-like tools' `filediff`, or a new file's lines from `write`.
 * The counter is gross churn (every edit's additions and deletions); the gauge is the session's running value.
 */
const countLines = (
  ctx: HandlerContext,
  state: SessionState,
  tool: string,
  input: Readonly<Record<string, unknown>> | undefined,
  metadata: Readonly<Record<string, unknown>> | undefined,
  before: string | undefined,
) => {
  let added = 0
  let removed = 0
  const diff = editMetadata(metadata)
  if (diff !== undefined) {
    added = diff.filediff.additions
    removed = diff.filediff.deletions
  } else if (tool === "write") {
    const meta = writeMetadata(metadata)
    const content = writeInput(input)
    if (meta?.filediff !== undefined) {
      added = meta.filediff.additions
      removed = meta.filediff.deletions
    } else if (meta?.exists === false && content !== undefined) added = lineCount(content.content)
    else if (meta?.exists === true && content !== undefined && before !== undefined) {
      const counts = lineDiff(before, content.content)
      added = counts.added
      removed = counts.removed
    }
  }
  if (added === 0 && removed === 0) return
  const { instruments } = ctx
  const base = sessionAttributes(state)
  state.lines.added += added
  state.lines.removed += removed
  state.lines.currentAdded += added
  state.lines.currentRemoved += removed
  instruments.count("lines_of_code.count", added, { ...base, type: "added" })
  instruments.count("lines_of_code.count", removed, { ...base, type: "removed" })
  instruments.gauge("lines_of_code.total", state.lines.currentAdded, { ...base, type: "added" })
  instruments.gauge("lines_of_code.total", state.lines.currentRemoved, { ...base, type: "removed" })
}

/**
 * The HEAD reflog sizes taken when each bash call started (tool.execute.before), by session and callID; kept
 * beside the session's state (released with it) and bounded per session.
 */
const reflogSnapshots = new WeakMap<SessionState, Map<string, ReflogSnapshot>>()
const MAX_OPEN_SNAPSHOTS = 64

const keepReflogSnapshot = (state: SessionState, callID: string, snapshot: ReflogSnapshot) => {
  let calls = reflogSnapshots.get(state)
  if (calls === undefined) reflogSnapshots.set(state, (calls = new Map()))
  setBounded(calls, callID, snapshot, MAX_OPEN_SNAPSHOTS)
}

const takeReflogSnapshot = (state: SessionState, callID: string): ReflogSnapshot | undefined => {
  const calls = reflogSnapshots.get(state)
  const snapshot = calls?.get(callID)
  calls?.delete(callID)
  return snapshot
}

/**
 * Text fallback, for a repository without a HEAD reflog: `git commit` prints "[branch abc1234] subject" (or
 * "[branch (root-commit) abc1234]") for each commit it makes; a quiet commit prints nothing and is not counted.
 */
const COMMIT_LINE = /^\[[^\]\n]*?\b([0-9a-f]{7,40})\]/gm
const GIT_COMMIT = /\bgit\s+(?:-[^\s]+\s+(?:[^\s-][^\s]*\s+)?)*commit\b/

/** The shas of the commits a bash call's output announces, when its command runs `git commit`. */
export const commitsFromOutput = (command: string, output: string): ReadonlyArray<string> =>
  GIT_COMMIT.test(command) ? [...output.matchAll(COMMIT_LINE)].map((m) => m[1]!) : []

/**
 * Commits made by a completed bash call, whatever its exit status: the `git commit` entries it appended to the
 * project's HEAD reflogs (see src/git/reflog.ts); without a reflog, the commit lines git printed.
 */
const countCommits = (
  ctx: HandlerContext,
  state: SessionState,
  input: Readonly<Record<string, unknown>> | undefined,
  metadata: Readonly<Record<string, unknown>> | undefined,
  time: number,
  reflogs: ReflogSnapshot | undefined,
): Handled => {
  const record = (commits: ReadonlyArray<{ readonly "commit.sha": string; readonly "commit.amend"?: boolean }>) => {
    if (commits.length === 0) return
    ctx.instruments.count("commit.count", commits.length, sessionAttributes(state))
    for (const commit of commits) emitEvent(ctx, state, "commit", commit, time)
  }
  if (reflogs !== undefined)
    return commitsSince(reflogs).then((recorded: ReadonlyArray<ReflogCommit>) =>
      record(recorded.map((c) => ({ "commit.sha": c.sha, "commit.amend": c.kind === "amend" }))),
    )
  const command = bashInput(input)?.command
  if (command === undefined) return
  record(commitsFromOutput(command, bashMetadata(metadata)?.output ?? "").map((sha) => ({ "commit.sha": sha })))
}

/** Files larger than this are not read to count a write's lines (the write still counts as a tool call). */
const MAX_READ_BYTES = 4 * 1024 * 1024

/**
 * `tool.execute.before` for `write`: opencode reports no diff when write overwrites a file, so the file's
 * current content is read now (local, bounded) to count the lines the write changes.
 */
export const onToolBefore = (
  ctx: HandlerContext,
  sessionID: string,
  callID: string,
  tool: string,
  args: unknown,
  directory: string,
): Handled => {
  if (tool === "bash") {
    const workdir = workdirArg(args)
    const directories = workdir === undefined ? [directory] : [directory, isAbsolute(workdir) ? workdir : resolve(directory, workdir)]
    return snapshotReflogs(directories).then((snapshot) => {
      if (snapshot !== undefined) keepReflogSnapshot(sessionState(ctx, sessionID), callID, snapshot)
    })
  }
  if (tool !== "write") return
  const path = filePathArg(args)
  if (path === undefined) return
  const before = readIfSmall(isAbsolute(path) ? path : resolve(directory, path))
  if (before === undefined) return
  const state = sessionState(ctx, sessionID)
  state.writesBefore.set(callID, before)
}

const filePathDecoder = decodeOption(Schema.Struct({ filePath: Schema.String }))
const filePathArg = (args: unknown) => filePathDecoder(args)?.filePath
const workdirDecoder = decodeOption(Schema.Struct({ workdir: Schema.String }))
const workdirArg = (args: unknown) => workdirDecoder(args)?.workdir

const readIfSmall = (path: string): string | undefined => {
  try {
    const stat = statSync(path)
    if (!stat.isFile() || stat.size > MAX_READ_BYTES) return undefined
    return readFileSync(path, "utf8")
  } catch {
    return undefined // a new file, or unreadable: nothing to compare with
  }
}

const PR_CREATE = /\b(?:gh\s+pr\s+create|glab\s+mr\s+create)\b/g
/** The URL `gh pr create` prints (`https://<host>/<owner>/<repo>/pull/<n>`) or `glab mr create` (`…/-/merge_requests/<n>`). */
const CREATED_URL = /\bhttps?:\/\/[^\s"'<>]+?\/(?:pull\/\d+|-\/merge_requests\/\d+)(?![\w/])/g

/**
 * How many pull/merge requests a bash call's output says it created, when its command runs `gh pr create` /
 * `glab mr create`: one per distinct created-request URL; with no output at all (redirected), one per such
 * command in the text; output without a URL (`--web`, a prompt, an error) none.
 */
export const pullRequestsFromOutput = (command: string, output: string): number => {
  const invocations = command.match(PR_CREATE)?.length ?? 0
  if (invocations === 0) return 0
  if (output.trim() === "") return invocations
  return new Set(output.match(CREATED_URL) ?? []).size
}

/**
 * Pull/merge requests: in a bash call that runs `gh pr create` / `glab mr create` and exits 0, one per distinct
 * created-request URL in its output (gh also prints the URL of a request that already exists, but exits 1), or
 * one per such command when the call printed nothing.
 */
const countPullRequests = (
  ctx: HandlerContext,
  state: SessionState,
  input: Readonly<Record<string, unknown>> | undefined,
  metadata: Readonly<Record<string, unknown>> | undefined,
) => {
  const command = bashInput(input)?.command
  const meta = bashMetadata(metadata)
  if (command === undefined || meta?.exit !== 0) return
  const created = pullRequestsFromOutput(command, meta.output ?? "")
  if (created === 0) return
  ctx.instruments.count("pull_request.count", created, sessionAttributes(state))
}

const lineCount = (text: string) => (text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0))

/**
 * The W3C trace context of a running tool call, for its processes: a script that reads TRACEPARENT nests its
 * own spans under the tool's span.
 */
export const toolTraceContext = (ctx: HandlerContext, sessionID: string, callID: string) => {
  const state = existingSession(ctx, sessionID)
  const span = state?.toolSpans.get(callID)?.span
  return span === undefined ? undefined : traceContextOf(span)
}
