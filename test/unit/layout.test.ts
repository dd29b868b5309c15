/**
 * The layout shows the architecture (docs/design.md): lower rooms never import upper ones, handlers share modules
 * but never import each other, and no source file is over 400 lines.
 */
import { expect, test } from "bun:test"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"

const SRC = join(import.meta.dir, "..", "..", "src")

const files = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : []
  })

/** The room of a source file, lowest first. */
const RANKS: ReadonlyArray<[string, RegExp]> = [
  ["catalog", /^(signals|signalReference|version)\.ts$|^(config|events|naming|lines|git)\//],
  ["host", /^host\//],
  ["exporters", /^exporters\//],
  ["services", /^services\//],
  ["handlers", /^handlers\//],
  ["layers", /^layers\//],
  ["runtime", /^(start|plugin|index)\.ts$/],
]
const rankOf = (path: string): number => {
  const rel = relative(SRC, path)
  const rank = RANKS.findIndex(([, pattern]) => pattern.test(rel))
  if (rank < 0) throw new Error(`no room for ${rel}`)
  return rank
}
/** Relative imports of a file, static and dynamic, type-only included (they are dependencies of the design). */
const importsOf = (path: string): Array<string> =>
  [...readFileSync(path, "utf8").matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)].map((m) => resolve(dirname(path), m[1]!))

test("lower rooms never import upper ones", () => {
  const violations = files(SRC).flatMap((file) =>
    importsOf(file)
      .filter((target) => rankOf(target) > rankOf(file))
      .map((target) => `${relative(SRC, file)} (${RANKS[rankOf(file)]![0]}) imports ${relative(SRC, target)} (${RANKS[rankOf(target)]![0]})`),
  )
  expect(violations).toEqual([])
})

test("handlers import shared modules, never each other", () => {
  const shared = new Set(["common.ts", "content.ts", "context.ts", "errors.ts", "language.ts"])
  const handlers = files(join(SRC, "handlers"))
  const violations = handlers
    .filter((file) => !file.endsWith("index.ts") && !shared.has(relative(join(SRC, "handlers"), file)))
    .flatMap((file) =>
      importsOf(file)
        .filter((target) => dirname(target) === join(SRC, "handlers") && !shared.has(relative(join(SRC, "handlers"), target)))
        .map((target) => `${relative(SRC, file)} imports ${relative(SRC, target)}`),
    )
  expect(violations).toEqual([])
})

test("no source file is over 400 lines", () => {
  const long = files(SRC)
    .map((file) => [relative(SRC, file), readFileSync(file, "utf8").split("\n").length - 1] as const)
    .filter(([, lines]) => lines > 400)
  expect(long).toEqual([])
})
