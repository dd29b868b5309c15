/**
 * The spool: where OTLP data still undelivered at exit is kept for the next process. A directory (or "none"),
 * and a size cap in MB (0 switches it off as well). The plugin supplies opencode's state directory as the default.
 */
import { isAbsolute } from "node:path"
import { DEFAULTS, MAX_SPOOL_MB } from "./catalog.ts"
import { trimmed, wholeUpTo, type Input } from "./values.ts"

export interface Spool {
  readonly dir: string
  readonly maxBytes: number
}

export const decodeSpool = (input: Input, defaultDir: string | undefined): Spool | undefined => {
  const maxMb = wholeUpTo(
    input,
    "OPENCODE_OTLP_SPOOL_MAX_MB",
    MAX_SPOOL_MB,
    DEFAULTS.spoolMaxMb,
    `a whole number of megabytes, 0 (off) to ${MAX_SPOOL_MB}`,
  )
  let dir = defaultDir
  const value = trimmed(input, "OPENCODE_OTLP_SPOOL_DIR")
  if (value !== undefined) {
    if (value.toLowerCase() === "none") dir = undefined
    else if (isAbsolute(value)) dir = value
    else {
      dir = undefined
      input.report("OPENCODE_OTLP_SPOOL_DIR", value, "an absolute directory path, or none")
    }
  }
  return dir === undefined || maxMb === 0 ? undefined : { dir, maxBytes: maxMb * 1024 * 1024 }
}
