import { expect, test } from "bun:test"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { identity, installationIdPath } from "../../src/config/identity.ts"
import * as Config from "../../src/services/Config.ts"

test("the installation id is a random UUID, created once and stable after", () => {
  const dir = mkdtempSync(join(tmpdir(), "otel-id-"))
  try {
    const env = { XDG_DATA_HOME: dir, TERM_PROGRAM: "vscode" }
    const first = identity(env)
    expect(first.installationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect(identity(env).installationId).toBe(first.installationId!)
    expect(readFileSync(installationIdPath(env), "utf8").trim()).toBe(first.installationId!)
    expect(statSync(installationIdPath(env)).mode & 0o077).toBe(0)
    expect(first.terminalType).toBe("vscode")
    expect(identity({ XDG_DATA_HOME: dir, TMUX: "/tmp/tmux-0/default" }).terminalType).toBe("tmux")
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("user.id and terminal.type are standard attributes in the claude-code profile only", () => {
  const who = { installationId: "0b0e9f7e-8f64-4c59-9e3e-0d6b5c2b8f11", terminalType: "iTerm.app" }
  const on = { OPENCODE_ENABLE_TELEMETRY: "1" }
  expect(Config.decodeSettings({ ...on, OPENCODE_PROFILE: "claude-code" }, undefined, who).config.standardAttributes).toEqual({
    "user.id": who.installationId,
    "terminal.type": "iTerm.app",
  })
  expect(Config.decodeSettings(on, undefined, who).config.standardAttributes).toEqual({})
})
