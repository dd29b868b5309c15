/**
 * OTLP exporters for the three protocols, wrapped so that an auth failure refreshes the headers, rebuilds the
 * exporter and retries the failed export once.
 *
 * The OpenTelemetry SDK calls `export(items, callback)`; the wrapper turns one call into an Effect that:
 * reads the current headers (waiting for the helper's prewarm), rebuilds the inner exporter when the headers
 * changed, exports, and on HTTP 401/403 or gRPC UNAUTHENTICATED/PERMISSION_DENIED refreshes the headers and
 * tries again, as the `authRetry` Schedule allows.
 */
import { Metadata, credentials as grpcCredentials } from "@grpc/grpc-js"
import { ExportResultCode, type ExportResult } from "@opentelemetry/core"
import { OTLPLogExporter as GrpcLogExporter } from "@opentelemetry/exporter-logs-otlp-grpc"
import { OTLPLogExporter as HttpJsonLogExporter } from "@opentelemetry/exporter-logs-otlp-http"
import { OTLPLogExporter as HttpProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto"
import { OTLPMetricExporter as GrpcMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc"
import {
  AggregationTemporalityPreference,
  OTLPMetricExporter as HttpJsonMetricExporter,
} from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPMetricExporter as HttpProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto"
import { OTLPTraceExporter as GrpcTraceExporter } from "@opentelemetry/exporter-trace-otlp-grpc"
import { OTLPTraceExporter as HttpJsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { OTLPTraceExporter as HttpProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto"
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type {
  AggregationOption,
  AggregationTemporality,
  InstrumentType,
  PushMetricExporter,
  ResourceMetrics,
} from "@opentelemetry/sdk-metrics"
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Context, Data, Effect, Schedule } from "effect"
import type { Protocol, Temporality } from "../services/Config.ts"
import type { Interface as HeaderProviderInterface } from "../services/HeaderProvider.ts"

export type Signal = "traces" | "metrics" | "logs"

export interface OtlpTarget {
  readonly endpoint: string
  readonly protocol: Protocol
  readonly timeoutMs: number
  readonly temporality: Temporality
}

/** After an auth failure: one more attempt, with refreshed headers. */
export const authRetry = Schedule.recurs(1)

/** The URL an exporter posts to: the collector URL for gRPC, base URL + /v1/<signal> for HTTP. */
export const signalUrl = (endpoint: string, protocol: Protocol, signal: Signal): string => {
  const base = endpoint.replace(/\/+$/, "")
  if (protocol === "grpc") return base.replace(/^grpc:\/\//i, "http://").replace(/^grpcs:\/\//i, "https://")
  return `${base}/v1/${signal}`
}

/** HTTP 401/403, gRPC UNAUTHENTICATED (16) / PERMISSION_DENIED (7). */
export const isAuthFailure = (protocol: Protocol, error: unknown): boolean => {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined
  return protocol === "grpc" ? code === 16 || code === 7 : code === 401 || code === 403
}

const temporalityPreference = (t: Temporality) =>
  t === "delta"
    ? AggregationTemporalityPreference.DELTA
    : t === "lowmemory"
      ? AggregationTemporalityPreference.LOWMEMORY
      : AggregationTemporalityPreference.CUMULATIVE

const grpcOptions = (target: OtlpTarget, headers: Readonly<Record<string, string>>) => {
  const url = signalUrl(target.endpoint, target.protocol, "traces")
  const metadata = new Metadata()
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v)
  return {
    url,
    metadata,
    timeoutMillis: target.timeoutMs,
    // Explicit credentials: the exporter would otherwise consult OTEL_EXPORTER_OTLP_INSECURE and friends.
    credentials: url.startsWith("https://") ? grpcCredentials.createSsl() : grpcCredentials.createInsecure(),
  }
}

const httpOptions = (target: OtlpTarget, signal: Signal, headers: Readonly<Record<string, string>>) => ({
  url: signalUrl(target.endpoint, target.protocol, signal),
  headers: { ...headers },
  timeoutMillis: target.timeoutMs,
})

export const buildSpanExporter = (target: OtlpTarget, headers: Readonly<Record<string, string>>): SpanExporter => {
  switch (target.protocol) {
    case "grpc":
      return new GrpcTraceExporter(grpcOptions(target, headers))
    case "http/protobuf":
      return new HttpProtoTraceExporter(httpOptions(target, "traces", headers))
    case "http/json":
      return new HttpJsonTraceExporter(httpOptions(target, "traces", headers))
  }
}

export const buildLogExporter = (target: OtlpTarget, headers: Readonly<Record<string, string>>): LogRecordExporter => {
  switch (target.protocol) {
    case "grpc":
      return new GrpcLogExporter(grpcOptions(target, headers))
    case "http/protobuf":
      return new HttpProtoLogExporter(httpOptions(target, "logs", headers))
    case "http/json":
      return new HttpJsonLogExporter(httpOptions(target, "logs", headers))
  }
}

export const buildMetricExporter = (target: OtlpTarget, headers: Readonly<Record<string, string>>): PushMetricExporter => {
  const temporality = { temporalityPreference: temporalityPreference(target.temporality) }
  switch (target.protocol) {
    case "grpc":
      return new GrpcMetricExporter({ ...grpcOptions(target, headers), ...temporality })
    case "http/protobuf":
      return new HttpProtoMetricExporter({ ...httpOptions(target, "metrics", headers), ...temporality })
    case "http/json":
      return new HttpJsonMetricExporter({ ...httpOptions(target, "metrics", headers), ...temporality })
  }
}

class AuthRejected extends Data.TaggedError("AuthRejected")<{ readonly result: ExportResult }> {}

interface InnerExporter<T> {
  export(items: T, resultCallback: (result: ExportResult) => void): void
  shutdown(): Promise<void>
  forceFlush?(): Promise<void>
}

/**
 * Holds one inner exporter built with the current headers and rebuilds it when they change.
 * `run` executes Effects with the plugin's services (its logger), from the SDK's callback world.
 */
class ReauthExporter<T, I extends InnerExporter<T>> {
  protected inner: I
  private builtWith: number
  private healthy = true

  constructor(
    private readonly signal: Signal,
    private readonly protocol: Protocol,
    private readonly build: (headers: Readonly<Record<string, string>>) => I,
    private readonly headers: HeaderProviderInterface,
    private readonly context: Context.Context<never>,
    initial: { version: number; headers: Readonly<Record<string, string>> },
  ) {
    this.inner = build(initial.headers)
    this.builtWith = initial.version
  }

  private current = (snapshot: { version: number; headers: Readonly<Record<string, string>> }): I => {
    if (snapshot.version !== this.builtWith) {
      const old = this.inner
      this.inner = this.build(snapshot.headers)
      this.builtWith = snapshot.version
      // Let exports already under way on the old exporter finish; then close its connection.
      old.shutdown().catch(() => undefined)
    }
    return this.inner
  }

  private exportOnce = (items: T): Effect.Effect<ExportResult, AuthRejected> => {
    const self = this
    return Effect.gen(function* () {
      const inner = self.current(yield* self.headers.current)
      const result = yield* Effect.callback<ExportResult>((resume) => {
        inner.export(items, (r) => resume(Effect.succeed(r)))
      })
      if (result.code === ExportResultCode.FAILED && isAuthFailure(self.protocol, result.error))
        return yield* new AuthRejected({ result })
      return result
    })
  }

  private exportWithRetry = (items: T) =>
    this.exportOnce(items).pipe(
      Effect.tapError(() => this.headers.refresh),
      Effect.retry({ schedule: authRetry, while: () => this.headers.canRefresh }),
      Effect.catchTag("AuthRejected", (rejected) => Effect.succeed(rejected.result)),
      Effect.tap((result) => this.report(result)),
      Effect.withSpan(`Exporter.export.${this.signal}`),
    )

  /** One message when exports start failing and one when they recover: never one per export. */
  private report = (result: ExportResult) =>
    Effect.suspend(() => {
      const ok = result.code === ExportResultCode.SUCCESS
      if (ok === this.healthy) return Effect.void
      this.healthy = ok
      return ok
        ? Effect.logInfo(`OTLP ${this.signal} export recovered`)
        : Effect.logWarning(`OTLP ${this.signal} export failed: ${describeError(result.error)}`)
    })

  export(items: T, resultCallback: (result: ExportResult) => void): void {
    Effect.runCallbackWith(this.context)(this.exportWithRetry(items), {
      onExit: (exit) =>
        resultCallback(
          exit._tag === "Success" ? exit.value : { code: ExportResultCode.FAILED, error: new Error("export interrupted") },
        ),
    })
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown()
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve()
  }
}

export class ReauthSpanExporter extends ReauthExporter<Array<ReadableSpan>, SpanExporter> implements SpanExporter {}
export class ReauthLogExporter extends ReauthExporter<Array<ReadableLogRecord>, LogRecordExporter> implements LogRecordExporter {}
export class ReauthMetricExporter extends ReauthExporter<ResourceMetrics, PushMetricExporter> implements PushMetricExporter {
  // Temporality and aggregation depend on configuration only, never on headers: ask the current exporter.
  selectAggregationTemporality = (instrumentType: InstrumentType): AggregationTemporality =>
    this.inner.selectAggregationTemporality!(instrumentType)
  selectAggregation = (instrumentType: InstrumentType): AggregationOption => this.inner.selectAggregation!(instrumentType)
}

/** A short description of an export error; never includes request headers. */
export const describeError = (error: unknown): string => {
  if (error instanceof Error) {
    const code = "code" in error && (typeof error.code === "number" || typeof error.code === "string") ? ` (code ${error.code})` : ""
    return `${error.message.split("\n")[0]?.slice(0, 300) ?? "error"}${code}`
  }
  return "unknown error"
}
