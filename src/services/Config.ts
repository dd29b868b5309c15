/**
 * Config: every setting of the plugin, decoded once into one typed value.
 *
 * Raw values come from Effect's current `ConfigProvider` (process.env by default; the plugin puts its tuple
 * options in front of it). The settings are declared in src/config/catalog.ts and decoded by one small decoder
 * per concern (src/config/*). An invalid value becomes a `ConfigError` that names the variable, the value (never
 * for headers), what is accepted and what it switched off. Two ways to get the service:
 * - `layerFromEnv` / `layer` for an embedder: a setting that switches all telemetry off fails the layer with
 *   that `ConfigError` (match it with `Effect.catchTag("ConfigError", …)`); other problems are warnings in
 *   `problems`.
 * - `layerFrom` for the opencode plugin: never fails; a fatal setting is `enabled: false` with its problem listed,
 *   and the caller logs `problems`.
 * Nothing here throws, mutates `process.env` or logs.
 */
import { Context, Effect, Layer } from "effect"
import type { RawSettings, Variable } from "../config/catalog.ts"
import { ConfigError, fatalOf } from "../config/problems.ts"
import { optionLabel, settingsFromOptions } from "../config/options.ts"
import { readSettingsWithSources } from "../config/read.ts"
import { decodeSettings, type Decoded, type Host, type TelemetryConfig } from "../config/settings.ts"
import type { Workspace } from "../config/headers.ts"
import type { Identity } from "../config/profile.ts"

export {
  COMPRESSIONS,
  DEFAULTS,
  FALLBACKS,
  HELPER_PLACEHOLDERS,
  MAX_PROMETHEUS_LINGER_MS,
  MAX_SPOOL_MB,
  METRIC_NAMES,
  PROFILES,
  PROTOCOLS,
  SIGNAL_VARIABLES,
  SIGNALS,
  TEMPORALITIES,
  TRACE_TYPES,
  VARIABLES,
  type Compression,
  type MetricName,
  type OptionName,
  type Profile,
  type Protocol,
  type RawSettings,
  type Signal,
  type SignalVariable,
  type Temporality,
  type TraceType,
  type Variable,
} from "../config/catalog.ts"
export { ConfigError, type SwitchesOff } from "../config/problems.ts"
export { decodeSettings, type Decoded, type Host, type TelemetryConfig } from "../config/settings.ts"
export { settingsFromOptions } from "../config/options.ts"
export { readSettingsWithSources } from "../config/read.ts"
export { revealHeaders, type Workspace } from "../config/headers.ts"
export { signalUrlOf, type SignalTarget } from "../config/transport.ts"
export type { Identity } from "../config/profile.ts"

export interface Interface extends TelemetryConfig {
  readonly problems: ReadonlyArray<ConfigError>
}

export class Config extends Context.Service<Config, Interface>()("opencode-plugin-opentelemetry/Config") {}

/** What the layers are built from besides the settings. */
export interface Input {
  readonly options?: unknown
  readonly workspace?: Workspace
  readonly identity?: Identity | (() => Identity)
  readonly host?: Host
}

/**
 * Reads the settings from the current ConfigProvider, lets `options` override them, and decodes once. Never fails:
 * a fatal setting leaves `enabled` false, its problem in `problems`.
 */
export const decodeFromEnv = (input: Input = {}): Effect.Effect<Interface> =>
  Effect.map(readSettingsWithSources(), (fromEnv) => {
    const fromOptions = settingsFromOptions(input.options)
    const decoded = decodeSettings({ ...fromEnv.settings, ...fromOptions.settings }, input.workspace, input.identity, input.host)
    // A problem names where the value came from: a plugin option, or a standard OTEL_* variable.
    const problems = decoded.problems.map((p) => {
      const variable = p.variable as Variable
      if (p.variable in fromOptions.settings) return new ConfigError({ ...p, variable: optionLabel(variable) })
      const source = fromEnv.sources[variable]
      return source === undefined ? p : new ConfigError({ ...p, variable: source })
    })
    return Config.of({ ...decoded.config, problems: [...fromOptions.problems, ...problems] })
  })

/** The configuration, or the first setting that switches all telemetry off as a typed failure. */
export const failOnFatal = (config: Interface): Effect.Effect<Interface, ConfigError> => {
  const fatal = fatalOf(config.problems)
  return fatal === undefined ? Effect.succeed(config) : Effect.fail(fatal)
}

/** The Config layer of the opencode plugin: never fails (see {@link decodeFromEnv}). */
export const layerFrom = (input: Input = {}): Layer.Layer<Config> => Layer.effect(Config, decodeFromEnv(input))

/** The Config layer for an embedder, from the current ConfigProvider: fails with a fatal setting's ConfigError. */
export const layerFromEnv = (input: Input = {}): Layer.Layer<Config, ConfigError> =>
  Layer.effect(Config, Effect.flatMap(decodeFromEnv(input), failOnFatal))

/** The Config layer for an embedder, from raw settings (no ConfigProvider): fails with a fatal setting's ConfigError. */
export const layer = (settings: RawSettings, input: Omit<Input, "options"> = {}): Layer.Layer<Config, ConfigError> =>
  Layer.effect(
    Config,
    Effect.suspend(() => {
      return failOnFatal(ofDecoded(decodeSettings(settings, input.workspace, input.identity, input.host)))
    }),
  )

/** The service's value for settings already decoded, with their problems. */
export const ofDecoded = (decoded: Decoded): Interface => Config.of({ ...decoded.config, problems: decoded.problems })

/** The Config layer for settings already decoded (tests, embedding); never fails. */
export const layerDecoded = (decoded: Decoded): Layer.Layer<Config> => Layer.succeed(Config, ofDecoded(decoded))

/** The Config layer for a value already decoded (tests, embedding). */
export const layerValue = (config: TelemetryConfig) => layerDecoded({ config, problems: [] })

/** Reads process.env through Effect's default ConfigProvider. */
export const defaultLayer = layerFrom()
