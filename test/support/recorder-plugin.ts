/**
 * A tiny opencode plugin for tests: appends one JSON line per plugin call, hook call and bus event to the file
 * named by env var RECORDER_OUT (nothing is recorded when it is unset). Never throws from a hook.
 *
 * Lines: `{"seq", "t", "hook": "init", "options", "directory", "worktree", "project", "serverUrl", "envKeys"}` once, then
 * `{"seq", "t", "hook": "event", "type", "properties"}` per event and `{"seq", "t", "hook": "<name>", "input",
 * "output"}` per hook call (`output` as the hook received it).
 *
 * opencode calls every exported function of a plugin module as a plugin, so this module exports exactly one.
 */
import { appendFileSync } from "node:fs"

function safeJson(value: unknown): string {
  const seen = new WeakSet<object>()
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "function") return undefined
    if (typeof v === "bigint") return v.toString()
    if (v && typeof v === "object") {
      if (seen.has(v)) return "[circular]"
      seen.add(v)
    }
    return v
  })
}

export const RecorderPlugin = async (input: any, options?: Record<string, unknown>) => {
  const out = process.env["RECORDER_OUT"]
  let seq = 0
  const record = (line: Record<string, unknown>) => {
    if (!out) return
    try {
      appendFileSync(out, safeJson({ seq: seq++, t: Date.now(), ...line }) + "\n")
    } catch {
      // never throw from a plugin
    }
  }
  record({
    hook: "init",
    options: options ?? null,
    directory: input?.directory,
    worktree: input?.worktree,
    project: input?.project,
    serverUrl: String(input?.serverUrl ?? ""),
    // Names only (never values) of telemetry-relevant variables, to check the test harness's env isolation.
    envKeys: Object.keys(process.env)
      .filter((k) => /^(OTEL_|OPENCODE_|RECORDER_)/.test(k))
      .sort(),
  })

  const hook =
    (name: string) =>
    async (hookInput: unknown, output?: unknown): Promise<void> => {
      record({ hook: name, input: hookInput, output })
    }

  return {
    event: async ({ event }: { event: { type: string; properties?: unknown } }) => {
      record({ hook: "event", type: event?.type, properties: event?.properties })
    },
    config: async (cfg: unknown) => {
      record({ hook: "config", input: cfg })
    },
    "chat.message": hook("chat.message"),
    "chat.params": hook("chat.params"),
    "chat.headers": hook("chat.headers"),
    "permission.ask": hook("permission.ask"),
    "command.execute.before": hook("command.execute.before"),
    "tool.execute.before": hook("tool.execute.before"),
    "tool.execute.after": hook("tool.execute.after"),
    "shell.env": hook("shell.env"),
    dispose: async () => {
      record({ hook: "dispose" })
    },
  }
}
