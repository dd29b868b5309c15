/**
 * W3C Trace Context parsing for OPENCODE_TRACEPARENT / OPENCODE_TRACESTATE, so opencode's spans can nest
 * inside a caller's trace (a CI job, a wrapper script).
 */
export interface RemoteParent {
  readonly traceId: string
  readonly spanId: string
  readonly traceFlags: number
  readonly traceState?: string | undefined
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

export const parseTraceparent = (value: string): Omit<RemoteParent, "traceState"> | undefined => {
  const match = TRACEPARENT.exec(value)
  if (match === null) return undefined
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined]
  // Version ff is forbidden; version 00 has exactly four fields; later versions may append fields.
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined
  return { traceId, spanId, traceFlags: parseInt(flags, 16) }
}

const MEMBER = /^(?:[a-z0-9][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/

/** Returns the normalized tracestate, or undefined when a member is malformed or there are more than 32. */
export const parseTracestate = (value: string): string | undefined => {
  const members = value
    .split(",")
    .map((m) => m.trim())
    .filter((m) => m !== "")
  if (members.length === 0 || members.length > 32) return undefined
  return members.every((m) => MEMBER.test(m)) ? members.join(",") : undefined
}
