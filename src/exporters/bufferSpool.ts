/**
 * An exporter's retry buffer on disk (see spool.ts for the files): a copy written while anything in the buffer is
 * at risk, what overflows the buffer, the rest at exit; and, at start, what processes that are gone left for this
 * endpoint, taken into the buffer ahead of newer data.
 */
import type { Signal } from "../config/catalog.ts"
import type { DropReason } from "./otlp.ts"
import type { Gate } from "./probe.ts"
import { delay } from "./probe.ts"
import { sizeOfFirst, sizeOfLast, type Pending, type RetryBuffer } from "./retryBuffer.ts"
import { lineOf, type SignalSpool, type SpoolLine } from "./spool.ts"
import type { SpoolCodec } from "./spoolCodec.ts"

/** Between two rewrites of the spool's buffer file while data is at risk: a crash repeats at most this much. */
export const SPOOL_REWRITE_MS = 1_000

/** Where undelivered data of one signal goes at exit, and how it is written there. */
export interface SpoolTarget<T> {
  readonly files: SignalSpool
  readonly codec: SpoolCodec<T>
  /** Prefix of the lasting ids of this process's batches (its service.instance.id). */
  readonly instance: string
}

/** What the spool hears of its exporter and may ask of it. */
export interface SpoolHost<T> {
  readonly signal: Signal
  readonly buffer: RetryBuffer<T>
  readonly sizeOf: (items: T) => number
  readonly gate?: Gate | undefined
  readonly drop: (count: number, reason: DropReason) => void
  readonly onSpooled?: ((signal: Signal, count: number, dir: string) => void) | undefined
  readonly onRestored?: ((signal: Signal, count: number) => void) | undefined
  readonly onSpoolError?: ((signal: Signal, error: unknown) => void) | undefined
  /** Whether anything may still be sent (not shut down, the endpoint speaks the protocol). */
  readonly sending: () => boolean
  /** Shutdown has begun: nothing more is taken from the spool. */
  readonly closing: () => boolean
  /** Runs `change` while no delivery attempt is under way at the buffer's head. */
  readonly withoutAttempt: <A>(change: () => A) => Promise<A>
  readonly startDraining: () => void
}

export class BufferSpool<T> {
  private written = false
  private persistLoop: Promise<void> | undefined
  /** The rewrite under way, if any (the final write waits for it: it is a matter of milliseconds). */
  private persistWrite: Promise<number> | undefined
  private persistDirty = false
  private restoring: Promise<void> | undefined
  private failed = false

  constructor(
    private readonly target: SpoolTarget<T>,
    private readonly host: SpoolHost<T>,
  ) {}

  /** Whether the spool holds a copy of the buffer (which must follow it). */
  get holdsCopy(): boolean {
    return this.written
  }

  private lineOf = (pending: Pending<T>): SpoolLine => ({
    id: pending.id,
    time: pending.time,
    line: (pending.line ??= lineOf(pending.id, pending.time, this.target.codec.encode(pending.items))),
  })

  private error = (error: unknown) => {
    if (this.failed) return
    this.failed = true
    this.host.onSpoolError?.(this.host.signal, error)
  }

  /** What no longer fits the buffer goes to the overflow file, taken back once the buffer has room. */
  overflow(evicted: ReadonlyArray<Pending<T>>): void {
    this.target.files.appendOverflow(evicted.map(this.lineOf)).then(
      (cut) => this.host.drop(sizeOfLast(evicted, cut), "spool_full"),
      (error) => {
        this.error(error)
        this.host.drop(sizeOfFirst(evicted, evicted.length), "buffer_full")
      },
    )
  }

  /** The collector fails: what the buffer holds is at risk until it is delivered. */
  collectorFailed(): void {
    this.host.buffer.markRisky()
    this.requestPersist()
  }

  /** After a delivery: the copy follows the buffer; an empty buffer takes back what overflowed. */
  delivered(): void {
    if (this.written) this.requestPersist()
    if (this.host.buffer.length === 0 && this.target.files.hasOverflow) void this.restore(true)
  }

  /** The copy follows the buffer: rewritten while anything is at risk (at most every SPOOL_REWRITE_MS), deleted once nothing is. */
  requestPersist(): void {
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
    const buffer = this.host.buffer
    try {
      if (buffer.atRisk || (final && buffer.length > 0)) {
        const cut = await this.target.files.saveBuffer(buffer.entries.map(this.lineOf), final)
        this.written = true
        return cut
      }
      if (this.written || final) await this.target.files.saveBuffer([], final)
      this.written = false
    } catch (error) {
      this.error(error)
      if (final) return buffer.length
    }
    return 0
  }

  /**
   * Takes what processes that are gone left in the spool for this endpoint (and, with `ownOverflow`, what this
   * one put in its overflow file) into the buffer, ahead of newer data, and delivers it. At start, after the
   * endpoint check; again whenever the buffer empties with the overflow file in use.
   */
  restore(ownOverflow = false): Promise<void> {
    if (!this.host.sending()) return Promise.resolve()
    if (this.restoring !== undefined) return this.restoring
    const run = async () => {
      if (this.host.gate !== undefined) await this.host.gate.ready
      if (!this.host.sending()) return
      const claim = await this.target.files.claim(ownOverflow)
      if (claim.batches.length === 0 && claim.unreadable === 0) return void (await claim.release())
      const decode = this.target.codec.decoder()
      const restored: Array<Pending<T>> = []
      let unreadable = claim.unreadable
      for (const batch of claim.batches) {
        const items = decode(batch.data)
        if (items === undefined) unreadable++
        else restored.push({ items, size: Math.max(1, this.host.sizeOf(items)), id: batch.id, time: batch.time, risky: true, line: batch.line })
      }
      this.host.drop(unreadable, "spool_unreadable")
      // Ahead of newer data, up to the buffer's room; the rest waits in the overflow file.
      const later = await this.host.withoutAttempt(() => (this.host.closing() ? undefined : this.host.buffer.prepend(restored)))
      // Shut down meanwhile: the claimed files stay, for the next process.
      if (later === undefined) return
      if (later.length > 0) this.overflow(later)
      if (restored.length > later.length && !ownOverflow) this.host.onRestored?.(this.host.signal, sizeOfFirst(restored, restored.length - later.length))
      // The claimed files go only once this process's own copy holds their data.
      await this.persistNow()
      await claim.release()
      this.host.startDraining()
    }
    this.restoring = run()
      .catch((error) => this.error(error))
      .finally(() => void (this.restoring = undefined))
    return this.restoring
  }

  /**
   * At exit: what is left goes to the spool (what its cap cannot hold is dropped), not lost. Neither a rewrite
   * waiting its turn nor a restore waiting on the endpoint check holds the exit: the final write seals the file
   * against earlier writes, and a restore that comes too late leaves its claimed files to the next process.
   */
  async rest(): Promise<void> {
    this.persistDirty = false
    await this.persistWrite
    const buffer = this.host.buffer
    const cut = await this.persistNow(true)
    const dropped = sizeOfLast(buffer.entries, cut)
    const left = buffer.clear()
    this.host.drop(dropped, cut > 0 && !this.failed ? "spool_full" : "shutdown")
    if (left > dropped) this.host.onSpooled?.(this.host.signal, left - dropped, this.target.files.dir)
  }

  /**
   * Out of time at exit: the rest is written synchronously, since the process is about to end; what the cap
   * refuses is dropped, and everything when the spool cannot be written. The buffer is left empty.
   */
  abandon(): void {
    const buffer = this.host.buffer
    if (buffer.length > 0) {
      try {
        const cut = this.target.files.saveBufferSync(buffer.entries.map(this.lineOf))
        const dropped = sizeOfLast(buffer.entries, cut)
        this.host.drop(dropped, "spool_full")
        if (buffer.size > dropped) this.host.onSpooled?.(this.host.signal, buffer.size - dropped, this.target.files.dir)
      } catch (error) {
        this.error(error)
        this.host.drop(buffer.size, "shutdown")
      }
    }
    buffer.clear()
    this.target.files.close()
  }
}
