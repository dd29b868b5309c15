/**
 * npm run demo [-- --protocol grpc|http/protobuf|http/json] [--prompt "..."]
 *
 * Runs the real opencode CLI (the pinned opencode-ai devDependency) headless with this plugin loaded from
 * source, against a built-in scripted model on 127.0.0.1, and sends the telemetry to an OTLP receiver embedded
 * here. Then prints what arrived: a metrics table, the log events and the span tree. Nothing leaves the machine.
 */
import { join } from "node:path"
import { parseArgs } from "node:util"
import { startFakeLlm } from "../test/support/fake-llm.ts"
import { createOpencodeHome, REPO_ROOT, removeOpencodeHome, runOpencode } from "../test/support/opencode.ts"
import { startReceiver, type Protocol } from "../test/support/otlp-receiver.ts"
import { report } from "./report.ts"

const { values } = parseArgs({
  options: {
    protocol: { type: "string", default: "grpc" },
    prompt: { type: "string", default: "List the files in this project, then say hello." },
  },
})
const protocol = values.protocol as Protocol
if (!["grpc", "http/protobuf", "http/json"].includes(protocol)) {
  console.error(`--protocol must be grpc, http/protobuf or http/json (got ${protocol})`)
  process.exit(2)
}

const receiver = await startReceiver({ protocol })
// The scripted model: one bash tool call, then an answer; every response reports its own token usage.
const llm = await startFakeLlm({
  script: [
    { toolCall: { name: "bash", arguments: { command: "ls", description: "List files" } }, usage: { prompt: 1200, completion: 40, cached: 200 } },
    { text: "Hello! The project holds a README and a git history.", usage: { prompt: 1400, completion: 60, cached: 1000, reasoning: 12 } },
  ],
})
const home = await createOpencodeHome()

console.log(`Running: opencode run "${values.prompt}"`)
console.log(`  with this plugin (src/plugin.ts), telemetry over ${protocol} to an OTLP receiver inside this demo`)
console.log(`  (${receiver.url}), against a scripted model on 127.0.0.1 (one bash call, then an answer).`)
console.log("  Nothing leaves the machine.\n")
try {
  const run = await runOpencode({
    prompt: values.prompt!,
    llmUrl: llm.url,
    home,
    plugins: [join(REPO_ROOT, "src", "plugin.ts")],
    env: {
      OPENCODE_ENABLE_TELEMETRY: "1",
      OPENCODE_OTLP_ENDPOINT: receiver.url,
      OPENCODE_OTLP_PROTOCOL: protocol,
      OPENCODE_RESOURCE_ATTRIBUTES: "deployment.environment=demo",
    },
  })
  console.log(`opencode exited with ${run.exitCode} after ${(run.durationMs / 1000).toFixed(1)} s and printed:`)
  console.log(run.stdout.trimEnd().replace(/^/gm, "  │ "))
  console.log("")
  console.log(report(receiver))
  const port = protocol === "grpc" ? 4317 : 4318
  console.log(`
To do the same with your own opencode and an OpenTelemetry collector on localhost:${port}:
  npm run build
  # in opencode.json (the project's, or ~/.config/opencode/opencode.json):
  #   { "plugin": ["file://${join(REPO_ROOT, "dist", "plugin.js")}"] }
  export OPENCODE_ENABLE_TELEMETRY=1
  export OPENCODE_OTLP_PROTOCOL=${protocol}
  export OPENCODE_OTLP_ENDPOINT=http://localhost:${port}
  opencode run --print-logs "hello"   # the plugin says in the log where its telemetry goes`)
  process.exitCode = run.exitCode === 0 && receiver.requests.length > 0 ? 0 : 1
} finally {
  await llm.stop()
  await receiver.stop()
  await removeOpencodeHome(home)
}
