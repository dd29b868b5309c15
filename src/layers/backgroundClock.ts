/**
 * The opencode runtime's clock: Effect's own, except that its timers never keep the process alive. The plugin's
 * background loops (redelivery, the header helper's period, the turn flush, the session sweep) wait on it; opencode
 * must be able to exit whatever they are waiting for. Embedders and tests keep their own clock (a TestClock).
 */
import { Clock, Duration, Effect, Layer } from "effect"

const MAX_TIMER_MS = 2 ** 31 - 1

const sleepMillis = (ms: number): Effect.Effect<void> => {
  if (ms <= 0) return Effect.yieldNow
  if (!Number.isFinite(ms)) return Effect.never
  return Effect.callback<void>((resume) => {
    const handle = setTimeout(() => resume(ms > MAX_TIMER_MS ? sleepMillis(ms - MAX_TIMER_MS) : Effect.void), Math.min(ms, MAX_TIMER_MS))
    handle.unref?.()
    return Effect.sync(() => clearTimeout(handle))
  })
}

export const make = (base: Clock.Clock): Clock.Clock => ({
  currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe(),
  currentTimeMillis: base.currentTimeMillis,
  currentTimeNanosUnsafe: () => base.currentTimeNanosUnsafe(),
  currentTimeNanos: base.currentTimeNanos,
  monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
  monotonicTimeNanos: base.monotonicTimeNanos,
  sleep: (duration) => sleepMillis(Duration.toMillis(duration)),
})

/** Effect's clock with unreferenced timers. */
export const layer = Layer.effect(Clock.Clock, Effect.map(Effect.clockWith(Effect.succeed), make))
