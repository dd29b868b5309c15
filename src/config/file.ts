/**
 * The file exporter (OPENCODE_*_EXPORTER=file): the directory holding one OTLP JSON Lines file per signal, and the
 * size at which a file is rotated. The plugin supplies a directory in opencode's state directory as the default;
 * an embedder that chooses `file` names one, or file export stays off with one problem saying so.
 */
import { isAbsolute } from "node:path"
import { DEFAULTS, MAX_FILE_MB } from "./catalog.ts"
import { trimmed, wholeUpTo, type Input } from "./values.ts"

export interface FileTarget {
  readonly dir: string
  /** A signal's file is rotated (one previous file kept) before it would grow past this. */
  readonly maxBytes: number
}

/** undefined when no signal chose `file`, or when the directory is missing or bad (reported). */
export const decodeFile = (input: Input, chosen: boolean, defaultDir: string | undefined): FileTarget | undefined => {
  const maxMb = wholeUpTo(input, "OPENCODE_OTLP_FILE_MAX_MB", MAX_FILE_MB, DEFAULTS.fileMaxMb, `a whole number of megabytes, 1 to ${MAX_FILE_MB}`)
  const value = trimmed(input, "OPENCODE_OTLP_FILE_DIR")
  if (value !== undefined && !isAbsolute(value)) {
    input.report("OPENCODE_OTLP_FILE_DIR", value, "an absolute directory path")
    return undefined
  }
  if (!chosen) return undefined
  const dir = value ?? defaultDir
  if (dir === undefined) {
    input.report("OPENCODE_OTLP_FILE_DIR", undefined, "a directory for the file exporter (an exporter is set to file)")
    return undefined
  }
  // 0 passes wholeUpTo; a file of at most 0 bytes holds nothing, so it is the default instead.
  if (maxMb === 0) input.report("OPENCODE_OTLP_FILE_MAX_MB", "0", `a whole number of megabytes, 1 to ${MAX_FILE_MB}`)
  return { dir, maxBytes: (maxMb === 0 ? DEFAULTS.fileMaxMb : maxMb) * 1024 * 1024 }
}
