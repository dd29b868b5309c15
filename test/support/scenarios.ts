/**
 * The scripted opencode scenarios shared by the fixture recorder (`npm run record`, scripts/record-fixtures.ts)
 * and the end-to-end signal suite (test/e2e/signals.e2e.test.ts): prompts, fake-LLM scripts, config overrides,
 * CLI arguments and the git identity, plus {@link runScenario}, which runs one scenario with the real opencode CLI
 * (test/support/opencode.ts) against a fresh fake LLM (test/support/fake-llm.ts) in a fresh isolated home and temp
 * git repo, and collects opencode's own accounting (`opencode export` of every session) and the project's git log.
 *
 * Nothing leaves the machine: the fake LLM listens on 127.0.0.1, opencode runs with the registry-free home.
 */
import { mkdir, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { type FakeLlmRequest, type ScriptStep, startFakeLlm } from "./fake-llm.ts"
import {
  createOpencodeHome,
  exec,
  fakeProviderConfig,
  initGitRepo,
  isolatedEnv,
  type OpencodeHome,
  type OpencodeRunResult,
  exportSession,
  listSessions,
  type PluginSpec,
  removeOpencodeHome,
  runOpencode,
} from "./opencode.ts"

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

export interface Run {
  prompt: string
  /** Extra CLI arguments before the prompt, e.g. ["--auto"] or ["--continue"]. */
  args?: string[]
}

export interface Scenario {
  name: string
  description: string
  runs: Run[]
  script: ScriptStep[]
  /** Merged shallowly over the fake provider config (e.g. `permission`). */
  config?: Record<string, unknown>
  /** What a good run shows (the recorder fails on a mismatch; the e2e suite asserts it). */
  expect: { exitCodes: number[]; sessions: number }
  /** Files written into the project (relative path -> content), part of its initial commit. */
  files?: Record<string, string>
  /**
   * Put a stand-in `rg` on PATH that finds nothing: opencode's skill tool lists the skill's directory with
   * ripgrep and, without one on PATH, downloads it from GitHub; offline that fails and the skill call errors.
   */
  stubRipgrep?: boolean
}

/** Git identity and fixed dates for the runs (and the commits the bash tool makes). */
export const GIT_IDENTITY: Record<string, string> = {
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
    name: "skill",
    expect: { exitCodes: [0], sessions: 1 },
    description:
      "A project skill (.opencode/skill/greeting/SKILL.md, in the initial commit); the model loads it with the skill " +
      "tool, then answers.",
    stubRipgrep: true,
    files: {
      ".opencode/skill/greeting/SKILL.md":
        "---\nname: greeting\ndescription: How to greet someone in this project.\n---\n\nGreet with the words: hello from the greeting skill.\n",
    },
    runs: [{ prompt: "Greet me the project's way." }],
    script: [
      { toolCall: { name: "skill", arguments: { name: "greeting" } }, usage: usage(1) },
      { text: "Hello from the greeting skill.", usage: usage(2) },
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
  {
    name: "compaction",
    expect: { exitCodes: [0], sessions: 1 },
    description:
      "An answer whose usage fills the model's context (125,000 input tokens of 128,000): opencode compacts on its own " +
      "(a user message with an auto compaction part, a summary message from a request without tools), then continues " +
      "with a synthetic user message and one more call (step 2).",
    runs: [{ prompt: "Fill the context." }],
    script: [
      { text: "A very long answer.", usage: { prompt: 125_000, completion: 40 } },
      { text: "Continued after the compaction.", usage: usage(2) },
    ],
  },
  {
    name: "retries-exhausted",
    expect: { exitCodes: [1], sessions: 1 },
    description: "HTTP 429 six times: opencode retries a call 5 times at most, then the turn ends with the 429.",
    runs: [{ prompt: "Keep failing." }],
    script: [{ status: 429 }, { status: 429 }, { status: 429 }, { status: 429 }, { status: 429 }, { status: 429 }],
  },
]

/** A scenario's own project files, committed so the runs start from a clean tree. */
async function writeScenarioFiles(project: string, files: Record<string, string> | undefined, env: Record<string, string>) {
  if (files === undefined) return
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(project, path)), { recursive: true })
    await writeFile(join(project, path), content)
  }
  // Into the initial commit: the repo still starts with one commit (the suites count the runs' commits after it).
  for (const args of [["add", "-A"], ["commit", "-q", "--amend", "--no-edit"]]) {
    const r = await exec("git", args, { cwd: project, env })
    if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`)
  }
}

/** A directory holding an `rg` that exits 1 (ripgrep's "no match") without output. */
async function stubRipgrep(root: string): Promise<string> {
  const bin = join(root, "stub-bin")
  await mkdir(bin, { recursive: true })
  await writeFile(join(bin, "rg"), "#!/bin/sh\nexit 1\n", { mode: 0o755 })
  return bin
}

export const scenarioNamed = (name: string): Scenario => {
  const found = SCENARIOS.find((s) => s.name === name)
  if (found === undefined) throw new Error(`unknown scenario ${name}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`)
  return found
}

export interface ScenarioRunOptions {
  /** Plugin specs for every run (absolute paths become file:// URLs). */
  plugins?: PluginSpec[]
  /** Extra environment per run, over {@link GIT_IDENTITY} (a function gets the run's index and the home). */
  env?: Record<string, string> | ((run: number, dirs: OpencodeHome) => Record<string, string>)
  /** Keep the temp home and project after the call: the caller then calls `cleanup()` (default: removed). */
  keep?: boolean
  /** Called after each `opencode run` ends, in order. */
  onRunEnd?: (outcome: ScenarioRunOutcome) => void
  /** SIGKILL a run after this long (default 120 s). */
  timeoutMs?: number
}

export interface ScenarioRunOutcome {
  /** 0-based index of the run. */
  run: number
  prompt: string
  args: string[]
  /** Date.now() right before the run was launched. */
  startedAt: number
  /** Date.now() right after it ended. */
  endedAt: number
  result: OpencodeRunResult
}

export interface FailedExport {
  sessionID: string
  exportFailed: true
  exitCode: number | null
  stderr: string
}

export interface ScenarioResult {
  scenario: Scenario
  dirs: OpencodeHome
  /** The project directory (a git repo with one initial commit before the runs). */
  project: string
  /** The fake LLM's port (stopped by now). */
  llmPort: number
  /** Every request the fake LLM answered, in order. */
  llmRequests: FakeLlmRequest[]
  runs: ScenarioRunOutcome[]
  exitCodes: Array<number | null>
  /** Every session of the scenario (parents and subagents), in creation order, from opencode's database. */
  sessionIDs: string[]
  /** `opencode export <id>` per session, in the order of `sessionIDs` (or a {@link FailedExport}). */
  exports: unknown[]
  git: {
    /** `git log --oneline --no-decorate`, newest first. */
    log: string[]
    /** Full shas, newest first. */
    shas: string[]
    /** `git status --porcelain` */
    status: string[]
  }
  /** Removes the temp home and project (done already unless `keep`). */
  cleanup(): Promise<void>
}

/**
 * Run one scenario with the real opencode CLI: a fresh isolated home, a fresh temp git repo (one initial commit),
 * a fresh fake LLM answering the scenario's script, then each of its runs in order (same home and project), then
 * `opencode export` of every session and the git log.
 */
export async function runScenario(scenario: Scenario, options: ScenarioRunOptions = {}): Promise<ScenarioResult> {
  const dirs = await createOpencodeHome()
  const project = join(dirs.root, "project")
  let llm: Awaited<ReturnType<typeof startFakeLlm>> | undefined
  const cleanup = () => removeOpencodeHome(dirs)
  try {
    llm = await startFakeLlm({ script: scenario.script, lifetimeMs: 10 * 60_000 })
    const baseEnv = isolatedEnv(dirs, GIT_IDENTITY)
    await initGitRepo(project, baseEnv)
    await writeScenarioFiles(project, scenario.files, baseEnv)
    const path = scenario.stubRipgrep ? { PATH: `${await stubRipgrep(dirs.root)}:${baseEnv["PATH"] ?? ""}` } : {}

    const runs: ScenarioRunOutcome[] = []
    for (const [i, run] of scenario.runs.entries()) {
      const args = run.args ?? []
      const extra = typeof options.env === "function" ? options.env(i, dirs) : (options.env ?? {})
      const startedAt = Date.now()
      const result = await runOpencode({
        prompt: run.prompt,
        llmUrl: llm.url,
        plugins: options.plugins ?? [],
        cwd: project,
        home: dirs,
        extraArgs: args,
        env: { ...GIT_IDENTITY, ...path, ...extra },
        ...(scenario.config ? { config: scenario.config } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      })
      const outcome = { run: i, prompt: run.prompt, args, startedAt, endedAt: Date.now(), result }
      runs.push(outcome)
      options.onRunEnd?.(outcome)
    }

    // Same isolation and config as the runs, minus the plugins (export would load them too).
    const commandEnv = {
      ...isolatedEnv(dirs, {
        ...GIT_IDENTITY,
        OPENCODE_CONFIG_CONTENT: JSON.stringify({ ...fakeProviderConfig(llm.url), ...(scenario.config ?? {}) }),
      }),
      PWD: project,
    }
    const sessionIDs = await listSessions(dirs, { cwd: project, env: commandEnv })
    const exportOne = async (id: string): Promise<unknown> => {
      const res = await exportSession(id, { cwd: project, env: commandEnv })
      const start = res.stdout.indexOf("{")
      if (res.exitCode !== 0 || start < 0) {
        const failed: FailedExport = { sessionID: id, exportFailed: true, exitCode: res.exitCode, stderr: res.stderr.slice(-2000) }
        return failed
      }
      return JSON.parse(res.stdout.slice(start))
    }
    const git = (args: string[]) =>
      exec("git", args, { cwd: project, env: baseEnv }).then((r) => r.stdout.trim().split("\n").filter(Boolean))
    // Exports one at a time: each opens opencode's database.
    const exportAll = async () => {
      const all: Array<unknown> = []
      for (const id of sessionIDs) all.push(await exportOne(id))
      return all
    }
    const [exports, log, shas, status] = await Promise.all([
      exportAll(),
      git(["log", "--oneline", "--no-decorate"]),
      git(["log", "--format=%H"]),
      git(["status", "--porcelain"]),
    ])

    return {
      scenario,
      dirs,
      project,
      llmPort: llm.port,
      llmRequests: llm.requests,
      runs,
      exitCodes: runs.map((r) => r.result.exitCode),
      sessionIDs,
      exports,
      git: { log, shas, status },
      cleanup,
    }
  } catch (error) {
    if (options.keep) console.error(`runScenario ${scenario.name} failed; kept ${dirs.root}`)
    throw error
  } finally {
    await llm?.stop()
    if (!options.keep) await cleanup()
  }
}

