import { Effect, Metric } from "effect"
import { EffectOtel, Telemetry } from "opencode-plugin-opentelemetry/effect"

const deploys = Metric.counter("deploy.count", { description: "Deploys started", incremental: true })

const deploy = Effect.fn("deploy")(function* (service: string) {
  yield* Effect.logInfo(`deploying ${service}`)
  yield* Metric.update(deploys, 1)
})

// Settings from the environment, as for opencode (OPENCODE_ENABLE_TELEMETRY=1, OPENCODE_OTLP_ENDPOINT, ...).
await Effect.runPromise(deploy("api").pipe(Effect.provide(EffectOtel.layerOn(Telemetry.layerLive()))))
