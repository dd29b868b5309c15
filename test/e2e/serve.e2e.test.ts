/**
 * Serve mode, end to end (issue #12 item 5): one long-lived `opencode serve` (pinned 1.18.33) with the plugin
 * loaded from src/plugin.ts, exporting to a loopback OTLP receiver, driven over opencode's HTTP API the way a TUI or
 * IDE client drives it (routes: test/support/serve.ts), then stopped with SIGTERM as a system shutdown does
 * (opencode dies at once: no `dispose`, no further events). What arrived is graded against `opencode export` of
 * every session, run after the server is gone.
 *
 * Scenarios, all in one server process (the fake LLM answers by conversation, so concurrent sessions can't take
 * each other's answers; a prompt holding `[[bash: CMD]]` gets a bash call, then text):
 *  1. two sessions prompted concurrently, each a bash call and a text answer;
 *  2. one session, two sequential prompts (bash + text, then text);
 *  3. a bash call that asks for permission (`permission.bash` "ask" for `echo needs-permission*` only), rejected
 *     over `POST /permission/{id}/reply`;
 *  4. abort mid-tool: bash `sleep 5`, `POST /session/{id}/abort` 1 s after the tool part is `running`;
 *  5. summarize (compaction) after a bash + text turn;
 *  6. two prompts, revert to the second prompt's user message, then unrevert;
 *  6b. two prompts, revert to the second, then a third prompt (opencode then deletes the reverted messages);
 *  7. a permission asked and never answered: still pending at SIGTERM.
 * After every session but 7 is idle (GET /session/status), the test waits 2 s, starts 7, waits for its
 * permission.asked, waits 2.5 s more (the plugin sends a turn's telemetry 1 s after the turn ends), then SIGTERMs.
 *
 * Semantics (opencode 1.18.33 with this plugin; asserted below):
 *  - Aborted tool call (4): opencode ends the bash part `completed` (metadata.exit null, output "User aborted
 *    the command") and the assistant message with `MessageAbortedError` and 0 tokens/cost, both just after the
 *    turn's session.idle. Exported: tool_result success=true (as the export's `completed`), no api_request but an
 *    api_error (MessageAbortedError, 0 tokens), one session.error; the turn's invoke_agent span ends with status
 *    ERROR at the idle, and the tool and chat spans, still open then, end with opencode's own reports (the tool span
 *    not an error, as its tool_result; the chat span MessageAbortedError), under the ended turn.
 *  - Rejected permission (3): the tool part ends `error` (no tool.execute.after). Exported: tool_result
 *    success=false, decision_type "reject"; one tool_decision {bash, reject, user_reject}; execute_tool span ERROR
 *    with a `tool.blocked_on_user` child (decision reject); the turn goes on to a text answer (a normal api_request).
 *  - Compaction (5): `summarize` adds a user message with only a `compaction` part (no user_prompt event) and an
 *    assistant message with mode "compaction"; its tokens and cost are counted like any LLM call (export agrees).
 *    It is a turn of its own, work outside any prompt: a root `invoke_agent compaction` with no prompt.id.
 *  - Revert/unrevert (6): messages stay in storage; the export still holds all of them; telemetry equals it.
 *  - Revert then prompt (6b): the export loses the reverted prompt's messages (user + 2 assistant); telemetry keeps
 *    their tokens, cost, api_request and tool calls (they were spent; counters are never retracted). Graded against
 *    the export plus those messages as read over the API before the revert.
 *  - A decision never answered (7): at SIGTERM the export shows the bash part `running` and the assistant message
 *    with 0 tokens (usage is recorded at the step's end). The plugin sends what a turn did so far when it stops to
 *    ask a person (1 s after permission.asked): session.created, session.count and user_prompt arrive; the turn
 *    itself, still in progress at SIGTERM, is what is lost (no span of it).
 */
import { afterAll, describe, expect, test } from "bun:test"
import { join } from "node:path"
import { REPO_ROOT } from "../support/opencode.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"
import { MODEL, type ServeHandle, startReactiveLlm, startServe } from "../support/serve.ts"
import { truthCost, truthTokens, truthToolCalls, type ExportedSession } from "../lib/fixtures.ts"
import { bigintReplacer, counterTotal, eventsNamed, spanTreeProblems, takeSegment, type Segment } from "../lib/received.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
const PROTOCOLS: ReadonlyArray<Protocol> = ["http/protobuf", "grpc"]
const metric = (suffix: string) => `opencode.${suffix}`

interface Observed {
  readonly segment: Segment
  readonly exports: ReadonlyArray<ExportedSession>
  readonly sessions: Record<string, string>
  /** Prompts sent per session. */
  readonly prompts: Record<string, number>
  readonly output: string
  readonly stop: { code: number | null; signal: string | null; ms: number }
  readonly events: ServeHandle["events"]
  readonly ms: number
  /** Session revertedThenPrompted's messages (GET /session/{id}/message) before its revert. */
  readonly revertedAway: ReadonlyArray<ExportedSession["messages"][number]>
}

const runAll = async (protocol: Protocol): Promise<Observed> => {
  const started = performance.now()
  const receiver: Receiver = await startReceiver({ protocol, lifetimeMs: 5 * 60_000 })
  const llm = await startReactiveLlm()
  let serve: ServeHandle | undefined
  try {
    serve = await startServe({
      llmUrl: llm.url,
      plugins: [PLUGIN],
      env: { OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_ENDPOINT: receiver.url, OPENCODE_OTLP_PROTOCOL: protocol },
      config: { permission: { edit: "allow", bash: { "*": "allow", "echo needs-permission*": "ask" } } },
    })
    const s = serve
    const sessions: Record<string, string> = {}
    const prompts: Record<string, number> = {}
    const prompt = async (name: string, text: string) => {
      prompts[name] = (prompts[name] ?? 0) + 1
      return s.prompt(sessions[name]!, text)
    }

    // 1. two sessions, concurrently.
    sessions["concurrentA"] = await s.createSession("A")
    sessions["concurrentB"] = await s.createSession("B")
    await Promise.all([prompt("concurrentA", "Run it. [[bash: echo one]]"), prompt("concurrentB", "Run it. [[bash: echo two]]")])

    // 2. two sequential prompts.
    sessions["sequential"] = await s.createSession("seq")
    await prompt("sequential", "First. [[bash: echo first]]")
    await prompt("sequential", "Second, just talk.")

    // 3. permission asked, rejected over the API.
    sessions["rejected"] = await s.createSession("reject")
    let from = s.events.length
    prompts["rejected"] = 1
    await s.promptAsync(sessions["rejected"]!, "Ask first. [[bash: echo needs-permission]]")
    const asked = await s.waitEvent((e) => e.type === "permission.asked" && e.properties?.sessionID === sessions["rejected"], { from })
    await s.api("POST", `/permission/${asked.properties.id}/reply`, { reply: "reject" })
    await s.waitEvent((e) => e.type === "session.idle" && e.properties?.sessionID === sessions["rejected"], { from })
    await s.waitIdle([sessions["rejected"]!])

    // 4. abort mid-tool.
    sessions["aborted"] = await s.createSession("abort")
    from = s.events.length
    prompts["aborted"] = 1
    await s.promptAsync(sessions["aborted"]!, "Sleep. [[bash: sleep 5]]")
    await s.waitEvent(
      (e) =>
        e.type === "message.part.updated" &&
        e.properties?.part?.sessionID === sessions["aborted"] &&
        e.properties?.part?.type === "tool" &&
        e.properties?.part?.state?.status === "running",
      { from },
    )
    await Bun.sleep(1_000)
    await s.api("POST", `/session/${sessions["aborted"]}/abort`)
    await s.waitEvent((e) => e.type === "session.idle" && e.properties?.sessionID === sessions["aborted"], { from })
    await s.waitIdle([sessions["aborted"]!])

    // 5. summarize (compaction).
    sessions["compacted"] = await s.createSession("compact")
    await prompt("compacted", "Before compaction. [[bash: echo before]]")
    await s.api("POST", `/session/${sessions["compacted"]}/summarize`, { ...MODEL, auto: false })
    await s.waitIdle([sessions["compacted"]!])

    // 6. revert to the second prompt, then unrevert.
    sessions["reverted"] = await s.createSession("revert")
    await prompt("reverted", "Write. [[bash: echo r1 > r.txt]]")
    await prompt("reverted", "Change. [[bash: echo r2 > r.txt]]")
    const messages = await s.api<Array<{ info: { id: string; role: string } }>>("GET", `/session/${sessions["reverted"]}/message`)
    const secondUser = messages.filter((m) => m.info.role === "user")[1]!
    await s.api("POST", `/session/${sessions["reverted"]}/revert`, { messageID: secondUser.info.id })
    await s.api("POST", `/session/${sessions["reverted"]}/unrevert`)

    // 6b. revert, then a new prompt: opencode deletes the reverted messages from storage.
    sessions["revertedThenPrompted"] = await s.createSession("revert-prompt")
    await prompt("revertedThenPrompted", "Write. [[bash: echo p1 > p.txt]]")
    await prompt("revertedThenPrompted", "Change. [[bash: echo p2 > p.txt]]")
    const before = await s.api<Array<ExportedSession["messages"][number]>>("GET", `/session/${sessions["revertedThenPrompted"]}/message`)
    const secondUserP = before.filter((m) => m.info.role === "user")[1]!
    await s.api("POST", `/session/${sessions["revertedThenPrompted"]}/revert`, { messageID: secondUserP.info.id })
    await prompt("revertedThenPrompted", "After the revert, just talk.")

    await s.waitIdle(Object.values(sessions))

    // 7. a decision never answered: a permission still pending when SIGTERM comes. Started 2 s after the other
    // turns ended, so that their delayed (1 s) sends can't carry this session's first events along.
    await Bun.sleep(2_000)
    sessions["pending"] = await s.createSession("pending")
    from = s.events.length
    prompts["pending"] = 1
    await s.promptAsync(sessions["pending"]!, "Ask and wait. [[bash: echo needs-permission pending]]")
    await s.waitEvent((e) => e.type === "permission.asked" && e.properties?.sessionID === sessions["pending"], { from })

    await Bun.sleep(2_500)
    const stop = await s.stop()
    // Nothing can arrive after the process is gone, but a request may still be in the receiver's hands.
    await Bun.sleep(300)
    const segment = takeSegment(receiver)
    const ids = await s.listSessions()
    // Concurrently (each export is a ~3 s opencode start); exportSession retries "database is locked".
    const exports: ExportedSession[] = await Promise.all(ids.map((id) => s.exportSession(id)))
    const result = { segment, exports, sessions, prompts, revertedAway: before, output: s.output(), stop, events: s.events, ms: Math.round(performance.now() - started) }
    // SERVE_E2E_DUMP=<dir>: keep what was observed, for reading by hand.
    const dump = process.env["SERVE_E2E_DUMP"]
    if (dump) await Bun.write(join(dump, `serve-${protocol.replace("/", "-")}.json`), JSON.stringify({ ...result, llm: llm.requests.map((r) => [r.n, r.kind]) }, bigintReplacer, 2))
    return result
  } finally {
    await serve?.cleanup()
    await llm.stop()
    await receiver.stop()
  }
}

/**
 * What happened, per session: the exports, except that session revertedThenPrompted also gets back the messages its
 * revert + new prompt deleted from storage (read over the API before the revert): they were sent and paid for.
 */
const happened = (o: Observed): ReadonlyArray<ExportedSession> =>
  o.exports.map((e) => {
    if (e.info.id !== o.sessions["revertedThenPrompted"]) return e
    const kept = new Set(e.messages.map((m) => m.info.id))
    return { ...e, messages: [...o.revertedAway.filter((m) => !kept.has(m.info.id)), ...e.messages] }
  })
const single = (sessions: ReadonlyArray<ExportedSession>, id: string) => ({ sessions: sessions.filter((e) => e.info.id === id) })
/** Sessions whose turn was still running at SIGTERM (nothing of them is exported; see the header). */
const CUT_OFF = new Set(["pending"])

describe.each(PROTOCOLS)("opencode serve, %s", (protocol) => {
  let observed: Promise<Observed> | undefined
  const get = () => (observed ??= runAll(protocol))
  afterAll(async () => {
    const o = await observed?.catch(() => undefined)
    if (o !== undefined) console.log(`serve ${protocol}: ${o.ms} ms, SIGTERM → exit in ${o.stop.ms} ms (${o.stop.signal ?? o.stop.code})`)
  })

  test(
    "SIGTERM ends the server; every export accepted; nothing logged by the plugin at WARN/ERROR",
    async () => {
      const o = await get()
      expect(o.stop.signal ?? String(o.stop.code)).toBe("SIGTERM")
      expect(o.segment.requests.filter((r) => !r.accepted).map((r) => r.error ?? r.response)).toEqual([])
      expect(new Set(o.segment.requests.map((r) => r.signal))).toEqual(new Set(["traces", "metrics", "logs"]))
      const pluginLines = o.output
        .split("\n")
        .filter((l) => l.includes("opencode-plugin-opentelemetry") && (/level=(WARN|ERROR)/.test(l) || !l.startsWith("timestamp=")))
      expect(pluginLines).toEqual([])
      // No stack trace out of the plugin's sources either (an unhandled rejection would print one).
      expect(o.output.split("\n").filter((l) => l.includes(join(REPO_ROOT, "src")))).toEqual([])
    },
    240_000,
  )

  test(
    "sessions: session.count equals the sessions created; one user_prompt per prompt sent",
    async () => {
      const o = await get()
      const created = Object.values(o.sessions)
      expect(o.exports.map((e) => e.info.id).sort()).toEqual([...created].sort())
      // Every session, the one whose turn waits for a person at SIGTERM included.
      expect(counterTotal([o.segment], metric("session.count"))).toBe(created.length)
      expect(eventsNamed([o.segment], "session.created").map((l) => String(l.attributes["session.id"])).sort()).toEqual([...created].sort())
      for (const [name, id] of Object.entries(o.sessions)) {
        const prompts = eventsNamed([o.segment], "user_prompt").filter((l) => l.attributes["session.id"] === id)
        expect([name, prompts.length]).toEqual([name, o.prompts[name] ?? 0])
      }
    },
    240_000,
  )

  test(
    "spans: every parent exported; one root invoke_agent span per prompt; tools and LLM calls nest under a turn",
    async () => {
      const o = await get()
      const spans = o.segment.spans
      expect(spanTreeProblems(spans)).toEqual([])
      const turns = spans.filter((s) => s.name.startsWith("invoke_agent"))
      expect(turns.every((t) => t.parentSpanId === "")).toBe(true)
      const userPrompts = eventsNamed([o.segment], "user_prompt")
      const compactions = o.exports.flatMap((e) => e.messages.filter((m) => (m.info as { mode?: string }).mode === "compaction"))
      expect(compactions).toHaveLength(1)
      // A compaction (`summarize`) is work outside any prompt: a turn of its own, with no prompt.id. The turn still
      // in progress at SIGTERM (session 7) is the one thing lost.
      const inProgress = userPrompts.filter((l) => CUT_OFF.has(Object.keys(o.sessions).find((n) => o.sessions[n] === l.attributes["session.id"])!))
      expect(turns).toHaveLength(userPrompts.length - inProgress.length + compactions.length)
      expect(turns.filter((t) => t.attributes["prompt.id"] !== undefined).map((t) => String(t.attributes["prompt.id"])).sort()).toEqual(
        userPrompts.filter((l) => !inProgress.includes(l)).map((l) => String(l.attributes["prompt.id"])).sort(),
      )
      for (const [name, id] of Object.entries(o.sessions)) {
        const mine = turns.filter((t) => t.attributes["session.id"] === id)
        // The turn still open at SIGTERM has no span (its events are there; see session.count).
        const expected = CUT_OFF.has(name) ? 0 : (o.prompts[name] ?? 0) + (name === "compacted" ? 1 : 0)
        expect([name, mine.length]).toEqual([name, expected])
        for (const t of mine) {
          expect([name, t.attributes["gen_ai.conversation.id"], t.attributes["session.kind"]]).toEqual([name, id, "main"])
          expect(t.endTimeUnixNano).toBeGreaterThan(0n)
        }
      }
      // The compaction turn holds exactly the compaction's chat span.
      const compactionChat = spans.find((s) => s.attributes["gen_ai.response.id"] === compactions[0]!.info.id)!
      expect(compactionChat.attributes["gen_ai.agent.name"]).toBe("compaction")
      expect(spans.filter((s) => s.traceId === compactionChat.traceId).map((s) => s.name).sort()).toEqual(["chat m", "invoke_agent compaction"])
      const compactionTurn = spans.find((s) => s.traceId === compactionChat.traceId && s.name.startsWith("invoke_agent"))!
      expect(compactionTurn.attributes["prompt.id"]).toBeUndefined()
      // Each turn is its own trace; every span lies within one.
      expect(new Set(turns.map((t) => t.traceId)).size).toBe(turns.length)
      const byId = new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]))
      const rootOf = (s: (typeof spans)[number]): (typeof spans)[number] => {
        const parent = s.parentSpanId === "" ? undefined : byId.get(`${s.traceId}/${s.parentSpanId}`)
        return parent === undefined ? s : rootOf(parent)
      }
      for (const s of spans) expect([s.name, rootOf(s).name.startsWith("invoke_agent")]).toEqual([s.name, true])
      const calls = happened(o).flatMap((e) => truthToolCalls({ sessions: [e] }))
      const toolSpans = spans.filter((s) => s.name.startsWith("execute_tool "))
      expect(toolSpans.map((s) => `${s.name} ${s.attributes["gen_ai.tool.call.id"]}`).sort()).toEqual(
        calls.map((c) => `execute_tool ${c.tool} ${c.callID}`).sort(),
      )
      // One chat span per assistant message (the aborted one included), in its own session's turn.
      const assistant = happened(o)
        .filter((e) => !CUT_OFF.has(Object.keys(o.sessions).find((n) => o.sessions[n] === e.info.id)!))
        .flatMap((e) => e.messages.filter((m) => m.info.role === "assistant").map((m) => ({ session: e.info.id, m })))
      const chatSpans = spans.filter((s) => s.name.startsWith("chat "))
      expect(chatSpans.map((s) => `${s.name} ${s.attributes["gen_ai.response.id"]}`).sort()).toEqual(
        assistant.map(({ m }) => `chat ${m.info.modelID} ${m.info.id}`).sort(),
      )
      for (const { session, m } of assistant) {
        const chat = chatSpans.find((s) => s.attributes["gen_ai.response.id"] === m.info.id)!
        expect([m.info.id, rootOf(chat).attributes["session.id"]]).toEqual([m.info.id, session])
      }
    },
    240_000,
  )

  test(
    "per session: tokens by type, cost, api_request, tool_result and tool names equal opencode export",
    async () => {
      const o = await get()
      const sessions = happened(o)
      for (const [name, id] of Object.entries(o.sessions)) {
        const truth = single(sessions, id)
        const filter = { "session.id": id }
        const tokens = truthTokens(truth)
        for (const [type, value] of Object.entries(tokens))
          expect([name, type, counterTotal([o.segment], metric("token.usage"), { ...filter, type })]).toEqual([name, type, value])
        const cost = truthCost(truth)
        const exported = counterTotal([o.segment], metric("cost.usage"), filter)
        expect([name, Math.abs(exported - cost) <= Math.max(cost, 1e-12) * 1e-9]).toEqual([name, true])
        // api_request: one per assistant message that completed with usage (an aborted one has 0 tokens).
        const assistant = truth.sessions.flatMap((s) => s.messages.filter((m) => m.info.role === "assistant"))
        const completed = assistant.filter((m) => m.info.time.completed !== undefined && m.info.error === undefined)
        const requests = eventsNamed([o.segment], "api_request").filter((l) => l.attributes["session.id"] === id)
        expect([name, requests.map((l) => String(l.attributes["message.id"])).sort()]).toEqual([name, completed.map((m) => m.info.id).sort()])
        const errored = assistant.filter((m) => m.info.error !== undefined)
        const apiErrors = eventsNamed([o.segment], "api_error").filter((l) => l.attributes["session.id"] === id)
        expect([name, apiErrors.map((l) => `${l.attributes["message.id"]} ${l.attributes["error.type"]}`).sort()]).toEqual([
          name,
          errored.map((m) => `${m.info.id} ${m.info.error!.name}`).sort(),
        ])
        const calls = truthToolCalls(truth)
        const results = eventsNamed([o.segment], "tool_result").filter((l) => l.attributes["session.id"] === id)
        expect([name, results.map((l) => `${l.attributes["call.id"]} ${l.attributes["tool_name"]} ${l.attributes["success"]}`).sort()]).toEqual([
          name,
          calls.map((c) => `${c.callID} ${c.tool} ${c.state?.status === "completed"}`).sort(),
        ])
      }
    },
    240_000,
  )

  test(
    "aborted, rejected, compacted and reverted sessions: the semantics documented at the top of this file",
    async () => {
      const o = await get()
      const part = (id: string) => truthToolCalls(single(o.exports, id))
      // Aborted mid-tool: the bash part is `completed` (exit null); its tool_result success=true; its span ended.
      const abortedCalls = part(o.sessions["aborted"]!)
      expect(abortedCalls.map((c) => [c.tool, c.state?.status, c.state?.metadata?.["exit"] ?? null])).toEqual([["bash", "completed", null]])
      const abortedAssistant = single(o.exports, o.sessions["aborted"]!).sessions[0]!.messages.filter((m) => m.info.role === "assistant")
      expect(abortedAssistant.map((m) => m.info.error?.name)).toEqual(["MessageAbortedError"])
      const abortedResult = eventsNamed([o.segment], "tool_result").find((l) => l.attributes["call.id"] === abortedCalls[0]!.callID)
      expect(abortedResult?.attributes["success"]).toBe(true)
      // opencode reports the call finished just after the turn's idle: its span, still open, ends with that report,
      // agreeing with its tool_result; the chat span ends with the abort.
      const abortedSpan = o.segment.spans.find((s) => s.name === "execute_tool bash" && s.attributes["gen_ai.tool.call.id"] === abortedCalls[0]!.callID)!
      expect(abortedSpan.endTimeUnixNano).toBeGreaterThan(0n)
      expect(abortedSpan.status.code).not.toBe("ERROR")
      const abortedChat = o.segment.spans.find((s) => s.name.startsWith("chat ") && s.attributes["gen_ai.response.id"] === abortedAssistant[0]!.info.id)!
      expect([abortedChat.status.code, abortedChat.status.message]).toEqual(["ERROR", "MessageAbortedError"])
      const abortedTurn = o.segment.spans.find((s) => s.name.startsWith("invoke_agent") && s.attributes["session.id"] === o.sessions["aborted"])!
      expect(abortedTurn.status.code).toBe("ERROR")
      const sessionErrors = eventsNamed([o.segment], "session.error").filter((l) => l.attributes["session.id"] === o.sessions["aborted"])
      expect(sessionErrors.map((l) => l.attributes["error.type"])).toEqual(["MessageAbortedError"])
      // No other session errored.
      expect(eventsNamed([o.segment], "session.error")).toHaveLength(1)
      // Rejected: the part ends `error`; the decision is exported as a reject.
      const rejectedCalls = part(o.sessions["rejected"]!)
      expect(rejectedCalls.map((c) => [c.tool, c.state?.status])).toEqual([["bash", "error"]])
      const decisions = eventsNamed([o.segment], "tool_decision").filter((l) => l.attributes["session.id"] === o.sessions["rejected"])
      expect(decisions.map((d) => [d.attributes["tool_name"], d.attributes["decision"], d.attributes["source"]])).toEqual([["bash", "reject", "user_reject"]])
      const rejectedResult = eventsNamed([o.segment], "tool_result").find((l) => l.attributes["call.id"] === rejectedCalls[0]!.callID)!
      expect([rejectedResult.attributes["success"], rejectedResult.attributes["decision_type"]]).toEqual([false, "reject"])
      const rejectedSpan = o.segment.spans.find((s) => s.name === "execute_tool bash" && s.attributes["gen_ai.tool.call.id"] === rejectedCalls[0]!.callID)!
      expect(rejectedSpan.status.code).toBe("ERROR")
      // The wait for the user is a child span of the tool call.
      const blocked = o.segment.spans.filter((s) => s.name === "tool.blocked_on_user")
      expect(blocked.map((s) => [s.parentSpanId, s.attributes["decision"]])).toEqual([[rejectedSpan.spanId, "reject"]])
      // No decision anywhere else (bash is "allow" for the other commands).
      expect(eventsNamed([o.segment], "tool_decision")).toHaveLength(1)
      // Compaction: an assistant message with mode "compaction", counted (tokens above).
      const compacted = single(o.exports, o.sessions["compacted"]!).sessions[0]!.messages
      expect(compacted.some((m) => (m.info as { mode?: string }).mode === "compaction")).toBe(true)
      // summarize with auto: false is a manual compaction: one compaction event, with the summary's own figures.
      const summary = compacted.find((m) => (m.info as { mode?: string }).mode === "compaction")!.info
      const compactionEvents = eventsNamed([o.segment], "compaction")
      expect(compactionEvents.map((l) => [l.attributes["session.id"], l.attributes["message.id"], l.attributes["trigger"], l.attributes["success"]])).toEqual([
        [o.sessions["compacted"]!, summary.id, "manual", true],
      ])
      expect([compactionEvents[0]!.attributes["output_tokens"], compactionEvents[0]!.attributes["cost_usd"]]).toEqual([summary.tokens!.output, summary.cost!])
      // Revert + unrevert: all four assistant messages are still in the export.
      const reverted = single(o.exports, o.sessions["reverted"]!).sessions[0]!.messages.filter((m) => m.info.role === "assistant")
      expect(reverted).toHaveLength(4)
      // Revert + new prompt: the export lost the reverted prompt's two assistant messages; telemetry keeps them.
      const rtp = o.sessions["revertedThenPrompted"]!
      const exported = single(o.exports, rtp).sessions[0]!.messages
      const gone = o.revertedAway.filter((m) => !exported.some((e) => e.info.id === m.info.id))
      expect(gone.map((m) => m.info.role)).toEqual(["user", "assistant", "assistant"])
      const goneTokens = truthTokens({ sessions: [{ info: { id: rtp, cost: 0 }, messages: gone }] }).input
      expect(counterTotal([o.segment], metric("token.usage"), { "session.id": rtp, type: "input" })).toBe(
        truthTokens(single(o.exports, rtp)).input + goneTokens,
      )
      // A decision never answered: the pending session's export shows the bash part still `running` and its
      // assistant message with 0 tokens (opencode records usage at the step's end). Its events until the question
      // arrived; no span of its turn, which was still in progress.
      const pending = single(o.exports, o.sessions["pending"]!).sessions[0]!.messages
      expect(pending.flatMap((m) => m.parts.filter((p) => p.type === "tool").map((p) => p.state?.status))).toEqual(["running"])
      const pendingEvents = o.segment.logs.filter((l) => l.attributes["session.id"] === o.sessions["pending"]).map((l) => l.attributes["event.name"])
      expect(pendingEvents.slice(0, 2)).toEqual(["session.created", "user_prompt"])
      expect(o.segment.spans.filter((s) => s.attributes["session.id"] === o.sessions["pending"])).toEqual([])
    },
    240_000,
  )

  // A session whose turn is still open at SIGTERM (waiting for a permission decision that never comes) is counted.
  test(
    "a session created and prompted whose turn is still open at SIGTERM is counted (session.count, user_prompt)",
    async () => {
      const o = await get()
      expect(counterTotal([o.segment], metric("session.count"))).toBe(Object.keys(o.sessions).length)
      expect(eventsNamed([o.segment], "user_prompt").filter((l) => l.attributes["session.id"] === o.sessions["pending"])).toHaveLength(1)
    },
    240_000,
  )
})
