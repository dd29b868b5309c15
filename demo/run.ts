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
import { startReceiver, summarize, type Protocol } from "../test/support/otlp-receiver.ts"

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

console.log(`opencode: running "${values.prompt}" with the plugin, exporting over ${protocol} to ${receiver.url} ...`)
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
  console.log(`opencode exited with ${run.exitCode} after ${(run.durationMs / 1000).toFixed(1)} s; it printed:\n`)
  console.log(run.stdout.replace(/^/gm, "  | "))
  console.log(`\nThe collector received ${receiver.requests.length} OTLP requests:\n`)
  console.log(summarize(receiver))
  process.exitCode = run.exitCode === 0 && receiver.requests.length > 0 ? 0 : 1
} finally {
  await llm.stop()
  await receiver.stop()
  await removeOpencodeHome(home)
}
