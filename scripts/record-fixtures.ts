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
 * Nothing leaves the machine: the fake LLM listens on 127.0.0.1, opencode runs with the registry-free home.
 * `--keep` keeps the temp homes (their paths are printed) for debugging.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import { type ScriptStep, startFakeLlm } from "../test/support/fake-llm.ts"
import {
  createOpencodeHome,
  exec,
  fakeProviderConfig,
  initGitRepo,
  isolatedEnv,
  type OpencodeHome,
  opencodeCommand,
  opencodeVersion,
  REPO_ROOT,
  removeOpencodeHome,
  runOpencode,
} from "../test/support/opencode.ts"

const FIXTURES = join(REPO_ROOT, "test", "fixtures")
const RECORDER = join(REPO_ROOT, "test", "support", "recorder-plugin.ts")

/** Events that carry nothing a telemetry handler needs; they would dominate the fixtures. */
const NOISE = new Set(["plugin.added", "catalog.updated", "reference.updated", "integration.updated"])
/** Strings longer than this are cut (system prompts, tool descriptions, the config's agent prompts). */
const MAX_STRING = 1500

/**
 * Distinct usage per script step i (1-based), p = 3^(i-1): the fake reports prompt 1200p+i (cached 200p) and
 * completion 31p+i (reasoning p), so opencode records tokens.input = 1000p+i, cache.read = 200p,
 * output = 30p+i, reasoning = p:
 *
 *   step 1: input 1001, output 31, reasoning 1, cache.read 200
 *   step 2: input 3002, output 92, reasoning 3, cache.read 600
 *   step 3: input 9003, output 273, reasoning 9, cache.read 1800
 *   step 4: input 27004, output 814, reasoning 27, cache.read 5400
 *
 * Base 3: any sum that counts each step at most twice is unique per field, so a message counted twice, or
 * a parent's and a subagent's steps summed into the wrong session, shows in the totals (with an arithmetic
 * series, steps 1+4 = steps 2+3). The `+ i` names the step in the low digits.
 */
export function usage(i: number): NonNullable<ScriptStep["usage"]> {
  const p = 3 ** (i - 1)
  return { prompt: 1200 * p + i, completion: 31 * p + i, cached: 200 * p, reasoning: p }
}

interface Run {
  prompt: string
  /** Extra CLI arguments before the prompt, e.g. ["--auto"] or ["--continue"]. */
  args?: string[]
}

interface Scenario {
  name: string
  description: string
  runs: Run[]
  script: ScriptStep[]
  /** Merged shallowly over the fake provider config (e.g. `permission`). */
  config?: Record<string, unknown>
  /** What a good recording shows (checked after recording; a mismatch makes the command fail). */
  expect: { exitCodes: number[]; sessions: number }
}

const GIT_IDENTITY = {
  GIT_AUTHOR_NAME: "Fixture Author",
  GIT_AUTHOR_EMAIL: "author@example.com",
  GIT_COMMITTER_NAME: "Fixture Committer",
  GIT_COMMITTER_EMAIL: "committer@example.com",
  // Fixed dates: the same commits get the same shas on every recording.
  GIT_AUTHOR_DATE: "2025-01-01T00:00:00Z",
  GIT_COMMITTER_DATE: "2025-01-01T00:00:00Z",
}

const ASK_BASH = { permission: { edit: "allow", bash: "ask" } }

export const SCENARIOS: Scenario[] = [
  {
    name: "text",
    expect: { exitCodes: [0], sessions: 1 },
    description: "A plain text answer.",
    runs: [{ prompt: "Say hello." }],
    script: [{ text: "Hello from the fake model.", usage: usage(1) }],
  },
  {
    name: "write-edit",
    expect: { exitCodes: [0], sessions: 1 },
    description: "write creates hello.txt (3 lines), edit changes one line and adds one, then a text answer.",
    runs: [{ prompt: "Create hello.txt, then change its second line." }],
    script: [
      {
        toolCall: { name: "write", arguments: { filePath: "hello.txt", content: "line one\nline two\nline three\n" } },
        usage: usage(1),
      },
      {
        toolCall: {
          name: "edit",
          arguments: { filePath: "hello.txt", oldString: "line two\n", newString: "line 2\nline two and a half\n" },
        },
        usage: usage(2),
      },
      { text: "Created and edited hello.txt.", usage: usage(3) },
    ],
  },
  {
    name: "commits",
    expect: { exitCodes: [0], sessions: 1 },
    description: "write a.txt, commit it via bash, change and commit again in a second bash call, then text.",
    runs: [{ prompt: "Write a.txt and commit twice." }],
    script: [
      { toolCall: { name: "write", arguments: { filePath: "a.txt", content: "first\n" } }, usage: usage(1) },
      { toolCall: { name: "bash", arguments: { command: "git add -A && git commit -m one" } }, usage: usage(2) },
      {
        toolCall: { name: "bash", arguments: { command: "echo second >> a.txt && git add -A && git commit -m two" } },
        usage: usage(3),
      },
      { text: "Committed twice.", usage: usage(4) },
    ],
  },
  {
    name: "retry",
    expect: { exitCodes: [0], sessions: 1 },
    description: "HTTP 429, then HTTP 503 (both with retry-after-ms: 0), then a text answer.",
    runs: [{ prompt: "Say hello, eventually." }],
    script: [{ status: 429 }, { status: 503 }, { text: "Hello after two retries.", usage: usage(3) }],
  },
  {
    name: "error",
    expect: { exitCodes: [1], sessions: 1 },
    description: "A permanent HTTP 400 (not retryable): the turn ends with an error.",
    runs: [{ prompt: "Fail, please." }],
    script: [{ status: 400 }],
  },
  {
    name: "permission-once",
    expect: { exitCodes: [0], sessions: 1 },
    description: 'permission {"bash": "ask"} with --auto (answers "once"): a bash call, then text.',
    runs: [{ prompt: "Run echo with permission.", args: ["--auto"] }],
    config: ASK_BASH,
    script: [
      { toolCall: { name: "bash", arguments: { command: "echo permitted" } }, usage: usage(1) },
      { text: "The command ran.", usage: usage(2) },
    ],
  },
  {
    name: "permission-reject",
    expect: { exitCodes: [0], sessions: 1 },
    description: 'permission {"bash": "ask"} without --auto (opencode run rejects): a bash call, then text.',
    runs: [{ prompt: "Run echo without permission." }],
    config: ASK_BASH,
    script: [
      { toolCall: { name: "bash", arguments: { command: "echo rejected" } }, usage: usage(1) },
      { text: "The command was rejected.", usage: usage(2) },
    ],
  },
  {
    name: "subagent",
    expect: { exitCodes: [0], sessions: 2 },
    description:
      "task spawns a general subagent; the subagent runs bash ls and answers; the parent answers. Script order: " +
      "parent task call, subagent bash call, subagent text, parent text (the parent waits for the subagent).",
    runs: [{ prompt: "Delegate listing the files." }],
    script: [
      {
        toolCall: {
          name: "task",
          arguments: { description: "List project files", prompt: "List the files in the project.", subagent_type: "general" },
        },
        usage: usage(1),
      },
      { toolCall: { name: "bash", arguments: { command: "ls" } }, usage: usage(2) },
      { text: "The project holds README.md.", usage: usage(3) },
      { text: "The subagent found README.md.", usage: usage(4) },
    ],
  },
  {
    name: "continue",
    expect: { exitCodes: [0, 0], sessions: 1 },
    description: "Two `opencode run`s in one home/project; the second uses --continue, so one session has two turns.",
    runs: [{ prompt: "First turn: say hello." }, { prompt: "Second turn: write notes.txt.", args: ["--continue"] }],
    script: [
      { text: "Hello, first turn.", usage: usage(1) },
      { toolCall: { name: "write", arguments: { filePath: "notes.txt", content: "notes\n" } }, usage: usage(2) },
      { text: "Wrote notes.txt.", usage: usage(3) },
    ],
  },
]

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
  const dirs = await createOpencodeHome()
  const project = join(dirs.root, "project")
  const llm = await startFakeLlm({ script: sc.script, lifetimeMs: 10 * 60_000 })
  const baseEnv = isolatedEnv(dirs, GIT_IDENTITY)
  await initGitRepo(project, baseEnv)
  const sanitize = makeSanitizer(pathPairs(dirs, project, llm.port))

  const lines: Line[] = []
  const outcomes: RunOutcome[] = []
  try {
    for (const [i, run] of sc.runs.entries()) {
      const out = join(dirs.root, `recorder-${i}.jsonl`)
      const args = run.args ?? []
      const started = Date.now()
      const res = await runOpencode({
        prompt: run.prompt,
        llmUrl: llm.url,
        plugins: [RECORDER],
        cwd: project,
        home: dirs,
        extraArgs: args,
        env: { ...GIT_IDENTITY, RECORDER_OUT: out },
        ...(sc.config ? { config: sc.config } : {}),
      })
      const recorded = readLines(out)
      lines.push({ hook: "fixture.run.start", run: i, t: 0, prompt: run.prompt, args })
      for (const l of recorded) {
        if (l.hook === "event" && NOISE.has(l.type)) continue
        lines.push({ ...l, run: i, t: typeof l.t === "number" ? l.t - started : l.t })
      }
      lines.push({ hook: "fixture.run.end", run: i, t: Date.now() - started, exitCode: res.exitCode, signal: res.signal })
      outcomes.push({
        run: i,
        prompt: run.prompt,
        args,
        exitCode: res.exitCode,
        signal: res.signal,
        timedOut: res.timedOut,
        durationMs: res.durationMs,
        stdout: res.stdout.trim(),
        errorLogs: res.logs.split("\n").filter((l) => /level=(ERROR|WARN)/.test(l)),
      })
      console.log(`  run ${i}: exit ${res.exitCode}${res.signal ? ` (${res.signal})` : ""}, ${recorded.length} recorder lines, ${res.durationMs} ms`)
      if (res.timedOut) console.log(`  run ${i} TIMED OUT\n${res.stderr.slice(-3000)}`)
    }

    // Every session of the scenario (parents and subagents), in creation order.
    const sessionIDs: string[] = []
    for (const l of lines) {
      const id = l.hook === "event" && l.type === "session.created" ? l.properties?.info?.id : undefined
      if (typeof id === "string" && !sessionIDs.includes(id)) sessionIDs.push(id)
    }
    // Same isolation and config as the runs, minus the recorder (export would load it too).
    const exportEnv = {
      ...isolatedEnv(dirs, {
        ...GIT_IDENTITY,
        OPENCODE_CONFIG_CONTENT: JSON.stringify({ ...fakeProviderConfig(llm.url), ...(sc.config ?? {}) }),
      }),
      PWD: project,
    }
    const exports: unknown[] = []
    for (const id of sessionIDs) {
      const res = await opencodeCommand(["export", id], { cwd: project, env: exportEnv })
      const start = res.stdout.indexOf("{")
      if (res.exitCode !== 0 || start < 0) {
        exports.push({ sessionID: id, exportFailed: true, exitCode: res.exitCode, stderr: res.stderr.slice(-2000) })
        continue
      }
      exports.push(JSON.parse(res.stdout.slice(start)))
    }

    const gitLog = await exec("git", ["log", "--oneline", "--no-decorate"], { cwd: project, env: baseEnv })
    const logLines = gitLog.stdout.trim().split("\n").filter(Boolean)
    const gitStatus = await exec("git", ["status", "--porcelain"], { cwd: project, env: baseEnv })

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
      llmRequests: llm.requests.map((r) => {
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
      git: { commits: logLines.length, log: logLines, statusPorcelain: gitStatus.stdout.trim().split("\n").filter(Boolean) },
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
    if (exports.some((e: any) => e?.exportFailed)) problems.push("an export failed")
    if (outcomes.some((o) => o.timedOut)) problems.push("a run timed out")
    return { name: sc.name, exitCodes, sessions: sessionIDs.length, lines: lines.length, problems }
  } finally {
    await llm.stop()
    if (keep) console.log(`  kept ${dirs.root}`)
    else await removeOpencodeHome(dirs)
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
