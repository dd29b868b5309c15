/**
 * Builds the live (OTLP) telemetry layer from raw settings for tests, with opencode's log captured in memory.
 */
import { Cause, Effect, Exit, Layer } from "effect"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import * as Config from "../../src/services/Config.ts"

export interface CapturedLog {
  readonly level: OpencodeLog.OpencodeLogLevel
  readonly message: string
}

/** A stand-in for opencode's SDK client that keeps what the plugin logs. */
export const captureClient = () => {
  const logs: Array<CapturedLog> = []
  const client: OpencodeLog.OpencodeLogClient = {
    app: {
      log: (options) => {
        logs.push({ level: options.body.level, message: options.body.message })
        return Promise.resolve(true)
      },
    },
  }
  return { client, logs }
}

export const liveLayer = (settings: Config.RawSettings, client: OpencodeLog.OpencodeLogClient, workspace?: Config.Workspace) => {
  const decoded = Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", ...settings }, workspace)
  if (decoded.problems.length > 0) throw new Error(decoded.problems.map((p) => p.message).join("\n"))
  return Telemetry.layer.pipe(
    Layer.provideMerge(Config.layerDecoded(decoded)),
    Layer.provideMerge(OpencodeLog.layer(client)),
  )
}

/** Runs a scoped program against a layer and releases it (flush + shutdown) before returning. */
export const runScoped = async <A, E, R>(layer: Layer.Layer<R, unknown>, program: Effect.Effect<A, E, R>): Promise<A> => {
  const exit = await Effect.runPromiseExit(Effect.provide(program, layer))
  if (Exit.isFailure(exit)) throw new Error(Cause.pretty(exit.cause))
  return exit.value
}

/** The environment that switches telemetry on for a real opencode run, sent to `endpoint` over `protocol`. */
export const telemetryEnv = (endpoint: string, protocol: string, extra: Record<string, string> = {}): Record<string, string> => ({
  OPENCODE_ENABLE_TELEMETRY: "1",
  OPENCODE_OTLP_ENDPOINT: endpoint,
  OPENCODE_OTLP_PROTOCOL: protocol,
  ...extra,
})
