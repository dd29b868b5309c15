/**
 * Run by test/integration/spool.test.ts as a process of its own (`bun <this file>`): loads the plugin with the
 * options in SPOOL_CHILD (JSON), records one turn, waits until the spool holds a copy of each signal (the turn's
 * flush failed: nothing listens), prints `ready`, and waits to be killed, as an `opencode serve` is by a signal.
 */
import { readdirSync } from "node:fs"
import { OpenTelemetryPlugin } from "../../src/plugin.ts"
import { captureClient } from "./telemetry.ts"
import { turnEvents } from "./turn.ts"

const options = JSON.parse(process.env["SPOOL_CHILD"] ?? "{}") as { readonly options: Record<string, unknown>; readonly dir: string }
const { client } = captureClient()
const hooks = await OpenTelemetryPlugin({ client, directory: process.cwd(), worktree: process.cwd() }, options.options)
for (const event of turnEvents("ses_spool_child")) await hooks.event!({ event })
const copies = () => {
  try {
    return readdirSync(options.dir).filter((f) => f.endsWith(".buffer.jsonl")).length
  } catch {
    return 0
  }
}
const deadline = Date.now() + 20_000
while (copies() < 3 && Date.now() < deadline) await Bun.sleep(50)
process.stdout.write(copies() >= 3 ? "ready\n" : "not ready\n")
// Held open until the parent's signal (at most a minute).
setTimeout(() => process.exit(3), 60_000)
