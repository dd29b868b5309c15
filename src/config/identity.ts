/**
 * Claude Code's standard attributes for the claude-code profile: an anonymous, stable id of this installation
 * (a random UUID kept in the user's data directory, nothing derived from the person or machine) and the
 * terminal, when the environment names it.
 */
import { randomUUID } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import type { Identity } from "./profile.ts"

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export const installationIdPath = (env: NodeJS.ProcessEnv = process.env): string =>
  join(env["XDG_DATA_HOME"] || join(homedir(), ".local", "share"), "opencode-plugin-opentelemetry", "installation-id")

/** Reads the installation id, creating it on first use; undefined when the data directory is not writable. */
export const installationId = (env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const path = installationIdPath(env)
  try {
    const existing = readFileSync(path, "utf8").trim()
    if (UUID.test(existing)) return existing
  } catch {
    // First use.
  }
  try {
    const id = randomUUID()
    mkdirSync(join(path, ".."), { recursive: true })
    writeFileSync(path, `${id}\n`, { mode: 0o600 })
    return id
  } catch {
    return undefined
  }
}

/** The terminal, as Claude Code reports it: TERM_PROGRAM (iTerm.app, vscode, ...), else tmux when inside it. */
export const terminalType = (env: NodeJS.ProcessEnv = process.env): string | undefined =>
  env["TERM_PROGRAM"] || (env["TMUX"] ? "tmux" : undefined)

export const identity = (env: NodeJS.ProcessEnv = process.env): Identity => ({
  installationId: installationId(env),
  terminalType: terminalType(env),
})
