/**
 * Bundles the opencode entry point (dist/plugin.js) after `tsc` has built the rest of dist/.
 *
 * opencode loads the plugin into its own process at start-up and waits for it. Loaded module by module, the
 * plugin's dependencies (effect's index, the OpenTelemetry SDK) took about 200 ms and 50 MB; one tree-shaken,
 * minified bundle takes a fraction of that. Each OTLP protocol is a chunk of its own, loaded only when
 * configured. The Effect API (dist/index.js) stays unbundled: it must share the embedding program's `effect`.
 *
 * A second entry, dist/opencode-plugin-opentelemetry.js, is the same plugin as ONE self-contained file (nothing
 * imported but Bun's built-in modules), to copy into one of opencode's plugin directories (`.opencode/plugin/`,
 * `~/.config/opencode/plugin/`, where opencode loads each `*.js`/`*.ts` file as a plugin): dist/plugin.js copied
 * there fails without its chunks. Its heavy part (src/start.ts with Effect, the OpenTelemetry SDK and all three
 * protocols) is a CommonJS bundle wrapped in a function that runs only when telemetry is switched on, on a later
 * turn of the event loop: importing the file only parses it (about 14 ms here, against 32 ms to import and 20 ms
 * to start for a plain single-file bundle, and 1 ms for dist/plugin.js).
 */
import { rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { BunPlugin } from "bun"

const root = join(import.meta.dir, "..")

/**
 * The OpenTelemetry SDK imports a few attribute names from @opentelemetry/semantic-conventions, whose index
 * builds objects of every name there is: nothing of it can be left out, 80 KB of the bundle. Its stable
 * attributes module is plain constants, so only the names used are kept.
 */
const stableSemanticConventions: BunPlugin = {
  name: "stable-semantic-conventions",
  setup(build) {
    build.onResolve({ filter: /^@opentelemetry\/semantic-conventions$/ }, () => ({
      path: join(root, "node_modules", "@opentelemetry", "semantic-conventions", "dist", "stable_attributes.mjs"),
    }))
  },
}
rmSync(join(root, "dist", "chunks"), { recursive: true, force: true })
const result = await Bun.build({
  entrypoints: [join(root, "src", "plugin.ts")],
  outdir: join(root, "dist"),
  target: "bun",
  format: "esm",
  splitting: true,
  minify: true,
  sourcemap: "none",
  naming: { entry: "[name].js", chunk: "chunks/[name]-[hash].js", asset: "chunks/[name]-[hash].[ext]" },
  plugins: [stableSemanticConventions],
})
if (!result.success) {
  for (const message of result.logs) console.error(message)
  process.exit(1)
}
for (const output of result.outputs) console.log(`${output.path.slice(root.length + 1)}  ${(output.size / 1024).toFixed(0)} KB`)

/** Fails the build with Bun's messages. */
const built = async (build: Promise<Bun.BuildOutput>, what: string): Promise<string> => {
  const output = await build
  if (!output.success || output.outputs.length !== 1) {
    for (const message of output.logs) console.error(message)
    console.error(`bundling ${what} failed`)
    process.exit(1)
  }
  return output.outputs[0]!.text()
}

/** `import("./start.ts")` in src/plugin.ts, left in the single file's entry as this import, replaced below. */
const START_MARKER = "opencode-plugin-opentelemetry:start"
const entry = await built(
  Bun.build({
    entrypoints: [join(root, "src", "plugin.ts")],
    target: "bun",
    format: "esm",
    splitting: false,
    minify: true,
    sourcemap: "none",
    plugins: [
      {
        name: "start-later",
        setup(build) {
          build.onResolve({ filter: /^\.\/start\.ts$/ }, () => ({ path: START_MARKER, external: true }))
        },
      },
    ],
  }),
  "the single-file entry",
)
// Bun's CommonJS output is one `(function(exports, require, module, __filename, __dirname) {...})` expression.
const heavy = (
  await built(
    Bun.build({
      entrypoints: [join(root, "src", "start.ts")],
      target: "bun",
      format: "cjs",
      splitting: false,
      minify: true,
      sourcemap: "none",
      plugins: [stableSemanticConventions],
    }),
    "src/start.ts",
  )
)
  .replace(/^\/\/ @bun[^\n]*\n/, "")
  .trim()
  .replace(/;$/, "")
const marker = `import("${START_MARKER}")`
const [head, tail, ...more] = entry.split(marker)
if (!heavy.startsWith("(function(exports, require, module, __filename, __dirname)") || tail === undefined || more.length > 0) {
  console.error(`the single-file bundle has not the expected shape (one ${marker}, a CommonJS function)`)
  process.exit(1)
}
// Evaluated once per process (opencode calls the plugin once per project instance), on a later turn of the event
// loop, so that opencode's wait for the plugin's function is not spent on it.
const loader = [
  `import{createRequire as __otelCreateRequire}from"node:module";`,
  `var __otelStart;`,
  `var __otelLoadStart=()=>__otelStart??=new Promise((resolve)=>setImmediate(resolve)).then(()=>{`,
  `const module={exports:{}};`,
  `(${heavy})(module.exports,__otelCreateRequire(import.meta.url),module,import.meta.path,import.meta.dir);`,
  `return module.exports});`,
].join("")
const single = `${head!.replace(/^(\/\/ @bun[^\n]*\n)?/, (pragma) => `${pragma || "// @bun\n"}${loader}\n`)}__otelLoadStart()${tail}`
const singlePath = join(root, "dist", "opencode-plugin-opentelemetry.js")
writeFileSync(singlePath, single)
console.log(`${singlePath.slice(root.length + 1)}  ${(single.length / 1024).toFixed(0)} KB`)
