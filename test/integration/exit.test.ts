/**
 * Exit never waits on a collector known to be down: with nothing listening at the endpoint, dispose answers at
 * once (the OTLP/HTTP exporters would otherwise retry a refused connection for a second or more inside the
 * shutdown budget), and what stays undelivered is counted and named once per signal.
 */
import { expect, test } from "bun:test"
import { OpenTelemetryPlugin } from "../../src/plugin.ts"
import { freePort } from "../lib/net.ts"
import { captureClient } from "../lib/telemetry.ts"
import { turnEvents } from "../lib/turn.ts"

const BUDGET_MS = 3_000

test.each(["grpc", "http/protobuf", "http/json"] as const)("%s: dispose with a refused collector takes well under the budget", async (protocol) => {
  const port = await freePort()
  const { client, logs } = captureClient()
  const hooks = await OpenTelemetryPlugin(
    { client, directory: process.cwd(), worktree: process.cwd() },
    // Without the spool: what stays undelivered is dropped and named (test/integration/spool.test.ts: kept).
    { enabled: true, endpoint: `http://127.0.0.1:${port}`, protocol, shutdownTimeout: BUDGET_MS, spoolDir: "none" },
  )
  const now = Date.now()
  for (const event of turnEvents("ses_exit", now)) await hooks.event!({ event })
  // The turn's flush (1 s after the turn) has started its attempts; exit comes while they are in flight.
  await Bun.sleep(1_300)
  const started = performance.now()
  await hooks.dispose!()
  const disposeMs = performance.now() - started
  expect(disposeMs).toBeLessThan(500)
  const dropped = logs.map((l) => l.message).filter((m) => m.includes("not delivered before shutdown"))
  expect(dropped.map((m) => /Dropped \d+ (spans|log records|metric batches)/.exec(m)?.[1]).sort()).toEqual(["log records", "metric batches", "spans"])
}, 20_000)
