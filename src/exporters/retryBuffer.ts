/**
 * What an exporter keeps while the collector is away: batches in the order they were exported, bounded by a
 * number of items (spans, log records, metric batches), each with a lasting id for the spool.
 */

export interface Pending<T> {
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

/** Items of the first `count` entries. */
export const sizeOfFirst = <T>(entries: ReadonlyArray<Pending<T>>, count: number): number =>
  entries.slice(0, count).reduce((total, p) => total + p.size, 0)

/** Items of the last `count` entries. */
export const sizeOfLast = <T>(entries: ReadonlyArray<Pending<T>>, count: number): number =>
  count === 0 ? 0 : entries.slice(-count).reduce((total, p) => total + p.size, 0)

export class RetryBuffer<T> {
  readonly entries: Array<Pending<T>> = []
  /** Items held. */
  size = 0

  constructor(readonly limit: number) {}

  get length(): number {
    return this.entries.length
  }

  head(): Pending<T> | undefined {
    return this.entries[0]
  }

  push(pending: Pending<T>): void {
    this.entries.push(pending)
    this.size += pending.size
  }

  /** Removes the head (delivered, or refused for good). */
  removeHead(): void {
    const head = this.entries.shift()
    if (head !== undefined) this.size -= head.size
  }

  /**
   * Makes room for `size` more items: removes the oldest from index `first` on (1 keeps a head that is being
   * delivered) and returns them, oldest first.
   */
  evictFor(size: number, first: number): Array<Pending<T>> {
    const evicted: Array<Pending<T>> = []
    while (this.size + size > this.limit && this.entries.length > first) {
      const oldest = this.entries.splice(first, 1)[0]!
      this.size -= oldest.size
      evicted.push(oldest)
    }
    return evicted
  }

  /** Puts older batches in front, as many as the room allows; returns those that did not fit. */
  prepend(older: ReadonlyArray<Pending<T>>): ReadonlyArray<Pending<T>> {
    let room = this.limit - this.size
    let fits = 0
    while (fits < older.length && older[fits]!.size <= room) room -= older[fits++]!.size
    this.entries.unshift(...older.slice(0, fits))
    this.size += sizeOfFirst(older, fits)
    return older.slice(fits)
  }

  /** Empties the buffer; returns the items it held. */
  clear(): number {
    const held = this.size
    this.entries.length = 0
    this.size = 0
    return held
  }

  get atRisk(): boolean {
    return this.entries.some((p) => p.risky)
  }

  markRisky(): void {
    for (const pending of this.entries) pending.risky = true
  }
}
