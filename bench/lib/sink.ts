/**
 * The bench's collector: an OTLP/HTTP endpoint on 127.0.0.1 that answers 200 at once and counts what arrives:
 * requests and bytes on the wire per signal (the body as sent, compressed or not, plus the request line and
 * headers), and, decoded with the test receiver's protobuf schema, the spans, log records, metric points and
 * the sum of session.count, so the bench can tell that every signal was delivered.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { gunzipSync } from "node:zlib"
import {
  decodeJson,
  decodeProtobuf,
  flattenLogs,
  flattenMetrics,
  flattenSpans,
  type Signal,
} from "../../test/support/otlp-receiver.ts"

export interface SignalCount {
  requests: number
  /** Bodies as sent. */
  bodyBytes: number
  /** Request line and headers. */
  headerBytes: number
}

export interface SinkCounts {
  readonly traces: SignalCount
  readonly logs: SignalCount
  readonly metrics: SignalCount
  spans: number
  /** `invoke_agent …` spans: one per opencode session. */
  sessionSpans: number
  logRecords: number
  metricPoints: number
  /** session.count summed over sessions (the latest cumulative value per series, or the sum of deltas). */
  sessionCount: number
  undecodable: number
}

export interface Sink {
  readonly url: string
  readonly counts: () => SinkCounts
  readonly reset: () => void
  readonly stop: () => Promise<void>
}

const empty = (): SinkCounts => ({
  traces: { requests: 0, bodyBytes: 0, headerBytes: 0 },
  logs: { requests: 0, bodyBytes: 0, headerBytes: 0 },
  metrics: { requests: 0, bodyBytes: 0, headerBytes: 0 },
  spans: 0,
  sessionSpans: 0,
  logRecords: 0,
  metricPoints: 0,
  sessionCount: 0,
  undecodable: 0,
})

const SIGNALS: Record<string, Signal> = { "/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics" }

export const startSink = async (options: { readonly lifetimeMs?: number } = {}): Promise<Sink> => {
  let counts = empty()
  /**
   * session.count per stream: a cumulative stream (a series and its start time; a series the plugin forgot and
   * restarted is a new one) keeps its latest value, delta points add up.
   */
  let sessionSeries = new Map<string, number>()

  const record = (signal: Signal, request: IncomingMessage, body: Buffer) => {
    const c = counts[signal]
    c.requests++
    c.bodyBytes += body.length
    c.headerBytes += request.method!.length + request.url!.length + 12 + request.rawHeaders.reduce((n, h, i) => n + h.length + (i % 2 === 0 ? 2 : 2), 0)
    try {
      const raw = request.headers["content-encoding"] === "gzip" ? gunzipSync(body) : body
      const decoded = request.headers["content-type"]?.includes("json")
        ? decodeJson(signal, raw.toString("utf8"))
        : decodeProtobuf(signal, raw)
      if (signal === "traces") {
        const spans = flattenSpans(decoded as never)
        counts.spans += spans.length
        counts.sessionSpans += spans.filter((s) => s.name.startsWith("invoke_agent")).length
      } else if (signal === "logs") counts.logRecords += flattenLogs(decoded as never).length
      else
        for (const point of flattenMetrics(decoded as never)) {
          counts.metricPoints++
          if (!point.name.endsWith("session.count") || typeof point.value !== "number") continue
          const key = `${JSON.stringify(point.attributes)}@${point.temporality === "delta" ? "" : point.startTimeUnixNano}`
          sessionSeries.set(key, point.temporality === "delta" ? (sessionSeries.get(key) ?? 0) + point.value : point.value)
        }
    } catch {
      counts.undecodable++
    }
  }

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const signal = SIGNALS[request.url ?? ""]
      if (signal !== undefined) record(signal, request, Buffer.concat(chunks))
      const json = request.headers["content-type"]?.includes("json")
      response.writeHead(signal === undefined ? 404 : 200, { "content-type": json ? "application/json" : "application/x-protobuf" })
      response.end(json ? "{}" : undefined)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  // Never outlive the bench, whatever happens to it.
  const lifetime = setTimeout(() => server.close(), options.lifetimeMs ?? 60 * 60_000)
  lifetime.unref()
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    counts: () => ({ ...counts, sessionCount: [...sessionSeries.values()].reduce((a, b) => a + b, 0) }),
    reset: () => {
      counts = empty()
      sessionSeries = new Map()
    },
    stop: async () => {
      clearTimeout(lifetime)
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
