/**
 * A Prometheus pull endpoint (OTEL_METRICS_EXPORTER=prometheus). Its metric names are either:
 * - `collector` (opencode profile): those an OpenTelemetry Collector's Prometheus exporter gives the same OTLP data
 *   (the name cut into tokens at every character outside [A-Za-z0-9:], the unit appended unless the name holds it
 *   already, ms -> milliseconds, s -> seconds, annotations like {token} dropped, counters end in _total), so one
 *   dashboard serves both paths; label names as the Collector's translator makes them (characters outside
 *   [A-Za-z0-9_] -> "_", a leading digit gets "key_", a single leading "_" gets "key"), sorted by name;
 * - `otel-js` (claude-code profile): those Claude Code's own endpoint serves, OpenTelemetry JS's Prometheus
 *   exporter: characters outside [A-Za-z0-9_] -> "_" and runs of "_" collapsed, in metric and label names alike;
 *   no unit in the name (claude_code_token_usage_total, claude_code_cost_usage_total), _total on monotonic sums
 *   unless the name ends in it (claude_code_active_time_total); labels in the attributes' order.
 * Attribute keys that become the same label name are merged, as the Collector's translator does: their values
 * joined with ";" in the order of the original keys (OpenTelemetry JS would write the label twice, and Prometheus
 * would reject the whole scrape).
 *
 * `target_info` ("Target metadata", a gauge of value 1):
 * - otel-js: always served, as OpenTelemetry JS does, with every resource attribute as a label (`target_info 1`
 *   for an empty resource);
 * - collector: as the Collector's prometheus exporter serves it: only when the resource has service.name or
 *   service.instance.id; `job` = [service.namespace/]service.name, `instance` = service.instance.id, and every other
 *   resource attribute as a label. (Unlike a Collector, the series themselves get no job/instance/otel_scope_*
 *   labels: the Prometheus server scraping this endpoint adds job and instance.)
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
import { errorCode } from "../host/errorCode.ts"

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

/** UCUM units the Collector's translator spells out; a "per" unit (USD/1000, By/s) becomes per_<word>. */
const UNITS: Record<string, string> = {
  "1": "",
  d: "days",
  h: "hours",
  min: "minutes",
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  By: "bytes",
  KiBy: "kibibytes",
  MiBy: "mebibytes",
  "%": "percent",
}
const PER_UNITS: Record<string, string> = { s: "second", m: "minute", h: "hour", d: "day", w: "week", mo: "month", y: "year" }
const unitWord = (u: string | undefined, words: Record<string, string>) =>
  u === undefined || u === "" || /[{}]/.test(u) ? "" : (words[u] ?? u).replace(/[^A-Za-z0-9]+/g, "_").replace(/^_+|_+$/g, "")

/** Whose metric names the endpoint serves: an OpenTelemetry Collector's, or OpenTelemetry JS's (Claude Code's own). */
export type PrometheusNaming = "collector" | "otel-js"

/** OpenTelemetry JS's sanitizePrometheusMetricName, used for metric names and attribute keys alike. */
const otelJsSanitize = (s: string) => s.replace(/[^a-z0-9_]/gi, "_").replace(/_{2,}/g, "_")

/** The Collector's translator (NormalizeLabel): invalid characters -> "_", "key_" before a digit, "key" before a lone "_". */
const collectorLabelName = (key: string) => {
  const s = key.replace(/[^A-Za-z0-9_]/g, "_")
  return /^[0-9]/.test(s) ? `key_${s}` : s.startsWith("_") && !s.startsWith("__") ? `key${s}` : s
}

/** The Prometheus name of an OTLP metric, as the Collector's translator (or OpenTelemetry JS's exporter) makes it. */
export const prometheusName = (name: string, unit: string, counter: boolean, naming: PrometheusNaming = "collector"): string => {
  if (naming === "otel-js") {
    const sanitized = otelJsSanitize(name)
    const base = /^[0-9]/.test(sanitized) ? `_${sanitized}` : sanitized
    return counter && !base.endsWith("_total") ? `${base}_total` : base
  }
  const tokens = name.split(/[^A-Za-z0-9:]+/).filter((t) => t !== "")
  const [main, per] = unit.split(/\/(.*)/s)
  const u = unitWord(main, UNITS)
  const p = unitWord(per, PER_UNITS)
  // A counter's own "total" token moves to the end, after the unit (active_time.total, s -> active_time_seconds_total).
  const parts = counter ? tokens.filter((t) => t !== "total") : tokens
  if (u !== "" && !tokens.includes(u)) parts.push(u)
  if (p !== "" && !tokens.includes(`per_${p}`)) parts.push(`per_${p}`)
  if (counter) parts.push("total")
  const joined = parts.join("_")
  return /^[0-9]/.test(joined) ? `_${joined}` : joined
}

const escapeValue = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

const stringValue = (v: unknown) => (typeof v === "string" ? v : Array.isArray(v) ? JSON.stringify(v) : String(v))

const byKey = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The label set of some attributes: names sanitized for the naming, keys that collide merged (values joined with
 * ";", ordered by original key). Collector: sorted by label name; otel-js: in the attributes' order.
 */
const labelSet = (attributes: Attributes, naming: PrometheusNaming): Map<string, string> => {
  const key = naming === "otel-js" ? otelJsSanitize : collectorLabelName
  const entries = Object.entries(attributes).filter(([, v]) => v !== undefined && v !== null)
  const names = entries.map(([k]) => key(k))
  const order = naming === "otel-js" ? [...new Set(names)] : [...new Set(names)].sort()
  const values = new Map<string, Array<string>>(order.map((n) => [n, []]))
  for (const [k, v] of [...entries].sort(byKey)) values.get(key(k))!.push(stringValue(v))
  return new Map(order.map((n) => [n, values.get(n)!.join(";")]))
}

/** `{name="value",...}` (empty for no labels); `extra` (le) comes last and replaces a label of the same name. */
const render = (set: Map<string, string>, extra: Record<string, string> = {}) => {
  const pairs = [...set].filter(([k]) => !(k in extra)).concat(Object.entries(extra))
  return pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeValue(v)}"`).join(",")}}`
}

const number = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN")

const SERVICE_NAME = "service.name"
const SERVICE_NAMESPACE = "service.namespace"
const SERVICE_INSTANCE_ID = "service.instance.id"

/** target_info's labels, or undefined when it is not served (see the module comment). */
const targetInfoLabels = (resource: Attributes, naming: PrometheusNaming): Map<string, string> | undefined => {
  if (naming === "otel-js") return labelSet(resource, naming)
  const { [SERVICE_NAME]: name, [SERVICE_NAMESPACE]: namespace, [SERVICE_INSTANCE_ID]: instance, ...rest } = resource
  if (name === undefined && instance === undefined) return undefined
  const set = labelSet(rest, naming)
  if (name !== undefined) set.set("job", namespace === undefined ? stringValue(name) : `${stringValue(namespace)}/${stringValue(name)}`)
  if (instance !== undefined) set.set("instance", stringValue(instance))
  return new Map([...set].sort(byKey))
}

/** The text exposition format (version 0.0.4) of one collection. */
export const serialize = (collection: ResourceMetrics, naming: PrometheusNaming = "collector"): string => {
  const out: Array<string> = []
  const info = targetInfoLabels(collection.resource.attributes, naming)
  if (info !== undefined) out.push("# HELP target_info Target metadata", "# TYPE target_info gauge", `target_info${render(info)} 1`)
  for (const scope of collection.scopeMetrics)
    for (const metric of scope.metrics) out.push(...serializeMetric(metric, naming))
  return `${out.join("\n")}\n`
}

const serializeMetric = (metric: MetricData, naming: PrometheusNaming): Array<string> => {
  const { name, unit, description } = metric.descriptor
  const nameOf = (counter: boolean) => prometheusName(name, unit, counter, naming)
  const lines: Array<string> = []
  // OpenTelemetry JS writes "description missing" for an empty description.
  const text = description === "" && naming === "otel-js" ? "description missing" : description
  const help = (n: string) => `# HELP ${n} ${text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`
  const labels = (attributes: Attributes, extra?: Record<string, string>) => render(labelSet(attributes, naming), extra)
  switch (metric.dataPointType) {
    case DataPointType.SUM: {
      const counter = metric.isMonotonic
      const n = nameOf(counter)
      lines.push(help(n), `# TYPE ${n} ${counter ? "counter" : "gauge"}`)
      for (const p of metric.dataPoints) lines.push(`${n}${labels(p.attributes)} ${number(p.value)}`)
      break
    }
    case DataPointType.GAUGE: {
      const n = nameOf(false)
      lines.push(help(n), `# TYPE ${n} gauge`)
      for (const p of metric.dataPoints) lines.push(`${n}${labels(p.attributes)} ${number(p.value)}`)
      break
    }
    case DataPointType.HISTOGRAM: {
      const n = nameOf(false)
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
): Promise<
  | {
      /**
       * Stops serving. With `lingerMs` > 0, first waits for one scrape that arrives from now on (it sees the final
       * totals), at most `lingerMs`: a short `opencode run` is otherwise over before Prometheus scrapes its end.
       */
      readonly stop: (lingerMs?: number) => Promise<void>
      readonly port: number
    }
  | { readonly error: string }
> =>
  new Promise((resolve) => {
    /** Called once a scrape that arrived after the wait began has been answered. */
    let scraped: (() => void) | undefined
    let waitingSince = Number.POSITIVE_INFINITY
    const server: Server = createServer((req, res) => {
      if (req.method !== "GET" || !(req.url ?? "").startsWith("/metrics")) {
        res.writeHead(404).end()
        return
      }
      const arrived = performance.now()
      reader
        .scrape()
        .then((resourceMetrics) => {
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
          res.end(serialize(resourceMetrics, naming), () => {
            if (arrived >= waitingSince) scraped?.()
          })
        })
        .catch(() => res.writeHead(500).end())
    })
    server.once("error", (error) => {
      resolve({ error: String(errorCode(error) ?? "error") })
    })
    server.listen(port, host, () => {
      // Never keep opencode alive for a scrape endpoint.
      server.unref()
      const address = server.address()
      resolve({
        port: typeof address === "object" && address !== null ? address.port : port,
        stop: async (lingerMs = 0) => {
          if (lingerMs > 0) {
            // The one place the endpoint keeps opencode alive: asked for, and bounded.
            server.ref()
            await new Promise<void>((done) => {
              const timer = setTimeout(done, lingerMs)
              waitingSince = performance.now()
              scraped = () => {
                clearTimeout(timer)
                done()
              }
            })
          }
          await new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
        },
      })
    })
  })
