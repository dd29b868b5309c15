/**
 * A Prometheus pull endpoint (OTEL_METRICS_EXPORTER=prometheus). Its metric names are either:
 * - `collector` (opencode profile): those an OpenTelemetry Collector's Prometheus exporter gives the same OTLP data
 *   (dots become underscores, the unit is appended unless the name holds it already, ms -> milliseconds,
 *   s -> seconds, annotations like {token} dropped, counters end in _total), so one dashboard serves both paths;
 * - `otel-js` (claude-code profile): those Claude Code's own endpoint serves, OpenTelemetry JS's Prometheus
 *   exporter: no unit in the name (claude_code_token_usage_total, claude_code_cost_usage_total), _total on
 *   counters unless the name ends in it (claude_code_active_time_total).
 * Both serve `target_info` with the resource's attributes, as the Collector and OpenTelemetry JS do.
 *
 * The HTTP server lives as long as the plugin. The SDK collects in delta at each scrape; the reader keeps the
 * running totals ({@link CumulativeState}, bounded) and serves all of them. A port already in use (another
 * opencode) is one logged message.
 */
import { createServer, type Server } from "node:http"
import { CumulativeState } from "./cumulative.ts"
import type { Attributes } from "@opentelemetry/api"
import {
  AggregationTemporality,
  DataPointType,
  MetricReader,
  type Histogram,
  type MetricData,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics"

/** A reader that only collects when scraped. Prometheus needs cumulative data: the totals are kept here. */
export class PullReader extends MetricReader {
  private readonly totals = new CumulativeState()
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA })
  }
  /** Every series' cumulative value, including what was recorded since the last scrape. */
  async scrape(): Promise<ResourceMetrics> {
    const { resourceMetrics } = await this.collect()
    this.totals.add(resourceMetrics)
    return this.totals.snapshot(resourceMetrics.resource)
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

const UNITS: Record<string, string> = { ms: "milliseconds", s: "seconds", By: "bytes", KiBy: "kibibytes", MiBy: "mebibytes" }

/** Whose metric names the endpoint serves: an OpenTelemetry Collector's, or OpenTelemetry JS's (Claude Code's own). */
export type PrometheusNaming = "collector" | "otel-js"

/** The Prometheus name of an OTLP metric, as the Collector's translator (or OpenTelemetry JS's exporter) makes it. */
export const prometheusName = (name: string, unit: string, counter: boolean, naming: PrometheusNaming = "collector"): string => {
  if (naming === "otel-js") {
    const base = sanitize(name)
    return counter && !base.endsWith("_total") ? `${base}_total` : base
  }
  // A counter's own "_total" moves to the end, after the unit (active_time.total, s -> active_time_seconds_total).
  const base = counter ? sanitize(name).replace(/_total$/, "") : sanitize(name)
  const u = unit.startsWith("{") || unit === "1" || unit === "" ? "" : sanitize(UNITS[unit] ?? unit)
  const withUnit = u === "" || base.split("_").includes(u) ? base : `${base}_${u}`
  return counter ? `${withUnit}_total` : withUnit
}

const prometheusNameOf = prometheusName

const sanitize = (s: string) => s.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^([0-9])/, "_$1")

const labelValue = (v: unknown) =>
  String(Array.isArray(v) ? JSON.stringify(v) : v)
    .replace(/\\/g, "\\\\")
    .replace(/\n/g, "\\n")
    .replace(/"/g, '\\"')

const labels = (attributes: Attributes, extra: Record<string, string> = {}) => {
  const pairs = [...Object.entries(attributes).filter(([, v]) => v !== undefined), ...Object.entries(extra)].map(
    ([k, v]) => `${sanitize(k)}="${labelValue(v)}"`,
  )
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`
}

const number = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN")

/** The text exposition format (version 0.0.4) of one collection. */
export const serialize = (collection: ResourceMetrics, naming: PrometheusNaming = "collector"): string => {
  const out: Array<string> = []
  const resource = collection.resource.attributes
  if (Object.keys(resource).length > 0)
    out.push("# HELP target_info Target metadata", "# TYPE target_info gauge", `target_info${labels(resource)} 1`)
  for (const scope of collection.scopeMetrics)
    for (const metric of scope.metrics) out.push(...serializeMetric(metric, naming))
  return `${out.join("\n")}\n`
}

const serializeMetric = (metric: MetricData, naming: PrometheusNaming): Array<string> => {
  const { name, description } = metric.descriptor
  const unit = metric.descriptor.unit
  const prometheusName = (n: string, u: string, counter: boolean) => prometheusNameOf(n, u, counter, naming)
  const lines: Array<string> = []
  const help = (n: string) => `# HELP ${n} ${description.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`
  switch (metric.dataPointType) {
    case DataPointType.SUM: {
      const counter = metric.isMonotonic
      const n = prometheusName(name, unit, counter)
      lines.push(help(n), `# TYPE ${n} ${counter ? "counter" : "gauge"}`)
      for (const p of metric.dataPoints) lines.push(`${n}${labels(p.attributes)} ${number(p.value)}`)
      break
    }
    case DataPointType.GAUGE: {
      const n = prometheusName(name, unit, false)
      lines.push(help(n), `# TYPE ${n} gauge`)
      for (const p of metric.dataPoints) lines.push(`${n}${labels(p.attributes)} ${number(p.value)}`)
      break
    }
    case DataPointType.HISTOGRAM: {
      const n = prometheusName(name, unit, false)
      lines.push(help(n), `# TYPE ${n} histogram`)
      for (const p of metric.dataPoints) {
        const h: Histogram = p.value
        let cumulative = 0
        h.buckets.boundaries.forEach((bound, i) => {
          cumulative += h.buckets.counts[i] ?? 0
          lines.push(`${n}_bucket${labels(p.attributes, { le: number(bound) })} ${cumulative}`)
        })
        lines.push(`${n}_bucket${labels(p.attributes, { le: "+Inf" })} ${h.count}`)
        lines.push(`${n}_sum${labels(p.attributes)} ${number(h.sum ?? 0)}`)
        lines.push(`${n}_count${labels(p.attributes)} ${h.count}`)
      }
      break
    }
    default:
      break // exponential histograms are not used by this plugin
  }
  return lines
}

/**
 * Serves `GET /metrics` on host:port from the reader. Resolves with a stop function,
 * or with the listen error (port in use, ...), never throwing.
 */
export const servePrometheus = (
  host: string,
  port: number,
  reader: PullReader,
  naming: PrometheusNaming = "collector",
): Promise<{ readonly stop: () => Promise<void>; readonly port: number } | { readonly error: string }> =>
  new Promise((resolve) => {
    const server: Server = createServer((req, res) => {
      if (req.method !== "GET" || !(req.url ?? "").startsWith("/metrics")) {
        res.writeHead(404).end()
        return
      }
      reader
        .scrape()
        .then((resourceMetrics) => {
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
          res.end(serialize(resourceMetrics, naming))
        })
        .catch(() => res.writeHead(500).end())
    })
    server.once("error", (error) => {
      const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "error"
      resolve({ error: code })
    })
    server.listen(port, host, () => {
      // Never keep opencode alive for a scrape endpoint.
      server.unref()
      const address = server.address()
      resolve({
        port: typeof address === "object" && address !== null ? address.port : port,
        stop: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    })
  })
