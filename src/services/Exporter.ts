/**
 * Exporter: the plugin's own meter, logger and tracer providers, never registered globally.
 *
 * Providers are created in `acquireRelease`; releasing the layer flushes and shuts them down within
 * `shutdownTimeoutMs`, whatever the collector does. A signal that is switched off gets a provider without a
 * reader or processor: instruments stay callable and record nothing.
 */
import type { Counter, Meter, Tracer } from "@opentelemetry/api"
import type { Logger } from "@opentelemetry/api-logs"
import type { Resource } from "@opentelemetry/resources"
import { readFileSync } from "node:fs"
import {
  BatchLogRecordProcessor,
  InMemoryLogRecordExporter,
  LoggerProvider,
  type LogRecordExporter,
  type ReadableLogRecord,
} from "@opentelemetry/sdk-logs"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricProducer,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics"
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, FiberSet, Layer } from "effect"
import { MetricDelivery } from "../exporters/metricDelivery.ts"
import { ConsoleLogExporter, ConsoleMetricExporter, ConsoleSpanExporter } from "../exporters/console.ts"
import { makeFileExporters, type FileReport } from "../exporters/file.ts"
import { PullReader, servePrometheus } from "../exporters/prometheus.ts"
import { canAbandon, DROP_REASONS, LAST_TRY_TIMEOUT_MS, loadProtocol, withoutCredentials } from "../exporters/otlp.ts"
import type { DeliveryReport, OtlpTarget, ProtocolExporters } from "../exporters/otlp.ts"
import type { SpoolTarget } from "../exporters/bufferSpool.ts"
import { ResilientLogExporter, ResilientMetricExporter, ResilientSpanExporter } from "../exporters/resilient.ts"
import { SignalSpool } from "../exporters/spool.ts"
import { logCodec, metricCodec, spanCodec, type SpoolCodec } from "../exporters/spoolCodec.ts"
import { EndpointCheck, endpointOf, type Mismatch } from "../exporters/probe.ts"
import { SELF_METRICS } from "../signals.ts"
import { PACKAGE_NAME, PACKAGE_VERSION } from "../version.ts"
import { Config, revealHeaders, TRACE_TYPES, type Protocol, type Signal } from "./Config.ts"
import { droppedName, fileDropMessage, mismatchMessage, sendsCredentialsInClear, startupMessage, UNITS } from "./exporterMessages.ts"
import { HeaderProvider } from "./HeaderProvider.ts"
import { makeResource } from "../exporters/resource.ts"
import { errorCode } from "../host/errorCode.ts"

export { droppedName, mismatchMessage, sendsCredentialsInClear, startupMessage } from "./exporterMessages.ts"
export { makeResource } from "../exporters/resource.ts"

export interface Interface {
  readonly resource: Resource
  readonly meter: Meter
  readonly logger: Logger
  readonly tracer: Tracer
  /** Exports everything recorded so far, bounded by the shutdown budget. Never fails. */
  readonly flush: Effect.Effect<void>
}

export class Exporter extends Context.Service<Exporter, Interface>()("opencode-plugin-opentelemetry/Exporter") {}

/** The signal exporters a provider set is built on; undefined switches that signal off. */
export interface SignalExporters {
  readonly spans?: SpanExporter | undefined
  readonly logs?: LogRecordExporter | undefined
  readonly metrics?: PushMetricExporter | undefined
  /** Extra exporters beside the main ones (the `console` and `file` exporters), one or several per signal. */
  readonly extra?: {
    readonly spans?: SpanExporter | ReadonlyArray<SpanExporter | undefined> | undefined
    readonly logs?: LogRecordExporter | ReadonlyArray<LogRecordExporter | undefined> | undefined
    readonly metrics?: PushMetricExporter | ReadonlyArray<PushMetricExporter | undefined> | undefined
  }
}

const listOf = <T>(extra: T | ReadonlyArray<T | undefined> | undefined): ReadonlyArray<T> =>
  (Array.isArray(extra) ? extra : [extra]).filter((e): e is T => e !== undefined)


/**
 * Sources the push metric readers collect from beside the meter's own instruments (the Effect bridge's Effect
 * `Metric`s, layers/effectOtel.ts). A factory, called once per reader with the plugin's resource: a producer keeps
 * what it last reported, so two readers sharing one would each see only part of every delta.
 */
export const MetricProducers = Context.Reference<ReadonlyArray<(resource: Resource) => MetricProducer>>(
  "opencode-plugin-opentelemetry/Exporter/MetricProducers",
  { defaultValue: () => [] },
)

/** Builds the three providers on the given exporters and shuts them down, bounded, on release. */
export const makeProviders = Effect.fn("Exporter.makeProviders")(function* (exporters: SignalExporters) {
  const config = yield* Config
  const resource = makeResource(config)
  const budget = config.shutdownTimeoutMs

  const bounded = (label: string, run: () => Promise<unknown>) =>
    Effect.tryPromise(run).pipe(
      // Within the plugin's own deadline (the whole budget), leaving room to report what was dropped.
      Effect.timeout(Math.max(200, Math.floor(budget * 0.8))),
      // Finalizers are uninterruptible; the timeout must be able to interrupt the wait.
      Effect.interruptible,
      Effect.catchCause(() => Effect.logWarning(`${label} did not complete within ${budget} ms or failed`)),
    )

  const temporality = config.metrics.temporality
  const metricExporter = exporters.metrics === undefined ? undefined : new MetricDelivery(exporters.metrics, temporality)
  const extraMetricExporters = listOf(exporters.extra?.metrics).map((exporter) => new MetricDelivery(exporter, temporality))
  const prometheus = config.enabled && config.metrics.enabled ? config.metrics.prometheus : undefined
  const pullReader = prometheus === undefined ? undefined : new PullReader()
  const metricProducers = yield* MetricProducers
  const periodic = (exporter: PushMetricExporter) =>
    new PeriodicExportingMetricReader({
      exporter,
      metricProducers: metricProducers.map((makeProducer) => makeProducer(resource)),
      exportIntervalMillis: config.metrics.intervalMs,
      // The reader requires timeout <= interval.
      exportTimeoutMillis: Math.min(config.metrics.intervalMs, Math.max(budget, 1_000)),
    })
  const readers = [
    ...(metricExporter === undefined ? [] : [periodic(metricExporter)]),
    ...(pullReader === undefined ? [] : [pullReader]),
    ...extraMetricExporters.map(periodic),
  ]

  const providers = yield* Effect.acquireRelease(
    Effect.sync(() => ({
      meterProvider: new MeterProvider({ resource, readers }),
      loggerProvider: new LoggerProvider({
        resource,
        processors: [exporters.logs, ...listOf(exporters.extra?.logs)].flatMap((exporter) =>
          exporter === undefined
            ? []
            : [
                new BatchLogRecordProcessor({
                  exporter,
                  scheduledDelayMillis: config.logs.intervalMs,
                  exportTimeoutMillis: budget,
                  // The SDK drops silently past its queue; keep it as large as the retry buffer behind it.
                  maxQueueSize: PROCESSOR_QUEUE,
                }),
              ],
        ),
      }),
      tracerProvider: new BasicTracerProvider({
        resource,
        spanProcessors: [exporters.spans, ...listOf(exporters.extra?.spans)].flatMap((exporter) =>
          exporter === undefined
            ? []
            : [new BatchSpanProcessor(exporter, { scheduledDelayMillis: SPAN_BATCH_DELAY_MS, exportTimeoutMillis: budget, maxQueueSize: PROCESSOR_QUEUE })],
        ),
      }),
    })),
    // Shutdown flushes every signal; bounded so a dead collector cannot hold opencode's exit.
    (p) =>
      bounded("Telemetry shutdown", async () => {
        await Promise.allSettled([p.meterProvider.shutdown(), p.loggerProvider.shutdown(), p.tracerProvider.shutdown()])
      }).pipe(
        // Out of time or not, what is still undelivered is counted and reported, never silently lost.
        Effect.andThen(Effect.sync(() => [exporters.spans, exporters.logs, exporters.metrics].forEach((e) => canAbandon(e) && e.abandon()))),
        Effect.withSpan("Exporter.shutdown"),
      ),
  )
  const { meterProvider, loggerProvider, tracerProvider } = providers

  if (prometheus !== undefined && pullReader !== undefined) {
    const served = yield* Effect.promise(() =>
      servePrometheus(prometheus.host, prometheus.port, pullReader, config.profile === "claude-code" ? "otel-js" : "collector"),
    )
    if ("error" in served)
      yield* Effect.logWarning(
        `The Prometheus endpoint ${prometheus.host}:${prometheus.port} could not be served (${served.error}; another opencode may hold the port). Other exports continue.`,
      )
    else yield* Effect.addFinalizer(() => Effect.promise(() => served.stop(prometheus.lingerMs)))
  }
  return Exporter.of({
    resource,
    meter: meterProvider.getMeter(PACKAGE_NAME, PACKAGE_VERSION),
    logger: loggerProvider.getLogger(PACKAGE_NAME, PACKAGE_VERSION),
    tracer: tracerProvider.getTracer(PACKAGE_NAME, PACKAGE_VERSION),
    flush: bounded("Telemetry flush", () =>
      Promise.allSettled([meterProvider.forceFlush(), loggerProvider.forceFlush(), tracerProvider.forceFlush()]),
    ).pipe(Effect.withSpan("Exporter.flush")),
  })
})

/** OTLP export on the configured protocol, with headers from the HeaderProvider. */
export const layer = Layer.effect(
  Exporter,
  Effect.gen(function* () {
    const config = yield* Config
    // Telemetry not switched on (or switched off by a setting, reported where it was decoded): providers that
    // record nothing, and no connection anywhere.
    if (!config.enabled) return yield* makeProviders({})
    const headers = yield* HeaderProvider
    const context = yield* Effect.context<never>()
    // Background work of this layer (redelivery loops, log lines from the SDK's callbacks) is forked here: closing
    // the layer interrupts whatever is still running.
    const background = yield* FiberSet.makeRuntime<never, void, never>()
    // Pending requests past the budget would keep opencode's process alive after shutdown; shorter than the
    // budget so a request cut short still leaves time to count and report what stays undelivered.
    const timeoutMs = Math.max(250, Math.floor(config.shutdownTimeoutMs * 0.6))
    // TLS files are read once; one that cannot be read is named in the log (a path is no secret) and left out.
    const readPem = (variable: string, path: string | undefined) =>
      Effect.suspend(() => {
        if (path === undefined) return Effect.succeed(undefined)
        try {
          return Effect.succeed(readFileSync(path))
        } catch (error) {
          const code = errorCode(error) ?? "unreadable"
          return Effect.as(Effect.logWarning(`${variable}=${JSON.stringify(path)} cannot be read (${code}); it is not used.`), undefined)
        }
      })
    const tls = {
      ca: yield* readPem("OPENCODE_OTLP_CERTIFICATE", config.tls.ca),
      key: yield* readPem("OPENCODE_OTLP_CLIENT_KEY", config.tls.clientKey),
      cert: yield* readPem("OPENCODE_OTLP_CLIENT_CERTIFICATE", config.tls.clientCertificate),
    }
    const targetOf = (signal: Signal, lastTry = false): OtlpTarget => ({
      url: config.signals[signal].url,
      protocol: config.signals[signal].protocol,
      timeoutMs: lastTry ? Math.min(timeoutMs, LAST_TRY_TIMEOUT_MS) : timeoutMs,
      compression: config.compression,
      tls,
      // gRPC never connects to an endpoint that does not answer as HTTP/2: Bun's node:http2 would throw.
      beforeConnect: config.signals[signal].protocol === "grpc" ? checkOf.get(signal)?.beforeConnect : undefined,
    })
    /** The provider's headers, then the signal's own (OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS) on top. */
    const withSignalHeaders = (signal: Signal, headers: Readonly<Record<string, string>>) => ({
      ...headers,
      ...revealHeaders(config.signals[signal].headers),
    })
    // Version 0 is the static headers; the helper's prewarm bumps it and exporters rebuild on first use.
    const initial = { version: 0, headers: revealHeaders(config.headers.static) }
    const tracesWanted = TRACE_TYPES.some((t) => !config.traces.disabled.has(t))
    const otlpSignals: ReadonlyArray<Signal> = [
      ...(tracesWanted && config.exportTo.otlp.traces ? (["traces"] as const) : []),
      ...(config.logs.enabled && config.exportTo.otlp.logs ? (["logs"] as const) : []),
      ...(config.metrics.enabled && config.exportTo.otlp.metrics ? (["metrics"] as const) : []),
    ]
    yield* Effect.logInfo(startupMessage(config, otlpSignals))
    // Does each endpoint speak its protocol? Checked in the background (opencode never waits), once per endpoint
    // and protocol, so that a mismatch is one line in the log however many signals go there.
    const checks = new Map<string, ReadonlyArray<Signal>>()
    const checkOf = new Map<Signal, EndpointCheck>()
    for (const signal of otlpSignals) {
      const { url, protocol } = config.signals[signal]
      const endpoint = endpointOf(url)
      if (endpoint === undefined) continue
      const key = `${protocol} ${endpoint.secure} ${endpoint.host} ${endpoint.port}`
      const sharing = checks.get(key)
      if (sharing !== undefined) {
        checks.set(key, [...sharing, signal])
        checkOf.set(signal, checkOf.get(sharing[0]!)!)
        continue
      }
      checks.set(key, [signal])
      const reportMismatch = (mismatch: Mismatch) =>
        background(Effect.logWarning(mismatchMessage(config, mismatch, url, checks.get(key) ?? [signal])))
      checkOf.set(signal, new EndpointCheck({ url, protocol, tls }, timeoutMs, reportMismatch))
    }
    const deliveryTarget = (signal: Signal) => ({ endpoint: withoutCredentials(config.signals[signal].url), gate: checkOf.get(signal) })

    // Only the protocols in use are loaded (usually one).
    const protocols = new Map<Protocol, ProtocolExporters>()
    for (const protocol of new Set(otlpSignals.map((signal) => config.signals[signal].protocol)))
      protocols.set(protocol, yield* Effect.promise(() => loadProtocol(protocol)))
    if (sendsCredentialsInClear(config))
      yield* Effect.logWarning(
        `OTLP headers are sent over plain ${new URL(config.endpoint).protocol.slice(0, -1)} to ${new URL(config.endpoint).hostname}: ` +
          "anyone on the network path can read them. Use an https:// endpoint.",
      )

    // Dropped data is never silent: a self-telemetry counter, and one log line per signal and reason.
    let dropped: Pick<Counter, "add"> | undefined
    const logged = new Set<string>()
    const report: DeliveryReport = {
      onDrop: (signal, count, reason, detail, explained) => {
        dropped?.add(count, { signal, reason })
        if (explained === true) return
        const key = `${signal}:${reason}`
        if (logged.has(key)) return
        logged.add(key)
        const why = detail === undefined ? DROP_REASONS[reason] : `${DROP_REASONS[reason]} (${detail})`
        background(
          Effect.logWarning(`Dropped ${count} ${UNITS[signal]}: ${why}. Further drops for this reason are counted in ${droppedName(config)}.`),
        )
      },
      onSpooled: (signal, count, dir) =>
        background(
          Effect.logInfo(`OTLP ${signal}: ${count} ${UNITS[signal]} not delivered are kept in the spool (${dir}) for the next opencode that sends there`),
        ),
      onRestored: (signal, count) =>
        background(Effect.logInfo(`OTLP ${signal}: delivering ${count} ${UNITS[signal]} an earlier opencode kept in the spool`)),
      onSpoolError: (signal, error) => {
        const code = errorCode(error) ?? "error"
        background(
          Effect.logWarning(`OTLP ${signal}: the spool ${config.spool?.dir ?? ""} cannot be used (${code}); data undelivered at exit is dropped and counted`),
        )
      },
    }
    // The spool: per signal, files for its endpoint; never a header.
    const spoolOf = <T>(signal: Signal, codec: SpoolCodec<T>): SpoolTarget<T> | undefined =>
      config.spool === undefined
        ? undefined
        : {
            files: new SignalSpool(config.spool.dir, config.spool.maxBytes, signal, config.signals[signal].url, config.serviceInstanceId),
            codec,
            instance: config.serviceInstanceId,
          }
    // The console exporter writes to opencode's log, never to the terminal.
    const writeLine = (line: string) => background(Effect.logInfo(`telemetry: ${line}`))
    // Files: one log line per kind of failure (an unwritable directory, a full disk); every drop is counted.
    const fileFailures = new Set<string>()
    const fileReport: FileReport = {
      onDrop: (signal, count, path, code) => {
        dropped?.add(count, { signal, reason: "file_unwritable" })
        if (!fileFailures.has(code)) background(Effect.logWarning(fileDropMessage(config, signal, count, path, code)))
        fileFailures.add(code)
      },
    }
    const { traces, logs, metrics } = config.exportTo.file
    const fileTo = { traces: tracesWanted && traces, logs: config.logs.enabled && logs, metrics: config.metrics.enabled && metrics }
    const files = config.file === undefined ? {} : makeFileExporters(config.file, fileTo, fileReport)
    const signalExporters = {
      extra: {
        spans: [tracesWanted && config.exportTo.console.traces ? new ConsoleSpanExporter(writeLine) : undefined, files.spans],
        logs: [config.logs.enabled && config.exportTo.console.logs ? new ConsoleLogExporter(writeLine) : undefined, files.logs],
        metrics: [config.metrics.enabled && config.exportTo.console.metrics ? new ConsoleMetricExporter(writeLine) : undefined, files.metrics],
      },
      spans: otlpSignals.includes("traces")
        ? new ResilientSpanExporter("traces", config.signals.traces.protocol, (h, lastTry) => protocols.get(config.signals.traces.protocol)!.spans(targetOf("traces", lastTry), withSignalHeaders("traces", h)), headers, context, background, initial, report, (s) => s.length, deliveryTarget("traces"), spoolOf("traces", spanCodec))
        : undefined,
      logs: otlpSignals.includes("logs")
        ? new ResilientLogExporter("logs", config.signals.logs.protocol, (h, lastTry) => protocols.get(config.signals.logs.protocol)!.logs(targetOf("logs", lastTry), withSignalHeaders("logs", h)), headers, context, background, initial, report, (l) => l.length, deliveryTarget("logs"), spoolOf("logs", logCodec))
        : undefined,
      metrics: otlpSignals.includes("metrics")
        ? new ResilientMetricExporter("metrics", config.signals.metrics.protocol, (h, lastTry) => protocols.get(config.signals.metrics.protocol)!.metrics(targetOf("metrics", lastTry), withSignalHeaders("metrics", h)), headers, context, background, initial, report, () => 1, deliveryTarget("metrics"), spoolOf("metrics", metricCodec))
        : undefined,
    }
    const exporter = yield* makeProviders(signalExporters)
    // What earlier processes left in the spool for these endpoints is delivered beside this one's data.
    for (const resilient of [signalExporters.spans, signalExporters.logs, signalExporters.metrics])
      if (resilient !== undefined && "restore" in resilient) void resilient.restore()
    const { description, unit } = SELF_METRICS["telemetry.dropped"]!
    dropped = exporter.meter.createCounter(droppedName(config), { description, unit })
    return exporter
  }),
)

const PROCESSOR_QUEUE = 8_192
/**
 * Finished spans wait this long for company before they are sent. Every turn's end flushes anyway (1 s after it),
 * so this only matters within long turns; a short `opencode run` then sends each signal once, at exit.
 */
const SPAN_BATCH_DELAY_MS = 5_000

/** What the in-memory exporters hold; reading flushes first. */
export interface MemoryInterface {
  readonly spans: Effect.Effect<ReadonlyArray<ReadableSpan>>
  readonly logs: Effect.Effect<ReadonlyArray<ReadableLogRecord>>
  readonly metrics: Effect.Effect<ReadonlyArray<ResourceMetrics>>
  readonly reset: Effect.Effect<void>
}

export class MemoryExporter extends Context.Service<MemoryExporter, MemoryInterface>()(
  "opencode-plugin-opentelemetry/MemoryExporter",
) {}

/**
 * In-memory exporters for tests: the same providers, with exporters that keep what they receive.
 * Metrics are cumulative unless configured otherwise.
 */
export const layerMemory = Layer.effectContext(
  Effect.gen(function* () {
    const config = yield* Config
    const spans = new InMemorySpanExporter()
    const logs = new InMemoryLogRecordExporter()
    const metrics = new InMemoryMetricExporter(
      config.metrics.temporality === "cumulative" ? AggregationTemporality.CUMULATIVE : AggregationTemporality.DELTA,
    )
    const exporter = yield* makeProviders({
      spans: TRACE_TYPES.some((t) => !config.traces.disabled.has(t)) ? spans : undefined,
      logs: config.logs.enabled ? logs : undefined,
      metrics: config.metrics.enabled ? metrics : undefined,
    })
    const memory = MemoryExporter.of({
      spans: exporter.flush.pipe(Effect.map(() => spans.getFinishedSpans())),
      logs: exporter.flush.pipe(Effect.map(() => logs.getFinishedLogRecords())),
      metrics: exporter.flush.pipe(Effect.map(() => metrics.getMetrics())),
      reset: Effect.sync(() => {
        spans.reset()
        logs.reset()
        metrics.reset()
      }),
    })
    return Context.make(Exporter, exporter).pipe(Context.add(MemoryExporter, memory))
  }),
)
