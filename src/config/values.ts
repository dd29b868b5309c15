/**
 * The value shapes settings share, decoded once: one of a list, a switch, a positive whole number (durations in
 * ms), a bounded whole number, key=value attributes, endpoints and header lists. Each reads the raw value,
 * reports through `report` when it is bad, and returns the decoded value or the fallback.
 */
import { Redacted } from "effect"
import { parseKeyValueList, parseList } from "./keyValue.ts"
import { defaultOf, type RawSettings, type SignalVariable, type Variable } from "./catalog.ts"
import type { Report } from "./problems.ts"

export type Name = Variable | SignalVariable
export interface Input {
  readonly raw: RawSettings
  readonly report: Report<Name>
}

export const isEmpty = (value: string | undefined): value is undefined => value === undefined || value.trim() === ""

export const isOneOf = <const T extends ReadonlyArray<string>>(values: T, value: string): value is T[number] => values.includes(value)

/** The trimmed value, or undefined when unset or blank. */
export const trimmed = ({ raw }: Input, variable: Name): string | undefined => (isEmpty(raw[variable]) ? undefined : raw[variable]!.trim())

/** Trimmed, lower-cased, one of `values`; otherwise reported and `fallback`. `normalize` adjusts spelling first. */
export const oneOf = <const T extends ReadonlyArray<string>, F>(
  input: Input,
  variable: Name,
  values: T,
  fallback: F,
  options: { readonly normalize?: (value: string) => string; readonly instead?: string } = {},
): T[number] | F => {
  const raw = input.raw[variable]
  if (isEmpty(raw)) return fallback
  const value = (options.normalize ?? ((v) => v))(raw.trim().toLowerCase())
  if (isOneOf(values, value)) return value
  input.report(variable, raw, `one of ${values.join(", ")}`, options.instead)
  return fallback
}

/** A switch: 1/true/yes/on or 0/false/no/off; the catalogued default otherwise. */
export const flag = (input: Input, variable: Variable): boolean => {
  const fallback = defaultOf(variable) === true
  const value = input.raw[variable]
  if (isEmpty(value)) return fallback
  const v = value.trim().toLowerCase()
  if (["1", "true", "yes", "on"].includes(v)) return true
  if (["0", "false", "no", "off"].includes(v)) return false
  input.report(variable, value, "1, true, yes, on or 0, false, no, off")
  return fallback
}

/** Any non-empty value except false/0 (the switch the seed plugin documents). */
export const presence = (value: string | undefined): boolean => !isEmpty(value) && !["false", "0"].includes(value.trim().toLowerCase())

const positiveInt = (value: string): number | undefined => {
  const trimmed = value.trim()
  if (!/^\d+$/.test(trimmed)) return undefined
  const n = Number(trimmed)
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

/** A positive whole number of milliseconds; `fallback` when unset, undefined when bad (reported). */
export const milliseconds = (input: Input, variable: Variable, fallback: number): number | undefined => {
  const raw = input.raw[variable]
  if (isEmpty(raw)) return fallback
  const value = positiveInt(raw)
  if (value === undefined) input.report(variable, raw, "a positive whole number of milliseconds")
  return value
}

/** A duration whose bad value falls back to its catalogued default. */
export const duration = (input: Input, variable: Variable): number => {
  const fallback = Number(defaultOf(variable))
  return milliseconds(input, variable, fallback) ?? fallback
}

/** A whole number from 0 to `max`; `fallback` when unset or bad (reported with `expected`). */
export const wholeUpTo = (input: Input, variable: Variable, max: number, fallback: number, expected: string): number => {
  const raw = input.raw[variable]
  if (isEmpty(raw)) return fallback
  const value = raw.trim()
  if (/^\d+$/.test(value) && Number(value) <= max) return Number(value)
  input.report(variable, raw, expected)
  return fallback
}

/** Each entry of a comma list that is one of `values`; the others are reported one by one. */
export const entriesOf = <const T extends ReadonlyArray<string>>(
  input: Input,
  variable: Variable,
  values: T,
  expected: string,
  normalize: (entry: string) => string = (entry) => entry,
): Array<T[number]> => {
  const accepted: Array<T[number]> = []
  for (const entry of parseList(input.raw[variable]).map(normalize)) {
    if (isOneOf(values, entry)) accepted.push(entry)
    else input.report(variable, entry, expected)
  }
  return accepted
}

/** key=value attributes; a bad list adds none. */
export const attributes = (input: Input, variable: Variable): Record<string, string> => {
  const value = input.raw[variable]
  if (isEmpty(value)) return {}
  const parsed = parseKeyValueList(value)
  if (parsed._tag === "Right") return parsed.value
  input.report(variable, value, `comma-separated key=value pairs (${parsed.reason})`)
  return {}
}

/** An exporter choice (comma list, like Claude Code's OTEL_*_EXPORTER); otlp when unset or bad. */
export const exporters = (input: Input, variable: Variable, accepted: ReadonlyArray<string>): ReadonlySet<string> => {
  const values = parseList(input.raw[variable]).map((v) => v.toLowerCase())
  if (values.length === 0) return new Set(["otlp"])
  if (values.some((v) => !accepted.includes(v))) {
    input.report(variable, input.raw[variable], `${accepted.join(", ")} (comma-separated)`)
    return new Set(["otlp"])
  }
  return new Set(values)
}

/** RFC 7230 token characters. */
const isHeaderName = (name: string) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)

/** name=value headers, names lower-cased, values Redacted; undefined when bad. The value is never reported (secrets). */
export const headerList = (
  input: Input,
  variable: Name,
  expected: string,
): Record<string, Redacted.Redacted<string>> | undefined => {
  const raw = input.raw[variable]
  if (isEmpty(raw)) return {}
  const parsed = parseKeyValueList(raw)
  if (parsed._tag === "Left" || Object.keys(parsed.value).some((k) => !isHeaderName(k))) {
    input.report(variable, undefined, expected)
    return undefined
  }
  return Object.fromEntries(Object.entries(parsed.value).map(([k, v]) => [k.toLowerCase(), Redacted.make(v)]))
}

/** Accepts http(s) and grpc(s) URLs with a host; scheme-less values such as localhost:4317 are rejected. */
export const parseEndpoint = (value: string): string | undefined => {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return undefined
  }
  if (!["http:", "https:", "grpc:", "grpcs:"].includes(url.protocol) || url.hostname === "") return undefined
  return value.replace(/\/+$/, "")
}
