/**
 * The `file` exporter (OPENCODE_*_EXPORTER=file): OTLP JSON Lines, as the OpenTelemetry "OTLP File Exporter"
 * specification defines them: one file per signal (traces.jsonl, metrics.jsonl, logs.jsonl), each line one
 * Export*ServiceRequest in the OTLP/JSON encoding (what http/json sends, by the same serializers), readable by a
 * Collector's `otlpjsonfile` receiver.
 *
 * Appends are asynchronous (never sync fs: this runs inside opencode's process), one at a time per file, in the
 * order the SDK exported; the SDK is answered once the line is written, so its flush and shutdown wait for the
 * disk. What waits is bounded: past {@link MAX_PENDING_BYTES} a batch is dropped and counted. Before a file would
 * grow past its cap it is renamed to `<signal>.1.jsonl` (replacing the older one), so a signal holds at most twice
 * the cap. The directory is 0700, the files 0600. A failure (an unwritable directory, a full disk) is reported to
 * the caller, never thrown; there is no retry: a file is not a collector that comes back.
 */
import { ExportResultCode, type ExportResult } from "@opentelemetry/core"
import { JsonLogsSerializer, JsonMetricsSerializer, JsonTraceSerializer } from "@opentelemetry/otlp-transformer"
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type { PushMetricExporter, ResourceMetrics } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base"
import { appendFile, chmod, mkdir, rename, stat } from "node:fs/promises"
import { join } from "node:path"
import type { Signal } from "../config/catalog.ts"
import { errorCode } from "../host/errorCode.ts"

/** Lines waiting for the disk, per file, before new batches are dropped: many turns' worth. */
export const MAX_PENDING_BYTES = 16 * 1024 * 1024

/** What the file exporter tells its owner (the Exporter layer logs and counts it). */
export interface FileReport {
  /** A batch could not be written (`code`: the error's code, such as EACCES or ENOSPC) or found the queue full. */
  readonly onDrop: (signal: Signal, count: number, path: string, code: string) => void
}

export const fileNameOf = (signal: Signal, generation?: 1) => (generation === undefined ? `${signal}.jsonl` : `${signal}.${generation}.jsonl`)

const NEWLINE = new Uint8Array([0x0a])

/** One signal's file: appends in order, rotation at the cap, a bounded wait. */
export class SignalFile {
  readonly path: string
  private readonly previous: string
  private tail: Promise<unknown> = Promise.resolve()
  private pendingBytes = 0
  constructor(
    readonly signal: Signal,
    dir: string,
    private readonly maxBytes: number,
    private readonly ready: () => Promise<void>,
    private readonly report: FileReport,
  ) {
    this.path = join(dir, fileNameOf(signal))
    this.previous = join(dir, fileNameOf(signal, 1))
  }

  /** Appends one line (the serialized request); resolves true once written, false when dropped. Never rejects. */
  append(request: Uint8Array | Error | undefined, count: number): Promise<boolean> {
    if (request instanceof Error) {
      return Promise.resolve(this.drop(count, String(errorCode(request))))
    }
    if (request === undefined || request.length === 0) return Promise.resolve(true)
    const bytes = request.length + 1
    if (this.pendingBytes + bytes > MAX_PENDING_BYTES) {
      return Promise.resolve(this.drop(count, "queue_full"))
    }
    this.pendingBytes += bytes
    const written = this.tail.then(() => this.write(request, bytes)).then(
      () => true,
      (error: unknown) => this.drop(count, String(errorCode(error) ?? "error")),
    )
    this.tail = written.then(() => {
      this.pendingBytes -= bytes
    })
    return written
  }

  /** Reports a drop; whatever the report does, the queue goes on (`written` never rejects). */
  private drop(count: number, code: string): false {
    try {
      this.report.onDrop(this.signal, count, this.path, code)
    } catch {
      // The report is the owner's logging; nothing more to do here.
    }
    return false
  }

  /** Resolves when every line appended so far is written (or dropped). */
  drained(): Promise<void> {
    return this.tail.then(() => undefined)
  }

  private async write(request: Uint8Array, bytes: number) {
    await this.ready()
    // Read from the disk, not remembered: another opencode may append to (or rotate) the same file.
    const size = await stat(this.path).then(
      (s) => s.size,
      (error: unknown) => {
        if (errorCode(error) === "ENOENT") return 0
        throw error
      },
    )
    // Another process may have rotated it between the stat and here: then there is nothing left to rotate.
    if (size > 0 && size + bytes > this.maxBytes)
      await rename(this.path, this.previous).catch((error: unknown) => {
        if (errorCode(error) !== "ENOENT") throw error
      })
    await appendFile(this.path, Buffer.concat([request, NEWLINE]), { mode: 0o600 })
  }
}

/**
 * The directory, made once: 0700 when the exporter creates it (whatever the umask); a directory that exists keeps
 * its mode (it may be a CI workspace). A failure is retried with the next batch (the directory may appear).
 */
const directory = (dir: string) => {
  let made: Promise<void> | undefined
  return () => {
    made ??= mkdir(dir, { recursive: true, mode: 0o700 })
      .then((created) => (created === undefined ? undefined : chmod(dir, 0o700)))
      .catch((error: unknown) => {
        made = undefined
        throw error
      })
    return made
  }
}

/** A request the serializer could not encode is dropped like an unwritable one (reported, never thrown). */
const serialized = (serialize: () => Uint8Array | undefined): Uint8Array | Error => {
  try {
    return serialize() ?? new Uint8Array()
  } catch (error) {
    return Object.assign(new Error("not serializable"), { code: "unserializable", cause: error })
  }
}

const resultOf = (ok: boolean): ExportResult =>
  ok ? { code: ExportResultCode.SUCCESS } : { code: ExportResultCode.FAILED, error: new Error("not written to the file") }

export class FileSpanExporter implements SpanExporter {
  constructor(private readonly file: SignalFile) {}
  export(spans: Array<ReadableSpan>, done: (r: ExportResult) => void) {
    void this.file.append(serialized(() => JsonTraceSerializer.serializeRequest(spans)), spans.length).then((ok) => done(resultOf(ok)))
  }
  forceFlush() {
    return this.file.drained()
  }
  shutdown() {
    return this.file.drained()
  }
}

export class FileLogExporter implements LogRecordExporter {
  constructor(private readonly file: SignalFile) {}
  export(records: Array<ReadableLogRecord>, done: (r: ExportResult) => void) {
    void this.file.append(serialized(() => JsonLogsSerializer.serializeRequest(records)), records.length).then((ok) => done(resultOf(ok)))
  }
  forceFlush() {
    return this.file.drained()
  }
  shutdown() {
    return this.file.drained()
  }
}

/** Behind {@link MetricDelivery} like OTLP's: the same temporality and cumulative handling, empty batches skipped. */
export class FileMetricExporter implements PushMetricExporter {
  constructor(private readonly file: SignalFile) {}
  export(metrics: ResourceMetrics, done: (r: ExportResult) => void) {
    void this.file.append(serialized(() => JsonMetricsSerializer.serializeRequest(metrics)), 1).then((ok) => done(resultOf(ok)))
  }
  forceFlush() {
    return this.file.drained()
  }
  shutdown() {
    return this.file.drained()
  }
}

export interface FileExporters {
  readonly spans?: FileSpanExporter | undefined
  readonly logs?: FileLogExporter | undefined
  readonly metrics?: FileMetricExporter | undefined
}

/** The file exporters of the signals that chose `file`, sharing one directory. */
export const makeFileExporters = (
  target: { readonly dir: string; readonly maxBytes: number },
  to: Readonly<Record<Signal, boolean>>,
  report: FileReport,
): FileExporters => {
  const ready = directory(target.dir)
  const file = (signal: Signal) => new SignalFile(signal, target.dir, target.maxBytes, ready, report)
  return {
    spans: to.traces ? new FileSpanExporter(file("traces")) : undefined,
    logs: to.logs ? new FileLogExporter(file("logs")) : undefined,
    metrics: to.metrics ? new FileMetricExporter(file("metrics")) : undefined,
  }
}
