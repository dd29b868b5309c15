/**
 * npm run record [-- --only <name>[,<name>...]] [--keep]
 *
 * Records event fixtures from the REAL pinned opencode CLI (opencode-ai devDependency) for the plugin's
 * handler unit tests. Per scenario: a fresh isolated home (test/support/opencode.ts), a fresh temp git repo,
 * the recorder plugin (test/support/recorder-plugin.ts) and a scripted fake LLM (test/support/fake-llm.ts).
 * Writes, per scenario:
 *
 * - test/fixtures/<name>.jsonl        the recorder's lines (hook calls and bus events) in order, noise dropped,
 *                                     machine paths replaced, `t` made relative to the run's launch, plus
 *                                     synthetic `{"hook":"fixture.run.start"|"fixture.run.end", "run"}` markers;
 *                                     every line carries `run` (0-based index of the `opencode run` it came from)
 * - test/fixtures/<name>.export.json  `opencode export <sessionID>` of every session of the scenario
 *                                     (subagent sessions included), in creation order
 * - test/fixtures/<name>.meta.json    prompts, fake-LLM script and the requests it answered, exit codes, git log,
 *                                     opencode version, event counts
 *
 * The scenarios (prompts, scripts, config, arguments, git identity) and the runner live in
 * test/support/scenarios.ts, shared with the end-to-end signal suite (test/e2e/signals.e2e.test.ts).
 *
 * Nothing leaves the machine: the fake LLM listens on 127.0.0.1, opencode runs with the registry-free home.
 * `--keep` keeps the temp homes (their paths are printed) for debugging.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import { type OpencodeHome, opencodeVersion, REPO_ROOT } from "../test/support/opencode.ts"
import { runScenario, type Scenario, SCENARIOS } from "../test/support/scenarios.ts"

const FIXTURES = join(REPO_ROOT, "test", "fixtures")
const RECORDER = join(REPO_ROOT, "test", "support", "recorder-plugin.ts")

/** Events that carry nothing a telemetry handler needs; they would dominate the fixtures. */
const NOISE = new Set(["plugin.added", "catalog.updated", "reference.updated", "integration.updated"])
/** Strings longer than this are cut (system prompts, tool descriptions, the config's agent prompts). */
const MAX_STRING = 1500

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Line = Record<string, any>

/** Replace machine paths (longest first) and the fake LLM's port in every string (keys too); cut long strings. */
function makeSanitizer(pairs: [string, string][]) {
  const ordered = pairs.filter(([from]) => from.length > 1).sort((a, b) => b[0].length - a[0].length)
  // A path is replaced only as a whole path (not inside e.g. "/$bunfs/root/..." when HOME is /root).
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  const patterns = ordered.map(
    ([from, to]) => [new RegExp(`(?<![\\w$.-])${escape(from)}(?![\\w.-])`, "g"), to.replace(/\$/g, "$$$$")] as const,
  )
  const fixString = (s: string): string => {
    let out = s
    for (const [re, to] of patterns) out = out.replace(re, to)
    if (out.length > MAX_STRING) out = `${out.slice(0, MAX_STRING)}…[cut ${out.length - MAX_STRING} chars]`
    return out
  }
  const walk = (v: any): Json => {
    if (typeof v === "string") return fixString(v)
    if (Array.isArray(v)) return v.map(walk)
    if (v && typeof v === "object") {
      const o: Record<string, Json> = {}
      for (const [k, val] of Object.entries(v)) o[fixString(k)] = walk(val)
      return o
    }
    return v as Json
  }
  return walk
}

function pathPairs(dirs: OpencodeHome, project: string, llmPort: number): [string, string][] {
  const pairs: [string, string][] = [
    [project, "/project"],
    [dirs.home, "/home"],
    [dirs.configHome, "/xdg/config"],
    [dirs.dataHome, "/xdg/data"],
    [dirs.cacheHome, "/xdg/cache"],
    [dirs.stateHome, "/xdg/state"],
    [dirs.root, "/oc-root"],
    [REPO_ROOT, "/repo"],
    [`127.0.0.1:${llmPort}`, "127.0.0.1:PORT"],
  ]
  // Resolved symlinks (a tmpdir under a symlink), the same paths as file:// URLs (the recorder plugin's spec,
  // for one), and the machine's own tmp/home.
  for (const [from, to] of [...pairs]) {
    if (!from.startsWith("/")) continue
    const real = existsSync(from) ? realpathSync(from) : from
    if (real !== from) pairs.push([real, to], [pathToFileURL(real).href, `file://${to}`])
    pairs.push([pathToFileURL(from).href, `file://${to}`])
  }
  pairs.push([tmpdir(), "/tmp"], [homedir(), "/user-home"])
  return pairs
}

function readLines(file: string): Line[] {
  if (!existsSync(file)) return []
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line)
}

interface RunOutcome {
  run: number
  prompt: string
  args: string[]
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  durationMs: number
  stdout: string
  errorLogs: string[]
}

async function recordScenario(sc: Scenario, version: string, keep: boolean) {
  const recorderOut = (dirs: OpencodeHome, i: number) => join(dirs.root, `recorder-${i}.jsonl`)
  const result = await runScenario(sc, {
    plugins: [RECORDER],
    env: (i, dirs) => ({ RECORDER_OUT: recorderOut(dirs, i) }),
    keep: true,
    onRunEnd: ({ run: i, result: res }) => {
      const recorded = readLines(recorderOut(res.dirs, i))
      console.log(`  run ${i}: exit ${res.exitCode}${res.signal ? ` (${res.signal})` : ""}, ${recorded.length} recorder lines, ${res.durationMs} ms`)
      if (res.timedOut) console.log(`  run ${i} TIMED OUT\n${res.stderr.slice(-3000)}`)
    },
  })
  const { dirs, project, exports } = result
  const sanitize = makeSanitizer(pathPairs(dirs, project, result.llmPort))

  const lines: Line[] = []
  const outcomes: RunOutcome[] = []
  try {
    for (const { run: i, prompt, args, startedAt: started, endedAt, result: res } of result.runs) {
      const recorded = readLines(recorderOut(dirs, i))
      lines.push({ hook: "fixture.run.start", run: i, t: 0, prompt, args })
      for (const l of recorded) {
        if (l.hook === "event" && NOISE.has(l.type)) continue
        lines.push({ ...l, run: i, t: typeof l.t === "number" ? l.t - started : l.t })
      }
      lines.push({ hook: "fixture.run.end", run: i, t: endedAt - started, exitCode: res.exitCode, signal: res.signal })
      outcomes.push({
        run: i,
        prompt,
        args,
        exitCode: res.exitCode,
        signal: res.signal,
        timedOut: res.timedOut,
        durationMs: res.durationMs,
        stdout: res.stdout.trim(),
        errorLogs: res.logs.split("\n").filter((l) => /level=(ERROR|WARN)/.test(l)),
      })
    }

    // Every session of the scenario (parents and subagents), in creation order, as the events announced them.
    const sessionIDs: string[] = []
    for (const l of lines) {
      const id = l.hook === "event" && l.type === "session.created" ? l.properties?.info?.id : undefined
      if (typeof id === "string" && !sessionIDs.includes(id)) sessionIDs.push(id)
    }
    const logLines = result.git.log

    const counts: Record<string, number> = {}
    for (const l of lines) {
      const key = l.hook === "event" ? `event:${l.type}` : `hook:${l.hook}`
      counts[key] = (counts[key] ?? 0) + 1
    }
    const meta = {
      scenario: sc.name,
      description: sc.description,
      opencodeVersion: version,
      config: sc.config ?? null,
      runs: outcomes,
      script: sc.script,
      llmRequests: result.llmRequests.map((r) => {
        const msgs: any[] = Array.isArray(r.body?.messages) ? r.body.messages : []
        const last = msgs[msgs.length - 1]
        const firstUser = msgs.find((m) => m.role === "user")
        const text = (m: any) =>
          typeof m?.content === "string" ? m.content : Array.isArray(m?.content) ? m.content.map((c: any) => c?.text ?? "").join("") : ""
        return {
          kind: r.kind,
          ...(r.step !== undefined ? { step: r.step } : {}),
          tools: Array.isArray(r.body?.tools) ? r.body.tools.length : 0,
          messages: msgs.length,
          lastRole: last?.role ?? null,
          firstUserText: text(firstUser).slice(0, 120),
        }
      }),
      sessions: sessionIDs,
      git: { commits: logLines.length, log: logLines, statusPorcelain: result.git.status },
      counts,
    }

    await writeFile(join(FIXTURES, `${sc.name}.jsonl`), lines.map((l) => JSON.stringify(sanitize(l))).join("\n") + "\n")
    await writeFile(join(FIXTURES, `${sc.name}.export.json`), JSON.stringify(sanitize(exports), null, 2) + "\n")
    await writeFile(join(FIXTURES, `${sc.name}.meta.json`), JSON.stringify(sanitize(meta), null, 2) + "\n")
    const exitCodes = outcomes.map((o) => o.exitCode)
    const problems: string[] = []
    if (JSON.stringify(exitCodes) !== JSON.stringify(sc.expect.exitCodes)) {
      problems.push(`exit codes ${JSON.stringify(exitCodes)}, expected ${JSON.stringify(sc.expect.exitCodes)}`)
    }
    if (sessionIDs.length !== sc.expect.sessions) problems.push(`${sessionIDs.length} sessions, expected ${sc.expect.sessions}`)
    if (JSON.stringify(sessionIDs) !== JSON.stringify(result.sessionIDs)) {
      problems.push(`sessions ${JSON.stringify(result.sessionIDs)} in opencode's database, ${JSON.stringify(sessionIDs)} in the events`)
    }
    if (exports.some((e: any) => e?.exportFailed)) problems.push("an export failed")
    if (outcomes.some((o) => o.timedOut)) problems.push("a run timed out")
    return { name: sc.name, exitCodes, sessions: sessionIDs.length, lines: lines.length, problems }
  } finally {
    if (keep) console.log(`  kept ${dirs.root}`)
    else await result.cleanup()
  }
}

const { values } = parseArgs({
  options: { only: { type: "string", multiple: true }, keep: { type: "boolean", default: false } },
})
const only = (values.only ?? []).flatMap((s) => s.split(",")).filter(Boolean)
const unknown = only.filter((n) => !SCENARIOS.some((s) => s.name === n))
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`)
  process.exit(2)
}
const selected = only.length > 0 ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS

await mkdir(FIXTURES, { recursive: true })
const version = await opencodeVersion()
const summary = []
for (const sc of selected) {
  console.log(`${sc.name}: ${sc.description}`)
  summary.push(await recordScenario(sc, version, values.keep ?? false))
}
console.log("\nscenario            exit  sessions  lines")
for (const s of summary) {
  const note = s.problems.length > 0 ? `  UNEXPECTED: ${s.problems.join("; ")}` : ""
  console.log(`${s.name.padEnd(20)}${s.exitCodes.join(",").padEnd(6)}${String(s.sessions).padEnd(10)}${s.lines}${note}`)
}
if (summary.some((s) => s.problems.length > 0)) process.exit(1)
