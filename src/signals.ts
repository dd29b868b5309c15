/**
 * The signal catalog: every metric, log event and span the plugin emits, with units, attributes and when it is
 * emitted. Instruments take names, units, descriptions and buckets from here, and the README's signal reference
 * is generated from it (`npm run docs`; a test fails when the README drifts).
 */

export { GENAI_METRIC_NAMES, GENAI_METRICS, type GenAiMetricName, type GenAiMetricNameOfKind, type GenAiMetricSpec } from "./naming/genAiMetrics.ts"

export interface MetricSpec {
  readonly kind: "counter" | "histogram" | "gauge"
  readonly description: string
  readonly unit: string
  readonly attributes: ReadonlyArray<string>
  readonly when: string
  readonly buckets?: ReadonlyArray<number>
}

/** Who ran a tool call: the calling agent, a skill loaded earlier in the turn, an MCP tool's server and tool. */
const CALL_ATTRIBUTES = ["agent.name (the calling agent)", "skill.name", "mcp_server.name (MCP tools)", "mcp_tool.name (MCP tools)"]
const TOKEN_BUCKETS = [100, 500, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 5_000_000]
const USD_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100]
const MS_BUCKETS = [10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000]

export const METRICS = {
  "session.count": {
    kind: "counter",
    description: "Sessions started",
    unit: "{session}",
    attributes: ["session.id", "start_type (fresh, continue: a session this process did not see created, fork)"],
    when: "once per session start in each process: on session.created (subagents included), or when a process first sees a session it did not create",
  },
  "token.usage": {
    kind: "counter",
    description: "Tokens used, by type (input, output, reasoning, cacheRead, cacheCreation)",
    // The seed plugin's and Claude Code's unit: a Collector names it opencode_token_usage_tokens_total, as for them.
    unit: "tokens",
    attributes: ["session.id", "type", "model", "provider", "agent.name", "skill.name (a skill loaded earlier in the turn)"],
    when: "once per assistant message (LLM call), when first seen finished, successful or not",
  },
  "cost.usage": {
    kind: "counter",
    description: "Cost of assistant messages",
    unit: "USD",
    attributes: ["session.id", "model", "provider", "agent.name", "skill.name (a skill loaded earlier in the turn)"],
    when: "once per assistant message; multiplied by OPENCODE_COST_USAGE_SCALE (unit then USD/<scale>)",
  },
  "lines_of_code.count": {
    kind: "counter",
    description: "Lines of code changed, gross churn, by type (added, removed)",
    unit: "{line}",
    attributes: ["session.id", "type"],
    when: "once per completed edit (edit's filediff; a new file's lines from write)",
  },
  "lines_of_code.total": {
    kind: "gauge",
    description: "The session's current lines added/removed, by type",
    unit: "{line}",
    attributes: ["session.id", "type"],
    when: "after each counted edit (running sum), and set to opencode's session diff when it reports one (revert)",
  },
  "commit.count": {
    kind: "counter",
    description: "Git commits made through the bash tool",
    unit: "{commit}",
    attributes: ["session.id"],
    when:
      "per `git commit` entry a bash call appended to the project's HEAD reflogs (its repository, worktrees and submodules; amends included), " +
      "whatever the exit status; without a reflog, per `[branch sha]` line git printed",
  },
  "tool.duration": {
    kind: "histogram",
    description: "Tool execution time",
    unit: "ms",
    attributes: ["session.id", "tool_name", "success (a boolean; \"true\"/\"false\" in the claude-code profile)", ...CALL_ATTRIBUTES],
    when: "once per tool call, when it completes or fails",
    buckets: MS_BUCKETS,
  },
  "cache.count": {
    kind: "counter",
    description: "Assistant messages that read from or wrote to the prompt cache, by type (cacheRead, cacheCreation)",
    unit: "{message}",
    attributes: ["session.id", "type"],
    when: "once per assistant message with cache tokens of that type",
  },
  "session.duration": {
    kind: "histogram",
    description: "Session duration from creation to its last idle",
    unit: "ms",
    attributes: ["session.id"],
    when: "once per session, when it ends (deleted, released after 30 min untouched, or opencode exits)",
    buckets: MS_BUCKETS,
  },
  "message.count": {
    kind: "counter",
    description: "Completed assistant messages",
    unit: "{message}",
    attributes: ["session.id", "model", "provider"],
    when: "once per successful assistant message",
  },
  "session.token.total": {
    kind: "histogram",
    description: "Tokens used per session, all types",
    unit: "tokens",
    attributes: ["session.id"],
    when: "once per session, when it ends",
    buckets: TOKEN_BUCKETS,
  },
  "session.cost.total": {
    kind: "histogram",
    description: "Cost per session",
    unit: "USD",
    attributes: ["session.id"],
    when: "once per session, when it ends (raw USD, never scaled)",
    buckets: USD_BUCKETS,
  },
  "model.usage": {
    kind: "counter",
    description: "Completed assistant messages, by model and provider",
    unit: "{message}",
    attributes: ["session.id", "model", "provider"],
    when: "once per successful assistant message",
  },
  "retry.count": {
    kind: "counter",
    description: "Provider API retries",
    unit: "{retry}",
    attributes: ["session.id", "model", "provider"],
    when: "once per distinct retry attempt (session.status retry)",
  },
  "pull_request.count": {
    kind: "counter",
    description: "Pull or merge requests created through the bash tool",
    unit: "{pull_request}",
    attributes: ["session.id"],
    when:
      "per distinct pull/merge request URL printed by a bash call that ran `gh pr create` / `glab mr create` and exited 0 " +
      "(one per such command when the call printed nothing)",
  },
  "code_edit_tool.decision": {
    kind: "counter",
    description: "Permission decisions on file-editing tools, by tool, decision, source and language",
    unit: "{decision}",
    attributes: ["session.id", "tool_name", "decision", "source", "language"],
    when: "an edit/write permission request is answered (language from the file extension)",
  },
  "active_time.total": {
    kind: "counter",
    description: "Time opencode spent working on prompts (type=cli: from busy to idle)",
    unit: "s",
    attributes: ["session.id", "type"],
    when: "as busy time accrues (at each completed LLM call and at the end of each turn); type=user is not derivable from opencode's events and is not emitted",
  },
} satisfies Record<string, MetricSpec>

/** Metric name suffixes; the exported name is `prefix + suffix`. */
export type MetricName = keyof typeof METRICS
export const METRIC_NAMES = Object.keys(METRICS) as ReadonlyArray<MetricName>
/** The metrics of one kind (the instruments' name types). */
export type MetricNameOfKind<K extends MetricSpec["kind"]> = { [N in MetricName]: (typeof METRICS)[N]["kind"] extends K ? N : never }[MetricName]

/** The plugin's own health, not switchable by OPENCODE_DISABLE_METRICS. */
export const SELF_METRICS: Record<string, MetricSpec> = {
  "telemetry.dropped": {
    kind: "counter",
    description: "Telemetry this plugin could not deliver, by signal and reason (rejected, too_large, spool_full, spool_unreadable, file_unwritable; buffer_full and shutdown without the spool)",
    unit: "{item}",
    attributes: ["signal", "reason"],
    when: "when data is dropped: the collector rejected it permanently (`rejected`), it did not fit the spool (`spool_full`) or could not be read back from it (`spool_unreadable`); the file exporter could not write it, or had more than 16 MB waiting (`file_unwritable`); with the spool off, the retry buffer was full (`buffer_full`) or it was undelivered at exit (`shutdown`)",
  },
}

export interface EventSpec {
  readonly attributes: ReadonlyArray<string>
  readonly when: string
}

/** On every metric point and event in the claude-code profile: Claude Code's standard attributes. */
export const PROFILE_ATTRIBUTES = [
  "user.id (anonymous installation id)",
  "terminal.type",
  "organization.id, user.account_uuid, user.account_id, user.email (when set in OPENCODE_RESOURCE_ATTRIBUTES)",
] as const

/** Attributes on every log event, besides those listed per event. */
export const COMMON_EVENT_ATTRIBUTES = ["event.name", "event.timestamp", "event.sequence", "session.id", "prompt.id"] as const

/** The repository (on the resource, or on every metric point with OPENCODE_METRICS_INCLUDE_REPOSITORY), the branch on every event and span. */
export const REPOSITORY_ATTRIBUTES = {
  metrics: ["vcs.repository.url.full", "vcs.owner.name", "vcs.repository.name", "vcs.provider.name"],
  eventsAndSpans: ["vcs.ref.head.name", "vcs.ref.head.type", "vcs.ref.head.revision (a detached HEAD)"],
} as const

/** A provider's or opencode's error message (not tool content), bounded as errors.ts ERROR_TEXT_LIMIT says. */
const PROVIDER_ERROR = "error (the message, first 1,000 characters)"

/** The per-call usage figures api_request and api_error share. */
const USAGE_ATTRIBUTES = [
  "input_tokens",
  "output_tokens",
  "reasoning_tokens",
  "cache_read_tokens",
  "cache_creation_tokens",
  "cost_usd",
  "duration_ms",
] as const

export const EVENTS = {
  "session.created": { attributes: ["session.parent_id"], when: "a session (or subagent session) starts" },
  "session.idle": {
    attributes: [
      "session_duration_ms",
      "total_input_tokens",
      "total_output_tokens",
      "total_reasoning_tokens",
      "total_cache_read_tokens",
      "total_cache_creation_tokens",
      "total_tokens",
      "total_cost_usd",
      "total_messages",
    ],
    when:
      "a turn ends (session.idle); the session's totals so far, named apart from api_request's per-call figures so that sums over events never add both",
  },
  "session.error": {
    attributes: ["error.type", PROVIDER_ERROR, "status_code"],
    when: "opencode reports a session error (its response body, headers and URL are never sent)",
  },
  user_prompt: {
    attributes: [
      "prompt_length",
      "model (`<provider>/<model>`, as the seed plugin sends it; the model alone in the claude-code profile)",
      "provider",
      "agent",
      "prompt (OTEL_LOG_USER_PROMPTS=1 only)",
    ],
    when: "a person (or opencode run) submits a prompt; not a subagent's task prompt. No prompt text",
  },
  api_request: {
    attributes: ["model", "provider", "agent.name", "skill.name", "message.id", ...USAGE_ATTRIBUTES, "finish_reason"],
    when: "an assistant message (LLM call) completes successfully",
  },
  api_error: {
    attributes: ["model", "provider", "agent.name", "skill.name", "message.id", "error.type", PROVIDER_ERROR, "status_code", ...USAGE_ATTRIBUTES],
    when: "an assistant message ends in an error (its response body, headers and URL are never sent)",
  },
  tool_result: {
    attributes: [
      "tool_name",
      "call.id",
      "tool_use_id (the call.id, as Claude Code names it)",
      "success (a boolean; the string \"true\"/\"false\" in the claude-code profile)",
      ...CALL_ATTRIBUTES,
      "duration_ms",
      "tool_input_size_bytes (the size of its arguments as JSON; not the arguments)", "tool_result_size_bytes",
      "error (a description; the text with OTEL_LOG_TOOL_DETAILS=1 only)",
      "decision_type",
      "decision_source",
      "tool_parameters (OTEL_LOG_TOOL_DETAILS=1 only)",
      "tool_input (OTEL_LOG_TOOL_DETAILS=1 only)",
    ],
    when:
      "a tool call completes or fails (no arguments or output). A failure's error is a description that quotes nothing the tool saw: " +
      "one of opencode's fixed messages (e.g. \"Tool execution aborted\", \"File not found.\", \"MCP error -32603\"), an error class, " +
      "or \"tool error\"; the tool's own error text (first 1,000 characters) only with OTEL_LOG_TOOL_DETAILS=1",
  },
  tool_decision: {
    attributes: ["tool_name", "call.id", "decision", "source"],
    when: "a permission request is answered: once/always = accept, reject = reject",
  },
  commit: {
    attributes: ["commit.sha", "commit.amend (true for an amend; absent when read from git's output)"],
    when: "per commit counted in commit.count; commit.sha is the full sha from the reflog (the abbreviated one git printed, without a reflog)",
  },
  skill_activated: { attributes: ["skill.name"], when: "the skill tool loads a skill (a completed call; the name opencode loaded); opencode does not say where it came from: no skill.source" },
  subagent_completed: {
    attributes: ["agent.name (the subagent's agent)", "subagent.session_id", "call.id", "success", "duration_ms (the task call)",
      ...USAGE_ATTRIBUTES.slice(0, 5), "total_tokens", "cost_usd", "tool_use_count"],
    when: "a task call ends, in the parent session: the child session's totals so far (as its session.idle reports them) and its finished tool calls",
  },
  compaction: {
    attributes: ["trigger (auto, manual)", "success", "duration_ms", "pre_tokens", "post_tokens", "error (on failure)", "message.id (its api_request/api_error carries the model)", ...USAGE_ATTRIBUTES],
    when: "opencode's compaction (summary) call ends; pre_tokens: the context of the last call before it; post_tokens: the summary's output tokens",
  },
  api_retries_exhausted: {
    attributes: ["message.id (its api_error carries the model)", "error.type", PROVIDER_ERROR, "status_code", "total_attempts", "total_retry_duration_ms"],
    when: "an LLM call opencode retried (session.status retry) ends in an error: its 5 retries are spent, or an error it does not retry follows; not on abort",
  },
  assistant_response: { attributes: ["message.id (its api_request carries the model)", "response_length", "response (OPENCODE_LOG_ASSISTANT_RESPONSES=1 only; 60 KB at most)"], when: "an assistant message with text ends (its text parts; no reasoning, no tool calls). No text unless opted in" },
} as const satisfies Record<string, EventSpec>

export type EventName = keyof typeof EVENTS
export const EVENT_NAMES = Object.keys(EVENTS) as ReadonlyArray<EventName>

/** The switchable trace types (OPENCODE_DISABLE_TRACES). */
export const TRACE_TYPES = ["session", "llm", "tool"] as const
export type TraceType = (typeof TRACE_TYPES)[number]

export interface SpanSpec {
  readonly traceType: TraceType
  /** The span's name, followed by what it is about (`detail`) when known: `chat <model>`. */
  readonly prefix: string
  readonly detail?: "agent" | "model" | "tool"
  readonly kind: "INTERNAL" | "CLIENT"
  readonly attributes: ReadonlyArray<string>
  readonly when: string
}

export const SPANS = {
  session: {
    traceType: "session",
    prefix: "invoke_agent",
    detail: "agent",
    kind: "INTERNAL",
    attributes: [
      "session.id",
      "session.parent_id",
      "session.kind",
      "gen_ai.operation.name",
      "gen_ai.conversation.id (the session id: links a session's turns)",
      "gen_ai.agent.name",
      "prompt.id",
    ],
    when:
      "one per turn, the root of its trace: from the prompt to the session.idle that ends it (a subagent: from its session's start, " +
      "nested under the task tool call that spawned it); no span outlives its turn, so a session open for days gives one complete trace per turn",
  },
  blocked: {
    traceType: "tool",
    prefix: "tool.blocked_on_user",
    kind: "INTERNAL",
    attributes: ["gen_ai.tool.name", "gen_ai.tool.call.id", "decision", "source", "session.id"],
    when: "a permission wait (trace type tool), from permission.asked to permission.replied, under the tool's span",
  },
  execution: {
    traceType: "tool",
    prefix: "tool.execution",
    kind: "INTERNAL",
    attributes: ["gen_ai.tool.name", "gen_ai.tool.call.id", "session.id"],
    when: "a tool's own work (trace type tool), after any permission wait, under the tool's span; none for a rejected call",
  },
  llm: {
    traceType: "llm",
    prefix: "chat",
    detail: "model",
    kind: "CLIENT",
    attributes: [
      "gen_ai.operation.name",
      "gen_ai.provider.name",
      "gen_ai.request.model",
      "gen_ai.response.model",
      "gen_ai.response.id",
      "gen_ai.conversation.id",
      "gen_ai.usage.input_tokens (cached included)",
      "gen_ai.usage.output_tokens (reasoning included)",
      "gen_ai.usage.reasoning.output_tokens",
      "gen_ai.usage.cache_read.input_tokens",
      "gen_ai.usage.cache_creation.input_tokens (gen_ai.usage.cache_write.input_tokens with gen_ai_latest_experimental)",
      "gen_ai.response.finish_reasons",
      "cost_usd",
      "session.id",
      "message.id",
      "prompt.id",
    ],
    when: "one per assistant message, under its turn's span",
  },
  tool: {
    traceType: "tool",
    prefix: "execute_tool",
    detail: "tool",
    kind: "INTERNAL",
    attributes: [
      "gen_ai.operation.name",
      "gen_ai.tool.name",
      "gen_ai.tool.call.id",
      "session.id",
      "message.id",
      "prompt.id",
      "tool_parameters, tool_input (OTEL_LOG_TOOL_DETAILS=1 only)",
      "gen_ai.tool.call.arguments, gen_ai.tool.call.result (OTEL_LOG_TOOL_CONTENT=1 only)",
    ],
    when:
      "one per tool callID, under the LLM call that requested it; the bash tool's processes get its TRACEPARENT. " +
      "A failed call's status is ERROR with the error's description (its text only in gen_ai.tool.call.result)",
  },
} as const satisfies Record<string, SpanSpec>
export type SpanKey = keyof typeof SPANS

/** A span's name: its prefix, then what it is about when known (the agent, the model, the tool). */
export const spanName = (key: SpanKey, detail?: string): string =>
  detail === undefined || detail === "" ? SPANS[key].prefix : `${SPANS[key].prefix} ${detail}`
