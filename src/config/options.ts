/**
 * Plugin options (the tuple form in opencode.json) as raw settings. Options override environment variables.
 * Values may be typed (numbers, booleans, lists, objects); they are written back to the variables' string form so
 * that one decoder judges both.
 */
import { VARIABLES, type RawSettings, type Variable } from "./catalog.ts"
import { ConfigError } from "./problems.ts"

const optionToString = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (typeof value === "number" && Number.isFinite(value)) return String(value)
  if (typeof value === "boolean") return value ? "true" : "false"
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(",")
  if (value !== null && typeof value === "object" && Object.values(value).every((v) => typeof v === "string" || typeof v === "number"))
    return Object.entries(value)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join(",")
  return undefined
}

/** An option problem drops that option only. */
const ignored = (variable: string, expected: string, consequence = "The option is ignored.") =>
  new ConfigError({ variable, expected, consequence, switchesOff: "setting" })

/** The variable a problem is about, as the user wrote it: through a plugin option. */
export const optionLabel = (variable: Variable) => `${variable} (plugin option "${VARIABLES[variable]}")`

export const settingsFromOptions = (options: unknown): { settings: RawSettings; problems: ReadonlyArray<ConfigError> } => {
  const settings: RawSettings = {}
  const problems: Array<ConfigError> = []
  if (options === undefined || options === null) return { settings, problems }
  if (typeof options !== "object" || Array.isArray(options)) {
    problems.push(ignored("plugin options", "an object such as {\"endpoint\": \"http://localhost:4317\"}", "The options are ignored; environment variables apply."))
    return { settings, problems }
  }
  const byOption = new Map<string, Variable>(Object.entries(VARIABLES).map(([variable, option]) => [option, variable as Variable]))
  for (const [key, value] of Object.entries(options)) {
    const variable = byOption.get(key) ?? (key in VARIABLES ? (key as Variable) : undefined)
    if (variable === undefined) {
      problems.push(ignored(`plugin option "${key}"`, `one of ${[...byOption.keys()].join(", ")}`))
      continue
    }
    const text = optionToString(value)
    if (text === undefined) {
      problems.push(ignored(optionLabel(variable), "a string, number, boolean, list of strings or object of strings"))
      continue
    }
    settings[variable] = text
  }
  return { settings, problems }
}
