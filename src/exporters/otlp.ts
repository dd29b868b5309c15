/**
 * OTLP delivery: the protocols' exporters (loaded on demand) and the policies the resilient exporter
 * (resilient.ts) delivers by: retry once with refreshed headers on HTTP 401/403 or gRPC UNAUTHENTICATED /
 * PERMISSION_DENIED (`authRetry`), redeliver on `redeliverySchedule` while the collector is unreachable, the
 * buffer's bounds, and what a drop is called.
 */
import type { ExportResult } from "@opentelemetry/core"
import { Duration, Effect, Schedule } from "effect"
import type { Protocol, Signal } from "../config/catalog.ts"
import type { ProtocolExporters } from "./protocols/types.ts"
import type { Gate } from "./probe.ts"
import { errorCode } from "../host/errorCode.ts"

export type { OtlpTarget, ProtocolExporters } from "./protocols/types.ts"

/** Headers as the exporters use them: a version that changes whenever they do (the exporter is then rebuilt). */
export interface HeaderSnapshot {
  readonly version: number
  readonly headers: Readonly<Record<string, string>>
}

/**
 * What an exporter needs of the headers (the HeaderProvider service is one): the current ones, a refresh before
 * the retry of a rejected export, and whether a refresh can change anything.
 */
export interface HeaderSource {
  readonly current: Effect.Effect<HeaderSnapshot>
  readonly refresh: Effect.Effect<HeaderSnapshot>
  readonly canRefresh: boolean
}

/**
 * The exporters of one protocol. Loaded on demand: only the configured protocol's code (gRPC's is the largest)
 * is ever loaded, which keeps the plugin's start-up time and memory down.
 */
export const loadProtocol = async (protocol: Protocol): Promise<ProtocolExporters> => {
  switch (protocol) {
    case "grpc":
      return (await import("./protocols/grpc.ts")).exporters
    case "http/protobuf":
      return (await import("./protocols/http-protobuf.ts")).exporters
    case "http/json":
      return (await import("./protocols/http-json.ts")).exporters
  }
}

/**
 * After an auth failure: one more attempt, the headers refreshed before it (one helper run per rejected export,
 * not one per rejection).
 */
export const authRetry = (refresh: Effect.Effect<unknown>) => Schedule.recurs(1).pipe(Schedule.tap(() => refresh))

/** HTTP 401/403, gRPC UNAUTHENTICATED (16) / PERMISSION_DENIED (7). */
export const isAuthFailure = (protocol: Protocol, error: unknown): boolean => {
  const code = errorCode(error)
  return protocol === "grpc" ? code === 16 || code === 7 : code === 401 || code === 403
}


/** OTLP's retryable outcomes: gRPC UNAVAILABLE and friends, HTTP 429/502/503/504, and no answer at all. */
export const isRetryable = (protocol: Protocol, error: unknown): boolean => {
  const code = errorCode(error)
  if (typeof code !== "number") return true // connection refused, reset, timed out: the collector may come back
  return protocol === "grpc" ? [1, 4, 8, 10, 11, 14, 15].includes(code) : [408, 429, 502, 503, 504].includes(code)
}

/**
 * Between attempts to deliver buffered data: 1 s doubling to a 30 s cap. The buffer drains as soon as an
 * attempt succeeds; the loop stops at shutdown.
 */
export const redeliverySchedule = Schedule.exponential("1 second", 2).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(30)))),
)

/** The timeout of the one attempt at shutdown after the collector was found down: below the OTLP/HTTP exporters'
 * first retry backoff (0.8 s at least), so that a refused connection is not retried. */
export const LAST_TRY_TIMEOUT_MS = 500

/** How much a signal keeps while the collector is unreachable; past it, the oldest data is dropped and counted. */
export const BUFFER_LIMITS: Record<Signal, number> = { traces: 8_192, logs: 8_192, metrics: 120 }

/**
 * Why data was dropped: the retry buffer was full (no spool), the item alone exceeds it, the collector refused it
 * for good, exit (no spool), the spool's size cap, or a spool entry that could not be read back.
 */
export type DropReason = "buffer_full" | "too_large" | "rejected" | "shutdown" | "spool_full" | "spool_unreadable"

export const DROP_REASONS: Record<DropReason, string> = {
  buffer_full: "retry buffer full",
  too_large: "larger than the retry buffer",
  rejected: "rejected by the collector",
  shutdown: "not delivered before shutdown",
  spool_full: "spool full (OPENCODE_OTLP_SPOOL_MAX_MB)",
  spool_unreadable: "unreadable in the spool",
}


export interface DeliveryReport {
  /**
   * Called with the number of items dropped (spans, log records or metric batches), why, and any detail;
   * `explained` when opencode's log already says why (a protocol mismatch), so only the count is needed.
   */
  readonly onDrop: (signal: Signal, count: number, reason: DropReason, detail?: string, explained?: boolean) => void
  /** Called at exit with the number of items left in the spool for the next process. */
  readonly onSpooled?: ((signal: Signal, count: number, dir: string) => void) | undefined
  /** Called with the number of items taken from the spool (an earlier process's) to deliver. */
  readonly onRestored?: ((signal: Signal, count: number) => void) | undefined
  /** The spool cannot be written or read (once per signal). */
  readonly onSpoolError?: ((signal: Signal, error: unknown) => void) | undefined
}

/** Where a signal's exporter sends (for the log, without credentials) and what it waits on before sending. */
export interface DeliveryTarget {
  readonly endpoint: string
  readonly gate?: Gate | undefined
}

export interface InnerExporter<T> {
  export(items: T, resultCallback: (result: ExportResult) => void): void
  shutdown(): Promise<void>
  forceFlush?(): Promise<void>
}


/** Exporters that can count what they must leave undelivered when shutdown runs out of time. */
export const canAbandon = (exporter: unknown): exporter is { abandon(): void } =>
  typeof exporter === "object" && exporter !== null && "abandon" in exporter && typeof exporter.abandon === "function"

/** A URL as the log may show it: scheme, host, port and path; never user info, query or fragment (credentials). */
export const withoutCredentials = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`
  } catch {
    return "(an invalid URL)"
  }
}

/** A short description of an export error; never includes request headers. */
export const describeError = (error: unknown): string => {
  if (error instanceof Error) {
    const code = errorCode(error) === undefined ? "" : ` (code ${errorCode(error)})`
    return `${error.message.split("\n")[0]?.slice(0, 300) ?? "error"}${code}`
  }
  return "unknown error"
}

/** The longest a first failure waits for the endpoint check before it is reported as it is. */
export const DIAGNOSIS_WAIT_MS = 5_000
