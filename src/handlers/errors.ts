/**
 * What an error says once it leaves the machine.
 *
 * A failed tool's `state.error` is the message of whatever the tool threw (opencode 1.18.33's processor stores
 * `error.message`), so it can quote anything the tool saw: a path ("File not found: /home/me/secret.txt"), the
 * arguments ("The read tool was called with invalid arguments: SchemaError(Expected number, got \"…\")"), an MCP
 * server's own message, a failed write's target. By default only a content-free description is exported: one of
 * opencode's fixed sentences, or an error class, or "tool error". The text itself is exported only on opt-in.
 *
 * Provider and session errors (`api_error`, `session.error`) are the model provider's or opencode's messages, not
 * tool content; they are exported, bounded. Their `data` also holds the provider's response body and headers and
 * the request URL; only `message` and `statusCode` are decoded (src/events/schema.ts `ErrorInfo`).
 */
import { truncateText } from "./content.ts"
import type { ErrorInfo } from "../events/schema.ts"

/** The most of an error's own text exported (provider messages always; a tool's only on opt-in): 1,000 characters. */
export const ERROR_TEXT_LIMIT = 1_000

/** The description when nothing better is known: says a tool failed, nothing about how. */
export const GENERIC_TOOL_ERROR = "tool error"

/**
 * opencode's own messages, recognised by their fixed opening; each maps to text that holds nothing the tool saw.
 * What follows a fixed opening (the user's reject feedback, the permission rules, the subagent's error, a path,
 * the schema error quoting the arguments) is never kept. Only captures checked by these patterns are reused.
 */
const KNOWN_TOOL_ERRORS: ReadonlyArray<readonly [RegExp, (match: RegExpExecArray) => string]> = [
  // Permission: the reply "reject" (fixed), reject with feedback (the user's words follow), a deny rule (the rules follow).
  [/^The user rejected permission to use this specific tool call\.$/, () => "The user rejected permission to use this specific tool call."],
  [/^The user rejected permission to use this specific tool call with the following feedback:/, () => "The user rejected permission to use this specific tool call, with feedback."],
  [/^The user has specified a rule which prevents you from using this specific tool call\./, () => "The user has specified a rule which prevents you from using this specific tool call."],
  // Interrupted: the session was aborted mid-call; a subagent (task) was cancelled or failed (its error follows).
  [/^Tool execution aborted$/, () => "Tool execution aborted"],
  [/^Cancelled$/, () => "Cancelled"],
  [/^Tool execution failed\b/, () => "Tool execution failed"],
  // The edit tool's fixed advice when its oldString is absent or ambiguous.
  [/^Could not find oldString in the file\./, () => "Could not find oldString in the file."],
  [/^Found multiple (?:exact )?matches for oldString\./, () => "Found multiple matches for oldString."],
  // Arguments that do not fit the tool's schema: the schema error that follows quotes the values.
  [/^The \S+ tool was called with invalid arguments:/, () => "The tool was called with invalid arguments."],
  // read/edit of a missing file: the path, and read's "Did you mean" list of neighbours, follow.
  [/^File not found: /, () => "File not found."],
  [/^File .+ not found$/s, () => "File not found."],
  // The MCP client's JSON-RPC error: the code is the protocol's; the server's message follows.
  [/^MCP error (-?\d{1,6}):/, (m) => `MCP error ${m[1]}`],
  // Effect's file system errors: "<reason>: <Module>.<method> (<path>): <description>"; reason and operation only.
  [
    /^(AlreadyExists|BadResource|Busy|InvalidData|NotFound|PermissionDenied|TimedOut|UnexpectedEof|Unknown|WouldBlock|WriteZero): ([A-Z][A-Za-z]{0,31}\.[A-Za-z]{1,32})\b/,
    (m) => `${m[1]}: ${m[2]}`,
  ],
  // Effect's HTTP client errors (webfetch): "<reason> error (<method> <url>)" or "<reason>: <description> (…)".
  [/^(Transport|Encode|InvalidUrl|StatusCode|Decode|EmptyBody)(?: error \(|: )/, (m) => `${m[1]} error`],
  // Node's system errors ("ENOENT: no such file or directory, open '<path>'"): the code only.
  [
    /^(ENOENT|EACCES|EPERM|EISDIR|ENOTDIR|EEXIST|ENOTEMPTY|EMFILE|ENFILE|EBUSY|EROFS|ENOSPC|EINVAL|ELOOP|ENAMETOOLONG|E2BIG|EPIPE|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN)\b/,
    (m) => m[1]!,
  ],
]

/** A leading error class, "SomeError: …" or "SomeError" alone: an identifier, kept; the rest is not. */
const ERROR_CLASS = /^((?:[A-Za-z_$][\w$.]{0,58})?(?:Error|Exception))(?::|$)/

/** A content-free description of a failed tool's error text, at most about 100 characters. */
export const describeToolError = (text: string): string => {
  const trimmed = text.trim()
  for (const [pattern, describe] of KNOWN_TOOL_ERRORS) {
    const match = pattern.exec(trimmed)
    if (match !== null) return describe(match)
  }
  return ERROR_CLASS.exec(trimmed)?.[1] ?? GENERIC_TOOL_ERROR
}

/**
 * The `error` exported for a failed tool call: its description, or with the opt-in (OTEL_LOG_TOOL_DETAILS) the
 * tool's own text, cut at {@link ERROR_TEXT_LIMIT}.
 */
export const toolErrorText = (text: string, withDetails: boolean): string =>
  withDetails ? truncateText(text, ERROR_TEXT_LIMIT) : describeToolError(text)

/** A provider's or opencode's own error message, cut at {@link ERROR_TEXT_LIMIT}. */
export const boundedErrorMessage = (text: string): string => truncateText(text, ERROR_TEXT_LIMIT)

/**
 * A provider's or opencode's error: its name, its message (opencode may append the provider's response body to
 * it) cut at ERROR_TEXT_LIMIT, and the HTTP status. The rest of its data (response body and headers, the request
 * URL) is never decoded.
 */
export const errorAttributes = (error: ErrorInfo | undefined) => ({
  "error.type": error?.name ?? "UnknownError",
  error: boundedErrorMessage(error?.data?.message ?? error?.name ?? "unknown error"),
  status_code: error?.data?.statusCode === undefined ? "undefined" : String(error.data.statusCode),
})
