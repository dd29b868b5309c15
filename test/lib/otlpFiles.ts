/**
 * Reads the file exporter's OTLP JSON Lines back: each line decoded as an Export*ServiceRequest with the OTLP
 * .proto definitions (the receiver's http/json decoding), then flattened like what a receiver got.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { decodeJson, flattenLogs, flattenMetrics, flattenSpans, type Signal } from "../support/otlp-receiver.ts"

/** The lines of one signal's file (`generation` 1: the previous file), none when it does not exist. */
export const linesOf = (dir: string, signal: Signal, generation?: 1): Array<string> => {
  const path = join(dir, generation === undefined ? `${signal}.jsonl` : `${signal}.${generation}.jsonl`)
  if (!existsSync(path)) return []
  const text = readFileSync(path, "utf8")
  if (text.length > 0 && !text.endsWith("\n")) throw new Error(`${path} does not end with a newline`)
  return text.split("\n").filter((line) => line.length > 0)
}

/** Every span, log record and metric point in the directory's current files, in the order they were written. */
export const readOtlpFiles = (dir: string) => ({
  spans: linesOf(dir, "traces").flatMap((line) => flattenSpans(decodeJson("traces", line) as never)),
  logs: linesOf(dir, "logs").flatMap((line) => flattenLogs(decodeJson("logs", line) as never)),
  metrics: linesOf(dir, "metrics").flatMap((line) => flattenMetrics(decodeJson("metrics", line) as never)),
})
