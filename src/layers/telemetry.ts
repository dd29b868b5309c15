/**
 * The composed layers: every service the handlers need, on top of a Config.
 *
 * - `layer`: open — needs `Config`; OTLP export with the HeaderProvider.
 * - `layerLive(input)`: reads settings from the current ConfigProvider (process.env by default), lets
 *   plugin options override them, and exports over OTLP. A setting that switches telemetry off fails it with the
 *   typed `ConfigError` (catch it by tag); other problems are warnings in `Config.problems`.
 * - `layerTest(settings)`: in-memory exporters (read them through `MemoryExporter`), nothing leaves the process.
 */
import { Layer } from "effect"
import * as Config from "../services/Config.ts"
import * as Exporter from "../services/Exporter.ts"
import * as HeaderProvider from "../services/HeaderProvider.ts"
import * as Instruments from "../services/Instruments.ts"
import * as SessionStore from "../services/SessionStore.ts"

/** Instruments and the session store over an Exporter layer of your choice. */
export const layerOn = <A, E, R>(
  exporter: Layer.Layer<A, E, R>,
  options: { readonly maxSessions?: number } = {}) =>
  Layer.mergeAll(Instruments.layer, SessionStore.layer(options)).pipe(Layer.provideMerge(exporter))

/** Open layer: OTLP export as configured; requires Config. */
export const layer = layerOn(Exporter.layer.pipe(Layer.provideMerge(HeaderProvider.layer)))

/**
 * Live layer: settings from the environment (through ConfigProvider), overridden by plugin options; fails with the
 * `ConfigError` of a setting that switches telemetry off.
 */
export const layerLive = (input: { readonly options?: unknown; readonly workspace?: Config.Workspace } = {}) =>
  layer.pipe(Layer.provideMerge(Config.layerFromEnv(input)))

/**
 * Test layer: the same services with in-memory exporters. `settings` are raw variable values;
 * telemetry is switched on unless they say otherwise.
 */
export const layerTest = (settings: Config.RawSettings = {}, options: { readonly maxSessions?: number } = {}) => {
  const config = Config.layerDecoded(Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", ...settings }))
  return layerOn(Exporter.layerMemory, options).pipe(Layer.provideMerge(config))
}
