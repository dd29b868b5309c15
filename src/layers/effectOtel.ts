/**
 * The Effect bridge: an embedding Effect program's own spans (`Effect.withSpan`, `Effect.fn`), log lines
 * (`Effect.log*`) and Effect `Metric`s, exported through the plugin's providers: the plugin's resource, its OTLP
 * delivery (header helper, retry buffer, spool) and its metric temporality, beside the plugin's own telemetry.
 *
 * - `layer`: open, needs `Exporter`: an Effect `Tracer` over the Exporter's tracer, and an Effect `Logger` over its
 *   logger added beside the loggers already installed.
 * - `layerMetricProducers`: `Exporter.MetricProducers` with Effect's metric registry. The metric readers are made
 *   with their producers, so this goes under the Exporter layer, not over it.
 * - `layerOn(telemetry)`: both, over a Telemetry layer of your choice (`Telemetry.layerLive()`, `layerTest()`, ...).
 *
 * The plugin's own spans (`Exporter.flush`, `Exporter.export.traces`, `HeaderProvider.refresh`, ...) and the log
 * lines written inside them stay out of the pipeline, whichever fiber runs them: an export would otherwise produce a
 * span of that export, to be exported in turn. They stay Effect's in-memory spans, as without the bridge. The
 * plugin's background work (retries, delivery reports) runs with the context its layer was built in, which the
 * bridge never reaches: it is built after the Exporter, from it.
 *
 * opencode's runtime (src/start.ts) does not use this module, and nothing on its path imports
 * `@effect/opentelemetry`: the opencode plugin stays as small as it is.
 */
import * as OtelLogger from "@effect/opentelemetry/OtelLogger"
import * as OtelMetrics from "@effect/opentelemetry/OtelMetrics"
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { Resource as OtelResource } from "@effect/opentelemetry/Resource"
import type { Logger as OtelApiLogger } from "@opentelemetry/api-logs"
import type { LoggerProvider } from "@opentelemetry/sdk-logs"
import { Context, Effect, Layer, Logger, Option, Tracer } from "effect"
import { Exporter, MetricProducers } from "../services/Exporter.ts"

/**
 * The namespaces of the plugin's own span names (`Effect.fn("Exporter.makeProviders")`,
 * `Effect.withSpan("HeaderProvider.refresh")`, `Effect.fn("handlers.endAllSessions")`). A span named in one of them,
 * and every span under it, is the plugin's. test/integration/effect-otel.test.ts checks that every span name in
 * src/ falls in one of these.
 */
export const PLUGIN_SPAN_NAMESPACES: ReadonlyArray<string> = ["Exporter.", "HeaderProvider.", "handlers."]

export const isPluginSpanName = (name: string): boolean => PLUGIN_SPAN_NAMESPACES.some((namespace) => name.startsWith(namespace))

/** A span of the plugin's own code: kept in memory by Effect, never handed to OpenTelemetry. */
class PluginSpan extends Tracer.NativeSpan {}

const isPluginSpan = (span: Tracer.AnySpan | undefined): boolean => span instanceof PluginSpan

/** The Effect tracer: the program's spans become the Exporter's OpenTelemetry spans, the plugin's do not. */
const makeTracer = Effect.gen(function* () {
  const exporter = yield* Exporter
  const otel = yield* OtelTracer.make.pipe(Effect.provideService(OtelTracer.OtelTracer, exporter.tracer))
  return Tracer.make({
    span(options) {
      if (!isPluginSpanName(options.name) && !isPluginSpan(Option.getOrUndefined(options.parent))) return otel.span(options)
      // Unsampled, as Effect's own children of it will be too.
      return new PluginSpan({ ...options, sampled: false })
    },
    // The plugin's code runs outside any OpenTelemetry context the program's spans set up.
    context(primitive, fiber) {
      if (otel.context === undefined || isPluginSpan(fiber.cache.span)) return primitive["~effect/Effect/evaluate"](fiber)
      return otel.context(primitive, fiber)
    },
  })
})

/**
 * `OtelLogger.make` asks a provider for its logger; this one has exactly one, the Exporter's (the plugin's
 * instrumentation scope). Only `getLogger` is ever called on it.
 */
const providerOf = (logger: OtelApiLogger): LoggerProvider => ({ getLogger: () => logger }) as unknown as LoggerProvider

/** The Effect logger: the program's log lines become the Exporter's log records, the plugin's (in its spans) do not. */
const makeLogger = Effect.gen(function* () {
  const exporter = yield* Exporter
  const otel = yield* OtelLogger.make.pipe(Effect.provideService(OtelLogger.OtelLoggerProvider, providerOf(exporter.logger)))
  return Logger.make<unknown, void>((options) => {
    if (isPluginSpan(Context.getOrUndefined(options.fiber.context, Tracer.ParentSpan))) return
    otel.log(options)
  })
})

/** Open layer: needs `Exporter`. Installs the Effect tracer and adds the Effect logger beside the existing ones. */
export const layer: Layer.Layer<never, never, Exporter> = Layer.mergeAll(
  Layer.effect(Tracer.Tracer, makeTracer),
  Logger.layer([makeLogger], { mergeWithExisting: true }),
)

/**
 * Effect's metrics for the Exporter's metric readers, one producer per reader, reading the metric registry of the
 * context this layer is built in. Delta, as the meter's own instruments are collected: the plugin's delivery makes
 * them cumulative when so configured. The Prometheus endpoint does not serve them.
 */
export const layerMetricProducers: Layer.Layer<never> = Layer.effect(
  MetricProducers,
  Effect.gen(function* () {
    const context = yield* Effect.context<never>()
    return [
      (resource) =>
        Effect.runSyncWith(context)(OtelMetrics.makeProducer("delta").pipe(Effect.provideService(OtelResource, resource))),
    ]
  }),
)

/**
 * The bridge over a Telemetry layer: its services, plus the Effect tracer, logger and metrics exported through its
 * Exporter. Releasing it flushes the program's telemetry with the plugin's.
 */
export const layerOn = <A, E, R>(telemetry: Layer.Layer<A, E, R>) =>
  layer.pipe(Layer.provideMerge(telemetry.pipe(Layer.provide(layerMetricProducers))))
