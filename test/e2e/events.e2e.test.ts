/**
 * The events of issue #14 item 6 that need more than test/support/scenarios.ts runs in signals.e2e: a fork
 * (`opencode run --continue --fork`: session.count start_type "fork") and the assistant's reply text on opt-in
 * (OPENCODE_LOG_ASSISTANT_RESPONSES=1), on the real opencode CLI, checked against `opencode export`.
 * (Auto compaction, retries exhausted and continued sessions run in signals.e2e; manual compaction in serve.e2e.)
 */
import { expect, test } from "bun:test"
import { join } from "node:path"
import { REPO_ROOT } from "../support/opencode.ts"
import { startReceiver } from "../support/otlp-receiver.ts"
import { runScenario, usage, type Scenario } from "../support/scenarios.ts"
import { assistantMessages, type ExportedSession } from "../lib/fixtures.ts"
import { counterTotal, eventsNamed, takeSegment, type Segment } from "../lib/received.ts"

const PLUGIN = join(REPO_ROOT, "src", "plugin.ts")
const TIMEOUT = 180_000

const FORK: Scenario = {
  name: "fork",
  expect: { exitCodes: [0, 0], sessions: 2 },
  description: "A text turn, then `opencode run --continue --fork`: opencode copies the session into a new one and runs there.",
  runs: [{ prompt: "First turn: say hello." }, { prompt: "Second turn, in a fork.", args: ["--continue", "--fork"] }],
  script: [
    { text: "Hello, first turn.", usage: usage(1) },
    { text: "Hello from the fork.", usage: usage(2) },
  ],
}

test(
  "fork: the forked session starts with start_type fork; the reply text only because it was asked for",
  async () => {
    const receiver = await startReceiver({ protocol: "http/json", lifetimeMs: 5 * 60_000 })
    const segments: Array<Segment> = []
    try {
      const result = await runScenario(FORK, {
        plugins: [PLUGIN],
        env: {
          OPENCODE_ENABLE_TELEMETRY: "1",
          OPENCODE_OTLP_ENDPOINT: receiver.url,
          OPENCODE_OTLP_PROTOCOL: "http/json",
          OPENCODE_LOG_ASSISTANT_RESPONSES: "1",
        },
        onRunEnd: () => segments.push(takeSegment(receiver)),
      })
      expect(result.exitCodes).toEqual([0, 0])
      expect(result.sessionIDs).toHaveLength(2)
      const [original, fork] = result.sessionIDs as [string, string]
      const exports = result.exports as Array<ExportedSession>
      // opencode's fork: a new session without a parent, titled "<title> (fork #1)".
      expect((exports[1]!.info as { title?: string }).title).toMatch(/ \(fork #1\)$/)
      expect((exports[1]!.info as { parentID?: string }).parentID).toBeUndefined()

      const starts = (segment: Segment, type: string) => counterTotal([segment], "opencode.session.count", { start_type: type })
      expect(segments.map((s) => [starts(s, "fresh"), starts(s, "fork"), starts(s, "continue")])).toEqual([
        [1, 0, 0],
        [0, 1, 0],
      ])
      const created = eventsNamed(segments, "session.created").map((l) => l.attributes["session.id"])
      expect(created).toEqual([original, fork])

      // The reply text, as opencode stored it, of each message this process saw finish.
      const responses = eventsNamed(segments, "assistant_response")
      for (const event of responses) {
        const message = assistantMessages({ sessions: exports }).find((m) => m.info.id === event.attributes["message.id"])!
        const text = message.parts.filter((p) => p.type === "text").map((p) => String((p as { text?: string }).text ?? "")).join("\n")
        expect([event.attributes["response"], event.attributes["response_length"]]).toEqual([text, text.length])
      }
      // Each process: the reply it got from the model (the fork's copies of older messages may add more).
      expect(eventsNamed([segments[0]!], "assistant_response").map((l) => l.attributes["response"])).toEqual(["Hello, first turn."])
      expect(eventsNamed([segments[1]!], "assistant_response").map((l) => l.attributes["response"])).toContain("Hello from the fork.")
    } finally {
      await receiver.stop()
    }
  },
  TIMEOUT,
)
