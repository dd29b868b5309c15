/**
 * opencode waits for the plugin's function before it goes on starting: the entry must load nothing heavy. Its
 * static imports, followed through, reach no package at all (Effect and the OpenTelemetry SDK come in with
 * src/start.ts, imported dynamically).
 */
import { expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"

const SRC = join(import.meta.dir, "..", "..", "src")

/** Specifiers of the static, non-type imports and re-exports of one module. */
const staticImports = (file: string): Array<string> =>
  [...readFileSync(file, "utf8").matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s+"([^"]+)"/gms)].map((m) => m[1]!)

test("the plugin entry statically loads no package, only small local modules", () => {
  const seen = new Set<string>()
  const packages: Array<string> = []
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    for (const specifier of staticImports(file)) {
      if (specifier.startsWith(".")) visit(resolve(dirname(file), specifier))
      else packages.push(`${file.slice(SRC.length + 1)} -> ${specifier}`)
    }
  }
  visit(join(SRC, "plugin.ts"))
  expect(packages).toEqual([])
  expect([...seen].map((f) => f.slice(SRC.length + 1)).sort()).toEqual(["host/opencodeClient.ts", "plugin.ts", "version.ts"])
})
