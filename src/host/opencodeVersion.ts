/**
 * The version of the opencode running the plugin, for service.version. opencode installs `@opencode-ai/plugin` at
 * its own version into its config directory and waits for that before it loads plugins, so that package's
 * version is opencode's (checked against opencode 1.18.33). One small synchronous read at start; undefined when
 * the file is missing or unreadable (the plugin embedded elsewhere).
 */
import { readFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { Schema } from "effect"

const PackageVersion = Schema.Struct({ version: Schema.String })
const decodePackage = Schema.decodeUnknownOption(Schema.fromJsonString(PackageVersion))

export const opencodeVersion = (env: NodeJS.ProcessEnv = process.env): string | undefined => {
  const configDir = join(env["XDG_CONFIG_HOME"] || join(homedir(), ".config"), "opencode")
  try {
    const text = readFileSync(join(configDir, "node_modules", "@opencode-ai", "plugin", "package.json"), "utf8")
    const decoded = decodePackage(text)
    return decoded._tag === "Some" && /^\d+\.\d+\.\d+/.test(decoded.value.version) ? decoded.value.version : undefined
  } catch {
    return undefined
  }
}
