/**
 * The file exporter on the real opencode CLI: the write-edit scenario with every signal to `file` only (no
 * receiver), the directory left to its default in opencode's state directory ($XDG_STATE_HOME/opencode/telemetry).
 * The files' totals are compared with `opencode export`, the span tree and the events with the run.
 */
import { describe, expect, test } from "bun:test"
import { readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { REPO_ROOT } from "../support/opencode.ts"
import { runScenario, SCENARIOS, type ScenarioResult } from "../support/scenarios.ts"
import { truthCompleted, truthCost, truthTokens, truthToolCalls, type Exported, type ExportedSession } from "../lib/fixtures.ts"
import { counterTotal, eventsNamed, spanTreeProblems, type Segment } from "../lib/received.ts"
import { linesOf, readOtlpFiles } from "../lib/otlpFiles.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
const TIMEOUT = 120_000
const scenario = SCENARIOS.find((s) => s.name === "write-edit")!

interface Observed {
  readonly result: ScenarioResult
  readonly dir: string
  readonly files: ReadonlyArray<string>
  readonly modes: Readonly<Record<string, number>>
  /** The files read back, as one segment (one opencode process). */
  readonly segment: Segment
  readonly truth: Exported
}

let observed: Promise<Observed> | undefined
const get = () =>
  (observed ??= (async () => {
    const result = await runScenario(scenario, {
      plugins: [PLUGIN],
      keep: true,
      env: { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_METRICS_EXPORTER: "file", OPENCODE_LOGS_EXPORTER: "file", OPENCODE_TRACES_EXPORTER: "file" },
    })
    try {
      const dir = join(result.dirs.stateHome, "opencode", "telemetry")
      const files = readdirSync(dir).sort()
      const modes = Object.fromEntries([dir, ...files.map((f) => join(dir, f))].map((p) => [p, statSync(p).mode & 0o777]))
      const read = readOtlpFiles(dir)
      expect(linesOf(dir, "traces").length).toBeGreaterThan(0)
      return { result, dir, files, modes, segment: { requests: [], ...read }, truth: { sessions: result.exports as Array<ExportedSession> } }
    } finally {
      await result.cleanup()
    }
  })())

describe("file exporter (opencode run, write-edit, every signal to file only)", () => {
  test(
    "opencode exits as the scenario expects; one 0600 file per signal in a 0700 directory in opencode's state directory",
    async () => {
      const o = await get()
      expect(o.result.exitCodes).toEqual(scenario.expect.exitCodes)
      expect(o.files).toEqual(["logs.jsonl", "metrics.jsonl", "traces.jsonl"])
      expect(o.modes[o.dir]).toBe(0o700)
      for (const f of o.files) expect(o.modes[join(o.dir, f)]).toBe(0o600)
    },
    TIMEOUT,
  )

  test(
    "token.usage by type and cost.usage totals equal opencode export",
    async () => {
      const o = await get()
      const tokens = truthTokens(o.truth)
      expect(Object.values(tokens).some((n) => n > 0)).toBe(true)
      for (const [type, value] of Object.entries(tokens))
        expect([type, counterTotal([o.segment], "opencode.token.usage", { type })]).toEqual([type, value])
      const cost = truthCost(o.truth)
      expect(cost).toBeGreaterThan(0)
      expect(Math.abs(counterTotal([o.segment], "opencode.cost.usage") - cost)).toBeLessThanOrEqual(cost * 1e-9)
      expect(counterTotal([o.segment], "opencode.session.count")).toBe(o.result.sessionIDs.length)
    },
    TIMEOUT,
  )

  test(
    "every span's parent is in the file, every span ended; the session's events are there",
    async () => {
      const o = await get()
      expect(o.segment.spans.length).toBeGreaterThan(0)
      expect(spanTreeProblems(o.segment.spans)).toEqual([])
      expect(o.segment.spans.some((s) => s.name.startsWith("invoke_agent"))).toBe(true)
      const sessions = o.result.sessionIDs
      expect(eventsNamed([o.segment], "session.created").map((l) => l.attributes["session.id"])).toEqual(sessions)
      expect(eventsNamed([o.segment], "user_prompt")).toHaveLength(1)
      const requests = eventsNamed([o.segment], "api_request").map((l) => String(l.attributes["message.id"]))
      expect(requests.sort()).toEqual(truthCompleted(o.truth).map((m) => m.info.id).sort())
      const results = eventsNamed([o.segment], "tool_result").map((l) => String(l.attributes["call.id"]))
      expect(results.sort()).toEqual(truthToolCalls(o.truth).map((c) => String(c.callID)).sort())
    },
    TIMEOUT,
  )
})
