/**
 * Bundles the opencode entry point (dist/plugin.js) after `tsc` has built the rest of dist/.
 *
 * opencode loads the plugin into its own process at start-up and waits for it. Loaded module by module, the
 * plugin's dependencies (effect's index, the OpenTelemetry SDK) took about 200 ms and 50 MB; one tree-shaken,
 * minified bundle takes a fraction of that. Each OTLP protocol is a chunk of its own, loaded only when
 * configured. The Effect API (dist/index.js) stays unbundled: it must share the embedding program's `effect`.
 */
import { rmSync } from "node:fs"
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
