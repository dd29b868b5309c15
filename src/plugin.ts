/**
 * The opencode plugin. opencode calls every exported function of this module as a plugin, so it exports
 * exactly one; the Effect API lives on the `opencode-plugin-opentelemetry/effect` subpath.
 *
 * opencode waits for each plugin's function before it goes on starting, so this entry is small: it returns the
 * hooks at once and loads the rest (Effect, the OpenTelemetry SDK, the configured protocol; src/start.ts) in the
 * background. Calls that arrive meanwhile wait for it, in order; nothing is lost. With telemetry not switched on,
 * nothing is loaded at all.
 */
// Only functions may be exported here: opencode calls each export as a plugin and refuses a module with any other.
import { CREDENTIAL_VARIABLES, describe, sendLog, TELEMETRY_OFF, withTimeout, type OpencodeHooks, type OpencodePluginInput } from "./host/opencodeClient.ts"

// Types only (erased at run time): the hooks and input, for those who wrap the plugin.
export type { OpencodeHooks, OpencodePluginInput } from "./host/opencodeClient.ts"

/** How long `dispose` waits for a start still under way (the running part then has its own shutdown budget). */
const START_WAIT_MS = 3_000

export const OpenTelemetryPlugin = async (input: OpencodePluginInput, options?: unknown): Promise<OpencodeHooks> => {
  try {
    if (!maybeEnabled(options)) {
      // At DEBUG only: the plugin installed but switched off is the normal case for most runs.
      sendLog(input?.client, "debug", TELEMETRY_OFF)
      return {}
    }
    const started = import("./start.ts")
      .then((running) => running.start(input, options))
      .catch((error: unknown): OpencodeHooks => {
        sendLog(input?.client, "error", `Telemetry is disabled: the plugin failed to start (${describe(error)})`)
        return {}
      })
    return deferred(started)
  } catch (error) {
    sendLog(input?.client, "error", `Telemetry is disabled: the plugin failed to start (${describe(error)})`)
    return {}
  }
}

/**
 * Telemetry is on only when OPENCODE_ENABLE_TELEMETRY (or the `enabled` option) is set; the settings are decoded,
 * and this guess confirmed or not, by the part loaded in the background.
 */
const maybeEnabled = (options: unknown): boolean => {
  const fromEnv = process.env["OPENCODE_ENABLE_TELEMETRY"]
  if (fromEnv !== undefined && fromEnv.trim() !== "") return true
  return typeof options === "object" && options !== null && ("enabled" in options || "OPENCODE_ENABLE_TELEMETRY" in options)
}

/** Hooks that forward to the running part once it is there; until then calls queue up behind its start, in order. */
const deferred = (started: Promise<OpencodeHooks>): OpencodeHooks => {
  let hooks: OpencodeHooks | undefined
  let waiting = 0
  void started.then((running) => {
    hooks = running
  })
  // Straight through once started and nothing is still waiting, so that no call overtakes an earlier one.
  const call = (use: (running: OpencodeHooks) => Promise<void> | undefined): Promise<void> => {
    if (hooks !== undefined && waiting === 0) return use(hooks) ?? Promise.resolve()
    waiting++
    return started.then((running) => {
      waiting--
      return use(running)
    })
  }
  return {
    event: (input) => call((running) => running.event?.(input)),
    "chat.message": (input, output) => call((running) => running["chat.message"]?.(input, output)),
    "tool.execute.before": (input, output) => call((running) => running["tool.execute.before"]?.(input, output)),
    // opencode passes its whole environment to the bash tool's processes, and a model can be talked into running
    // `env`: credential variables are removed here, whether or not the rest ever starts (an undefined value drops
    // the variable from the child's environment).
    "shell.env": (input, output) => {
      try {
        for (const name of CREDENTIAL_VARIABLES) if (process.env[name] !== undefined) output.env[name] = undefined
      } catch {
        // A malformed output object: nothing to write into, and nothing to throw.
      }
      return call((running) => running["shell.env"]?.(input, output))
    },
    "chat.headers": (input, output) => call((running) => running["chat.headers"]?.(input, output)),
    // Behind every call still waiting; a start that hangs is waited for a bounded time only.
    dispose: async () => {
      if (hooks !== undefined) return call((running) => running.dispose?.())
      const running = await withTimeout(started, START_WAIT_MS)
      await running?.dispose?.()
    },
  }
}
