/**
 * A small bridge from bun:test to Effect: `effectTest(layer)("name", () => Effect.gen(...))` runs the
 * effect with a fresh copy of the layer per test and fails the test with the pretty cause.
 */
import { test } from "bun:test"
import { Cause, Effect, Exit, Layer } from "effect"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"

export const effectTest =
  <R, E>(layer: Layer.Layer<R, E>) =>
  (name: string, body: () => Effect.Effect<unknown, unknown, R>, timeoutMs = 20_000) =>
    test(
      name,
      async () => {
        const program = Effect.suspend(body).pipe(Effect.provide(layer.pipe(Layer.provideMerge(OpencodeLog.layerSilent))))
        const exit = await Effect.runPromiseExit(program)
        if (Exit.isFailure(exit)) throw new Error(Cause.pretty(exit.cause))
      },
      timeoutMs,
    )

/** Runs an effect needing no services and returns its value (throws with the pretty cause). */
export const runEffect = async <A, E>(effect: Effect.Effect<A, E>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isFailure(exit)) throw new Error(Cause.pretty(exit.cause))
  return exit.value
}
