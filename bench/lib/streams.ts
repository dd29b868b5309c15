/**
 * Recorded opencode sessions (test/fixtures, from the real CLI via `npm run record`) as hook calls, made
 * distinct per replay: every opencode id (ses_, msg_, prt_, per_) and provider call id gets a suffix no other
 * replay uses, so N replays are N new sessions to the plugin.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

// Read directly, not through test/lib/fixtures.ts: that module loads the plugin's handlers, and the bench must
// not load any of the plugin before it measures the plugin's import.
const FIXTURES_DIR = join(import.meta.dir, "..", "..", "test", "fixtures")

interface RecordedLine {
  readonly hook: string
  readonly type?: string
  readonly properties?: unknown
  readonly input?: unknown
  readonly output?: unknown
}

/** The hooks this plugin registers, which opencode would call on it (it calls only hooks a plugin defines). */
export type HookName = "event" | "chat.message" | "tool.execute.before" | "shell.env"

export interface HookCall {
  readonly hook: HookName
  /** `event`: the bus event `{type, properties}`; other hooks: their input. */
  readonly input: unknown
  readonly output?: unknown
}

export interface Recording {
  readonly name: string
  /** opencode sessions in one replay (a subagent recording has two). */
  readonly sessions: number
  /** Turns in one replay, one trace each: its prompts and its subagent sessions. */
  readonly turns: number
  readonly calls: number
  /** The calls as JSON with every id followed by MARK. */
  readonly template: string
}

const MARK = "\u0001"
const ID = /\b((?:ses|msg|prt|per)_[A-Za-z0-9]+|call_[A-Za-z0-9_]+)/g
const HOOKS: ReadonlySet<string> = new Set<HookName>(["event", "chat.message", "tool.execute.before", "shell.env"])

export const loadRecordings = (): ReadonlyArray<Recording> =>
  readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith(".jsonl"))
    .map((f) => f.slice(0, -".jsonl".length))
    .sort()
    .map((name) => {
      const lines = readFileSync(join(FIXTURES_DIR, `${name}.jsonl`), "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as RecordedLine)
      const sessions = (JSON.parse(readFileSync(join(FIXTURES_DIR, `${name}.export.json`), "utf8")) as Array<unknown>).length
      const calls: Array<HookCall> = lines
        .filter((l) => HOOKS.has(l.hook))
        .map((l) =>
          l.hook === "event"
            ? { hook: "event", input: { type: l.type, properties: l.properties } }
            : { hook: l.hook as HookName, input: l.input, output: l.output },
        )
      const template = JSON.stringify(calls).replace(ID, `$1${MARK}`)
      if (template.includes(`${MARK}${MARK}`)) throw new Error(`${name}: an id was marked twice`)
      return { name, sessions, turns: turnsIn(calls), calls: calls.length, template }
    })

/**
 * Turns in a stream of calls: its subagent sessions (each runs one turn) and the prompts (`chat.message`) of its
 * other sessions (a subagent's task prompt also passes through `chat.message`, and starts no turn of its own).
 */
export const turnsIn = (calls: ReadonlyArray<HookCall>): number => {
  const subagents = new Set<string>()
  for (const c of calls) {
    const info = (c.input as { type?: string; properties?: { info?: { id?: string; parentID?: string } } }).properties?.info
    if (c.hook === "event" && (c.input as { type?: string }).type === "session.created" && info?.parentID !== undefined && info.id !== undefined)
      subagents.add(info.id)
  }
  const prompts = calls.filter((c) => c.hook === "chat.message" && !subagents.has(String((c.input as { sessionID?: string }).sessionID))).length
  return subagents.size + prompts
}

/** The i-th replay of a recording: fresh objects whose ids no other replay uses. */
export const instantiate = (recording: Recording, i: number): ReadonlyArray<HookCall> =>
  JSON.parse(recording.template.replaceAll(MARK, `r${i.toString(36)}`)) as ReadonlyArray<HookCall>

/**
 * A session that never goes idle: the replay stops before its first `session.idle` (a TUI left mid-turn, a
 * crashed provider). Nothing ends it but the plugin's own bounds.
 */
export const neverIdle = (calls: ReadonlyArray<HookCall>): ReadonlyArray<HookCall> => {
  const idle = calls.findIndex((c) => c.hook === "event" && (c.input as { type?: string }).type === "session.idle")
  return idle === -1 ? calls : calls.slice(0, idle)
}
