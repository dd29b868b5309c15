/**
 * Reading raw settings through Effect's current ConfigProvider (process.env unless replaced): each OPENCODE_*
 * variable, else its standard fallback, and the per-signal OTEL_EXPORTER_OTLP_<SIGNAL>_* variables.
 */
import { Config as EffectConfig, Effect, Option } from "effect"
import { FALLBACKS, SIGNAL_VARIABLES, VARIABLES, type RawSettings, type Variable } from "./catalog.ts"
import { isEmpty } from "./values.ts"

/** The settings, and for each one taken from a standard OTEL_* variable, that variable's name. */
export function readSettingsWithSources(): Effect.Effect<{ settings: RawSettings; sources: Partial<Record<Variable, string>> }> {
  return Effect.gen(function* () {
    const read = (name: string) =>
      EffectConfig.option(EffectConfig.String(name)).pipe(
        Effect.map(Option.getOrUndefined),
        Effect.orElseSucceed(() => undefined),
      )
    const settings: RawSettings = {}
    const sources: Partial<Record<Variable, string>> = {}
    for (const variable of Object.keys(VARIABLES) as Array<Variable>) {
      const own = yield* read(variable)
      const fallback = FALLBACKS[variable]
      const standard = fallback === undefined ? undefined : yield* read(fallback)
      if (variable === "OPENCODE_RESOURCE_ATTRIBUTES" && !isEmpty(own) && !isEmpty(standard)) {
        // Resource attributes merge: the standard variable first, ours on top.
        settings[variable] = `${standard},${own}`
        continue
      }
      if (!isEmpty(own) || (own !== undefined && isEmpty(standard))) settings[variable] = own
      else if (standard !== undefined) {
        settings[variable] = standard
        sources[variable] = fallback!
      }
    }
    for (const variable of SIGNAL_VARIABLES) {
      const value = yield* read(variable)
      if (value !== undefined) settings[variable] = value
    }
    return { settings, sources }
  })
}
