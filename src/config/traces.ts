/**
 * Traces: the trace types not recorded, span attributes, the remote parent (W3C traceparent and tracestate, so
 * opencode's spans can nest inside a caller's trace), and where spans go (OTLP, console, file, none).
 */
import { Option } from "effect"
import { TRACE_TYPES, type TraceType } from "./catalog.ts"
import { parseTraceparent, parseTracestate, type RemoteParent } from "./traceparent.ts"
import { parseList } from "./keyValue.ts"
import { attributes, entriesOf, exporters, isOneOf, trimmed, type Input } from "./values.ts"

export interface Traces {
  readonly disabled: ReadonlySet<TraceType>
  readonly attributes: Readonly<Record<string, string>>
  readonly parent: Option.Option<RemoteParent>
  readonly exportTo: { readonly otlp: boolean; readonly console: boolean; readonly file: boolean }
  /** opencode provider ids whose model requests carry the LLM call's traceparent; "*" for every provider. */
  readonly propagationProviders: ReadonlySet<string> | "*"
}

/** Entries that mean every trace type. */
const ALL = ["all", "*", "true", "1"] as const

const decodeParent = (input: Input): Option.Option<RemoteParent> => {
  const value = trimmed(input, "OPENCODE_TRACEPARENT")
  if (value === undefined) return Option.none()
  const parsed = parseTraceparent(value)
  if (parsed === undefined) {
    input.report(
      "OPENCODE_TRACEPARENT",
      input.raw.OPENCODE_TRACEPARENT,
      "a W3C traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, ids not all zero",
    )
    return Option.none()
  }
  const state = trimmed(input, "OPENCODE_TRACESTATE")
  const traceState = state === undefined ? undefined : parseTracestate(state)
  if (state !== undefined && traceState === undefined)
    input.report("OPENCODE_TRACESTATE", input.raw.OPENCODE_TRACESTATE, "a W3C tracestate: comma-separated key=value members")
  return Option.some({ ...parsed, traceState })
}

/** A provider id as opencode spells them (`anthropic`, `github-copilot`, `amazon-bedrock`, a custom id). */
const PROVIDER_ID = /^[A-Za-z0-9][A-Za-z0-9._@/-]*$/

/** Which providers get a traceparent; none unless listed (it tells a provider's gateway about this trace). */
const decodePropagation = (input: Input): ReadonlySet<string> | "*" => {
  const providers = new Set<string>()
  for (const entry of parseList(input.raw.OPENCODE_TRACE_PROPAGATION_PROVIDERS)) {
    if (entry === "*") return "*"
    if (PROVIDER_ID.test(entry)) providers.add(entry)
    else input.report("OPENCODE_TRACE_PROPAGATION_PROVIDERS", entry, "opencode provider ids (e.g. anthropic,openai), or *")
  }
  return providers
}

export const decodeTraces = (input: Input): Traces => {
  const entries = entriesOf(
    input,
    "OPENCODE_DISABLE_TRACES",
    [...TRACE_TYPES, ...ALL],
    `trace types from: ${TRACE_TYPES.join(", ")}, or ${ALL.join(", ")}`,
    (entry) => entry.toLowerCase(),
  )
  // An accepted entry that is no trace type is one of ALL.
  const disabled = new Set<TraceType>(entries.flatMap((entry) => (isOneOf(TRACE_TYPES, entry) ? [entry] : TRACE_TYPES)))
  const spanAttributes = attributes(input, "OPENCODE_SPAN_ATTRIBUTES")
  const parent = decodeParent(input)
  const chosen = exporters(input, "OPENCODE_TRACES_EXPORTER", ["otlp", "console", "file", "none"])
  return {
    disabled,
    attributes: spanAttributes,
    parent,
    exportTo: { otlp: chosen.has("otlp"), console: chosen.has("console"), file: chosen.has("file") },
    propagationProviders: decodePropagation(input),
  }
}
