/**
 * Configuration problems: what a bad value switches off is declared with it (in the catalog), and the sentence
 * saying so is derived from that. Problems are collected, never thrown: a decoder reports and carries on with its
 * default, and the caller decides what a fatal one means (the layer fails; the plugin logs and stays off).
 */
import { Schema } from "effect"
import type { Signal } from "./catalog.ts"

/**
 * What a bad value switches off: all telemetry, one signal, or only the setting itself (its default or the
 * rest applies; `instead` says what, unless the decoder does).
 */
export type Invalid =
  | { readonly switchesOff: "telemetry" }
  | { readonly switchesOff: Signal }
  | { readonly switchesOff: "setting"; readonly instead?: string }

export type SwitchesOff = Invalid["switchesOff"]

const truncate = (value: string, max: number) => (value.length > max ? `${value.slice(0, max)}…` : value)

/**
 * An invalid setting. `value` is omitted for header settings, whose values are secrets.
 * `consequence` says what was switched off because of it; `switchesOff` says the same as data.
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  variable: Schema.String,
  value: Schema.optional(Schema.String),
  expected: Schema.String,
  consequence: Schema.String,
  switchesOff: Schema.optional(Schema.Literals(["telemetry", "traces", "metrics", "logs", "setting"])),
}) {
  override get message(): string {
    const shown = this.value === undefined ? "" : `=${JSON.stringify(truncate(this.value, 200))}`
    return `${this.variable}${shown} is invalid: expected ${this.expected}. ${this.consequence}`
  }
}

export const TELEMETRY_OFF = "Telemetry is disabled."
/** How the shared settings say a signal is off. */
const SIGNAL_OFF: Record<Signal, string> = {
  traces: "Traces export is disabled.",
  metrics: "Metrics export is disabled.",
  logs: "Log export is disabled.",
}

/** The sentence for what was switched off. Per-signal variables name their signal as the variable spells it (LOGS: "Logs"). */
export const consequenceOf = (variable: string, invalid: Invalid, instead?: string): string => {
  if (invalid.switchesOff === "telemetry") return TELEMETRY_OFF
  if (invalid.switchesOff === "setting") return instead ?? invalid.instead ?? "The setting is ignored."
  const signal = invalid.switchesOff
  return variable.startsWith("OTEL_EXPORTER_OTLP_") ? `${signal[0]!.toUpperCase()}${signal.slice(1)} export is disabled.` : SIGNAL_OFF[signal]
}

/** Reports one problem of `variable`; `instead` replaces the catalogued consequence of a setting-only problem. */
export type Report<V extends string = string> = (variable: V, value: string | undefined, expected: string, instead?: string) => void

/** A problem list and its reporter; severities come from `invalidOf`. */
export const collector = <V extends string>(invalidOf: (variable: V) => Invalid) => {
  const problems: Array<ConfigError> = []
  const report: Report<V> = (variable, value, expected, instead) => {
    const invalid = invalidOf(variable)
    problems.push(new ConfigError({ variable, value, expected, consequence: consequenceOf(variable, invalid, instead), switchesOff: invalid.switchesOff }))
  }
  return { problems, report }
}

/** What the problems switched off, by kind. */
export const switchedOff = (problems: ReadonlyArray<ConfigError>): ReadonlySet<SwitchesOff> =>
  new Set(problems.flatMap((p) => (p.switchesOff === undefined ? [] : [p.switchesOff])))

/** The first problem that switches all telemetry off, if any. */
export const fatalOf = (problems: ReadonlyArray<ConfigError>): ConfigError | undefined => problems.find((p) => p.switchesOff === "telemetry")
