/** Log events: the export delay, the off switch, and where they go (OTLP, console, file, none). */
import { DEFAULTS } from "./catalog.ts"
import { exporters, milliseconds, presence, type Input } from "./values.ts"

export interface Logs {
  readonly intervalMs: number
  /** OPENCODE_DISABLE_LOGS, or no exporter left. Bad values switch logs off through their problems instead. */
  readonly switchedOff: boolean
  readonly exportTo: { readonly otlp: boolean; readonly console: boolean; readonly file: boolean }
}

export const decodeLogs = (input: Input): Logs => {
  const intervalMs = milliseconds(input, "OPENCODE_OTLP_LOGS_INTERVAL", DEFAULTS.logsIntervalMs) ?? DEFAULTS.logsIntervalMs
  const chosen = exporters(input, "OPENCODE_LOGS_EXPORTER", ["otlp", "console", "file", "none"])
  const exportTo = { otlp: chosen.has("otlp"), console: chosen.has("console"), file: chosen.has("file") }
  return { intervalMs, switchedOff: presence(input.raw.OPENCODE_DISABLE_LOGS) || (!exportTo.otlp && !exportTo.console && !exportTo.file), exportTo }
}
