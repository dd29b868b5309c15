/**
 * The Prometheus pull endpoint, served when the metrics exporter list names `prometheus`: host, port, and how long
 * it may keep opencode waiting at exit for one more scrape of the final totals.
 */
import { defaultOf, MAX_PROMETHEUS_LINGER_MS } from "./catalog.ts"
import { isEmpty, trimmed, wholeUpTo, type Input } from "./values.ts"

export interface Prometheus {
  readonly host: string
  readonly port: number
  readonly lingerMs: number
}

export const decodePrometheus = (input: Input, metricExporters: ReadonlySet<string>): Prometheus | undefined => {
  if (!metricExporters.has("prometheus")) return undefined
  const rawPort = input.raw.OPENCODE_PROMETHEUS_PORT
  const port = isEmpty(rawPort) ? defaultOf("OPENCODE_PROMETHEUS_PORT") : Number(rawPort.trim())
  const lingerMs = wholeUpTo(
    input,
    "OPENCODE_PROMETHEUS_LINGER",
    MAX_PROMETHEUS_LINGER_MS,
    defaultOf("OPENCODE_PROMETHEUS_LINGER"),
    `a whole number of milliseconds, 0 to ${MAX_PROMETHEUS_LINGER_MS}`,
  )
  if (Number.isInteger(port) && port >= 0 && port <= 65535)
    return { host: trimmed(input, "OPENCODE_PROMETHEUS_HOST") ?? defaultOf("OPENCODE_PROMETHEUS_HOST"), port, lingerMs }
  input.report("OPENCODE_PROMETHEUS_PORT", rawPort, "a TCP port, 0 to 65535")
  return undefined
}
