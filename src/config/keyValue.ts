/**
 * The `key=value,key=value` lists used by OPENCODE_OTLP_HEADERS and the *_ATTRIBUTES variables, read as the
 * OpenTelemetry environment specification reads OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES:
 * split on ',', then on the first '=', trim, and percent-decode keys and values. A value may contain '='.
 */
export type KeyValueResult =
  | { readonly _tag: "Right"; readonly value: Record<string, string> }
  | { readonly _tag: "Left"; readonly reason: string }

export const parseKeyValueList = (input: string): KeyValueResult => {
  const value: Record<string, string> = {}
  let index = 0
  for (const entry of input.split(",")) {
    index++
    if (entry.trim() === "") continue // tolerate "a=1," and "a=1,,b=2"
    const eq = entry.indexOf("=")
    // The reason names the entry's position, never its content: header values are secrets.
    if (eq < 0) return { _tag: "Left", reason: `entry ${index} has no '='` }
    const key = percentDecode(entry.slice(0, eq).trim())
    const val = percentDecode(entry.slice(eq + 1).trim())
    if (key === undefined || key === "") return { _tag: "Left", reason: `entry ${index} has an empty or badly encoded key` }
    if (val === undefined) return { _tag: "Left", reason: `entry ${index} has a badly percent-encoded value` }
    value[key] = val
  }
  return { _tag: "Right", value }
}

/** A comma-separated list; empty entries are dropped. */
export const parseList = (input: string | undefined): Array<string> =>
  input === undefined
    ? []
    : input
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")

const percentDecode = (s: string): string | undefined => {
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}
