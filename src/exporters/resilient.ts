/**
 * The exporter behind each OTLP signal: the SDK hands it a batch, it answers at once and delivers in the
 * background, in order, with the delivery policies of otlp.ts, a bounded retry buffer and the spool.
 */
import { ExportResultCode, type ExportResult } from "@opentelemetry/core"
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type {
  AggregationOption,
  AggregationTemporality,
  InstrumentType,
  PushMetricExporter,
  ResourceMetrics,
} from "@opentelemetry/sdk-metrics"
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Context, Data, Effect, Fiber, Semaphore } from "effect"
import type { Protocol, Signal } from "../config/catalog.ts"
import { BufferSpool, type SpoolTarget } from "./bufferSpool.ts"
import {
  authRetry,
  BUFFER_LIMITS,
  describeError,
  DIAGNOSIS_WAIT_MS,
  isAuthFailure,
  isRetryable,
  redeliverySchedule,
  type DeliveryReport,
  type DeliveryTarget,
  type DropReason,
  type HeaderSource,
  type InnerExporter,
} from "./otlp.ts"
import { delay, MISMATCH_SUMMARY } from "./probe.ts"
import { RetryBuffer, sizeOfFirst } from "./retryBuffer.ts"

class AuthRejected extends Data.TaggedError("AuthRejected")<{ readonly result: ExportResult }> {}
class StillFailing extends Data.TaggedError("StillFailing") {}

/**
 * An exporter that does not lose data to a passing outage or an expired token:
 * - one inner OTLP exporter built with the current headers, rebuilt when they change;
 * - on an auth failure, headers refreshed and the export retried once (`authRetry`);
 * - on a retryable failure, the data kept in a bounded buffer and redelivered in order on
 *   `redeliverySchedule`; new data queues behind it so nothing overtakes;
 * - anything dropped (buffer full, a permanent rejection, undelivered at shutdown) counted and reported.
 * The SDK is told "success" for data taken into the buffer, so its processors do not drop it themselves.
 */
class ResilientExporter<T, I extends InnerExporter<T>> {
  protected inner: I
  private builtWith: number
  private healthy = true
  private readonly buffer: RetryBuffer<T>
  private draining: Fiber.Fiber<void> | undefined
  private closed = false
  /** The endpoint does not speak the configured protocol: nothing is sent, everything is counted as dropped. */
  private disabled = false
  private delivered = false
  /** Delivery attempts under way (0 or 1: they run under the lock). */
  private attempting = 0
  private readonly lock = Semaphore.makeUnsafe(1)
  /** The spool's side of the buffer, when there is a spool. */
  private readonly spooled: BufferSpool<T> | undefined
  private sequence = 0
  /** Shutdown has begun: nothing more is taken from the spool. */
  private closing = false

  constructor(
    private readonly signal: Signal,
    private readonly protocol: Protocol,
    /** Builds the inner exporter; `lastTry` asks for one with LAST_TRY_TIMEOUT_MS, for the attempt at shutdown. */
    private readonly build: (headers: Readonly<Record<string, string>>, lastTry?: boolean) => I,
    private readonly headers: HeaderSource,
    private readonly context: Context.Context<never>,
    /** Forks into the fibers the owning layer interrupts when it closes (the redelivery loop). */
    private readonly background: (effect: Effect.Effect<void>) => Fiber.Fiber<void>,
    initial: { version: number; headers: Readonly<Record<string, string>> },
    private readonly report: DeliveryReport,
    private readonly sizeOf: (items: T) => number,
    private readonly target: DeliveryTarget,
    private readonly spool?: SpoolTarget<T> | undefined,
  ) {
    this.inner = build(initial.headers)
    this.builtWith = initial.version
    this.buffer = new RetryBuffer<T>(BUFFER_LIMITS[signal])
    this.spooled =
      spool === undefined
        ? undefined
        : new BufferSpool(spool, {
            signal,
            buffer: this.buffer,
            sizeOf,
            gate: target.gate,
            drop: (count, reason) => this.drop(count, reason),
            onSpooled: report.onSpooled,
            onRestored: report.onRestored,
            onSpoolError: report.onSpoolError,
            sending: () => !this.closed && !this.disabled && this.target.gate?.mismatch === undefined,
            closing: () => this.closing,
            withoutAttempt: (change) => Effect.runPromise(this.lock.withPermit(Effect.sync(change))),
            startDraining: () => this.startDraining(),
          })
  }

  private current = (snapshot: { version: number; headers: Readonly<Record<string, string>> }, rebuild = false): I => {
    if (rebuild || snapshot.version !== this.builtWith) {
      const old = this.inner
      this.inner = this.build(snapshot.headers)
      this.builtWith = snapshot.version
      // Let exports already under way on the old exporter finish; then close its connection.
      old.shutdown().catch(() => undefined)
    }
    return this.inner
  }

  private exportOnce = (items: T, rebuild = false): Effect.Effect<ExportResult, AuthRejected> => {
    const self = this
    return Effect.gen(function* () {
      const inner = self.current(yield* self.headers.current, rebuild)
      const result = yield* Effect.callback<ExportResult>((resume) => {
        inner.export(items, (r) => resume(Effect.succeed(r)))
      })
      if (result.code === ExportResultCode.FAILED && isAuthFailure(self.protocol, result.error))
        return yield* new AuthRejected({ result })
      return result
    })
  }

  /** One delivery attempt, with a header refresh and one retry on an auth failure. */
  private attempt = (items: T, rebuild = false): Effect.Effect<ExportResult> =>
    // A rebuilt exporter for the first try only; the retry's refreshed headers rebuild it anyway.
    Effect.suspend(() => this.exportOnce(items, rebuild && !(rebuild = false))).pipe(
      Effect.retry({ schedule: authRetry(this.headers.refresh), while: () => this.headers.canRefresh }),
      Effect.catchTag("AuthRejected", (rejected) => Effect.succeed(rejected.result)),
      Effect.tap((result) => this.noteHealth(result)),
      Effect.withSpan(`Exporter.export.${this.signal}`),
    )

  /**
   * One message when exports start failing and one when they recover: never one per export. A first failure
   * waits (bounded) for the endpoint check at start, which on a loaded machine can answer after the first export:
   * a mismatch is then named once as such, not as the transport's error.
   */
  private noteHealth = (result: ExportResult) =>
    Effect.suspend(() => {
      const diagnosed = this.target.gate?.diagnosed
      const firstFailure = result.code !== ExportResultCode.SUCCESS && this.healthy && this.target.gate?.mismatch === undefined
      return firstFailure && diagnosed !== undefined
        ? Effect.andThen(
            Effect.promise(() => Promise.race([diagnosed, delay(DIAGNOSIS_WAIT_MS)])),
            Effect.suspend(() => this.reportHealth(result)),
          )
        : this.reportHealth(result)
    })

  private reportHealth = (result: ExportResult) =>
    Effect.suspend(() => {
      const ok = result.code === ExportResultCode.SUCCESS
      // Once per signal: telemetry is known to arrive.
      const first = ok && !this.delivered ? Effect.logInfo(`OTLP ${this.signal}: first export delivered to ${this.target.endpoint}`) : Effect.void
      if (ok) this.delivered = true
      // A protocol mismatch was reported once for the endpoint; its failures need no message of their own.
      if (this.target.gate?.mismatch !== undefined) return first
      if (ok === this.healthy) return first
      this.healthy = ok
      if (!ok) this.spooled?.collectorFailed()
      return ok
        ? Effect.andThen(first, Effect.logInfo(`OTLP ${this.signal} export recovered${this.buffer.length > 0 ? "; delivering what was kept meanwhile" : ""}`))
        : Effect.logWarning(
            `OTLP ${this.signal} export failed: ${describeError(result.error)}.` +
              (isRetryable(this.protocol, result.error) ? " Data is kept and retried until it is delivered or the buffer is full." : ""),
          )
    })

  private retryable = (result: ExportResult) => result.code === ExportResultCode.FAILED && isRetryable(this.protocol, result.error)

  private drop(count: number, reason: DropReason, detail?: string, explained = false) {
    if (count > 0) this.report.onDrop(this.signal, count, reason, detail, explained)
  }

  /**
   * The endpoint does not speak the configured protocol (reported once for the endpoint): what is kept is
   * dropped and counted, and nothing more is sent there. True: the buffer may go on (it is empty).
   */
  private disable(): boolean {
    if (!this.disabled) {
      this.disabled = true
      this.inner.shutdown().catch(() => undefined)
    }
    this.drop(this.buffer.clear(), "rejected", this.mismatchDetail(), true)
    if (this.spooled?.holdsCopy) this.spooled.requestPersist()
    return true
  }

  private mismatchDetail = () => {
    const mismatch = this.target.gate?.mismatch
    return mismatch === undefined ? undefined : `the endpoint ${MISMATCH_SUMMARY[mismatch]}`
  }

  /** After a failure, gRPC channels back off reconnecting for up to minutes: a fresh exporter connects at once. */
  private freshChannel = () => this.protocol === "grpc" && !this.healthy

  /**
   * Keeps data for redelivery. When the buffer is full, the oldest goes to the spool's overflow file (without a
   * spool: is dropped); never the head while an attempt delivers it, which would then be both delivered and kept.
   * While the collector fails, the spool holds a copy of the buffer.
   */
  private keep(items: T) {
    const size = Math.max(1, this.sizeOf(items))
    if (size > this.buffer.limit) return this.drop(size, "too_large")
    const evicted = this.buffer.evictFor(size, this.attempting > 0 ? 1 : 0)
    this.buffer.push({ items, size, id: `${this.spool?.instance ?? ""}:${++this.sequence}`, time: Date.now(), risky: !this.healthy })
    if (this.spooled === undefined) this.drop(sizeOfFirst(evicted, evicted.length), "buffer_full")
    else {
      if (evicted.length > 0) this.spooled.overflow(evicted)
      if (!this.healthy || evicted.length > 0) this.spooled.requestPersist()
    }
    this.startDraining()
  }

  /** Takes what processes that are gone left in the spool for this endpoint into the buffer (see BufferSpool). */
  restore(): Promise<void> {
    return this.spooled?.restore() ?? Promise.resolve()
  }

  /** Delivers the head of the buffer; true when the buffer may go on, false when the collector still fails. */
  private deliverHead = (rebuild: boolean): Effect.Effect<boolean> =>
    Effect.andThen(
      // The first delivery waits for the check of the endpoint at start (bounded); later ones find it done.
      Effect.suspend(() => (this.target.gate === undefined ? Effect.void : Effect.promise(() => this.target.gate!.ready))),
      Effect.suspend(() => {
        const head = this.buffer.head()
        if (head === undefined) return Effect.succeed(true)
        if (this.disabled || this.target.gate?.mismatch !== undefined) return Effect.sync(() => this.disable())
        this.attempting++
        return this.attempt(head.items, rebuild).pipe(
          Effect.ensuring(Effect.sync(() => void this.attempting--)),
          Effect.map((result) => {
            if (this.buffer.head() !== head) return true
            if (result.code === ExportResultCode.SUCCESS || !this.retryable(result)) {
              this.buffer.removeHead()
              if (result.code !== ExportResultCode.SUCCESS) this.drop(head.size, "rejected", describeError(result.error))
              this.spooled?.delivered()
              return true
            }
            return false
          }),
        )
      }),
    ).pipe(this.lock.withPermit)

  /** Redelivers the buffer in order, waiting on `redeliverySchedule` while the collector still fails. */
  private drainLoop(): Effect.Effect<void> {
    const self = this
    return Effect.gen(function* () {
      while (self.buffer.length > 0 && !self.closed)
        yield* Effect.suspend(() => self.deliverHead(self.freshChannel())).pipe(
          Effect.flatMap((ok) => (ok ? Effect.void : Effect.fail(new StillFailing()))),
          Effect.retry({ schedule: redeliverySchedule, while: () => !self.closed }),
          Effect.ignore,
        )
    })
  }

  private startDraining() {
    if (this.draining !== undefined || this.closed) return
    this.draining = this.background(this.drainLoop().pipe(Effect.ensuring(Effect.sync(() => void (this.draining = undefined)))))
  }

  /**
   * Takes the data and answers at once: delivery happens in the background, in order. The SDK's processors
   * give up on an export after their timeout and drop the batch silently; an answer that never waits on the
   * network keeps every drop here, where it is counted.
   */
  export(items: T, resultCallback: (result: ExportResult) => void): void {
    if (this.closed) {
      this.drop(this.sizeOf(items), "shutdown")
      return resultCallback({ code: ExportResultCode.FAILED, error: new Error("exporter is shut down") })
    }
    if (this.disabled || this.target.gate?.mismatch !== undefined) {
      this.drop(this.sizeOf(items), "rejected", this.mismatchDetail(), true)
      return resultCallback({ code: ExportResultCode.SUCCESS })
    }
    this.keep(items)
    resultCallback({ code: ExportResultCode.SUCCESS })
  }

  /**
   * One pass over the buffer (no waiting between attempts), then the inner exporter's own flush. While the
   * collector is known to be down, the redelivery loop owns the buffer and a flush does not wait for it.
   */
  forceFlush(): Promise<void> {
    if (!this.healthy && this.draining !== undefined) return Promise.resolve()
    // An attempt in flight (or about to start, before anything was ever delivered) may hide a refused connection
    // behind the OTLP/HTTP exporter's own retries (a second or more): waiting for it is pointless when nothing
    // listens at the endpoint, which one connection, made meanwhile, tells at once. A collector that answers is not
    // kept waiting for that check, and one known to answer is not checked at all.
    const pass = this.flushPass()
    const unsure = this.buffer.length > 0 && (this.attempting > 0 || !this.delivered)
    const refusing = unsure ? this.target.gate?.refusing : undefined
    if (refusing === undefined) return pass
    const refused = refusing().then(
      (yes) => (yes ? undefined : pass),
      () => pass,
    )
    return Promise.race([pass, refused])
  }

  private flushPass(): Promise<void> {
    const self = this
    const pass = Effect.gen(function* () {
      while (self.buffer.length > 0) if (!(yield* self.deliverHead(self.freshChannel()))) return
    })
    return Effect.runPromiseWith(this.context)(pass).then(() => this.inner.forceFlush?.() ?? undefined)
  }

  /**
   * At shutdown with the collector known to be down: the redelivery loop is stopped (its attempt in flight may
   * sit in the OTLP/HTTP exporter's own retry backoff for a second or more), and the buffer gets one more pass
   * through an exporter with a short timeout, so that a refused connection answers at once and a collector that
   * came back still gets everything.
   */
  private lastTry = async (): Promise<void> => {
    this.closed = true
    const fiber = this.draining
    if (fiber !== undefined) await Effect.runPromise(Fiber.interrupt(fiber)).catch(() => undefined)
    const quick = this.build((await Effect.runPromiseWith(this.context)(this.headers.current)).headers, true)
    try {
      while (this.buffer.length > 0) {
        const head = this.buffer.head()!
        const result = await new Promise<ExportResult>((resolve) => quick.export(head.items, resolve))
        await Effect.runPromiseWith(this.context)(this.noteHealth(result))
        if (result.code !== ExportResultCode.SUCCESS && this.retryable(result)) return
        this.buffer.removeHead()
        if (result.code !== ExportResultCode.SUCCESS) this.drop(head.size, "rejected", describeError(result.error))
      }
    } finally {
      quick.shutdown().catch(() => undefined)
    }
  }

  /**
   * Gives up on whatever is still undelivered (the shutdown budget ran out): it goes to the spool, written
   * synchronously because the process is about to end; without a spool, or past its cap, it is dropped and counted.
   */
  abandon(): void {
    this.closed = true
    if (this.spooled !== undefined) this.spooled.abandon()
    else this.drop(this.buffer.clear(), "shutdown")
  }

  /** A last delivery pass; whatever is still undelivered is counted as dropped. Bounded by the caller. */
  async shutdown(): Promise<void> {
    this.closing = true
    // Known down: the latest attempt failed, or (an attempt may still be in flight, hidden in the OTLP/HTTP
    // exporter's own retries) nothing listens at the endpoint now. Then exit does not wait for the collector.
    const down = !this.healthy || (this.buffer.length > 0 && (await this.target.gate?.refusing?.().catch(() => false)) === true)
    if (down) await this.lastTry().catch(() => undefined)
    else await this.forceFlush().catch(() => undefined)
    // Still undelivered (or delivered: the spool's copy goes): the spool gets the last word.
    if (this.spooled !== undefined && (down || this.attempting > 0 || this.buffer.length > 0 || this.spooled.holdsCopy)) await this.spooled.rest()
    if (down || this.attempting > 0) {
      // The inner exporter's shutdown waits for its requests in flight, retries included: not for a dead collector.
      this.closed = true
      const fiber = this.draining
      if (fiber !== undefined) Effect.runFork(Fiber.interrupt(fiber))
      this.abandon()
      this.inner.shutdown().catch(() => undefined)
      return
    }
    this.closed = true
    const fiber = this.draining
    if (fiber !== undefined) Effect.runFork(Fiber.interrupt(fiber))
    this.abandon()
    await this.inner.shutdown()
  }
}

export class ResilientSpanExporter extends ResilientExporter<Array<ReadableSpan>, SpanExporter> implements SpanExporter {}
export class ResilientLogExporter extends ResilientExporter<Array<ReadableLogRecord>, LogRecordExporter> implements LogRecordExporter {}
export class ResilientMetricExporter extends ResilientExporter<ResourceMetrics, PushMetricExporter> implements PushMetricExporter {
  // Temporality and aggregation depend on configuration only, never on headers: ask the current exporter.
  selectAggregationTemporality = (instrumentType: InstrumentType): AggregationTemporality =>
    this.inner.selectAggregationTemporality!(instrumentType)
  selectAggregation = (instrumentType: InstrumentType): AggregationOption => this.inner.selectAggregation!(instrumentType)
}

