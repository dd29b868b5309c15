/**
 * The plugin's running part, loaded by the entry (src/plugin.ts) in the background: one ManagedRuntime per plugin
 * instance. Every hook is total: failures and defects are caught and sent to opencode's log, never thrown (a throw
 * in some hooks fails the user's prompt). `dispose` flushes within the shutdown budget. No signal handlers, no
 * globals, no writes to the terminal, no changes to process.env.
 */
import { Effect, Layer, ManagedRuntime, Queue } from "effect"
import {
  chatHeadersContext,
  chatMessage,
  dispatchEvent,
  endAll,
  handlerContext,
  readType,
  shellEnvContext,
  sweep,
  toolBefore,
  wantsTraceContext,
  type HandlerContext,
} from "./handlers/index.ts"
import type { HandledType } from "./events/schema.ts"
import * as BackgroundClock from "./layers/backgroundClock.ts"
import * as OpencodeLog from "./layers/opencodeLog.ts"
import * as Telemetry from "./layers/telemetry.ts"
import * as Config from "./services/Config.ts"
import { identity } from "./config/identity.ts"
import { opencodeVersion } from "./host/opencodeVersion.ts"
import { learnHost } from "./host/opencodeHost.ts"
import { fileDirOf, spoolDirOf } from "./host/opencodeState.ts"
import { randomUUID } from "node:crypto"
import { readRepository } from "./git/repository.ts"
import { Exporter } from "./services/Exporter.ts"
import { TELEMETRY_OFF, withTimeout, type OpencodeHooks, type OpencodePluginInput } from "./host/opencodeClient.ts"

/** A session untouched this long is ended and its state released (a TUI can stay open for days). */
const SESSION_IDLE_RELEASE_MS = 30 * 60_000
const SWEEP_EVERY_MS = 60_000
/**
 * A turn's telemetry is sent this long after the turn ends. Turns that end close together (concurrent sessions)
 * share one flush, and `opencode run`, which disposes within ~100 ms of its last turn, sends everything once.
 */
const TURN_FLUSH_DELAY_MS = 1_000
/** The longest a model request waits for its trace context (the queue ahead of it normally drains in microseconds). */
const CHAT_HEADERS_WAIT_MS = 250

/** Decodes the settings, builds the services and returns the hooks; `{}` when telemetry is off. Throws only on a bug. */
export const start = async (input: OpencodePluginInput, options: unknown): Promise<OpencodeHooks> => {
  const client = input.client
  const directory = input.directory ?? process.cwd()
  const workspace: Config.Workspace = {
    projectRoot: input.project?.worktree ?? input.worktree ?? directory,
    worktree: input.worktree ?? directory,
    directory,
  }

  // Decode once, up front: a setting problem is reported before anything is built. The installation id is read
  // (or created) only for the claude-code profile, which reports it as user.id. opencode's version and MCP servers
  // are asked of opencode in the background; the resource waits for the version (bounded) before an export.
  const host = learnHost(input.client, opencodeVersion(process.env))
  const config = await Effect.runPromise(
    Effect.provide(Effect.service(Config.Config), Config.layerFrom({
        options,
        workspace,
        identity: () => identity(process.env),
        host: {
          opencodeVersion: host.version,
          mcpServers: host.mcpServers,
          instanceId: randomUUID(),
          spoolDir: spoolDirOf(process.env),
          fileDir: fileDirOf(process.env),
          // opencode's directory first: in a linked worktree, the project's worktree may name the main checkout.
          repository: () => readRepository([directory, workspace.worktree, workspace.projectRoot]),
        },
      })),
  )
  for (const problem of config.problems) OpencodeLog.sendLog(client, "warn", problem.message)
  if (!config.enabled) {
    host.settle()
    if (config.problems.length > 0) OpencodeLog.sendLog(client, "error", "Telemetry is disabled because of the settings above.")
    else OpencodeLog.sendLog(client, "debug", TELEMETRY_OFF)
    return {}
  }

  // The turn flush and the session sweep: loops of the runtime's own layer, so that disposing the runtime ends
  // them. The sweep is queued behind the hooks like any job; `queueSweep` is bound once the queue exists.
  const flushRequests = Effect.runSync(Queue.dropping<void>(1))
  let queueSweep = () => {}
  const maintenance = Layer.effectDiscard(
    Effect.gen(function* () {
      const exporter = yield* Exporter
      // End of a turn: send what it produced soon, not at the next interval, so a SIGTERM (which ends opencode
      // without dispose) loses little. Requests while one waits share its flush.
      yield* Queue.take(flushRequests).pipe(
        Effect.andThen(Effect.sleep(TURN_FLUSH_DELAY_MS)),
        Effect.andThen(Queue.clear(flushRequests)),
        Effect.andThen(exporter.flush),
        Effect.forever,
        Effect.forkScoped,
      )
      yield* Effect.sync(() => queueSweep()).pipe(Effect.delay(SWEEP_EVERY_MS), Effect.forever, Effect.forkScoped)
    }),
  )
  const layer = maintenance.pipe(
    Layer.provideMerge(Telemetry.layer),
    Layer.provideMerge(Layer.succeed(Config.Config, config)),
    // provideMerge, not provide: the runtime's own effects must log through opencode too, not the console.
    Layer.provideMerge(OpencodeLog.layer(client)),
    // Timers that never keep opencode's process alive, for every loop above and in the services.
    Layer.provideMerge(BackgroundClock.layer),
  )
  const runtime = ManagedRuntime.make(layer)

  // Build the services now, so configuration faults show at start-up rather than on the first event; the
  // handlers' context (the services' synchronous surfaces) is resolved once.
  const ctx: HandlerContext = await runtime.runPromise(handlerContext)

  // Hooks are handled one at a time, in the order opencode calls them (a message must not be counted before
  // its session is known), and off opencode's call: a hook only queues a job, and the jobs queued meanwhile
  // run together after the current macrotask. `event` thus returns in about a microsecond (opencode's bus
  // waits for that much). A job is a plain call of a handler (no fiber, no Effect per event: the README's
  // "Where the hot path departs"); one that returns a promise (a file or git's reflog to read) is waited for
  // before the next, so the order holds.
  type Job =
    /** A bus event: nothing waits for it. */
    | { readonly event: unknown; readonly type: HandledType }
    /** A hook's work; `settle` resolves the hook's promise with its value, or undefined if it failed. */
    | { readonly run: (ctx: HandlerContext) => unknown; readonly settle: (value: unknown) => void; readonly what: string }
  const reportFailure = (what: string) => OpencodeLog.sendLog(client, "warn", `Telemetry ${what} failed; opencode is unaffected`)
  const isPromise = (value: unknown): value is Promise<unknown> => value instanceof Promise

  let jobs: Array<Job> = []
  let draining = false
  const drain = async () => {
    while (jobs.length > 0) {
      const batch = jobs
      jobs = []
      for (const job of batch) {
        const what = "event" in job ? "event handling" : job.what
        let value: unknown
        try {
          value = "event" in job ? dispatchEvent(ctx, job.event, job.type) : job.run(ctx)
          if (isPromise(value)) value = await value
        } catch {
          value = undefined
          reportFailure(what)
        }
        if ("settle" in job) job.settle(value)
      }
    }
    draining = false
  }
  const queue = (job: Job) => {
    jobs.push(job)
    if (draining) return
    draining = true
    setImmediate(() => void drain())
  }
  /** Queues a hook's work; the promise resolves with its value, or undefined if it failed (reported, never thrown). */
  const submit = <A>(work: (ctx: HandlerContext) => A | Promise<A>, what: string): Promise<A | undefined> =>
    new Promise<A | undefined>((resolve) => queue({ run: work, settle: (value) => resolve(value as A | undefined), what }))

  // A pull endpoint asked to linger may hold the exit that much longer, for one last scrape.
  const budget = config.shutdownTimeoutMs + (config.metrics.prometheus?.lingerMs ?? 0)
  let disposed = false
  const listed = config.traces.propagationProviders
  const noPropagation = listed !== "*" && listed.size === 0
  queueSweep = () => void submit((ctx) => sweep(ctx, SESSION_IDLE_RELEASE_MS), "session sweep")
  // A turn ended, or stopped to ask a person (who may never answer): what it did so far goes out soon. Not
  // queued behind the hooks: a slow collector must not delay the next one.
  const scheduleTurnFlush = () => void Queue.offerUnsafe(flushRequests, undefined)
  return {
    event: async (input) => {
      try {
        if (disposed) return
        const event = input?.event
        // Most events (streamed deltas, plugin and catalog notices) are not read: they never reach the runtime.
        const type = readType(event)
        if (type === undefined) return
        queue({ event, type })
        if (type === "session.idle" || type === "permission.asked") scheduleTurnFlush()
      } catch {
        // A hostile event (a throwing getter, a Proxy): nothing to record, nothing to throw.
      }
    },
    "tool.execute.before": async (input, output) => {
      if (disposed) return
      await submit((ctx) => toolBefore(ctx, input, output, directory), "tool handling")
    },
    "chat.message": async (input, output) => {
      if (disposed) return
      await submit((ctx) => chatMessage(ctx, input, output), "prompt handling")
    },
    // opencode passes its whole environment to the bash tool's processes; a model can be talked into running
    // `env`. Credential variables are removed (an undefined value drops the variable from the child's env).
    // The tool's trace context goes the other way: scripts that read TRACEPARENT nest under the tool's span.
    "shell.env": async (input, output) => {
      try {
        // Credential variables were already removed by the entry, whatever becomes of this part.
        if (disposed) return
        // Behind the queue, so the tool's `running` event (sent just before) has opened its span.
        const context = await submit((ctx) => shellEnvContext(ctx, input), "trace context")
        if (context === undefined) return
        output.env["TRACEPARENT"] = context.traceparent
        if (context.tracestate !== undefined) output.env["TRACESTATE"] = context.tracestate
      } catch {
        // A malformed output object: nothing to write into, and nothing to throw.
      }
    },
    // Before each model request (opencode awaits it): a listed provider's request carries the trace context of
    // its LLM call's span. Behind the queue, so the assistant message's message.updated (sent just before) has
    // opened that span. With no provider listed (the default), it returns at once.
    "chat.headers": async (input, output) => {
      try {
        // Requests to providers not listed go on at once; a listed one waits behind the queued events (which open
        // its chat span) a bounded time only: the model request is opencode's, not ours to hold.
        if (disposed || noPropagation || !wantsTraceContext(input, listed)) return
        const context = await withTimeout(submit((ctx) => chatHeadersContext(ctx, input), "trace context"), CHAT_HEADERS_WAIT_MS)
        if (context === undefined) return
        output.headers["traceparent"] = context.traceparent
        if (context.tracestate !== undefined) output.headers["tracestate"] = context.tracestate
      } catch {
        // A malformed output object: nothing to write into, and nothing to throw.
      }
    },
    dispose: async () => {
      if (disposed) return
      disposed = true
      // The last export must not wait for opencode's answer.
      host.settle()
      // One deadline for everything: record every session's end (ending open spans), then release the layers,
      // which flushes all three signals and shuts the providers down. opencode's exit waits at most `budget`.
      await withTimeout(
        (async () => {
          await submit(endAll, "session end")
          await runtime.dispose()
        })(),
        budget,
      ).catch(() => undefined)
    },
  }
}
