/**
 * Commits through the real opencode CLI: the scripted model runs bash commands that commit quietly, with heredoc
 * messages that mention `git commit -m`, in chains, with --amend, in a linked worktree and in a submodule, and one
 * that fails. commit.count and the commit events must match what git itself recorded (`git log -g`), exactly.
 */
import { afterAll, beforeAll, expect, test } from "bun:test"
import { join } from "node:path"
import { startFakeLlm, type ScriptStep } from "../support/fake-llm.ts"
import { createOpencodeHome, exec, initGitRepo, isolatedEnv, REPO_ROOT, removeOpencodeHome, runOpencode, type OpencodeHome, type OpencodeRunResult } from "../support/opencode.ts"
import { latestPoints } from "../lib/received.ts"
import { startReceiver, type Receiver } from "../support/otlp-receiver.ts"

const PLUGIN_SOURCE = join(REPO_ROOT, "src", "plugin.ts")
const IDENTITY = {
  GIT_AUTHOR_NAME: "Test User",
  GIT_AUTHOR_EMAIL: "test@example.com",
  GIT_COMMITTER_NAME: "Test User",
  GIT_COMMITTER_EMAIL: "test@example.com",
}

const bash = (command: string): ScriptStep => ({ toolCall: { name: "bash", arguments: { command, description: "git" } } })
const SCRIPT: ScriptStep[] = [
  // Quiet, message from a heredoc that itself mentions `git commit -m`: one commit.
  bash("git commit -q --allow-empty -F - <<'EOF'\nFirst\n\nWritten without git commit -m \"x\", see git commit --help.\nEOF"),
  // A chain with && and ;: two commits.
  bash("echo a > a.txt && git add a.txt && git commit -qm two; echo b >> a.txt; git commit -qam three"),
  // Amend: a new commit object, counted and marked.
  bash("git commit -q --amend -m 'three, amended'"),
  // Nothing to commit: exit 1, no commit.
  bash("git commit -m 'nothing to commit here'"),
  // In a linked worktree and in a submodule of the project.
  bash("cd .worktrees/wt && git commit -q --allow-empty -m 'in the worktree'"),
  bash("cd libs/up && git commit -q --allow-empty -m 'in the submodule'"),
  { text: "Committed." },
]

let home: OpencodeHome
let receiver: Receiver
let result: OpencodeRunResult
let project: string
let env: Record<string, string>
/** `git log -g` (HEAD reflog) length per repository before the run. */
const before = new Map<string, number>()

const git = async (cwd: string, ...args: string[]) => {
  const r = await exec("git", args, { cwd, env })
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`)
  return r.stdout.trim()
}
/** What git recorded in a repository's HEAD reflog, oldest first: `<sha> <subject of the entry>`. */
const reflog = async (cwd: string) => (await git(cwd, "log", "-g", "--format=%H %gs", "HEAD")).split("\n").filter(Boolean).reverse()
const repos = () => [project, join(project, ".worktrees", "wt"), join(project, "libs", "up")]

beforeAll(async () => {
  home = await createOpencodeHome()
  env = isolatedEnv(home, IDENTITY)
  project = join(home.root, "project")
  await initGitRepo(project, env)
  const upstream = join(home.root, "upstream")
  await initGitRepo(upstream, env)
  await git(project, "-c", "protocol.file.allow=always", "submodule", "add", "-q", upstream, "libs/up")
  await git(project, "commit", "-q", "-m", "add submodule")
  await git(project, "worktree", "add", "-q", ".worktrees/wt")
  for (const repo of repos()) before.set(repo, (await reflog(repo)).length)

  receiver = await startReceiver({ protocol: "http/protobuf" })
  const llm = await startFakeLlm({ script: SCRIPT })
  try {
    result = await runOpencode({
      prompt: "Commit in every way you can.",
      llmUrl: llm.url,
      plugins: [PLUGIN_SOURCE],
      cwd: project,
      home,
      env: { ...IDENTITY, OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_ENDPOINT: receiver.url, OPENCODE_OTLP_PROTOCOL: "http/protobuf" },
    })
  } finally {
    await llm.stop()
  }
}, 180_000)

afterAll(async () => {
  await receiver?.stop()
  if (home) await removeOpencodeHome(home)
})

test(
  "commit.count and the commit events are exactly the commits git recorded, with their full shas",
  async () => {
    expect(result.exitCode).toBe(0)
    const made: Array<{ sha: string; amend: boolean }> = []
    for (const repo of repos()) {
      const entries = (await reflog(repo)).slice(before.get(repo)!)
      for (const entry of entries) {
        const [sha, ...rest] = entry.split(" ")
        const subject = rest.join(" ")
        if (/^commit(?: \([^)]*\))?: /.test(subject)) made.push({ sha: sha!, amend: subject.startsWith("commit (amend):") })
      }
    }
    // 1 (heredoc) + 2 (chain) + 1 (amend) + 0 (nothing to commit) + 1 (worktree) + 1 (submodule)
    expect(made).toHaveLength(6)
    expect(made.filter((m) => m.amend)).toHaveLength(1)

    const counts = latestPoints({ metrics: receiver.metrics() }, "opencode.commit.count")
    expect(counts.reduce((n, p) => n + Number(p.value), 0)).toBe(6)
    const events = receiver.logs().filter((l) => l.attributes["event.name"] === "commit")
    const exported = events.map((e) => ({ sha: String(e.attributes["commit.sha"]), amend: e.attributes["commit.amend"] === true }))
    const key = (c: { sha: string; amend: boolean }) => `${c.sha}:${c.amend}`
    expect(exported.map(key).sort()).toEqual(made.map(key).sort())
    // The shas are those of the log of each repository (the amended-away commit excepted).
    expect(await git(join(project, "libs", "up"), "rev-parse", "HEAD")).toBe(made.at(-1)!.sha)
  },
  60_000,
)
