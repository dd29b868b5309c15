/**
 * OTLP exporters for the three protocols, wrapped so that no data is lost to an expired token or a passing outage.
 *
 * The OpenTelemetry SDK calls `export(items, callback)`; the wrapper takes the data into a bounded buffer and
 * answers at once, then delivers in order in the background: with the current headers (rebuilding the inner
 * exporter when they change), refreshing them and retrying once on HTTP 401/403 or gRPC UNAUTHENTICATED /
 * PERMISSION_DENIED (`authRetry`), and redelivering on `redeliverySchedule` while the collector is unreachable.
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
import { Context, Data, Duration, Effect, Fiber, Schedule, Semaphore } from "effect"
import type { Protocol, Signal } from "../config/catalog.ts"
import type { ProtocolExporters } from "./protocols/types.ts"
import { delay, MISMATCH_SUMMARY, type Gate } from "./probe.ts"
import { lineOf, type SignalSpool, type SpoolLine } from "./spool.ts"
import type { SpoolCodec } from "./spoolCodec.ts"

export type { OtlpTarget, ProtocolExporters } from "./protocols/types.ts"

/** Headers as the exporters use them: a version that changes whenever they do (the exporter is then rebuilt). */
export interface HeaderSnapshot {
  readonly version: number
  readonly headers: Readonly<Record<string, string>>
}

/**
 * What an exporter needs of the headers (the HeaderProvider service is one): the current ones, a refresh before
 * the retry of a rejected export, and whether a refresh can change anything.
 */
export interface HeaderSource {
  readonly current: Effect.Effect<HeaderSnapshot>
  readonly refresh: Effect.Effect<HeaderSnapshot>
  readonly canRefresh: boolean
}

/**
 * The exporters of one protocol. Loaded on demand: only the configured protocol's code (gRPC's is the largest)
 * is ever loaded, which keeps the plugin's start-up time and memory down.
 */
export const loadProtocol = async (protocol: Protocol): Promise<ProtocolExporters> => {
  switch (protocol) {
    case "grpc":
      return (await import("./protocols/grpc.ts")).exporters
    case "http/protobuf":
      return (await import("./protocols/http-protobuf.ts")).exporters
    case "http/json":
      return (await import("./protocols/http-json.ts")).exporters
  }
}

/**
 * After an auth failure: one more attempt, the headers refreshed before it (one helper run per rejected export,
 * not one per rejection).
 */
export const authRetry = (refresh: Effect.Effect<unknown>) => Schedule.recurs(1).pipe(Schedule.tap(() => refresh))

/** HTTP 401/403, gRPC UNAUTHENTICATED (16) / PERMISSION_DENIED (7). */
export const isAuthFailure = (protocol: Protocol, error: unknown): boolean => {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined
  return protocol === "grpc" ? code === 16 || code === 7 : code === 401 || code === 403
}

class AuthRejected extends Data.TaggedError("AuthRejected")<{ readonly result: ExportResult }> {}
class StillFailing extends Data.TaggedError("StillFailing") {}

/** OTLP's retryable outcomes: gRPC UNAVAILABLE and friends, HTTP 429/502/503/504, and no answer at all. */
export const isRetryable = (protocol: Protocol, error: unknown): boolean => {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined
  if (typeof code !== "number") return true // connection refused, reset, timed out: the collector may come back
  return protocol === "grpc" ? [1, 4, 8, 10, 11, 14, 15].includes(code) : [408, 429, 502, 503, 504].includes(code)
}

/**
 * Between attempts to deliver buffered data: 1 s doubling to a 30 s cap. The buffer drains as soon as an
 * attempt succeeds; the loop stops at shutdown.
 */
export const redeliverySchedule = Schedule.exponential("1 second", 2).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(30)))),
)

/** The timeout of the one attempt at shutdown after the collector was found down: below the OTLP/HTTP exporters'
 * first retry backoff (0.8 s at least), so that a refused connection is not retried. */
export const LAST_TRY_TIMEOUT_MS = 500

/** How much a signal keeps while the collector is unreachable; past it, the oldest data is dropped and counted. */
export const BUFFER_LIMITS: Record<Signal, number> = { traces: 8_192, logs: 8_192, metrics: 120 }

/**
 * Why data was dropped: the retry buffer was full (no spool), the item alone exceeds it, the collector refused it
 * for good, exit (no spool), the spool's size cap, or a spool entry that could not be read back.
 */
export type DropReason = "buffer_full" | "too_large" | "rejected" | "shutdown" | "spool_full" | "spool_unreadable"

export const DROP_REASONS: Record<DropReason, string> = {
  buffer_full: "retry buffer full",
  too_large: "larger than the retry buffer",
  rejected: "rejected by the collector",
  shutdown: "not delivered before shutdown",
  spool_full: "spool full (OPENCODE_OTLP_SPOOL_MAX_MB)",
  spool_unreadable: "unreadable in the spool",
}

/** Between two rewrites of the spool's buffer file while data is at risk: a crash repeats at most this much. */
export const SPOOL_REWRITE_MS = 1_000

export interface DeliveryReport {
  /**
   * Called with the number of items dropped (spans, log records or metric batches), why, and any detail;
   * `explained` when opencode's log already says why (a protocol mismatch), so only the count is needed.
   */
  readonly onDrop: (signal: Signal, count: number, reason: DropReason, detail?: string, explained?: boolean) => void
  /** Called at exit with the number of items left in the spool for the next process. */
  readonly onSpooled?: ((signal: Signal, count: number, dir: string) => void) | undefined
  /** Called with the number of items taken from the spool (an earlier process's) to deliver. */
  readonly onRestored?: ((signal: Signal, count: number) => void) | undefined
  /** The spool cannot be written or read (once per signal). */
  readonly onSpoolError?: ((signal: Signal, error: unknown) => void) | undefined
}

/** Where undelivered data of one signal goes at exit, and how it is written there. */
export interface SpoolTarget<T> {
  readonly files: SignalSpool
  readonly codec: SpoolCodec<T>
  /** Prefix of the lasting ids of this process's batches (its service.instance.id). */
  readonly instance: string
}

/** Where a signal's exporter sends (for the log, without credentials) and what it waits on before sending. */
export interface DeliveryTarget {
  readonly endpoint: string
  readonly gate?: Gate | undefined
}

interface InnerExporter<T> {
  export(items: T, resultCallback: (result: ExportResult) => void): void
  shutdown(): Promise<void>
  forceFlush?(): Promise<void>
}

interface Pending<T> {
  readonly items: T
  readonly size: number
  /** Lasting id and first-kept time: the same in every process that spools it again. */
  readonly id: string
  readonly time: number
  /** Kept while the collector failed, or taken from the spool: the spool holds a copy until it is delivered. */
  risky: boolean
  /** Its spool line, encoded once. */
  line?: string
}

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
  private readonly buffer: Array<Pending<T>> = []
  private buffered = 0
  private draining: Fiber.Fiber<void> | undefined
  private closed = false
  /** The endpoint does not speak the configured protocol: nothing is sent, everything is counted as dropped. */
  private disabled = false
  private delivered = false
  /** Delivery attempts under way (0 or 1: they run under the lock). */
  private attempting = 0
  private readonly lock = Semaphore.makeUnsafe(1)
  private readonly limit: number

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
    this.limit = BUFFER_LIMITS[signal]
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
      if (!ok && this.spool !== undefined) {
        // The collector fails: what the buffer holds is at risk until it is delivered.
        for (const pending of this.buffer) pending.risky = true
        this.requestPersist()
      }
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
    const left = this.buffered
    this.buffer.length = 0
    this.buffered = 0
    this.drop(left, "rejected", this.mismatchDetail(), true)
    if (this.spoolWritten) this.requestPersist()
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
   * spool: is dropped). While the collector fails, the spool holds a copy of the buffer.
   */
  private keep(items: T) {
    const size = Math.max(1, this.sizeOf(items))
    if (size > this.limit) return this.drop(size, "too_large")
    const evicted: Array<Pending<T>> = []
    // Never the head while an attempt delivers it: it would be delivered and kept (or counted as dropped) both.
    const first = this.attempting > 0 ? 1 : 0
    while (this.buffered + size > this.limit && this.buffer.length > first) {
      const oldest = this.buffer.splice(first, 1)[0]!
      this.buffered -= oldest.size
      if (this.spool === undefined) this.drop(oldest.size, "buffer_full")
      else evicted.push(oldest)
    }
    this.buffer.push({ items, size, id: `${this.spool?.instance ?? ""}:${++this.sequence}`, time: Date.now(), risky: !this.healthy })
    this.buffered += size
    if (evicted.length > 0) this.overflow(evicted)
    if (!this.healthy || evicted.length > 0) this.requestPersist()
    this.startDraining()
  }

  // --- the spool ------------------------------------------------------------------------------------------------

  private sequence = 0
  private spoolWritten = false
  private persistLoop: Promise<void> | undefined
  /** The rewrite under way, if any (the final write waits for it: it is a matter of milliseconds). */
  private persistWrite: Promise<number> | undefined
  private persistDirty = false
  private restoring: Promise<void> | undefined
  /** Shutdown has begun: nothing more is taken from the spool. */
  private closing = false
  private spoolFailed = false

  private spoolLine = (pending: Pending<T>): SpoolLine => ({
    id: pending.id,
    time: pending.time,
    line: (pending.line ??= lineOf(pending.id, pending.time, this.spool!.codec.encode(pending.items))),
  })

  private spoolError = (error: unknown) => {
    if (this.spoolFailed) return
    this.spoolFailed = true
    this.report.onSpoolError?.(this.signal, error)
  }

  /** Items of the first `count` entries. */
  private static sizeOfFirst = <T>(entries: ReadonlyArray<Pending<T>>, count: number) =>
    entries.slice(0, count).reduce((total, p) => total + p.size, 0)
  /** Items of the last `count` entries (what a full spool refused). */
  private static sizeOfLast = <T>(entries: ReadonlyArray<Pending<T>>, count: number) =>
    count === 0 ? 0 : entries.slice(-count).reduce((total, p) => total + p.size, 0)

  /** What no longer fits the buffer goes to the overflow file, taken back once the buffer has room. */
  private overflow(evicted: ReadonlyArray<Pending<T>>) {
    this.spool!.files.appendOverflow(evicted.map(this.spoolLine)).then(
      (cut) => this.drop(ResilientExporter.sizeOfLast(evicted, cut), "spool_full"),
      (error) => {
        this.spoolError(error)
        this.drop(ResilientExporter.sizeOfFirst(evicted, evicted.length), "buffer_full")
      },
    )
  }

  /** The spool's copy of the buffer follows it: rewritten while anything is at risk (at most every SPOOL_REWRITE_MS), deleted once nothing is. */
  private requestPersist() {
    if (this.spool === undefined) return
    this.persistDirty = true
    this.persistLoop ??= (async () => {
      try {
        while (this.persistDirty) {
          this.persistDirty = false
          this.persistWrite = this.persistNow()
          await this.persistWrite
          this.persistWrite = undefined
          if (this.persistDirty) await delay(SPOOL_REWRITE_MS)
        }
      } finally {
        this.persistLoop = undefined
      }
    })()
  }

  private persistNow = async (final = false): Promise<number> => {
    const files = this.spool!.files
    try {
      if (this.buffer.some((p) => p.risky) || (final && this.buffer.length > 0)) {
        const lines = this.buffer.map(this.spoolLine)
        const cut = await files.saveBuffer(lines, final)
        this.spoolWritten = true
        return cut
      }
      if (this.spoolWritten || final) await files.saveBuffer([], final)
      this.spoolWritten = false
    } catch (error) {
      this.spoolError(error)
      if (final) return this.buffer.length
    }
    return 0
  }

  /**
   * Takes what processes that are gone left in the spool for this endpoint (and, with `ownOverflow`, what this
   * one put in its overflow file) into the buffer, ahead of newer data, and delivers it. At start, after the
   * endpoint check; again whenever the buffer empties with the overflow file in use.
   */
  restore(ownOverflow = false): Promise<void> {
    if (this.spool === undefined || this.closed) return Promise.resolve()
    if (this.restoring !== undefined) return this.restoring
    const run = async () => {
      if (this.target.gate !== undefined) await this.target.gate.ready
      if (this.closed || this.disabled || this.target.gate?.mismatch !== undefined) return
      const claim = await this.spool!.files.claim(ownOverflow)
      if (claim.batches.length === 0 && claim.unreadable === 0) return void (await claim.release())
      const decode = this.spool!.codec.decoder()
      const restored: Array<Pending<T>> = []
      let unreadable = claim.unreadable
      for (const batch of claim.batches) {
        const items = decode(batch.data)
        if (items === undefined) unreadable++
        else restored.push({ items, size: Math.max(1, this.sizeOf(items)), id: batch.id, time: batch.time, risky: true, line: batch.line })
      }
      this.drop(unreadable, "spool_unreadable")
      // Ahead of newer data, up to the buffer's room; the rest waits in the overflow file. Under the lock: no
      // attempt is under way at the buffer's head.
      const later = await Effect.runPromise(
        this.lock.withPermit(
          Effect.sync(() => {
            if (this.closing) return undefined
            let room = this.limit - this.buffered
            let fits = 0
            while (fits < restored.length && restored[fits]!.size <= room) room -= restored[fits++]!.size
            this.buffer.unshift(...restored.slice(0, fits))
            this.buffered += ResilientExporter.sizeOfFirst(restored, fits)
            return restored.slice(fits)
          }),
        ),
      )
      // Shut down meanwhile: the claimed files stay, for the next process.
      if (later === undefined) return
      if (later.length > 0) this.overflow(later)
      if (restored.length > later.length && !ownOverflow) this.report.onRestored?.(this.signal, ResilientExporter.sizeOfFirst(restored, restored.length - later.length))
      // The claimed files go only once this process's own copy holds their data.
      await this.persistNow()
      await claim.release()
      this.startDraining()
    }
    this.restoring = run()
      .catch((error) => this.spoolError(error))
      .finally(() => void (this.restoring = undefined))
    return this.restoring
  }

  /** After a delivery: the spool's copy follows the buffer; an empty buffer takes back what overflowed. */
  private afterDelivery() {
    if (this.spool === undefined) return
    if (this.spoolWritten) this.requestPersist()
    if (this.buffer.length === 0 && this.spool.files.hasOverflow) void this.restore(true)
  }

  /** At exit: what is left goes to the spool (what its cap cannot hold is dropped), not lost. */
  private async spoolRest(): Promise<void> {
    if (this.spool === undefined) return
    // Neither a rewrite waiting its turn nor a restore waiting on the endpoint check holds the exit: the final
    // write seals the file against earlier writes, and a restore that comes too late leaves its claimed files
    // to the next process.
    this.persistDirty = false
    await this.persistWrite
    const left = this.buffered
    const cut = await this.persistNow(true)
    const dropped = ResilientExporter.sizeOfLast(this.buffer, cut)
    this.buffer.length = 0
    this.buffered = 0
    this.drop(dropped, cut > 0 && !this.spoolFailed ? "spool_full" : "shutdown")
    if (left > dropped) this.report.onSpooled?.(this.signal, left - dropped, this.spool.files.dir)
  }

  /** Delivers the head of the buffer; true when the buffer may go on, false when the collector still fails. */
  private deliverHead = (rebuild: boolean): Effect.Effect<boolean> =>
    Effect.andThen(
      // The first delivery waits for the check of the endpoint at start (bounded); later ones find it done.
      Effect.suspend(() => (this.target.gate === undefined ? Effect.void : Effect.promise(() => this.target.gate!.ready))),
      Effect.suspend(() => {
        const head = this.buffer[0]
        if (head === undefined) return Effect.succeed(true)
        if (this.disabled || this.target.gate?.mismatch !== undefined) return Effect.sync(() => this.disable())
        this.attempting++
        return this.attempt(head.items, rebuild).pipe(
          Effect.ensuring(Effect.sync(() => void this.attempting--)),
          Effect.map((result) => {
            if (this.buffer[0] !== head) return true
            if (result.code === ExportResultCode.SUCCESS || !this.retryable(result)) {
              this.buffer.shift()
              this.buffered -= head.size
              if (result.code !== ExportResultCode.SUCCESS) this.drop(head.size, "rejected", describeError(result.error))
              this.afterDelivery()
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
    // An attempt in flight (or about to start) may hide a refused connection behind the OTLP/HTTP exporter's own
    // retries (a second or more): waiting for it is pointless when nothing listens at the endpoint, which one
    // connection tells at once.
    if (this.buffer.length > 0 && this.target.gate?.refusing !== undefined)
      return this.target.gate.refusing().then((refused) => (refused ? undefined : this.flushPass()), () => this.flushPass())
    return this.flushPass()
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
        const head = this.buffer[0]!
        const result = await new Promise<ExportResult>((resolve) => quick.export(head.items, resolve))
        await Effect.runPromiseWith(this.context)(this.noteHealth(result))
        if (result.code !== ExportResultCode.SUCCESS && this.retryable(result)) return
        this.buffer.shift()
        this.buffered -= head.size
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
    const left = this.buffered
    let dropped = left
    if (this.spool !== undefined && this.buffer.length > 0) {
      try {
        const cut = this.spool.files.saveBufferSync(this.buffer.map(this.spoolLine))
        dropped = ResilientExporter.sizeOfLast(this.buffer, cut)
        if (left > dropped) this.report.onSpooled?.(this.signal, left - dropped, this.spool.files.dir)
      } catch (error) {
        this.spoolError(error)
      }
    }
    this.buffer.length = 0
    this.buffered = 0
    this.drop(dropped, dropped < left ? "spool_full" : "shutdown")
    this.spool?.files.close()
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
    if (this.spool !== undefined && (down || this.attempting > 0 || this.buffer.length > 0 || this.spoolWritten)) await this.spoolRest()
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

/** Exporters that can count what they must leave undelivered when shutdown runs out of time. */
export const canAbandon = (exporter: unknown): exporter is { abandon(): void } =>
  typeof exporter === "object" && exporter !== null && "abandon" in exporter && typeof exporter.abandon === "function"

/** A URL as the log may show it: scheme, host, port and path; never user info, query or fragment (credentials). */
export const withoutCredentials = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`
  } catch {
    return "(an invalid URL)"
  }
}

/** A short description of an export error; never includes request headers. */
export const describeError = (error: unknown): string => {
  if (error instanceof Error) {
    const code = "code" in error && (typeof error.code === "number" || typeof error.code === "string") ? ` (code ${error.code})` : ""
    return `${error.message.split("\n")[0]?.slice(0, 300) ?? "error"}${code}`
  }
  return "unknown error"
}

/** The longest a first failure waits for the endpoint check before it is reported as it is. */
const DIAGNOSIS_WAIT_MS = 5_000
