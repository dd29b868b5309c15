/**
 * Run by test/integration/mismatch.test.ts under opencode's own Bun (`BUN_BE_BUN=1 opencode <this file>`), whose
 * node:http2 is the one that throws on an HTTP/1.1 answer. Builds the live telemetry layer from the settings in
 * MISMATCH_CHILD (JSON), records one session, optionally starts a plain HTTP/1.1 server on `http1Port` after
 * `http1AfterMs` (a collector port that comes up as the wrong kind of server), waits `runMs`, shuts down, and
 * prints what the plugin logged as JSON lines on stdout. The parent checks the exit code and that stderr is empty.
 */
import { createServer } from "node:http"
import { Effect } from "effect"
import { handleEvent } from "../../src/handlers/index.ts"
import { captureClient, liveLayer, runScoped } from "./telemetry.ts"
import { turnEvents } from "./turn.ts"

const options = JSON.parse(process.env["MISMATCH_CHILD"] ?? "{}") as {
  readonly settings: Record<string, string>
  readonly http1Port?: number
  readonly http1AfterMs?: number
  readonly runMs?: number
}
const server = createServer((_req, res) => {
  res.writeHead(404)
  res.end("not here")
})
const { client, logs } = captureClient()
await runScoped(
  liveLayer(options.settings, client),
  Effect.gen(function* () {
    for (const event of turnEvents("ses_child")) yield* handleEvent(event)
    if (options.http1Port !== undefined) {
      yield* Effect.sleep(options.http1AfterMs ?? 0)
      yield* Effect.promise(() => new Promise<void>((resolve) => server.listen(options.http1Port, "127.0.0.1", resolve)))
    }
    yield* Effect.sleep(options.runMs ?? 0)
  }),
)
server.close()
for (const log of logs) console.log(JSON.stringify(log))
