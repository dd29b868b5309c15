/**
 * Memory stays bounded with session.id on cumulative metrics: after ROTATE_AFTER_SESSIONS distinct sessions
 * the meter provider is replaced, and the old one's final export still carries every series' last value.
 */
import { expect } from "bun:test"
import { Effect } from "effect"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import { Instruments, ROTATE_AFTER_SESSIONS } from "../../src/services/Instruments.ts"
import { effectTest } from "../lib/effect.ts"

const it = effectTest(Telemetry.layerTest())

it("rotates the meter provider and loses no series' final value", () =>
  Effect.gen(function* () {
    const instruments = yield* Instruments
    const sessions = ROTATE_AFTER_SESSIONS * 2 + 100
    for (let i = 0; i < sessions; i++) yield* instruments.count("session.count", 1, { "session.id": `ses_${i}` })
    yield* Effect.sleep("300 millis") // retired providers export their last collection in the background
    const memory = yield* MemoryExporter
    const collections = yield* memory.metrics
    const last = new Map<string, number>()
    let seriesInLatest = 0
    for (const [index, collection] of collections.entries())
      for (const scope of collection.scopeMetrics)
        for (const metric of scope.metrics)
          if (metric.descriptor.name === "opencode.session.count")
            for (const point of metric.dataPoints) {
              last.set(String(point.attributes["session.id"]), Number(point.value))
              if (index === collections.length - 1) seriesInLatest++
            }
    expect(last.size).toBe(sessions)
    expect([...last.values()].every((v) => v === 1)).toBe(true)
    expect(seriesInLatest).toBeLessThanOrEqual(ROTATE_AFTER_SESSIONS)
  }),
)
