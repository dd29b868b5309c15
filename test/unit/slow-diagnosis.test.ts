/**
 * On a loaded machine the endpoint check at start can answer after the first export has already failed. The
 * failure then waits for it: a protocol mismatch is named once as such, never as the transport's own error.
 */
import { expect, test } from "bun:test"
import { ExportResultCode, type ExportResult } from "@opentelemetry/core"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { Effect, Layer } from "effect"
import { ResilientLogExporter } from "../../src/exporters/resilient.ts"
import type { Gate, Mismatch } from "../../src/exporters/probe.ts"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import { captureClient } from "../lib/telemetry.ts"

const failingInner = () => ({
  export: (_items: Array<ReadableLogRecord>, done: (result: ExportResult) => void) =>
    setTimeout(() => done({ code: ExportResultCode.FAILED, error: new Error("Malformed_HTTP_Response fetching the endpoint") }), 5),
  shutdown: () => Promise.resolve(),
  forceFlush: () => Promise.resolve(),
})

const headers = {
  current: Effect.succeed({ version: 0, headers: {} }),
  refresh: Effect.succeed({ version: 0, headers: {} }),
  canRefresh: false,
}

/** Exports once through an exporter whose endpoint check answers `mismatch` after `afterMs`. */
const exportOnce = async (mismatch: Mismatch | undefined, afterMs: number) => {
  const { client, logs } = captureClient()
  const context = await Effect.runPromise(Effect.scoped(Layer.build(OpencodeLog.layer(client))))
  let found: Mismatch | undefined
  const gate: Gate = {
    ready: Promise.resolve(),
    get mismatch() {
      return found
    },
    diagnosed: new Promise<void>((resolve) =>
      setTimeout(() => {
        found = mismatch
        resolve()
      }, afterMs),
    ),
  }
  const dropped: Array<[string, number, boolean | undefined]> = []
  const exporter = new ResilientLogExporter(
    "logs",
    "http/protobuf",
    failingInner,
    headers,
    context,
    (effect) => Effect.runForkWith(context)(effect),
    { version: 0, headers: {} },
    { onDrop: (_signal, count, reason, _detail, explained) => dropped.push([reason, count, explained]) },
    (l) => l.length,
    { endpoint: "http://127.0.0.1:4317", gate },
  )
  const result = await new Promise<ExportResult>((resolve) => exporter.export([{} as ReadableLogRecord], resolve))
  await exporter.shutdown()
  return { result, messages: logs.map((l) => l.message), dropped }
}

test("a mismatch found after the first failure: no transport error in the log, the data counted as dropped", async () => {
  const { messages, dropped } = await exportOnce("http-to-http2", 300)
  expect(messages.filter((m) => m.includes("export failed"))).toEqual([])
  expect(messages.join("\n")).not.toContain("Malformed_HTTP_Response")
  expect(dropped.some(([reason, , explained]) => reason === "rejected" && explained === true)).toBe(true)
})

test("no mismatch: the failure is reported as it is, once the check has answered", async () => {
  const { messages } = await exportOnce(undefined, 50)
  expect(messages.filter((m) => m.includes("OTLP logs export failed: Malformed_HTTP_Response"))).toHaveLength(1)
})
