/**
 * Who did the work, over recorded runs (test/fixtures): agent.name and skill.name on the LLM-call and tool
 * signals, skill_activated once per loaded skill, subagent_completed once per task call with the child session's
 * own totals as `opencode export` has them.
 */
import { describe, expect, test } from "bun:test"
import type { ReadableLogRecord } from "@opentelemetry/sdk-logs"
import type { ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { Effect, Layer } from "effect"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import {
  counterTotal,
  eventsNamed,
  histogramTotals,
  loadFixture,
  replay,
  type ExportedSession,
  type Fixture,
  type RecordedLine,
} from "../lib/fixtures.ts"

/** A single-run fixture through a fresh test layer. */
const receive = async (fixture: Fixture, settings: Record<string, string> = {}) => {
  const program = Effect.gen(function* () {
    yield* replay(fixture.lines)
    const memory = yield* MemoryExporter
    return { metrics: (yield* memory.metrics) as ReadonlyArray<ResourceMetrics>, logs: (yield* memory.logs) as ReadonlyArray<ReadableLogRecord> }
  })
  const layer = Telemetry.layerTest(settings).pipe(Layer.provideMerge(OpencodeLog.layerSilent))
  return Effect.runPromise(Effect.provide(program, layer))
}

/** The export's assistant messages with the agent opencode recorded on each. */
interface AgentMessage {
  readonly id: string
  readonly agent: string
  readonly cost: number
  readonly tokens: { input: number; output: number; reasoning: number; cache: { read: number; write: number } }
}
const agentMessages = (session: ExportedSession): ReadonlyArray<AgentMessage> =>
  session.messages.flatMap((m) => {
    const info = m.info as typeof m.info & { readonly agent?: string }
    return info.role === "assistant" && info.tokens !== undefined && info.agent !== undefined
      ? [{ id: info.id, agent: info.agent, cost: info.cost ?? 0, tokens: info.tokens }]
      : []
  })
const tokenSum = (messages: ReadonlyArray<AgentMessage>) =>
  messages.reduce((n, m) => n + m.tokens.input + m.tokens.output + m.tokens.reasoning + m.tokens.cache.read + m.tokens.cache.write, 0)
const costSum = (messages: ReadonlyArray<AgentMessage>) => messages.reduce((n, m) => n + m.cost, 0)
const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(Math.max(b, 1e-12) * 1e-9)

describe("agent attribution (subagent fixture)", () => {
  const fixture = loadFixture("subagent")
  const received = receive(fixture)
  const [parent, child] = fixture.sessions as [ExportedSession, ExportedSession]

  test("token.usage and cost.usage per agent.name equal each agent's messages in opencode's export", async () => {
    const { metrics } = await received
    for (const session of [parent, child]) {
      const messages = agentMessages(session)
      const agent = messages[0]!.agent
      expect(messages.every((m) => m.agent === agent)).toBe(true)
      expect([agent, counterTotal(metrics, "opencode.token.usage", { "agent.name": agent })]).toEqual([agent, tokenSum(messages)])
      close(counterTotal(metrics, "opencode.cost.usage", { "agent.name": agent }), costSum(messages))
    }
    expect(agentMessages(parent)[0]!.agent).toBe("build")
    expect(agentMessages(child)[0]!.agent).toBe("general")
  })

  test("each api_request names its message's agent", async () => {
    const { logs } = await received
    const byId = new Map([...agentMessages(parent), ...agentMessages(child)].map((m) => [m.id, m.agent]))
    const requests = eventsNamed(logs, "api_request")
    expect(requests.length).toBe(byId.size)
    for (const e of requests) expect(e.attributes["agent.name"]).toBe(byId.get(String(e.attributes["message.id"])))
  })

  test("tool signals name the agent whose call ran the tool", async () => {
    const { logs, metrics } = await received
    const results = eventsNamed(logs, "tool_result").map((e) => [e.attributes["tool_name"], e.attributes["agent.name"]])
    expect(results.sort()).toEqual([["bash", "general"], ["task", "build"]])
    expect(histogramTotals(metrics, "opencode.tool.duration", { tool_name: "bash", "agent.name": "general" }).count).toBe(1)
    expect(histogramTotals(metrics, "opencode.tool.duration", { tool_name: "task", "agent.name": "build" }).count).toBe(1)
  })

  test("subagent_completed: once per task call, with the child session's totals from opencode's export", async () => {
    const { logs } = await received
    const completed = eventsNamed(logs, "subagent_completed")
    expect(completed.length).toBe(1)
    const a = completed[0]!.attributes
    const messages = agentMessages(child)
    const task = parent.messages.flatMap((m) => m.parts).find((p) => p.tool === "task")!
    const childTools = child.messages.flatMap((m) => m.parts).filter((p) => p.type === "tool")
    expect(a["session.id"]).toBe(parent.info.id)
    expect(a["subagent.session_id"]).toBe(child.info.id)
    expect(a["agent.name"]).toBe("general")
    expect(a["call.id"]).toBe(task.callID!)
    expect(a["success"]).toBe(true)
    expect(a["duration_ms"]).toBe(task.state!.time!.end! - task.state!.time!.start)
    expect(a["total_tokens"]).toBe(tokenSum(messages))
    expect(a["input_tokens"]).toBe(messages.reduce((n, m) => n + m.tokens.input, 0))
    expect(a["output_tokens"]).toBe(messages.reduce((n, m) => n + m.tokens.output, 0))
    expect(a["reasoning_tokens"]).toBe(messages.reduce((n, m) => n + m.tokens.reasoning, 0))
    expect(a["cache_read_tokens"]).toBe(messages.reduce((n, m) => n + m.tokens.cache.read, 0))
    close(Number(a["cost_usd"]), child.info.cost)
    close(Number(a["cost_usd"]), costSum(messages))
    expect(a["tool_use_count"]).toBe(childTools.length)
  })

  test("an MCP tool's signals name its server and tool (the subagent's bash call renamed docs_search)", async () => {
    const renamed = JSON.parse(JSON.stringify(fixture.lines).replaceAll('"tool":"bash"', '"tool":"docs_search"')) as RecordedLine[]
    expect(renamed.some((l) => JSON.stringify(l).includes('"tool":"docs_search"'))).toBe(true)
    const { metrics, logs } = await receive({ ...fixture, lines: renamed })
    const mcp = { "mcp_server.name": "docs", "mcp_tool.name": "search" }
    expect(histogramTotals(metrics, "opencode.tool.duration", { ...mcp, tool_name: "docs_search", "agent.name": "general" }).count).toBe(1)
    expect(histogramTotals(metrics, "opencode.tool.duration", { tool_name: "task" }).count).toBe(1)
    const results = eventsNamed(logs, "tool_result").map((e) => [e.attributes["tool_name"], e.attributes["mcp_server.name"], e.attributes["mcp_tool.name"]])
    expect(results.sort()).toEqual([["docs_search", "docs", "search"], ["task", undefined, undefined]])
  })

  test("the exclusion list drops agent.name from metrics, not from events", async () => {
    const { metrics, logs } = await receive(fixture, { OPENCODE_EXCLUDE_METRICS_ATTRIBUTES: "agent.name" })
    expect(counterTotal(metrics, "opencode.token.usage", { "agent.name": "build" })).toBe(0)
    expect(counterTotal(metrics, "opencode.token.usage")).toBe(tokenSum([...agentMessages(parent), ...agentMessages(child)]))
    expect(eventsNamed(logs, "api_request").every((e) => e.attributes["agent.name"] !== undefined)).toBe(true)
  })
})

describe("skill attribution (skill fixture)", () => {
  const fixture = loadFixture("skill")
  const received = receive(fixture)
  const [session] = fixture.sessions as [ExportedSession]
  const messages = agentMessages(session)
  const skillCall = session.messages.find((m) => m.parts.some((p) => p.tool === "skill"))!

  test("opencode's skill tool: input {name}, metadata {name, dir}", () => {
    const part = skillCall.parts.find((p) => p.tool === "skill")!
    expect(part.state?.status).toBe("completed")
    expect(part.state?.input).toEqual({ name: "greeting" })
    expect(part.state?.metadata?.["name"]).toBe("greeting")
  })

  test("skill_activated once per skill call, naming the skill", async () => {
    const { logs } = await received
    const activated = eventsNamed(logs, "skill_activated")
    expect(activated.map((e) => e.attributes["skill.name"])).toEqual(["greeting"])
    expect(activated[0]!.attributes["session.id"]).toBe(session.info.id)
    expect(activated[0]!.body).toBe("skill_activated")
  })

  test("calls after the skill loaded carry skill.name; the call that loaded it does not", async () => {
    const { logs, metrics } = await received
    const after = messages.filter((m) => m.id !== skillCall.info.id)
    expect(after.length).toBeGreaterThan(0)
    expect(counterTotal(metrics, "opencode.token.usage", { "skill.name": "greeting" })).toBe(tokenSum(after))
    close(counterTotal(metrics, "opencode.cost.usage", { "skill.name": "greeting" }), costSum(after))
    for (const e of eventsNamed(logs, "api_request"))
      expect([e.attributes["message.id"], e.attributes["skill.name"]]).toEqual([
        e.attributes["message.id"],
        e.attributes["message.id"] === skillCall.info.id ? undefined : "greeting",
      ])
    expect(eventsNamed(logs, "tool_result").map((e) => [e.attributes["tool_name"], e.attributes["agent.name"], e.attributes["skill.name"]])).toEqual([
      ["skill", "build", undefined],
    ])
  })

  test("claude-code profile: body claude_code.skill_activated", async () => {
    const { logs } = await receive(fixture, { OPENCODE_PROFILE: "claude-code" })
    expect(eventsNamed(logs, "skill_activated").map((e) => e.body)).toEqual(["claude_code.skill_activated"])
  })
})
