/**
 * Agent, skill and subagent attribution on the real opencode CLI (one protocol, http/protobuf): the skill and
 * subagent scenarios of test/support/scenarios.ts with the plugin from src/plugin.ts, compared with
 * `opencode export` of every session.
 */
import { describe, expect, test } from "bun:test"
import { join } from "node:path"
import { REPO_ROOT } from "../support/opencode.ts"
import { startReceiver } from "../support/otlp-receiver.ts"
import { runScenario, scenarioNamed, type ScenarioResult } from "../support/scenarios.ts"
import type { ExportedSession } from "../lib/fixtures.ts"
import { counterTotal, eventsNamed, takeSegment, type Segment } from "../lib/received.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
const TIMEOUT = 120_000

const observe = async (name: string): Promise<{ result: ScenarioResult; segments: Segment[]; sessions: ExportedSession[] }> => {
  const receiver = await startReceiver({ protocol: "http/protobuf", lifetimeMs: 5 * 60_000 })
  const segments: Segment[] = []
  try {
    const result = await runScenario(scenarioNamed(name), {
      plugins: [PLUGIN],
      env: { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_ENDPOINT: receiver.url, OPENCODE_OTLP_PROTOCOL: "http/protobuf" },
      onRunEnd: () => segments.push(takeSegment(receiver)),
    })
    return { result, segments, sessions: result.exports as ExportedSession[] }
  } finally {
    await receiver.stop()
  }
}

interface Message {
  readonly id: string
  readonly agent: string
  readonly cost: number
  readonly tokens: number
}
const messagesOf = (session: ExportedSession): Message[] =>
  session.messages.flatMap((m) => {
    const info = m.info as typeof m.info & { readonly agent?: string }
    const t = info.tokens
    return info.role === "assistant" && t !== undefined && info.agent !== undefined
      ? [{ id: info.id, agent: info.agent, cost: info.cost ?? 0, tokens: t.input + t.output + t.reasoning + t.cache.read + t.cache.write }]
      : []
  })
const sum = (messages: Message[], key: "cost" | "tokens") => messages.reduce((n, m) => n + m[key], 0)
const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(Math.max(b, 1e-12) * 1e-9)

describe("subagent", () => {
  const observed = observe("subagent")

  test(
    "token.usage and cost.usage per agent.name, and one subagent_completed with the child's totals, equal opencode export",
    async () => {
      const { result, segments, sessions } = await observed
      expect(result.exitCodes).toEqual([0])
      const child = sessions.find((s) => s.info.parentID !== undefined)!
      const parent = sessions.find((s) => s.info.parentID === undefined)!
      for (const session of [parent, child]) {
        const messages = messagesOf(session)
        const agent = messages[0]!.agent
        expect(counterTotal(segments, "opencode.token.usage", { "agent.name": agent })).toBe(sum(messages, "tokens"))
        close(counterTotal(segments, "opencode.cost.usage", { "agent.name": agent }), sum(messages, "cost"))
      }
      const completed = eventsNamed(segments, "subagent_completed")
      expect(completed).toHaveLength(1)
      const a = completed[0]!.attributes
      expect(a["session.id"]).toBe(parent.info.id)
      expect(a["subagent.session_id"]).toBe(child.info.id)
      expect(a["agent.name"]).toBe(messagesOf(child)[0]!.agent)
      expect(Number(a["total_tokens"])).toBe(sum(messagesOf(child), "tokens"))
      close(Number(a["cost_usd"]), child.info.cost)
      expect(Number(a["tool_use_count"])).toBe(child.messages.flatMap((m) => m.parts).filter((p) => p.type === "tool").length)
      expect(a["success"]).toBe(true)
    },
    TIMEOUT,
  )
})

describe("skill", () => {
  const observed = observe("skill")

  test(
    "one skill_activated naming the skill; the calls after it carry skill.name, as opencode export counts them",
    async () => {
      const { result, segments, sessions } = await observed
      expect(result.exitCodes).toEqual([0])
      const [session] = sessions as [ExportedSession]
      const loader = session.messages.find((m) => m.parts.some((p) => p.tool === "skill" && p.state?.status === "completed"))
      expect(loader).toBeDefined()
      const activated = eventsNamed(segments, "skill_activated")
      expect(activated.map((e) => e.attributes["skill.name"])).toEqual(["greeting"])
      const after = messagesOf(session).filter((m) => m.id !== loader!.info.id)
      expect(after.length).toBeGreaterThan(0)
      expect(counterTotal(segments, "opencode.token.usage", { "skill.name": "greeting" })).toBe(sum(after, "tokens"))
      close(counterTotal(segments, "opencode.cost.usage", { "skill.name": "greeting" }), sum(after, "cost"))
      expect(counterTotal(segments, "opencode.token.usage", { "agent.name": "build" })).toBe(sum(messagesOf(session), "tokens"))
    },
    TIMEOUT,
  )
})
