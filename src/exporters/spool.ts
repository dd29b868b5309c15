/**
 * The spool: OTLP data a process could not deliver, kept on disk for the next process that sends to the same
 * endpoint.
 *
 * One directory per user (opencode's state directory by default), owner-only (0700, files 0600); only telemetry
 * is written, never a header. Each process writes, per signal and endpoint:
 * - `<key>.<signal>.<instance>.<pid>.buffer.jsonl`: its retry buffer while anything in it is at risk (the
 *   collector failed, or the data came from the spool), rewritten atomically (a temporary file, then a rename), so
 *   a signal or a crash leaves the latest copy;
 * - `<key>.<signal>.<instance>.<pid>.overflow.jsonl`: what no longer fits the retry buffer, appended.
 * `key` is a hash of the endpoint URL: data goes only where it was meant to go. A line is one exported batch,
 * `{"id", "t", "d"}`: an id that stays the same however often the batch is re-spooled (so it is delivered once),
 * the time it was first kept (the order of delivery), and the batch itself (see spoolCodec.ts).
 *
 * A process claims the files of processes that are gone by renaming them (`….claimed-<instance>-<pid>`: atomic,
 * so two processes never claim the same file), takes the batches into its own buffer, writes its own buffer file,
 * and only then deletes the claimed files. A process counts as gone when its pid is not running, or when the file
 * was last written before this boot.
 */
import { createHash, randomUUID } from "node:crypto"
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs"
import { appendFile, chmod, mkdir, open, readdir, readFile, rename, stat, unlink } from "node:fs/promises"
import { uptime } from "node:os"
import { join } from "node:path"
import { Schema } from "effect"
import type { Signal } from "../config/catalog.ts"
import { errorCode } from "../host/errorCode.ts"

/** One spooled batch: its lasting id, when it was first kept, its JSON line. */
export interface SpoolLine {
  readonly id: string
  readonly time: number
  readonly line: string
}

/** One batch read back, before it is decoded by its signal's codec. */
export interface SpooledBatch {
  readonly id: string
  readonly time: number
  readonly data: unknown
  readonly line: string
}

const Line = Schema.fromJsonString(Schema.Struct({ id: Schema.String, t: Schema.Number, d: Schema.Unknown }))
const decodeLine = Schema.decodeUnknownOption(Line)

export const lineOf = (id: string, time: number, data: unknown): string => JSON.stringify({ id, t: time, d: data })

/** The file-name key of an endpoint: the URL is not written in clear (it may name an internal host). */
export const endpointKey = (url: string): string => createHash("sha256").update(url).digest("hex").slice(0, 16)

const FILE = /^([0-9a-f]{16})\.(traces|logs|metrics)\.([0-9a-f-]{36})\.(\d+)\.(buffer|overflow)\.jsonl(?:\.claimed-([0-9a-f-]{36})-(\d+))?$/

const TEMPORARY = /^(.+\.jsonl)\.tmp-[0-9a-f-]{36}$/

/** Running now; a pid this user cannot signal (EPERM) runs too. */
const running = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errorCode(error) === "EPERM"
  }
}
const bootTime = () => Date.now() - uptime() * 1000

/**
 * The plugin instances of this process whose spool files are still theirs (not yet sealed at exit). opencode
 * serve runs one plugin instance per project: one that has ended leaves its files to the others.
 */
const live = new Map<string, number>()
const retain = (instance: string) => live.set(instance, (live.get(instance) ?? 0) + 1)
const release = (instance: string) => {
  const left = (live.get(instance) ?? 1) - 1
  if (left <= 0) live.delete(instance)
  else live.set(instance, left)
}

/** By the time a batch was first kept, then by its process and its number there (`<instance>:<n>`). */
const oldestFirst = (a: SpooledBatch, b: SpooledBatch): number => {
  if (a.time !== b.time) return a.time - b.time
  const [aProcess = "", aNumber = "0"] = a.id.split(":")
  const [bProcess = "", bNumber = "0"] = b.id.split(":")
  return aProcess < bProcess ? -1 : aProcess > bProcess ? 1 : Number(aNumber) - Number(bNumber)
}

/** What a claim found: the batches, oldest first, each once; `release` deletes the claimed files. */
export interface Claim {
  readonly batches: ReadonlyArray<SpooledBatch>
  /** Batches that did not decode as spool lines. */
  readonly unreadable: number
  readonly release: () => Promise<void>
}

/** One signal's spool files for one endpoint, as seen by one process (one plugin instance). */
export class SignalSpool {
  private readonly prefix: string
  private readonly bufferFile: string
  private readonly overflowFile: string
  private ready: Promise<void> | undefined
  /** Own files' sizes, as last written. */
  private bufferBytes = 0
  private overflowBytes = 0
  private overflowLines = 0
  private appending: Promise<unknown> = Promise.resolve()
  /** The last word is written (the process is ending): no earlier write may replace it. */
  private sealed = false
  /** The other files' bytes at the latest measurement, for the synchronous write at the very end. */
  private lastOthersBytes = 0

  constructor(
    readonly dir: string,
    private readonly maxBytes: number,
    readonly signal: Signal,
    url: string,
    private readonly instance: string,
  ) {
    this.prefix = `${endpointKey(url)}.${signal}.`
    const own = `${this.prefix}${instance}.${process.pid}`
    this.bufferFile = join(dir, `${own}.buffer.jsonl`)
    this.overflowFile = join(dir, `${own}.overflow.jsonl`)
    retain(instance)
  }

  /** This instance is done with its files (whatever it wrote stays for the next process). */
  close(): void {
    this.seal()
  }

  private seal() {
    if (this.sealed) return
    this.sealed = true
    release(this.instance)
  }

  /** Whether this process has batches in its overflow file (to take back once its buffer has room). */
  get hasOverflow(): boolean {
    return this.overflowLines > 0
  }

  private ensureDir(): Promise<void> {
    this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 })
      .then(() => chmod(this.dir, 0o700))
      .catch((error: unknown) => {
        this.ready = undefined
        throw error
      })
    return this.ready
  }

  /** Bytes the other files of the directory hold (every signal and process): the cap is for the whole spool. */
  private async othersBytes(): Promise<number> {
    let total = 0
    for (const name of await readdir(this.dir).catch(() => [] as Array<string>)) {
      const path = join(this.dir, name)
      if (path === this.bufferFile || path === this.overflowFile) continue
      total += await stat(path).then((s) => s.size, () => 0)
    }
    this.lastOthersBytes = total
    return total
  }

  /**
   * The oldest lines that fit `room` bytes, and how many of the newest are left out: a full spool keeps what it
   * holds and refuses what comes after (as a collector's persistent queue does), so what it delivers has no gaps.
   */
  private fit(lines: ReadonlyArray<SpoolLine>, room: number): { kept: ReadonlyArray<SpoolLine>; cut: number } {
    let bytes = 0
    let count = 0
    while (count < lines.length && bytes + lines[count]!.line.length + 1 <= room) bytes += lines[count++]!.line.length + 1
    return { kept: lines.slice(0, count), cut: lines.length - count }
  }

  /**
   * Writes this process's buffer file with `lines` (none: deletes it). Returns how many of the oldest lines the
   * size cap left out (the newest). `final`: the process is ending; no write still under way may replace this one.
   */
  async saveBuffer(lines: ReadonlyArray<SpoolLine>, final = false): Promise<number> {
    if (this.sealed) return lines.length
    if (final) this.seal()
    if (lines.length === 0) {
      if (this.bufferBytes > 0) await unlink(this.bufferFile).catch(() => undefined)
      this.bufferBytes = 0
      return 0
    }
    await this.ensureDir()
    const { kept, cut } = this.fit(lines, this.maxBytes - this.overflowBytes - (await this.othersBytes()))
    const text = kept.map((l) => `${l.line}\n`).join("")
    const temporary = `${this.bufferFile}.tmp-${randomUUID()}`
    const file = await open(temporary, "w", 0o600)
    try {
      await file.writeFile(text)
      await file.sync()
    } finally {
      await file.close()
    }
    if (this.sealed && !final) {
      await unlink(temporary).catch(() => undefined)
      return lines.length
    }
    await rename(temporary, this.bufferFile)
    this.bufferBytes = text.length
    return cut
  }

  /**
   * The final write, synchronously: for the moment the process is about to end and cannot wait for a promise
   * (the shutdown budget ran out). Throws what the file system throws.
   */
  saveBufferSync(lines: ReadonlyArray<SpoolLine>): number {
    if (this.sealed) return lines.length
    this.seal()
    if (lines.length === 0) {
      if (this.bufferBytes > 0) rmSync(this.bufferFile, { force: true })
      return 0
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const { kept, cut } = this.fit(lines, this.maxBytes - this.overflowBytes - this.lastOthersBytes)
    const temporary = `${this.bufferFile}.tmp-${randomUUID()}`
    const fd = openSync(temporary, "w", 0o600)
    try {
      writeSync(fd, kept.map((l) => `${l.line}\n`).join(""))
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, this.bufferFile)
    return cut
  }

  /** Appends batches that no longer fit the retry buffer. Returns how many the size cap left out (the newest). */
  appendOverflow(lines: ReadonlyArray<SpoolLine>): Promise<number> {
    const next = this.appending.then(async () => {
      await this.ensureDir()
      const { kept, cut } = this.fit(lines, this.maxBytes - this.bufferBytes - this.overflowBytes - (await this.othersBytes()))
      if (kept.length === 0) return cut
      const text = kept.map((l) => `${l.line}\n`).join("")
      await appendFile(this.overflowFile, text, { mode: 0o600 })
      this.overflowBytes += text.length
      this.overflowLines += kept.length
      return cut
    })
    this.appending = next.catch(() => undefined)
    return next
  }

  /**
   * Claims the files of processes that are gone (and, with `ownOverflow`, this process's overflow file), and reads
   * them: the batches oldest first, each id once. Nothing is deleted until `release`.
   */
  async claim(ownOverflow: boolean): Promise<Claim> {
    await this.appending
    const names = await readdir(this.dir).catch(() => [] as Array<string>)
    const boot = bootTime()
    const claimed: Array<string> = []
    for (const name of names) {
      if (!name.startsWith(this.prefix)) continue
      // A rewrite cut short by the end of its process: its temporary file is a copy nobody will rename.
      const temporary = TEMPORARY.exec(name)
      const match = FILE.exec(temporary === null ? name : temporary[1]!)
      if (match === null) continue
      const [, , , instance, pid, kind, claimer, claimerPid] = match
      const path = join(this.dir, name)
      const own = instance === this.instance && claimer === undefined
      if (own && !(ownOverflow && kind === "overflow")) continue
      if (!own) {
        const holder = Number(claimer === undefined ? pid : claimerPid)
        const modified = await stat(path).then((s) => s.mtimeMs, () => undefined)
        if (modified === undefined) continue
        // A live plugin instance of this very process, or a live process: its own to deliver.
        const owner = claimer ?? instance!
        if (owner === this.instance) continue
        if (holder === process.pid ? live.has(owner) : running(holder) && modified >= boot) continue
      }
      if (temporary !== null) {
        if (!own) await unlink(path).catch(() => undefined)
        continue
      }
      const target = `${join(this.dir, name.replace(/\.claimed-.*$/, ""))}.claimed-${this.instance}-${process.pid}`
      // Whoever renames first owns it; the others find it gone.
      if (await rename(path, target).then(() => true, () => false)) claimed.push(target)
    }
    if (ownOverflow && claimed.some((c) => c.startsWith(this.overflowFile))) {
      this.overflowBytes = 0
      this.overflowLines = 0
    }
    const byId = new Map<string, SpooledBatch>()
    let unreadable = 0
    for (const path of claimed) {
      const text = await readFile(path, "utf8").catch(() => "")
      for (const line of text.split("\n")) {
        if (line === "") continue
        const decoded = decodeLine(line)
        if (decoded._tag === "None") {
          unreadable++
          continue
        }
        const { id, t, d } = decoded.value
        if (!byId.has(id)) byId.set(id, { id, time: t, data: d, line })
      }
    }
    const batches = [...byId.values()].sort(oldestFirst)
    return {
      batches,
      unreadable,
      release: async () => {
        await Promise.all(claimed.map((path) => unlink(path).catch(() => undefined)))
      },
    }
  }
}
