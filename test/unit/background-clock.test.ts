/**
 * The opencode runtime's clock never keeps the process alive: a loop waiting an hour on it lets the process end as
 * soon as nothing else runs, where Effect's default clock would hold it for the hour.
 */
import { expect, test } from "bun:test"
import { spawn } from "node:child_process"
import { join } from "node:path"

const SRC = join(import.meta.dir, "..", "..", "src", "layers", "backgroundClock.ts")
const program = (withBackgroundClock: boolean) => `
import { Effect, Layer } from "effect"
import * as BackgroundClock from ${JSON.stringify(SRC)}
const loop = Layer.effectDiscard(Effect.forkScoped(Effect.forever(Effect.sleep("1 hour"))))
const layer = ${withBackgroundClock ? "loop.pipe(Layer.provide(BackgroundClock.layer))" : "loop"}
// Built and left open, as the plugin's runtime is while opencode runs.
Effect.runFork(Layer.launch(layer))
`

/** Milliseconds until the child exits by itself, or undefined when it is still running after `limitMs`. */
const exitsWithin = (source: string, limitMs: number) =>
  new Promise<number | undefined>((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, ["-e", source], { cwd: join(import.meta.dir, "..", ".."), stdio: "ignore" })
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      resolve(undefined)
    }, limitMs)
    child.on("exit", () => {
      clearTimeout(timer)
      resolve(Date.now() - started)
    })
  })

test("a loop sleeping on the background clock does not hold the process", async () => {
  expect(await exitsWithin(program(true), 5_000)).toBeDefined()
}, 15_000)

test("the same loop on Effect's default clock does (what the background clock is for)", async () => {
  expect(await exitsWithin(program(false), 2_000)).toBeUndefined()
}, 15_000)
