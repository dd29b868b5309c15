/**
 * The plugin's long-run invariants, checked in the suite (they were checked only by the soak bench before):
 * the session store's bound and what its eviction ends, every span ended exactly once (recorded streams as they
 * came, and mangled), the metric series bound, and the sweep of idle sessions. In-memory exporters throughout.
 *
 * Time: the store, the sweep and the series' idle limit read `Date.now()`, not Effect's Clock, so Effect's TestClock
 * cannot move them; bun's `setSystemTime` moves `Date.now()` instead (no test sleeps).
 */
import { afterEach, describe, expect, setSystemTime, test } from "bun:test"
import { ValueType, type Context as OtelContext, type HrTime, type Span, type SpanOptions, type Tracer } from "@opentelemetry/api"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { AggregationTemporality, DataPointType, type DataPoint, type ResourceMetrics } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, Layer } from "effect"
import { endAllSessions, handleChatMessage, handleEvent, sweepSessions } from "../../src/handlers/index.ts"
import { CumulativeState, MAX_SERIES } from "../../src/exporters/cumulative.ts"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import * as Config from "../../src/services/Config.ts"
import * as Exporter from "../../src/services/Exporter.ts"
import { Instruments } from "../../src/services/Instruments.ts"
import { DEFAULT_MAX_SESSIONS, SessionStore } from "../../src/services/SessionStore.ts"
import { histogramTotals, loadFixture, spanTreeProblems, type RecordedLine } from "../lib/fixtures.ts"

// ---- a tracer that counts end() per span ----------------------------------------------------------------------

/**
 * Every span the plugin starts, with how often its end() was called. The SDK ignores a second end() (with a
 * diag warning), so what the exporter receives cannot show a double end; this can.
 */
class SpanLedger {
  readonly spans = new Map<string, { readonly name: string; ends: number }>()
  duplicateIds = 0

  wrap(tracer: Tracer): Tracer {
    return {
      startSpan: (name: string, options?: SpanOptions, context?: OtelContext): Span => {
        const span = tracer.startSpan(name, options, context)
        const id = span.spanContext().spanId
        if (this.spans.has(id)) this.duplicateIds++
        const entry = { name, ends: 0 }
        this.spans.set(id, entry)
        const end = span.end.bind(span)
        span.end = (endTime) => {
          entry.ends++
          end(endTime)
        }
        return span
      },
      startActiveSpan: tracer.startActiveSpan.bind(tracer) as Tracer["startActiveSpan"],
    }
  }

  get open(): number {
    let n = 0
    for (const s of this.spans.values()) if (s.ends === 0) n++
    return n
  }

  get endedMoreThanOnce(): number {
    let n = 0
    for (const s of this.spans.values()) if (s.ends > 1) n++
    return n
  }

  /** Spans not ended exactly once, named, for a readable failure. */
  problems(): Array<string> {
    const out: Array<string> = []
    for (const [id, s] of this.spans) if (s.ends !== 1) out.push(`${s.name} (${id}) ended ${s.ends} times`)
    if (this.duplicateIds > 0) out.push(`${this.duplicateIds} span ids started twice`)
    return out
  }
}

/** The test layer (Telemetry.layerTest's services) with the tracer counted by `ledger`. */
const ledgerLayer = (ledger: SpanLedger, settings: Config.RawSettings = {}) => {
  const decoded = Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", ...settings })
  if (decoded.problems.length > 0) throw new Error(decoded.problems.map((p) => p.message).join("\n"))
  const config = Config.layerDecoded(decoded)
  const exporter = Layer.effectContext(
    Effect.gen(function* () {
      const inner = yield* Exporter.Exporter
      const memory = yield* Exporter.MemoryExporter
      return Context.make(Exporter.Exporter, Exporter.Exporter.of({ ...inner, tracer: ledger.wrap(inner.tracer) })).pipe(
        Context.add(Exporter.MemoryExporter, memory),
      )
    }),
  ).pipe(Layer.provide(Exporter.layerMemory))
  return Telemetry.layerOn(exporter).pipe(Layer.provideMerge(config), Layer.provideMerge(OpencodeLog.layerSilent))
}

type Services = Layer.Success<ReturnType<typeof ledgerLayer>>
const run = <A>(ledger: SpanLedger, program: Effect.Effect<A, unknown, Services>, settings?: Config.RawSettings): Promise<A> =>
  Effect.runPromise(Effect.provide(program, ledgerLayer(ledger, settings)) as Effect.Effect<A>)

const storeSize = Effect.flatMap(Effect.service(SessionStore), (s) => s.size)
const exportedSpans = Effect.flatMap(Effect.service(Exporter.MemoryExporter), (m) => m.spans)
const exportedMetrics = Effect.flatMap(Effect.service(Exporter.MemoryExporter), (m) => m.metrics)

/** Span ids exported more than once, and whether the exporter got every span started. */
const exportProblems = (ledger: SpanLedger, spans: ReadonlyArray<ReadableSpan>): Array<string> => {
  const ids = spans.map((s) => s.spanContext().spanId)
  const out: Array<string> = []
  if (new Set(ids).size !== ids.length) out.push(`${ids.length - new Set(ids).size} spans exported twice`)
  if (ids.length !== ledger.spans.size) out.push(`${ledger.spans.size} spans started, ${ids.length} exported`)
  return out
}

// ---- synthetic sessions -----------------------------------------------------------------------------------------

const T0 = 1_800_000_000_000

const created = (id: string, at: number) => ({
  type: "session.created",
  properties: { sessionID: id, info: { id, projectID: "p", directory: "/project", title: "t", time: { created: at, updated: at } } },
})
const busy = (id: string) => ({ type: "session.status", properties: { sessionID: id, status: { type: "busy" } } })
const idle = (id: string) => ({ type: "session.idle", properties: { sessionID: id } })
const llmCallStarted = (id: string, at: number) => ({
  type: "message.updated",
  properties: {
    info: {
      id: `msg_${id}`,
      sessionID: id,
      role: "assistant",
      modelID: "m",
      providerID: "fake",
      cost: 0,
      tokens: { input: 1, output: 1, reasoning: 0, cache: { read: 0, write: 0 } },
      time: { created: at },
    },
  },
})
const toolRunning = (id: string, at: number) => ({
  type: "message.part.updated",
  properties: {
    part: {
      id: `prt_${id}`,
      sessionID: id,
      messageID: `msg_${id}`,
      type: "tool",
      callID: `call_${id}`,
      tool: "bash",
      state: { status: "running", input: { command: "ls" }, time: { start: at } },
    },
  },
})

/** A session in the middle of its turn: the turn, an LLM call and a tool call open (three spans). */
const openSession = (id: string, at: number) =>
  Effect.gen(function* () {
    yield* handleEvent(created(id, at))
    yield* handleChatMessage({ sessionID: id }, { message: { agent: "build" }, parts: [{ type: "text", text: "go" }] })
    yield* handleEvent(busy(id))
    yield* handleEvent(llmCallStarted(id, at))
    yield* handleEvent(toolRunning(id, at))
  })

const sessionIdsOf = (spans: ReadonlyArray<ReadableSpan>, name: string) =>
  new Set(spans.filter((s) => s.name.startsWith(name)).map((s) => String(s.attributes["session.id"])))
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `ses_${from + i}`)

/** The session ids of a metric's series, over every export. */
const seriesSessionIds = (metrics: ReadonlyArray<ResourceMetrics>, name: string) =>
  new Set(
    metrics.flatMap((m) =>
      m.scopeMetrics.flatMap((s) => s.metrics.filter((x) => x.descriptor.name === name).flatMap((x) => x.dataPoints.map((p) => String(p.attributes["session.id"])))),
    ),
  )

// ---- the session store's bound ----------------------------------------------------------------------------------

describe("the session store's bound", () => {
  test("1,200 sessions open at once: the 1,000 most recently touched are kept; each evicted one is ended, its spans and duration recorded", async () => {
    // The documented bound (README, docs/performance.md): a changed default must change them too.
    expect(DEFAULT_MAX_SESSIONS).toBe(1_000)
    const ledger = new SpanLedger()
    await run(
      ledger,
      Effect.gen(function* () {
        for (let i = 0; i < 1_200; i++) {
          // Touching ses_0 just before the store overflows keeps it: the least recently touched goes first.
          if (i === DEFAULT_MAX_SESSIONS) yield* handleEvent(busy("ses_0"))
          yield* openSession(`ses_${i}`, T0 + i)
        }
        expect(yield* storeSize).toBe(DEFAULT_MAX_SESSIONS)

        // Evicted: ses_1 … ses_200. Their turns ended, their open calls were cut (ended, marked unfinished).
        const evicted = new Set(range(1, 201))
        const spans = yield* exportedSpans
        expect(sessionIdsOf(spans, "invoke_agent")).toEqual(evicted)
        expect(sessionIdsOf(spans, "chat")).toEqual(evicted)
        expect(sessionIdsOf(spans, "execute_tool")).toEqual(evicted)
        const cut = spans.filter((s) => !s.name.startsWith("invoke_agent"))
        expect(cut.every((s) => s.status.message === "not finished when the session ended")).toBe(true)
        expect(ledger.open).toBe(3 * DEFAULT_MAX_SESSIONS)
        expect(ledger.endedMoreThanOnce).toBe(0)
        // Each evicted session's end is recorded once: session.duration (and the totals) per evicted session.
        const metrics = yield* exportedMetrics
        expect(histogramTotals(metrics, "opencode.session.duration").count).toBe(200)
        expect(seriesSessionIds(metrics, "opencode.session.duration")).toEqual(evicted)

        // Shutdown ends the rest, each once; nothing stays in the store.
        yield* endAllSessions()
        expect(yield* storeSize).toBe(0)
        expect(ledger.problems()).toEqual([])
        expect(exportProblems(ledger, yield* exportedSpans)).toEqual([])
        expect(histogramTotals(yield* exportedMetrics, "opencode.session.duration").count).toBe(1_200)
      }),
    )
  })
})

// ---- every span ended exactly once ------------------------------------------------------------------------------

const SCENARIOS = ["text", "write-edit", "commits", "retry", "error", "permission-once", "permission-reject", "subagent", "continue"] as const

/** A fixture's runs (each one opencode process), with only the hooks that reach the handlers' spans. */
const runsOf = (name: string): ReadonlyArray<ReadonlyArray<RecordedLine>> => {
  const runs: Array<Array<RecordedLine>> = []
  for (const line of loadFixture(name).lines) {
    if (line.hook === "fixture.run.start") runs.push([])
    else if (line.hook === "event" || line.hook === "chat.message" || line.hook === "dispose") runs.at(-1)?.push(line)
  }
  return runs
}

const feed = (line: RecordedLine) =>
  line.hook === "event"
    ? handleEvent({ type: line.type, properties: line.properties })
    : line.hook === "chat.message"
      ? handleChatMessage(line.input, line.output)
      : endAllSessions()

/** Replays lines in one fresh layer, ends every session (shutdown), and returns what went wrong with the spans. */
const spanProblemsOf = async (lines: ReadonlyArray<RecordedLine>): Promise<Array<string>> => {
  const ledger = new SpanLedger()
  return run(
    ledger,
    Effect.gen(function* () {
      for (const line of lines) yield* feed(line)
      yield* endAllSessions()
      // A second shutdown ends nothing again.
      yield* endAllSessions()
      const spans = yield* exportedSpans
      return [...ledger.problems(), ...exportProblems(ledger, spans), ...spanTreeProblems(spans)]
    }),
  )
}

/** A small seeded PRNG (mulberry32): the mangled streams are the same on every run. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const sessionOfLine = (line: RecordedLine) => JSON.stringify(line).match(/\bses_[A-Za-z0-9]+/)?.[0]
const eventLine = (event: { type: string; properties: unknown }): RecordedLine => ({ hook: "event", ...event })

/**
 * A recorded run as a flaky bus might deliver it: events re-sent, neighbours swapped, turns aborted (a session.idle
 * before the turn's calls finished, which then report late), sessions deleted mid-turn (their late events make new
 * state), and the stream cut short (the process ends mid-turn, no dispose).
 */
const mangle = (lines: ReadonlyArray<RecordedLine>, seed: number): Array<RecordedLine> => {
  const rand = random(seed)
  const out: Array<RecordedLine> = []
  for (const line of lines) {
    if (line.hook === "dispose") continue
    const session = sessionOfLine(line)
    const r = rand()
    if (r < 0.1) out.push(line, line)
    else if (r < 0.2 && out.length > 0) out.splice(out.length - 1, 0, line)
    else out.push(line)
    if (session !== undefined && rand() < 0.05) out.push(eventLine(idle(session)))
    if (session !== undefined && rand() < 0.02)
      out.push(eventLine({ type: "session.deleted", properties: { sessionID: session, info: created(session, T0).properties.info } }))
  }
  return rand() < 0.5 ? out.slice(0, Math.floor(out.length * (0.3 + 0.6 * rand()))) : out
}

/** Every event delivered twice, as opencode re-sends updates. */
const twice = (lines: ReadonlyArray<RecordedLine>) => lines.flatMap((l) => (l.hook === "event" ? [l, l] : [l]))

describe("every span ends exactly once", () => {
  test.each(SCENARIOS)("recorded scenario %s, as recorded and with every event sent twice", async (name) => {
    for (const lines of runsOf(name)) {
      expect(await spanProblemsOf(lines)).toEqual([])
      // A re-sent permission.asked once started a second tool.blocked_on_user span that never ended.
      expect(await spanProblemsOf(twice(lines))).toEqual([])
    }
  })

  const SEEDS = Array.from({ length: 12 }, (_, i) => i + 1)
  test.each(SCENARIOS)("recorded scenario %s, mangled: duplicates, reordering, aborts, deletions, cut short", async (name) => {
    for (const seed of SEEDS)
      for (const [i, lines] of runsOf(name).entries()) {
        const problems = await spanProblemsOf(mangle(lines, seed))
        expect({ seed, run: i, problems }).toEqual({ seed, run: i, problems: [] })
      }
  })

  test("sessions evicted, deleted and swept mid-turn, then shut down: no span ends twice", async () => {
    const ledger = new SpanLedger()
    await run(
      ledger,
      Effect.gen(function* () {
        for (let i = 0; i < 1_100; i++) yield* openSession(`ses_${i}`, T0 + i)
        // ses_0 … ses_99 were evicted; their late events make new state (and push out the next oldest).
        for (let i = 0; i < 10; i++) yield* handleEvent(toolRunning(`ses_${i}`, T0))
        yield* handleEvent({ type: "session.deleted", properties: { sessionID: "ses_500", info: created("ses_500", T0).properties.info } })
        yield* sweepSessions(0)
        yield* endAllSessions()
        expect(ledger.problems()).toEqual([])
        expect(exportProblems(ledger, yield* exportedSpans)).toEqual([])
      }),
    )
  })
})

// ---- the metric series bound ------------------------------------------------------------------------------------

describe("the metric series bound", () => {
  const resource = resourceFromAttributes({ "service.name": "test" })
  test("past 10,000 series the oldest are forgotten after their last value went out", () => {
    // The documented bound (README's cardinality section, docs/performance.md).
    expect(MAX_SERIES).toBe(10_000)
    const state = new CumulativeState()
    const at: HrTime = [1, 0]
    const delta: ResourceMetrics = {
      resource,
      scopeMetrics: [
        {
          scope: { name: "scope" },
          metrics: [
            {
              descriptor: { name: "c", description: "", unit: "", valueType: ValueType.INT },
              aggregationTemporality: AggregationTemporality.DELTA,
              dataPointType: DataPointType.SUM,
              isMonotonic: true,
              dataPoints: Array.from({ length: 12_000 }, (_, i) => ({ attributes: { "session.id": `ses_${i}` }, startTime: at, endTime: at, value: 1 })),
            },
          ],
        },
      ],
    }
    const out = state.add(delta)
    // The export carries every series that changed, the forgotten ones included: no value is lost.
    expect(out.scopeMetrics[0]!.metrics[0]!.dataPoints).toHaveLength(12_000)
    expect(state.size).toBe(MAX_SERIES)
    const kept = state.snapshot(resource).scopeMetrics[0]!.metrics[0]!.dataPoints.map((p) => p.attributes["session.id"])
    expect(kept[0]).toBe("ses_2000")
    expect(kept.at(-1)).toBe("ses_11999")
  })

  test("through the plugin's layer: 12,000 sessions' series, the newest 10,000 keep their totals, an older one restarts from 0", async () => {
    const ledger = new SpanLedger()
    await run(
      ledger,
      Effect.gen(function* () {
        const instruments = yield* Instruments
        const memory = yield* Exporter.MemoryExporter
        const count = (i: number) => instruments.count("session.count", 1, { "session.id": `ses_${i}` })
        // Collected every 1,000 series, as the periodic reader would: the SDK itself caps what one collection holds.
        for (let i = 0; i < 12_000; i++) {
          yield* count(i)
          if (i % 1_000 === 999) yield* memory.metrics
        }
        const points = (metrics: ReadonlyArray<ResourceMetrics>): Array<DataPoint<unknown>> =>
          metrics.flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics.filter((x) => x.descriptor.name === "opencode.session.count").flatMap((x): Array<DataPoint<unknown>> => x.dataPoints)))
        const before = points(yield* memory.metrics)
        expect(before).toHaveLength(12_000)
        expect(before.some((p) => p.attributes["otel.metric.overflow"] === true)).toBe(false)
        const startOf = (id: string) => before.find((p) => p.attributes["session.id"] === id)!.startTime
        // ses_2000 is the oldest of the 10,000 kept: its total goes on.
        yield* memory.reset
        yield* count(2_000)
        const kept = points(yield* memory.metrics)
        expect(kept.map((p) => [p.attributes["session.id"], p.value])).toEqual([["ses_2000", 2]])
        expect(kept[0]!.startTime).toEqual(startOf("ses_2000"))
        // ses_1999 was forgotten: it starts again from 0, with a new start time, as after a restart.
        yield* memory.reset
        yield* count(1_999)
        const restarted = points(yield* memory.metrics)
        expect(restarted.map((p) => [p.attributes["session.id"], p.value])).toEqual([["ses_1999", 1]])
        expect(restarted[0]!.startTime).not.toEqual(startOf("ses_1999"))
      }),
    )
  })
})

// ---- the sweep of idle sessions ---------------------------------------------------------------------------------

/** start.ts's SESSION_IDLE_RELEASE_MS (not exported): a session untouched this long is ended and released. */
const SESSION_IDLE_RELEASE_MS = 30 * 60_000

describe("the sweep of idle sessions", () => {
  afterEach(() => setSystemTime())

  test("a session untouched for 30 minutes is ended and released; one touched meanwhile is kept", async () => {
    const ledger = new SpanLedger()
    await run(
      ledger,
      Effect.gen(function* () {
        setSystemTime(new Date(T0))
        yield* openSession("ses_a", T0)
        yield* openSession("ses_b", T0)
        setSystemTime(new Date(T0 + 10 * 60_000))
        yield* handleEvent(busy("ses_b"))

        // Exactly 30 minutes untouched is not yet past the limit.
        setSystemTime(new Date(T0 + SESSION_IDLE_RELEASE_MS))
        yield* sweepSessions(SESSION_IDLE_RELEASE_MS)
        expect(yield* storeSize).toBe(2)
        expect(ledger.open).toBe(6)

        setSystemTime(new Date(T0 + SESSION_IDLE_RELEASE_MS + 1))
        yield* sweepSessions(SESSION_IDLE_RELEASE_MS)
        expect(yield* storeSize).toBe(1)
        const spans = yield* exportedSpans
        expect(sessionIdsOf(spans, "invoke_agent")).toEqual(new Set(["ses_a"]))
        expect(ledger.open).toBe(3)
        expect(seriesSessionIds(yield* exportedMetrics, "opencode.session.duration")).toEqual(new Set(["ses_a"]))

        setSystemTime(new Date(T0 + 10 * 60_000 + SESSION_IDLE_RELEASE_MS + 1))
        yield* sweepSessions(SESSION_IDLE_RELEASE_MS)
        expect(yield* storeSize).toBe(0)
        expect(ledger.problems()).toEqual([])
        // A released session's late session.idle does not bring it back.
        yield* handleEvent(idle("ses_a"))
        expect(yield* storeSize).toBe(0)
      }),
    )
  })
})
