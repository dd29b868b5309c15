/**
 * HeaderProvider: the headers every OTLP export carries.
 *
 * Static headers come from OPENCODE_OTLP_HEADERS. The optional helper (OPENCODE_OTLP_HEADERS_HELPER) is an
 * executable that prints a JSON object of strings; its headers override static ones. The helper runs without
 * a shell, with a time and output limit, and with every variable that may hold OTLP credentials removed from
 * its environment. It is prewarmed once at start and run again on an auth failure; concurrent refreshes share
 * one run. Header values never appear in a log or an error.
 */
import { spawn } from "node:child_process"
import { Context, Effect, Fiber, Layer, Option, Schedule, Schema, Scope } from "effect"
import { Config, revealHeaders } from "./Config.ts"
import { CREDENTIAL_VARIABLES } from "../host/opencodeClient.ts"
import type { HeaderSnapshot, HeaderSource } from "../exporters/otlp.ts"
import { errorCode } from "../host/errorCode.ts"

/** Why a helper run produced no headers. Carries no output of the helper: it may hold secrets. */
export class HeaderHelperError extends Schema.TaggedError<HeaderHelperError>()("HeaderHelperError", {
  helper: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `OPENCODE_OTLP_HEADERS_HELPER ${this.helper} failed: ${this.reason}. Exports continue with the static headers.`
  }
}

/** Increments `version` whenever the headers change, so exporters know to rebuild. */
export type Snapshot = HeaderSnapshot

export interface Interface extends HeaderSource {
  /** The current headers; waits for the start-up prewarm (bounded by the helper timeout). */
  readonly current: Effect.Effect<Snapshot>
  /** Runs the helper again (no-op without one). Concurrent callers share one run. Never fails. */
  readonly refresh: Effect.Effect<Snapshot>
  /** True when a helper is configured, so an auth failure is worth a refresh. */
  readonly canRefresh: boolean
}

export class HeaderProvider extends Context.Service<HeaderProvider, Interface>()(
  "opencode-plugin-opentelemetry/HeaderProvider",
) {}

/** How long the first exports wait for the helper's first answer before using the static headers. */
export const PREWARM_WAIT_MS = 1_000

/** Largest helper output accepted; a token helper prints a few kilobytes at most. */
export const HELPER_MAX_OUTPUT_BYTES = 64 * 1024

/** Variables that may carry OTLP credentials; a child process never sees them. */
export { CREDENTIAL_VARIABLES }

const HelperOutput = Schema.fromJsonString(Schema.Record(Schema.String, Schema.String))
const decodeHelperOutput = Schema.decodeUnknownEffect(HelperOutput)

/**
 * Runs the helper once: no shell, no stdin, SIGKILL at the deadline or when output exceeds the limit.
 * The helper's environment is the plugin's, minus credential variables.
 */
export const runHelper = Effect.fn("HeaderProvider.runHelper")(function* (
  helper: string,
  options: { readonly timeoutMs: number; readonly cwd?: string | undefined; readonly env?: NodeJS.ProcessEnv | undefined },
) {
  const fail = (reason: string) => new HeaderHelperError({ helper, reason })
  const stdout = yield* Effect.callback<string, HeaderHelperError>((resume) => {
    const env = { ...(options.env ?? process.env) }
    for (const name of CREDENTIAL_VARIABLES) delete env[name]
    let child: ReturnType<typeof spawn>
    try {
      // Its own process group, so a timeout ends the helper and everything it started.
      child = spawn(helper, [], { shell: false, stdio: ["ignore", "pipe", "ignore"], cwd: options.cwd, env, detached: true })
    } catch (error) {
      resume(Effect.fail(fail(`it could not be started (${errorCode(error) ?? "unknown error"})`)))
      return
    }
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
        else child.kill("SIGKILL")
      } catch {
        // Already gone.
      }
    }
    // If opencode exits while the helper runs (its shutdown budget ran out), the helper goes with it.
    process.once("exit", killGroup)
    const chunks: Array<Buffer> = []
    let size = 0
    let settled = false
    const settle = (effect: Effect.Effect<string, HeaderHelperError>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      process.removeListener("exit", killGroup)
      resume(effect)
    }
    const timer = setTimeout(() => {
      killGroup()
      settle(Effect.fail(fail(`it did not finish within ${options.timeoutMs} ms and was stopped`)))
    }, options.timeoutMs)
    child.stdout?.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > HELPER_MAX_OUTPUT_BYTES) {
        killGroup()
        settle(Effect.fail(fail(`it printed more than ${HELPER_MAX_OUTPUT_BYTES} bytes and was stopped`)))
      } else chunks.push(chunk)
    })
    child.on("error", (error) => settle(Effect.fail(fail(`it could not be started (${errorCode(error) ?? "unknown error"})`))))
    child.on("close", (code, signal) => {
      if (code === 0) settle(Effect.succeed(Buffer.concat(chunks).toString("utf8")))
      else settle(Effect.fail(fail(signal ? `it was ended by ${signal}` : `it exited with code ${code}`)))
    })
    return Effect.sync(() => {
      if (!settled) {
        settled = true
        clearTimeout(timer)
        process.removeListener("exit", killGroup)
        killGroup()
      }
    })
  })
  return yield* decodeHelperOutput(stdout.trim()).pipe(
    // The decode issue would quote the output; say only what was wrong with its shape.
    Effect.mapError(() => fail("its output is not a JSON object of string values")),
  )
})

export const layer = Layer.effect(
  HeaderProvider,
  Effect.gen(function* () {
    const config = yield* Config
    const scope = yield* Scope.Scope
    const staticHeaders = revealHeaders(config.headers.static)
    let snapshot: Snapshot = { version: 0, headers: staticHeaders }
    let inflight: Fiber.Fiber<Snapshot> | undefined
    let lastError: string | undefined

    const runAndStore = (helper: string) =>
      runHelper(helper, { timeoutMs: config.headers.helperTimeoutMs, cwd: config.headers.helperCwd }).pipe(
        Effect.map((fromHelper) => {
          lastError = undefined
          const merged = { ...staticHeaders }
          // Header names are case-insensitive: a helper's "Authorization" replaces a static "authorization".
          for (const [k, v] of Object.entries(fromHelper)) merged[k.toLowerCase()] = v
          snapshot = { version: snapshot.version + 1, headers: merged }
          return snapshot
        }),
        Effect.catch((error: HeaderHelperError) =>
          Effect.gen(function* () {
            // One message per distinct failure, not one per export.
            if (lastError !== error.reason) {
              lastError = error.reason
              yield* Effect.logWarning(error.message)
            }
            return snapshot
          }),
        ),
      )

    const refreshWith = (helper: string) =>
      Effect.suspend(() => {
        if (inflight !== undefined) return Fiber.join(inflight)
        return Effect.gen(function* () {
          const fiber = yield* runAndStore(helper).pipe(
            Effect.ensuring(Effect.sync(() => void (inflight = undefined))),
            Effect.forkIn(scope),
          )
          inflight = fiber
          return yield* Fiber.join(fiber)
        })
      })

    const helper = config.headers.helper
    if (Option.isNone(helper)) {
      const current = Effect.sync(() => snapshot)
      return HeaderProvider.of({ current, refresh: current, canRefresh: false })
    }

    // Prewarm in the background: start-up never waits on the helper, the first export does (bounded).
    const prewarm = yield* refreshWith(helper.value).pipe(Effect.forkIn(scope))
    // And refresh on a period, before short-lived tokens expire (besides on every auth failure): a loop this
    // layer owns, interrupted when it closes.
    yield* Effect.sleep(config.headers.helperRefreshMs).pipe(
      Effect.andThen(Effect.repeat(refreshWith(helper.value), refreshSchedule(config.headers.helperRefreshMs))),
      Effect.forkIn(scope),
    )
    // The first exports wait for the prewarm, but not long: a short run must not lose everything to a slow
    // helper. Meanwhile the static headers apply; the helper's arrive with the next export.
    const prewarmWaitMs = Math.min(config.headers.helperTimeoutMs, PREWARM_WAIT_MS)
    let toldSlow = false
    const current = Effect.gen(function* () {
      const done = yield* Fiber.await(prewarm).pipe(Effect.timeoutOption(prewarmWaitMs))
      if (done._tag === "None" && !toldSlow) {
        toldSlow = true
        yield* Effect.logWarning(
          `OPENCODE_OTLP_HEADERS_HELPER ${helper.value} has not answered within ${prewarmWaitMs} ms; exporting with the static headers meanwhile.`,
        )
      }
      return snapshot
    }).pipe(Effect.withSpan("HeaderProvider.current"))
    const refresh = refreshWith(helper.value).pipe(Effect.withSpan("HeaderProvider.refresh"))
    return HeaderProvider.of({ current, refresh, canRefresh: true })
  }),
)

/** Between two periodic runs of the header helper (the first comes one period after start). */
export const refreshSchedule = (periodMs: number) => Schedule.spaced(periodMs)

/** Fixed headers, for tests and embedders that manage credentials themselves. */
export const layerStatic = (headers: Record<string, string>) =>
  Layer.succeed(
    HeaderProvider,
    HeaderProvider.of({ current: Effect.succeed({ version: 0, headers }), refresh: Effect.succeed({ version: 0, headers }), canRefresh: false }),
  )


