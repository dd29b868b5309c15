/**
 * Export headers: the static OPENCODE_OTLP_HEADERS list (secrets: kept Redacted, never in a problem) and the
 * header helper, an executable whose path may use the workspace placeholders.
 */
import { Option, Redacted } from "effect"
import { HELPER_PLACEHOLDERS } from "./catalog.ts"
import { duration, headerList, isOneOf, trimmed, type Input } from "./values.ts"

/** Paths of the opencode project, substituted into the header helper's placeholders. */
export interface Workspace {
  readonly projectRoot: string
  readonly worktree: string
  readonly directory: string
}

export interface Headers {
  readonly static: Readonly<Record<string, Redacted.Redacted<string>>>
  /** Absolute path of the helper after placeholder substitution. */
  readonly helper: Option.Option<string>
  readonly helperTimeoutMs: number
  /** Working directory of the helper: opencode's directory. */
  readonly helperCwd: string | undefined
  /** The helper also runs on this period, before tokens expire. */
  readonly helperRefreshMs: number
}

type Resolved = { readonly _tag: "Right"; readonly value: string } | { readonly _tag: "Left"; readonly reason: string }

const resolveHelperPath = (template: string, workspace: Workspace | undefined): Resolved => {
  const values: Record<(typeof HELPER_PLACEHOLDERS)[number], string | undefined> = {
    PROJECT_ROOT: workspace?.projectRoot,
    WORKTREE: workspace?.worktree,
    DIRECTORY: workspace?.directory,
  }
  let unknown: string | undefined
  const path = template.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
    if (!isOneOf(HELPER_PLACEHOLDERS, name)) {
      unknown ??= whole
      return whole
    }
    return values[name] ?? whole
  })
  if (unknown !== undefined)
    return { _tag: "Left", reason: `an absolute path; placeholders are \${PROJECT_ROOT}, \${WORKTREE}, \${DIRECTORY} (found ${unknown})` }
  if (/\$\{/.test(path)) return { _tag: "Left", reason: "an absolute path; a placeholder could not be resolved here" }
  if (!path.startsWith("/")) return { _tag: "Left", reason: "an absolute path to an executable (run without a shell)" }
  return { _tag: "Right", value: path }
}

/** The static headers; none when the list is bad (which switches telemetry off). */
const decodeStaticHeaders = (input: Input): Record<string, Redacted.Redacted<string>> =>
  headerList(
    input,
    "OPENCODE_OTLP_HEADERS",
    "comma-separated name=value pairs with valid HTTP header names (values may contain '=', percent-encoded where needed)",
  ) ?? {}

const decodeHelper = (input: Input, workspace: Workspace | undefined): Option.Option<string> => {
  const template = trimmed(input, "OPENCODE_OTLP_HEADERS_HELPER")
  if (template === undefined) return Option.none()
  const resolved = resolveHelperPath(template, workspace)
  if (resolved._tag === "Right") return Option.some(resolved.value)
  input.report("OPENCODE_OTLP_HEADERS_HELPER", input.raw.OPENCODE_OTLP_HEADERS_HELPER, resolved.reason)
  return Option.none()
}

/** The helper's timing: both durations fall back to their defaults when bad. */
const decodeHelperTiming = (input: Input) => ({
  helperRefreshMs: duration(input, "OPENCODE_OTLP_HEADERS_HELPER_REFRESH"),
  helperTimeoutMs: duration(input, "OPENCODE_OTLP_HEADERS_HELPER_TIMEOUT"),
})

export const decodeHeaders = (input: Input, workspace: Workspace | undefined): Headers => ({
  static: decodeStaticHeaders(input),
  helper: decodeHelper(input, workspace),
  ...decodeHelperTiming(input),
  helperCwd: workspace?.directory,
})

/** Header values for an exporter; the only place secrets leave their Redacted wrapper. */
export const revealHeaders = (headers: Readonly<Record<string, Redacted.Redacted<string>>>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Redacted.value(v)]))
