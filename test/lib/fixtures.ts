/**
 * Recorded opencode runs (test/fixtures, made by `npm run record` from the real CLI): loading, replaying them
 * through the handlers, opencode's own accounting (`opencode export`) as ground truth, and readers for what the
 * in-memory exporters received.
 */
import type { Attributes } from "@opentelemetry/api"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import { AggregationTemporality, DataPointType, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { endAllSessions, handleChatMessage, handleEvent, handleToolBefore } from "../../src/handlers/index.ts"

export const FIXTURES_DIR = join(import.meta.dir, "..", "fixtures")

export interface RecordedLine {
  readonly hook: string
  readonly type?: string
  readonly properties?: unknown
  readonly input?: unknown
  readonly output?: unknown
  readonly run?: number
}

export interface ExportedPart {
  readonly type: string
  readonly tool?: string
  readonly callID?: string
  readonly state?: {
    readonly status: string
    readonly input?: Record<string, unknown>
    readonly metadata?: Record<string, unknown>
    readonly time?: { readonly start: number; readonly end?: number }
  }
}
export interface ExportedMessage {
  readonly info: {
    readonly id: string
    readonly role: "user" | "assistant"
    readonly modelID?: string
    readonly providerID?: string
    readonly cost?: number
    readonly tokens?: { input: number; output: number; reasoning: number; cache: { read: number; write: number } }
    readonly time: { created: number; completed?: number }
    readonly error?: { readonly name: string; readonly data?: { readonly statusCode?: number; readonly message?: string } }
  }
  readonly parts: ReadonlyArray<ExportedPart>
}
export interface ExportedSession {
  readonly info: { readonly id: string; readonly parentID?: string; readonly cost: number }
  readonly messages: ReadonlyArray<ExportedMessage>
}

export interface Fixture {
  readonly name: string
  readonly lines: ReadonlyArray<RecordedLine>
  readonly sessions: ReadonlyArray<ExportedSession>
  readonly meta: {
    readonly runs: ReadonlyArray<{ readonly prompt: string; readonly exitCode: number | null }>
    readonly git?: { readonly commits: number; readonly log: ReadonlyArray<string> }
    readonly script?: ReadonlyArray<{ readonly status?: number }>
  }
}

export const loadFixture = (name: string): Fixture => ({
  name,
  lines: readFileSync(join(FIXTURES_DIR, `${name}.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as RecordedLine),
  sessions: JSON.parse(readFileSync(join(FIXTURES_DIR, `${name}.export.json`), "utf8")) as Array<ExportedSession>,
  meta: JSON.parse(readFileSync(join(FIXTURES_DIR, `${name}.meta.json`), "utf8")),
})

/** Feeds a recording to the handlers in order, as the plugin would: events, prompts, and dispose at the end of each run. */
export const replay = (lines: ReadonlyArray<RecordedLine>, options: { readonly repeatEvents?: boolean } = {}) =>
  Effect.gen(function* () {
    for (const line of lines) {
      if (line.hook === "event") {
        const event = { type: line.type, properties: line.properties }
        yield* handleEvent(event)
        // opencode re-sends updates; handling each twice must change nothing.
        if (options.repeatEvents) yield* handleEvent(event)
      } else if (line.hook === "chat.message") yield* handleChatMessage(line.input, line.output)
      // The recorded project is gone: a write's target reads as missing, as for a new file.
      else if (line.hook === "tool.execute.before") yield* handleToolBefore(line.input, line.output, "/nonexistent/project")
      else if (line.hook === "dispose") yield* endAllSessions()
    }
  })

// ---- ground truth from `opencode export` -------------------------------------------------------------------

/** A recorded fixture, or the exports of a live run (test/support/scenarios.ts). */
export type Exported = Pick<Fixture, "sessions">

export const assistantMessages = (f: Exported) =>
  f.sessions.flatMap((s) => s.messages.filter((m) => m.info.role === "assistant").map((m) => ({ session: s.info.id, ...m })))

export const truthTokens = (f: Exported) => {
  const t = { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheCreation: 0 }
  for (const m of assistantMessages(f)) {
    const k = m.info.tokens
    if (k === undefined) continue
    t.input += k.input
    t.output += k.output
    t.reasoning += k.reasoning
    t.cacheRead += k.cache.read
    t.cacheCreation += k.cache.write
  }
  return t
}
export const truthCost = (f: Exported) => assistantMessages(f).reduce((n, m) => n + (m.info.cost ?? 0), 0)
export const truthCompleted = (f: Exported) => assistantMessages(f).filter((m) => m.info.time.completed !== undefined && m.info.error === undefined)
export const truthErrored = (f: Exported) => assistantMessages(f).filter((m) => m.info.error !== undefined)
export const truthToolCalls = (f: Exported) =>
  f.sessions.flatMap((s) =>
    s.messages.flatMap((m) => m.parts.filter((p) => p.type === "tool" && (p.state?.status === "completed" || p.state?.status === "error"))),
  )
export const truthLines = (f: Exported) => {
  let added = 0
  let removed = 0
  for (const p of truthToolCalls(f)) {
    if (p.state?.status !== "completed") continue
    const diff = p.state.metadata?.["filediff"] as { additions: number; deletions: number } | undefined
    if (diff !== undefined) {
      added += diff.additions
      removed += diff.deletions
    } else if (p.tool === "write" && p.state.metadata?.["exists"] === false) {
      const content = String(p.state.input?.["content"] ?? "")
      added += content === "" ? 0 : content.split("\n").length - (content.endsWith("\n") ? 1 : 0)
    }
  }
  return { added, removed }
}

// ---- what the in-memory exporters received -----------------------------------------------------------------

const matches = (attributes: Attributes, filter: Attributes) => Object.entries(filter).every(([k, v]) => attributes[k] === v)

/**
 * The current point of every series of `name` over all collections. An export carries only the series that
 * changed since the previous one: a cumulative point replaces the series' earlier one, delta points add up.
 */
const currentPoints = (metrics: ReadonlyArray<ResourceMetrics>, name: string, filter: Attributes) => {
  const series = new Map<string, { attributes: Attributes; value: number | { count: number; sum: number } }>()
  for (const collection of metrics)
    for (const scope of collection.scopeMetrics)
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== name) continue
        const delta = metric.aggregationTemporality === AggregationTemporality.DELTA && metric.dataPointType !== DataPointType.GAUGE
        for (const point of metric.dataPoints) {
          if (!matches(point.attributes, filter)) continue
          const key = JSON.stringify(Object.entries(point.attributes).sort(([a], [b]) => a.localeCompare(b)))
          const value = typeof point.value === "number" ? point.value : typeof point.value === "object" && "buckets" in point.value && !("scale" in point.value) ? { count: point.value.count, sum: point.value.sum ?? 0 } : undefined
          if (value === undefined) continue
          const seen = series.get(key)?.value
          series.set(key, {
            attributes: point.attributes,
            value:
              !delta || seen === undefined
                ? value
                : typeof seen === "number" && typeof value === "number"
                  ? seen + value
                  : typeof seen === "object" && typeof value === "object"
                    ? { count: seen.count + value.count, sum: seen.sum + value.sum }
                    : value,
          })
        }
      }
  return [...series.values()]
}

/** Sum of a counter over its series. */
export const counterTotal = (metrics: ReadonlyArray<ResourceMetrics>, name: string, filter: Attributes = {}) =>
  currentPoints(metrics, name, filter).reduce((n, p) => n + (typeof p.value === "number" ? p.value : 0), 0)

/** Histogram points: count and sum over matching series. */
export const histogramTotals = (metrics: ReadonlyArray<ResourceMetrics>, name: string, filter: Attributes = {}) =>
  currentPoints(metrics, name, filter).reduce(
    (t, p) => (typeof p.value === "object" ? { count: t.count + p.value.count, sum: t.sum + p.value.sum } : t),
    { count: 0, sum: 0 },
  )

/** The latest value of each gauge series. */
export const gaugeValues = (metrics: ReadonlyArray<ResourceMetrics>, name: string, filter: Attributes = {}) =>
  currentPoints(metrics, name, filter).flatMap((p) => (typeof p.value === "number" ? [p.value] : []))

export const eventsNamed = (logs: ReadonlyArray<ReadableLogRecord>, name: string) => logs.filter((l) => l.attributes["event.name"] === name)

/** Every span's parent is another exported span, or it is a root; every span has ended. */
export const spanTreeProblems = (spans: ReadonlyArray<ReadableSpan>): Array<string> => {
  const ids = new Set(spans.map((s) => s.spanContext().spanId))
  const problems: Array<string> = []
  for (const s of spans) {
    const parent = s.parentSpanContext?.spanId
    if (parent !== undefined && !ids.has(parent)) problems.push(`${s.name} has a parent that was not exported`)
    if (!s.ended) problems.push(`${s.name} did not end`)
    if (s.endTime[0] * 1e9 + s.endTime[1] < s.startTime[0] * 1e9 + s.startTime[1]) problems.push(`${s.name} ends before it starts`)
  }
  return problems
}
