/**
 * What the plugin needs from opencode's side, with no dependencies: the log client and the credential variables
 * kept out of child processes. The plugin's entry uses these before (and whether or not) the rest loads.
 */
import { PACKAGE_NAME } from "../version.ts"

export type OpencodeLogLevel = "debug" | "info" | "warn" | "error"

/** The one method of opencode's SDK client the plugin logs through. */
export interface OpencodeLogClient {
  readonly app: {
    readonly log: (options: {
      body: { service: string; level: OpencodeLogLevel; message: string; extra?: Record<string, unknown> }
    }) => unknown
  }
}

/** Sends one message; a failure to log is dropped, never thrown. */
export const sendLog = (client: OpencodeLogClient | undefined, level: OpencodeLogLevel, message: string): void => {
  try {
    // opencode's log lines do not show the service, so the message names the plugin itself.
    const result = client?.app.log({ body: { service: PACKAGE_NAME, level, message: `${PACKAGE_NAME}: ${message}` } })
    if (result instanceof Promise) result.catch(() => undefined)
  } catch {
    // Logging must never break the host.
  }
}

/** Says that the plugin is loaded but switched off, for someone checking an installation with `--log-level DEBUG`. */
export const TELEMETRY_OFF = "loaded; telemetry is off (OPENCODE_ENABLE_TELEMETRY is not set to 1 or true)"

/** Variables that carry OTLP credentials: never passed to the header helper or to the bash tool's processes. */
export const CREDENTIAL_VARIABLES = [
  "OPENCODE_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
  "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
  "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
] as const

/** The parts of opencode's plugin input this plugin reads. */
export interface OpencodePluginInput {
  readonly client?: OpencodeLogClient | undefined
  readonly project?: { readonly worktree?: string | undefined } | undefined
  readonly directory?: string | undefined
  readonly worktree?: string | undefined
}

export interface OpencodeHooks {
  event?: (input: { event: unknown }) => Promise<void>
  "chat.message"?: (input: unknown, output: unknown) => Promise<void>
  "shell.env"?: (input: unknown, output: { env: Record<string, string | undefined> }) => Promise<void>
  /** Before each model request (awaited by opencode): `input.provider` carries the API key, never read here. */
  "chat.headers"?: (input: unknown, output: { headers: Record<string, string> }) => Promise<void>
  "tool.execute.before"?: (input: unknown, output: unknown) => Promise<void>
  dispose?: () => Promise<void>
}

/** Resolves with the promise's value, or undefined after `ms`; the timer never keeps the process alive. */
export const withTimeout = <A>(promise: Promise<A>, ms: number): Promise<A | undefined> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
    // Never keep opencode's process alive for our sake.
    timer.unref?.()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export const describe = (error: unknown): string => (error instanceof Error ? error.message : "unknown error")
