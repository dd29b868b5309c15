/**
 * Instruments: the plugin's metrics, log events and spans, named, described and filtered in one place.
 *
 * Handlers say what happened (`count("session.count", 1, attrs)`, `event("session.created", attrs)`,
 * `startSpan("session", ...)`); this service applies the prefix, OPENCODE_DISABLE_METRICS, the metric-only
 * attributes and exclusions, the span-only attributes, OPENCODE_DISABLE_LOGS / _TRACES and the remote parent.
 * The three attribute channels stay independent: resource, span-only, metric-only.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context as OtelContext,
  type Counter,
  type Gauge,
  type Histogram,
  type Span,
} from "@opentelemetry/api"
import { SeverityNumber } from "@opentelemetry/api-logs"
import { TraceState } from "@opentelemetry/core"
import { Context, Effect, Layer, Option } from "effect"
import { claudeCodeToolName } from "../naming/toolNames.ts"
import { headAttributes, readHead, remoteAttributes } from "../git/repository.ts"
import {
  GENAI_METRICS,
  METRICS,
  SPANS,
  type EventName,
  type GenAiMetricName,
  type GenAiMetricSpec,
  type MetricNameOfKind,
  type MetricSpec,
  type SpanKey,
} from "../signals.ts"
import { Config, type MetricName } from "./Config.ts"
import { Exporter } from "./Exporter.ts"

/** The instruments' names, by kind, from the catalog. */
export type CounterName = MetricNameOfKind<"counter">
export type HistogramName = MetricNameOfKind<"histogram">
export type GaugeName = MetricNameOfKind<"gauge">

export { EVENT_NAMES, type EventName } from "../signals.ts"

/** The longest the instruments wait at start for the repository's facts (git's files, read in the background). */
const REPOSITORY_WAIT_MS = 1_000

/**
 * Claude Code's units, so Collector names come out as its dashboards expect (`..._tokens_total`, `..._USD_total`,
 * `..._seconds_total`). Its count metrics carry no unit at all (its docs say "count"; its code sets none), so a
 * Collector names them `claude_code_code_edit_tool_decision_total`, not `..._decision_count_total`.
 */
export const CLAUDE_CODE_UNITS: Partial<Record<MetricName, string>> = {
  "session.count": "",
  "token.usage": "tokens",
  "cost.usage": "USD",
  "lines_of_code.count": "",
  "commit.count": "",
  "pull_request.count": "",
  "code_edit_tool.decision": "",
  "active_time.total": "s",
}

/** Spans carry no app.version: it is a metric/event dimension, opted in with OTEL_METRICS_INCLUDE_VERSION. */
const withoutVersion = (attributes: Attributes): Attributes => {
  const { ["app.version"]: _version, ...rest } = attributes
  return rest
}

export interface SpanOptions {
  readonly attributes?: Attributes
  /** A parent span; without one, the remote parent from OPENCODE_TRACEPARENT (if any), else a root. */
  readonly parent?: Span | undefined
  readonly startTime?: number | undefined
  readonly kind?: SpanKind
}

/**
 * The instruments as plain synchronous calls: what the per-event path (src/handlers) records through, where an
 * Effect per point would cost more than the SDK call it wraps (see the README's "Where the hot path departs").
 */
export interface Recorder {
  readonly count: (name: CounterName, value: number, attributes?: Attributes) => void
  readonly record: (name: HistogramName, value: number, attributes?: Attributes) => void
  readonly gauge: (name: GaugeName, value: number, attributes?: Attributes) => void
  /**
   * A GenAI conventions' metric (src/naming/genAiMetrics.ts), by its full name: recorded only when it belongs to
   * the set OTEL_SEMCONV_STABILITY_OPT_IN chose, and never with session.id. Zero is recorded: the conventions
   * want a point for every call, failed ones included.
   */
  readonly genAi: (name: GenAiMetricName, value: number, attributes: Attributes) => void
  /** A log event: body `<name>` (`claude_code.<name>` in that profile), attributes event.name, event.timestamp and the given ones. */
  readonly event: (name: EventName, attributes: Attributes, timestamp?: number) => void
  /** Starts a span of a trace type; `undefined` when that type is disabled. */
  readonly startSpan: (span: SpanKey, name: string, options?: SpanOptions) => Span | undefined
  /** A tool's name as exported: opencode's (`bash`), or Claude Code's (`Bash`, `mcp__<server>__<tool>`) in that profile. */
  readonly toolName: (tool: string) => string
  /**
   * A tool call's `success` as exported: a boolean, as the seed plugin sends it (dashboards for it group by a
   * boolean), or Claude Code's string "true"/"false" in that profile.
   */
  readonly success: (success: boolean) => boolean | string
  /**
   * Reads HEAD again (a bash call may have switched branch), when the repository is opted in: later events and
   * spans carry the branch it names. One small file, read asynchronously; undefined (nothing to wait for) when
   * the repository is off.
   */
  readonly refreshHead: () => Promise<void> | undefined
}

/** The instruments as effects (for programs that embed the layers), and the same as plain calls (`recorder`). */
export interface Interface {
  readonly count: (name: CounterName, value: number, attributes?: Attributes) => Effect.Effect<void>
  readonly record: (name: HistogramName, value: number, attributes?: Attributes) => Effect.Effect<void>
  readonly gauge: (name: GaugeName, value: number, attributes?: Attributes) => Effect.Effect<void>
  /** See `Recorder.genAi`. */
  readonly genAi: (name: GenAiMetricName, value: number, attributes: Attributes) => Effect.Effect<void>
  /** See `Recorder.event`. */
  readonly event: (name: EventName, attributes: Attributes, timestamp?: number) => Effect.Effect<void>
  /** Starts a span of a trace type; `undefined` when that type is disabled. */
  readonly startSpan: (span: SpanKey, name: string, options?: SpanOptions) => Effect.Effect<Span | undefined>
  readonly toolName: (tool: string) => string
  readonly success: (success: boolean) => boolean | string
  /** See `Recorder.refreshHead`. */
  readonly refreshHead: Effect.Effect<void>
  /** The same operations as plain synchronous calls, for the per-event path. */
  readonly recorder: Recorder
}

export class Instruments extends Context.Service<Instruments, Interface>()("opencode-plugin-opentelemetry/Instruments") {}

export const layer = Layer.effect(
  Instruments,
  Effect.gen(function* () {
    const config = yield* Config
    const exporter = yield* Exporter
    const { logger, tracer } = exporter
    const metrics = config.metrics
    // The repository's facts, read at start: the remote on metric points when OPENCODE_METRICS_INCLUDE_REPOSITORY
    // says so (else on the resource), HEAD on events and spans. Built once; HEAD's replaced only when it changes.
    const known = config.host.repository
    const repository =
      known === undefined
        ? undefined
        : Option.getOrUndefined(yield* Effect.promise(() => known).pipe(Effect.timeoutOption(REPOSITORY_WAIT_MS)))
    const repositoryAttributes: Attributes = metrics.repository === "metrics" ? remoteAttributes(repository?.remote) : {}
    let head = repository?.head
    let refAttributes: Attributes = headAttributes(head)

    const enabled = (name: MetricName | GenAiMetricName) => metrics.enabled && !metrics.disabled.has(name)
    const fullName = (name: MetricName) => `${metrics.prefix}${name}`
    const options = (name: MetricName) => {
      const spec: MetricSpec = METRICS[name]
      const scaled = name === "cost.usage" && metrics.costUsageScale !== 1
      const unit = config.profile === "claude-code" ? (CLAUDE_CODE_UNITS[name] ?? spec.unit) : spec.unit
      return {
        // A scaled cost says so in its unit and description, so the catalog shows what the numbers mean.
        description: scaled ? `${spec.description} (USD × ${metrics.costUsageScale}; divide by ${metrics.costUsageScale} for USD)` : spec.description,
        unit: scaled ? `USD/${metrics.costUsageScale}` : unit,
        ...(spec.buckets ? { advice: { explicitBucketBoundaries: [...spec.buckets] } } : {}),
      }
    }

    // Instruments are created once, on first use; the meter provider lives as long as the layer.
    const meter = exporter.meter
    const counters = new Map<CounterName, Counter>()
    const histograms = new Map<HistogramName, Histogram>()
    const gauges = new Map<GaugeName, Gauge>()
    const counter = (name: CounterName) => {
      let c = counters.get(name)
      if (c === undefined) counters.set(name, (c = meter.createCounter(fullName(name), options(name))))
      return c
    }
    const histogram = (name: HistogramName) => {
      let h = histograms.get(name)
      if (h === undefined) histograms.set(name, (h = meter.createHistogram(fullName(name), options(name))))
      return h
    }
    const gaugeOf = (name: GaugeName) => {
      let g = gauges.get(name)
      if (g === undefined) gauges.set(name, (g = meter.createGauge(fullName(name), options(name))))
      return g
    }

    /**
     * Metric-only attributes are added, then exclusions applied last so they always win. Built in one pass,
     * without `delete` (which slows every later use of the object): this runs for every recorded point.
     */
    const excluded = new Set([
      ...(metrics.includeSessionId ? [] : ["session.id"]),
      ...(metrics.includeVersion ? [] : ["app.version"]),
      ...metrics.excludeAttributes,
    ])
    const mergedAttributes = (attributes: Attributes | undefined, leftOut: ReadonlySet<string>): Attributes => {
      const merged: Attributes = {}
      for (const source of [config.standardAttributes, repositoryAttributes, attributes, metrics.attributes])
        if (source !== undefined) for (const key in source) if (!leftOut.has(key)) merged[key] = source[key]
      return merged
    }
    const metricAttributes = (attributes: Attributes | undefined) => mergedAttributes(attributes, excluded)

    // GenAI metrics: fixed names, the chosen set only, and low cardinality (session.id never, whatever the switch).
    const genAiSet = config.semconv.genAiLatest ? "latest" : "default"
    const genAiExcluded = new Set([...excluded, "session.id"])
    const genAiInstruments = new Map<GenAiMetricName, Counter | Histogram>()
    const genAiInstrument = (name: GenAiMetricName) => {
      let instrument = genAiInstruments.get(name)
      if (instrument === undefined) {
        const spec: GenAiMetricSpec = GENAI_METRICS[name]
        const options = {
          description: spec.description,
          unit: spec.unit,
          ...(spec.buckets ? { advice: { explicitBucketBoundaries: [...spec.buckets] } } : {}),
        }
        instrument = spec.kind === "counter" ? meter.createCounter(name, options) : meter.createHistogram(name, options)
        genAiInstruments.set(name, instrument)
      }
      return instrument
    }
    const genAi = (name: GenAiMetricName, value: number, attributes: Attributes) => {
      if (GENAI_METRICS[name].semconv !== genAiSet || !enabled(name) || !Number.isFinite(value) || value < 0) return
      const instrument = genAiInstrument(name)
      if ("add" in instrument) instrument.add(value, mergedAttributes(attributes, genAiExcluded))
      else instrument.record(value, mergedAttributes(attributes, genAiExcluded))
    }

    const remoteParent: OtelContext = Option.match(config.traces.parent, {
      onNone: () => ROOT_CONTEXT,
      onSome: (p) =>
        trace.setSpanContext(ROOT_CONTEXT, {
          traceId: p.traceId,
          spanId: p.spanId,
          traceFlags: p.traceFlags,
          isRemote: true,
          ...(p.traceState === undefined ? {} : { traceState: new TraceState(p.traceState) }),
        }),
    })

    const count = (name: CounterName, value: number, attributes?: Attributes) => {
      if (!enabled(name) || !Number.isFinite(value) || value <= 0) return
      counter(name).add(name === "cost.usage" ? value * metrics.costUsageScale : value, metricAttributes(attributes))
    }

    const record = (name: HistogramName, value: number, attributes?: Attributes) => {
      if (!enabled(name) || !Number.isFinite(value) || value < 0) return
      histogram(name).record(value, metricAttributes(attributes))
    }

    const gauge = (name: GaugeName, value: number, attributes?: Attributes) => {
      if (!enabled(name) || !Number.isFinite(value)) return
      gaugeOf(name).record(value, metricAttributes(attributes))
    }

    const event = (name: EventName, attributes: Attributes, timestamp?: number) => {
      if (!config.logs.enabled) return
      const time = timestamp ?? Date.now()
      const logAttributes: Attributes = { ...config.standardAttributes, ...refAttributes, "event.name": name, "event.timestamp": new Date(time).toISOString() }
      // app.version only when opted in (OTEL_METRICS_INCLUDE_VERSION).
      for (const key in attributes) if (metrics.includeVersion || key !== "app.version") logAttributes[key] = attributes[key]
      logger.emit({
        eventName: name,
        body: `${config.eventPrefix}${name}`,
        severityNumber: SeverityNumber.INFO,
        severityText: "INFO",
        timestamp: time,
        // Logs carry no span context: events are linked by session.id and prompt.id, not by trace.
        context: ROOT_CONTEXT,
        attributes: logAttributes,
      })
    }

    const startSpan = (span: SpanKey, name: string, spanOptions: SpanOptions = {}): Span | undefined => {
      if (config.traces.disabled.has(SPANS[span].traceType)) return undefined
      const parent = spanOptions.parent === undefined ? remoteParent : trace.setSpan(ROOT_CONTEXT, spanOptions.parent)
      return tracer.startSpan(
        name,
        {
          kind: spanOptions.kind ?? SpanKind.INTERNAL,
          attributes: withoutVersion({ ...spanOptions.attributes, ...refAttributes, ...config.traces.attributes }),
          ...(spanOptions.startTime === undefined ? {} : { startTime: spanOptions.startTime }),
        },
        parent,
      )
    }

    // Called several times for every event.
    const claudeCode = config.profile === "claude-code"
    const toolName = claudeCode ? (tool: string) => claudeCodeToolName(tool, config.host.mcpServers()) : (tool: string) => tool
    const success = claudeCode ? (ok: boolean) => String(ok) : (ok: boolean) => ok
    const refreshHead = (): Promise<void> | undefined =>
      repository === undefined
        ? undefined
        : readHead(repository.gitDir).then(
            (now) => {
              // An unreadable HEAD (mid-rewrite) keeps the last one known.
              if (now === undefined || (now.branch === head?.branch && now.revision === head?.revision)) return
              head = now
              refAttributes = headAttributes(now)
            },
            () => undefined,
          )
    const recorder: Recorder = { count, record, gauge, genAi, event, startSpan, toolName, success, refreshHead }
    return Instruments.of({
      count: (name, value, attributes) => Effect.sync(() => count(name, value, attributes)),
      record: (name, value, attributes) => Effect.sync(() => record(name, value, attributes)),
      gauge: (name, value, attributes) => Effect.sync(() => gauge(name, value, attributes)),
      genAi: (name, value, attributes) => Effect.sync(() => genAi(name, value, attributes)),
      event: (name, attributes, timestamp) => Effect.sync(() => event(name, attributes, timestamp)),
      startSpan: (span, name, options) => Effect.sync(() => startSpan(span, name, options)),
      toolName,
      success,
      refreshHead: Effect.promise(() => refreshHead() ?? Promise.resolve()),
      recorder,
    })
  }),
)
