/**
 * What the plugin learns from the running opencode through its SDK client, in the background (opencode answers
 * only once every plugin has started: asked from a plugin's start it would wait forever):
 * - its version, for service.version: `GET /global/health` answers `{healthy, version}` (opencode 1.18.33, about
 *   0.6 s after plugin start in `opencode run`). Until it answers, the version of the `@opencode-ai/plugin` package
 *   opencode installed into its config directory stands in (stale after an upgrade: opencode does not reinstall it).
 * - the configured MCP servers (`mcp.status()`), so that an MCP tool (`<server>_<tool>`) is told from a custom tool
 *   whose name has an underscore of its own.
 * Every answer is decoded with Effect Schema; a missing method, a failure or an odd shape leaves the fallback.
 */
import { Schema } from "effect"

/** How long service.version waits for opencode's answer before the fallback is used. */
const VERSION_WAIT_MS = 2_000

const Health = Schema.Struct({ version: Schema.String })
const McpStatus = Schema.Record(Schema.String, Schema.Unknown)
const decodeHealth = Schema.decodeUnknownOption(Health)
const decodeMcpStatus = Schema.decodeUnknownOption(McpStatus)

export interface HostFacts {
  /** opencode's version once known (opencode's answer, else the fallback); settles within {@link VERSION_WAIT_MS}. */
  readonly version: Promise<string | undefined>
  /** The MCP servers' names as opencode spells them in tool ids; undefined until opencode answered. */
  readonly mcpServers: () => ReadonlySet<string> | undefined
  /** Settles `version` now with what is known (at shutdown: an export must not wait for it). */
  readonly settle: () => void
}

const VERSION = /^\d+\.\d+\.\d+/

/** Reads a `{data}` answer of the SDK client, whatever becomes of the call. */
const answer = async (call: () => unknown): Promise<unknown> => {
  const result: unknown = await call()
  return typeof result === "object" && result !== null && "data" in result ? result.data : undefined
}

/** A method of the client by its path, bound to its owner; undefined when missing (or a getter throws). */
const method = (target: unknown, ...path: ReadonlyArray<string>): ((...args: ReadonlyArray<unknown>) => unknown) | undefined => {
  try {
    let value: unknown = target
    let owner: unknown = undefined
    for (const key of path) {
      if (typeof value !== "object" || value === null) return undefined
      owner = value
      value = Reflect.get(value, key)
    }
    const fn = value
    return typeof fn === "function" ? (...args) => Reflect.apply(fn, owner, args) : undefined
  } catch {
    return undefined
  }
}

/** opencode names an MCP server's tools `<server>_<tool>`, with the server's name sanitized so. */
export const toolIdPrefix = (server: string): string => server.replace(/[^a-zA-Z0-9_-]/g, "_")

export const learnHost = (client: unknown, fallbackVersion: string | undefined): HostFacts => {
  let settleVersion: (version: string | undefined) => void = () => undefined
  const version = new Promise<string | undefined>((resolve) => {
    settleVersion = resolve
  })
  const timer = setTimeout(() => settleVersion(fallbackVersion), VERSION_WAIT_MS)
  // Never keep opencode's process alive for our sake.
  timer.unref?.()
  const health = method(client, "global", "health") ?? (() => method(client, "_client", "get")?.({ url: "/global/health" }))
  answer(health)
    .then((data) => {
      const decoded = decodeHealth(data)
      settleVersion(decoded._tag === "Some" && VERSION.test(decoded.value.version) ? decoded.value.version : fallbackVersion)
    })
    .catch(() => settleVersion(fallbackVersion))
    .finally(() => clearTimeout(timer))

  let mcpServers: ReadonlySet<string> | undefined
  const status = method(client, "mcp", "status")
  if (status !== undefined)
    answer(status)
      .then((data) => {
        const decoded = decodeMcpStatus(data)
        if (decoded._tag === "Some") mcpServers = new Set(Object.keys(decoded.value).map(toolIdPrefix))
      })
      .catch(() => undefined)

  return {
    version,
    mcpServers: () => mcpServers,
    settle: () => settleVersion(fallbackVersion),
  }
}
