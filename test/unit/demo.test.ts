/**
 * The demo's report of what arrived (demo/report.ts) reads in a 100-column terminal: rounded numbers, short ids,
 * every line within the width, the span tree nested.
 */
import { expect, test } from "bun:test"
import { formatNumber, report, shortId, WIDTH } from "../../demo/report.ts"
import type { FlatLog, FlatMetric, FlatSpan, Receiver } from "../support/otlp-receiver.ts"

const session = "ses_dcc94df54ffeSFQU0UJiKNVIAU"
const resource = { "service.name": "opencode", "opencode.plugin.name": "opencode-plugin-opentelemetry", "host.arch": "amd64" }
const scope = { name: "opencode-plugin-opentelemetry", version: "0.1.0" }

const metric = (name: string, value: FlatMetric["value"], attributes: FlatMetric["attributes"], unit = "{token}"): FlatMetric => ({
  name,
  unit,
  description: "",
  type: typeof value === "number" ? "sum" : "histogram",
  value,
  attributes: { "session.id": session, ...attributes },
  resource,
  scope,
  startTimeUnixNano: 0n,
  timeUnixNano: 1n,
})

const log: FlatLog = {
  body: "api_request",
  eventName: "api_request",
  severityNumber: 9,
  severityText: "INFO",
  timeUnixNano: 1_764_622_800_000_000_000n,
  observedTimeUnixNano: 0n,
  attributes: {
    "event.name": "api_request",
    "session.id": session,
    "prompt.id": "4eca7e3a-1223-4b27-9233-e161c6cc6e82",
    "message.id": "msg_2336b2776001G9q319xPW5AMvU",
    cost_usd: 0.006059999999999999,
    input_tokens: 1000,
    output_tokens: 40,
    cache_read_tokens: 200,
    cache_creation_tokens: 0,
    reasoning_tokens: 0,
    duration_ms: 1642,
    finish_reason: "tool-calls",
    model: "claude-sonnet-4-5-20250929",
    provider: "anthropic",
  },
  resource,
  scope,
  traceId: "",
  spanId: "",
} as unknown as FlatLog

const span = (name: string, spanId: string, parentSpanId: string, attributes: FlatSpan["attributes"] = {}): FlatSpan => ({
  name,
  kind: "INTERNAL",
  traceId: "6b0f2f6c18e9801d648d6c17dd64eda0",
  spanId,
  parentSpanId,
  attributes: { "session.id": session, ...attributes },
  resource,
  scope,
  startTimeUnixNano: BigInt(spanId.length) * 1_000_000n,
  endTimeUnixNano: 3_718_000_000n,
  status: { code: "UNSET", message: "" },
  events: [],
  links: [],
})

const receiver = {
  requests: [{}, {}, {}],
  metrics: () => [
    metric("opencode.cost.usage", 0.006059999999999999, { model: "m", provider: "fake" }, "USD"),
    metric("opencode.token.usage", 13287, { model: "m", provider: "fake", type: "input" }),
    metric("opencode.session.duration", { count: 1, sum: 3718, min: 3718, max: 3718, bucketCounts: [], explicitBounds: [] }, {}, "ms"),
  ],
  logs: () => [log],
  spans: () => [
    span("invoke_agent build", "a1", ""),
    span("interaction", "a1b2", "a1"),
    span("chat claude-sonnet-4-5", "a1b2c3", "a1b2", { "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 40, cost_usd: 0.00366 }),
  ],
} as unknown as Receiver

test("numbers are rounded to six significant digits, ids shortened", () => {
  expect(formatNumber(0.006059999999999999)).toBe("0.00606")
  expect(formatNumber(2.0069999999999997)).toBe("2.007")
  expect(formatNumber(13287)).toBe("13,287")
  expect(shortId(session)).toBe("ses_dcc9…VIAU")
  expect(shortId("4eca7e3a-1223-4b27-9233-e161c6cc6e82")).toBe("4eca7e3a…")
})

test("every line of the report fits in 100 columns, with no float noise and no long ids", () => {
  const text = report(receiver)
  for (const line of text.split("\n")) expect({ line, fits: line.length <= WIDTH }).toEqual({ line, fits: true })
  expect(text).not.toContain("0.006059999999999999")
  expect(text).not.toContain(session)
  expect(text).toContain("0.00606 USD")
  expect(text).toContain("13,287 {token}")
  expect(text).toContain("1 × 3,718 ms")
  expect(text).toMatch(/└ chat claude-sonnet-4-5 +\d/)
})
