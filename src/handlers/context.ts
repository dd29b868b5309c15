/**
 * What the per-event path works with: the configuration and the synchronous surfaces of SessionStore and
 * Instruments, resolved once. Handlers are plain functions of it: an event is handled in one synchronous call
 * (or, where a file must be read, one promise), not a fiber and an Effect per step; see the README's "Where the
 * hot path departs". The Effect API (`handleEvent` and the other hooks in ./index.ts) builds it from the layers.
 */
import { Effect } from "effect"
import { Config, type Interface as ConfigValue } from "../services/Config.ts"
import { Instruments, type Recorder } from "../services/Instruments.ts"
import { SessionStore, type Sessions } from "../services/SessionStore.ts"

export interface HandlerContext {
  readonly config: ConfigValue
  readonly sessions: Sessions
  readonly instruments: Recorder
  /** A warning for the log (opencode's, through the runtime's logger). */
  readonly warn: (message: string) => void
}

/** A handler's result: done, or a promise to wait for before the next event is handled (order is kept). */
export type Handled = void | Promise<void>

/** The context from the services in scope; its warnings go through the logger of the fiber that built it. */
export const handlerContext: Effect.Effect<HandlerContext, never, Config | SessionStore | Instruments> = Effect.gen(function* () {
  const config = yield* Config
  const sessions = (yield* SessionStore).sessions
  const instruments = (yield* Instruments).recorder
  const services = yield* Effect.context<never>()
  const log = Effect.runForkWith(services)
  return { config, sessions, instruments, warn: (message) => void log(Effect.logWarning(message)) }
})
