/**
 * What the demo prints about the telemetry that arrived: readable in a 100-column terminal. Numbers are rounded
 * to what they mean (no float noise), ids shortened, the attributes every record shares said once at the top.
 * The full decoded data is the receiver's (test/support/otlp-receiver.ts `summarize`); this is the short story.
 */
import type { AttributeValue, Attributes, FlatLog, FlatMetric, FlatSpan, Receiver } from "../test/support/otlp-receiver.ts"

export const WIDTH = 100

/** At most six significant digits, thousands separated; 0.006059999999999999 is 0.00606. */
export const formatNumber = (value: number): string => {
  if (!Number.isFinite(value)) return String(value)
  if (Number.isInteger(value)) return value.toLocaleString("en-US")
  const rounded = Number(value.toPrecision(6))
  return Math.abs(rounded) >= 1000 ? rounded.toLocaleString("en-US", { maximumFractionDigits: 3 }) : String(rounded)
}

/** `ses_dcc94df54ffeSFQU0UJiKNVIAU` → `ses_dcc9…VIAU`; UUIDs and hex ids likewise. */
export const shortId = (id: string): string => {
  const prefixed = /^([a-z]+_)([0-9A-Za-z]{12,})$/.exec(id)
  if (prefixed) return `${prefixed[1]}${prefixed[2]!.slice(0, 4)}…${prefixed[2]!.slice(-4)}`
  if (/^[0-9a-f-]{16,}$/i.test(id)) return `${id.slice(0, 8)}…`
  return id
}

const ID_KEYS = new Set(["session.id", "prompt.id", "message.id", "call.id", "gen_ai.response.id", "gen_ai.conversation.id", "gen_ai.tool.call.id"])

/** An attribute's value as an OTLP backend would show it: numbers rounded but not grouped, ids shortened. */
const formatValue = (key: string, value: AttributeValue): string => {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)))
  if (typeof value === "bigint") return String(value)
  if (typeof value === "string") return ID_KEYS.has(key) ? shortId(value) : value.length > 40 ? `${value.slice(0, 39)}…` : value
  if (Array.isArray(value)) return value.map((v) => formatValue(key, v)).join(",")
  if (value instanceof Uint8Array) return `0x${Buffer.from(value).toString("hex").slice(0, 16)}`
  if (value !== null && typeof value === "object") return JSON.stringify(value).slice(0, 40)
  return String(value)
}

const formatAttributes = (attributes: Attributes, skip: ReadonlySet<string>): Array<string> =>
  Object.keys(attributes)
    .filter((key) => !skip.has(key))
    .sort()
    .map((key) => `${key}=${formatValue(key, attributes[key]!)}`)

/** Words laid out in lines of at most WIDTH columns; continuation lines indented under the first word. */
export const wrap = (head: string, words: ReadonlyArray<string>, indent: number): Array<string> => {
  const lines: Array<string> = []
  let line = head
  for (const word of words) {
    const candidate = line.trimEnd() === line ? `${line} ${word}` : `${line}${word}`
    if (candidate.length <= WIDTH || line.trim() === "") line = candidate
    else {
      lines.push(line)
      line = `${" ".repeat(indent)}${word}`
    }
  }
  lines.push(line)
  return lines.map((l) => l.trimEnd())
}

const formatMetric = (metric: FlatMetric): string => {
  const unit = metric.unit === "" ? "" : ` ${metric.unit}`
  const value = metric.value
  if (typeof value === "number") return `${formatNumber(value)}${unit}`
  if ("quantiles" in value) return `${value.count} × sum ${formatNumber(value.sum)}${unit}`
  const sum = value.sum === undefined ? "" : ` sum ${formatNumber(value.sum)}`
  return value.count === 1 && value.sum !== undefined ? `1 × ${formatNumber(value.sum)}${unit}` : `${value.count} ×${sum}${unit}`
}

const durationMs = (span: FlatSpan) => Number(span.endTimeUnixNano - span.startTimeUnixNano) / 1e6

const clock = (nanos: bigint) => new Date(Number(nanos / 1_000_000n)).toISOString().slice(11, 23)

/** What each span says beyond its name: its tokens and cost. */
const spanFigures = (span: FlatSpan): string => {
  const a = span.attributes
  const parts: Array<string> = []
  if (typeof a["gen_ai.usage.input_tokens"] === "number") parts.push(`in ${formatNumber(a["gen_ai.usage.input_tokens"])}`)
  if (typeof a["gen_ai.usage.output_tokens"] === "number") parts.push(`out ${formatNumber(a["gen_ai.usage.output_tokens"])}`)
  if (typeof a["cost_usd"] === "number") parts.push(`$${formatNumber(a["cost_usd"])}`)
  if (span.status.code === "ERROR") parts.push(`ERROR${span.status.message ? ` ${span.status.message.slice(0, 40)}` : ""}`)
  return parts.join(" · ")
}

/** The attributes every record of the run shares, said once at the top. */
const EVENT_BOILERPLATE = new Set(["event.name", "event.timestamp", "event.sequence", "session.id", "prompt.id"])

export const report = (receiver: Receiver): string => {
  const out: Array<string> = []
  const metrics = receiver.metrics()
  const logs = [...receiver.logs()].sort((a, b) => (a.timeUnixNano < b.timeUnixNano ? -1 : 1))
  const spans = receiver.spans()

  const sessions = new Set<string>()
  for (const record of [...metrics, ...logs, ...spans]) {
    const id = record.attributes["session.id"]
    if (typeof id === "string") sessions.add(id)
  }
  const requests = receiver.requests.length
  out.push(`The collector received ${requests} OTLP request${requests === 1 ? "" : "s"} about ${sessions.size} session${sessions.size === 1 ? "" : "s"} (${[...sessions].map(shortId).join(", ")}).`)
  const resource = [...metrics, ...logs, ...spans][0]?.resource
  if (resource !== undefined)
    out.push(...wrap("Resource:", formatAttributes(resource, new Set(["telemetry.sdk.language", "telemetry.sdk.name", "telemetry.sdk.version"])), 2))

  // Cumulative series are re-sent on each export: the latest point of each is its value.
  const latest = new Map<string, FlatMetric>()
  for (const metric of metrics) latest.set(`${metric.name}\u0000${JSON.stringify(formatAttributes(metric.attributes, new Set()))}`, metric)
  const rows = [...latest.values()].sort((a, b) => a.name.localeCompare(b.name))
  out.push("", `Metrics (${rows.length} series; session.id on every point)`)
  const nameWidth = Math.max(0, ...rows.map((m) => m.name.length))
  const values = rows.map(formatMetric)
  const valueWidth = Math.max(0, ...values.map((v) => v.length))
  rows.forEach((metric, i) => {
    const head = `  ${metric.name.padEnd(nameWidth)}  ${values[i]!.padStart(valueWidth)} `
    out.push(...wrap(head, formatAttributes(metric.attributes, new Set(["session.id"])), head.length))
  })

  out.push("", `Log events (${logs.length}; each also carries event.timestamp, event.sequence, session.id, prompt.id)`)
  const eventWidth = Math.max(0, ...logs.map((l: FlatLog) => (l.eventName ?? String(l.attributes["event.name"] ?? "")).length))
  for (const log of logs) {
    const name = (log.eventName ?? String(log.attributes["event.name"] ?? log.body ?? "")).padEnd(eventWidth)
    const head = `  ${clock(log.timeUnixNano)}  ${name} `
    out.push(...wrap(head, formatAttributes(log.attributes, EVENT_BOILERPLATE), head.length))
  }

  out.push("", `Spans (${spans.length})`)
  const byStart = (a: FlatSpan, b: FlatSpan) => (a.startTimeUnixNano < b.startTimeUnixNano ? -1 : 1)
  const known = new Set(spans.map((s) => s.spanId))
  const children = new Map<string, Array<FlatSpan>>()
  const roots: Array<FlatSpan> = []
  for (const span of spans) {
    if (span.parentSpanId && known.has(span.parentSpanId)) children.set(span.parentSpanId, [...(children.get(span.parentSpanId) ?? []), span])
    else roots.push(span)
  }
  const walk = (span: FlatSpan, prefix: string, branch: string) => {
    const label = `  ${prefix}${branch}${span.name}`
    const duration = `${formatNumber(Math.round(durationMs(span)))} ms`
    const figures = spanFigures(span)
    out.push(`${label.padEnd(44)}${duration.padStart(10)}${figures === "" ? "" : `  ${figures}`}`)
    const kids = (children.get(span.spanId) ?? []).sort(byStart)
    const nextPrefix = branch === "" ? prefix : `${prefix}${branch === "└ " ? "  " : "│ "}`
    kids.forEach((kid, i) => walk(kid, nextPrefix, i === kids.length - 1 ? "└ " : "├ "))
  }
  for (const root of roots.sort(byStart)) {
    out.push(`  trace ${shortId(root.traceId)}${root.parentSpanId ? " (parent not received)" : ""}`)
    walk(root, "", "")
  }
  return out.join("\n")
}
