/**
 * opencode's state directory, `$XDG_STATE_HOME/opencode` (`~/.local/state/opencode` when unset: opencode resolves
 * it the same way on every platform). The plugin keeps its spool there, beside opencode's own state,
 * and the file exporter its files.
 */
import { homedir } from "node:os"
import { join } from "node:path"

const stateDirOf = (env: NodeJS.ProcessEnv): string => join(env["XDG_STATE_HOME"] || join(homedir(), ".local", "state"), "opencode")

export const spoolDirOf = (env: NodeJS.ProcessEnv = process.env): string => join(stateDirOf(env), "otlp-spool")

/** The file exporter's default directory (OPENCODE_*_EXPORTER=file): beside the spool, in opencode's state. */
export const fileDirOf = (env: NodeJS.ProcessEnv = process.env): string => join(stateDirOf(env), "telemetry")
