/**
 * The Effect API of opencode-plugin-opentelemetry (`opencode-plugin-opentelemetry/effect`).
 *
 * The services the plugin is built from, and the layers that compose them, for embedding in another
 * Effect program or testing with in-memory exporters. The opencode plugin itself is the package's main
 * export; this module is kept apart because opencode would call every exported function as a plugin.
 */
export * as Config from "./services/Config.ts"
export * as Exporter from "./services/Exporter.ts"
export * as HeaderProvider from "./services/HeaderProvider.ts"
export * as Instruments from "./services/Instruments.ts"
export * as SessionStore from "./services/SessionStore.ts"
export * as Telemetry from "./layers/telemetry.ts"
export * as EffectOtel from "./layers/effectOtel.ts"
export * as OpencodeLog from "./layers/opencodeLog.ts"
export * as Events from "./events/schema.ts"
export { endAllSessions, handleChatMessage, handleEvent } from "./handlers/index.ts"
export { PACKAGE_NAME, PACKAGE_VERSION } from "./version.ts"
