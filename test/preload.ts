/**
 * Loaded before every test file (bunfig.toml): the tests that load the plugin in this process must not write into
 * the user's own state directory (the plugin's spool lives in $XDG_STATE_HOME/opencode). opencode children get
 * their own isolated directories anyway (test/support/opencode.ts).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const state = mkdtempSync(join(tmpdir(), "oc-otel-test-state-"))
process.env["XDG_STATE_HOME"] = state
process.on("exit", () => rmSync(state, { recursive: true, force: true }))
