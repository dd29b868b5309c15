/**
 * The naming profile: `claude-code` uses Claude Code's metric prefix, units, event bodies, service name and
 * standard attributes; `opencode` (the default) the seed plugin's. Also the resource: service.name and the
 * OTEL_RESOURCE_ATTRIBUTES-style attributes.
 */
import { PROFILES, type Profile } from "./catalog.ts"
import { attributes, oneOf, trimmed, type Input } from "./values.ts"

/** Facts about this machine the plugin entry supplies (never read here: decoding stays pure). */
export interface Identity {
  readonly installationId?: string | undefined
  readonly terminalType?: string | undefined
}

/**
 * OPENCODE_PROFILE, else claude-code when the metric prefix is Claude Code's (the seed plugin's documented way to
 * Claude Code's dashboards, which also need its units, bodies and service name).
 */
export const decodeProfile = (input: Input): Profile => {
  const implied: Profile = input.raw.OPENCODE_METRIC_PREFIX?.trim() === "claude_code." ? "claude-code" : "opencode"
  return oneOf(input, "OPENCODE_PROFILE", PROFILES, implied, {
    normalize: (value) => value.replace("_", "-"),
    instead: `The ${implied} profile applies.`,
  })
}

export interface Resource {
  readonly serviceName: string
  readonly resourceAttributes: Readonly<Record<string, string>>
}

export const decodeResource = (input: Input, profile: Profile): Resource => ({
  serviceName: trimmed(input, "OPENCODE_SERVICE_NAME") ?? (profile === "claude-code" ? "claude-code" : "opencode"),
  resourceAttributes: attributes(input, "OPENCODE_RESOURCE_ATTRIBUTES"),
})

/** Claude Code's organization and account attributes, which it puts on every point; here from the resource settings. */
const ACCOUNT_ATTRIBUTES = ["organization.id", "user.account_uuid", "user.account_id", "user.email"]

/**
 * Claude Code's standard attributes on every metric point and event (claude-code profile only): `user.id`, an
 * anonymous id of this installation, `terminal.type` when known, and the account attributes. `identity` is asked
 * only when telemetry will run in that profile: it may create the installation id.
 */
export const standardAttributesOf = (
  profile: Profile,
  running: boolean,
  identity: Identity | (() => Identity),
  resourceAttributes: Readonly<Record<string, string>>,
): Record<string, string> => {
  if (profile !== "claude-code") return {}
  const who = running ? (typeof identity === "function" ? identity() : identity) : {}
  return {
    ...(who.installationId === undefined ? {} : { "user.id": who.installationId }),
    ...(who.terminalType === undefined ? {} : { "terminal.type": who.terminalType }),
    ...Object.fromEntries(ACCOUNT_ATTRIBUTES.flatMap((key) => (resourceAttributes[key] === undefined ? [] : [[key, resourceAttributes[key]!]]))),
  }
}

/** Event bodies: Claude Code's are `claude_code.<event>`; the seed plugin's, which dashboards for it match, the bare name. */
export const eventPrefixOf = (profile: Profile): string => (profile === "claude-code" ? "claude_code." : "")
