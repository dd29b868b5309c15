/**
 * Commits from git's own records: real repositories in temp dirs (local identity, no system or global config),
 * a snapshot of the HEAD reflogs before a "call" (a bash command run here), the commits read after it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { Effect } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { commitsSince, findGitDir, parseReflogCommits, ReflogLedger, snapshotReflogs, type ReflogCommit } from "../../src/git/reflog.ts"
import { commitsFromOutput, pullRequestsFromOutput } from "../../src/handlers/tool.ts"
import { endAllSessions, handleEvent, handleToolBefore } from "../../src/handlers/index.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import { effectTest } from "../lib/effect.ts"
import { counterTotal } from "../lib/fixtures.ts"
import { isolatedGitEnv } from "../lib/git.ts"

let root: string
let env: Record<string, string>

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "otel-commits-"))
  const home = join(root, "home")
  execFileSync("mkdir", ["-p", home])
  env = isolatedGitEnv(home)
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

let counter = 0
/** Runs a shell command as the bash tool would; returns its exit code and output. */
const sh = (cwd: string, command: string) => {
  const r = spawnSync("bash", ["-c", command], { cwd, env, encoding: "utf8" })
  return { exit: r.status, output: `${r.stdout}${r.stderr}` }
}
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, env, encoding: "utf8" }).trim()

/** A fresh repository with one commit. */
const repo = (name = "repo", options: { initialCommit?: boolean } = {}) => {
  const dir = join(root, `${name}-${++counter}`)
  execFileSync("mkdir", ["-p", dir])
  git(dir, "init", "-q", "-b", "main")
  git(dir, "config", "user.name", "Test User")
  git(dir, "config", "user.email", "test@example.com")
  git(dir, "config", "commit.gpgsign", "false")
  if (options.initialCommit !== false) {
    writeFileSync(join(dir, "README.md"), "# test\n")
    git(dir, "add", "README.md")
    git(dir, "commit", "-q", "-m", "initial commit")
  }
  return dir
}

/** The commits a command made, read the way the plugin reads them (fresh ledger unless given). */
const call = async (directory: string, command: string, ledger = new ReflogLedger()) => {
  const snapshot = await snapshotReflogs([directory])
  expect(snapshot).toBeDefined()
  const result = sh(directory, command)
  return { ...result, commits: await commitsSince(snapshot!, ledger) }
}
const shas = (commits: ReadonlyArray<ReflogCommit>) => commits.map((c) => c.sha)
const kinds = (commits: ReadonlyArray<ReflogCommit>) => commits.map((c) => c.kind)
const logShas = (dir: string, n: number) => git(dir, "log", `-${n}`, "--format=%H").split("\n").reverse()

describe("commits from the HEAD reflog", () => {
  test("a quiet commit (git prints no [branch sha] line) is counted, with its full sha", async () => {
    const dir = repo()
    const r = await call(dir, "echo a > a.txt && git add a.txt && git commit -q -m quiet")
    expect(r.exit).toBe(0)
    expect(r.output).toBe("")
    expect(shas(r.commits)).toEqual([git(dir, "rev-parse", "HEAD")])
    expect(kinds(r.commits)).toEqual(["commit"])
  })

  test("a heredoc message (-F -) that mentions `git commit -m` counts once", async () => {
    const dir = repo()
    const command = [
      "echo b > b.txt && git add b.txt && git commit -q -F - <<'EOF'",
      "Add b",
      "",
      'Made with git commit -m "x" and git commit --amend in mind.',
      "EOF",
    ].join("\n")
    const r = await call(dir, command)
    expect(r.exit).toBe(0)
    expect(shas(r.commits)).toEqual([git(dir, "rev-parse", "HEAD")])
  })

  test("a message from a file (-F path)", async () => {
    const dir = repo()
    writeFileSync(join(root, `msg-${counter}.txt`), "From a file\n\ngit commit -m again\n")
    const r = await call(dir, `echo c > c.txt && git add c.txt && git commit -F ${join(root, `msg-${counter}.txt`)}`)
    expect(shas(r.commits)).toEqual([git(dir, "rev-parse", "HEAD")])
  })

  test("&& and ; chains: several commits in one call, in order", async () => {
    const dir = repo()
    const r = await call(
      dir,
      "echo 1 > x && git add x && git commit -qm one && echo 2 >> x && git commit -qam two; echo 3 >> x; git commit -qam three",
    )
    expect(r.exit).toBe(0)
    expect(shas(r.commits)).toEqual(logShas(dir, 3))
  })

  test("--amend counts (a new commit object), marked amend", async () => {
    const dir = repo()
    const r = await call(dir, "git commit -q --amend -m 'initial, reworded'")
    expect(r.exit).toBe(0)
    expect(shas(r.commits)).toEqual([git(dir, "rev-parse", "HEAD")])
    expect(kinds(r.commits)).toEqual(["amend"])
  })

  test("a failing commit (nothing to commit) counts nothing, whatever it printed", async () => {
    const dir = repo()
    const r = await call(dir, "git commit -m 'git commit -m nothing'")
    expect(r.exit).not.toBe(0)
    expect(r.commits).toEqual([])
  })

  test("a commit in a chain that then fails is still counted (git made it)", async () => {
    const dir = repo()
    const r = await call(dir, "git commit -q --allow-empty -m made && false")
    expect(r.exit).toBe(1)
    expect(shas(r.commits)).toEqual([git(dir, "rev-parse", "HEAD")])
  })

  test("other HEAD moves (checkout, reset, merge, cherry-pick, rebase) are not commits", async () => {
    const dir = repo()
    git(dir, "checkout", "-q", "-b", "side")
    writeFileSync(join(dir, "side.txt"), "side\n")
    git(dir, "add", "side.txt")
    git(dir, "commit", "-q", "-m", "on side")
    git(dir, "checkout", "-q", "main")
    const r = await call(
      dir,
      "git commit -q --allow-empty -m main2 && git merge -q --no-edit side && git reset -q --hard HEAD~1 && git cherry-pick side >/dev/null && git checkout -q side",
    )
    expect(r.exit).toBe(0)
    expect(kinds(r.commits)).toEqual(["commit"])
  })

  test("the first commit of a fresh repository (no reflog yet) is counted as initial", async () => {
    const dir = repo("fresh", { initialCommit: false })
    const r = await call(dir, "echo a > a && git add a && git commit -qm first")
    expect(shas(r.commits)).toEqual([git(dir, "rev-parse", "HEAD")])
    expect(kinds(r.commits)).toEqual(["initial"])
  })

  test("from a subdirectory, and after `cd` into another directory of the project", async () => {
    const dir = repo()
    execFileSync("mkdir", ["-p", join(dir, "src", "deep")])
    const r = await call(join(dir, "src", "deep"), "cd ../.. && git commit -q --allow-empty -m fromsub")
    expect(shas(r.commits)).toEqual([git(dir, "rev-parse", "HEAD")])
  })

  test("a commit in a linked worktree of the project (existing, or added by the call itself)", async () => {
    const dir = repo()
    const wt = `${dir}-wt`
    git(dir, "worktree", "add", "-q", wt)
    const r = await call(dir, `cd ${wt} && git commit -q --allow-empty -m inwt`)
    expect(shas(r.commits)).toEqual([git(wt, "rev-parse", "HEAD")])

    const wt2 = `${dir}-wt2`
    const r2 = await call(dir, `git worktree add -q ${wt2} && cd ${wt2} && git commit -q --allow-empty -m innew`)
    expect(r2.exit).toBe(0)
    expect(shas(r2.commits)).toEqual([git(wt2, "rev-parse", "HEAD")])
  })

  test("opencode running in a linked worktree sees commits there and in the main worktree", async () => {
    const dir = repo()
    const wt = `${dir}-wt`
    git(dir, "worktree", "add", "-q", wt)
    expect(await findGitDir(wt)).toBe(join(dir, ".git", "worktrees", `${dir.split("/").pop()}-wt`))
    const r = await call(wt, `git commit -q --allow-empty -m here && cd ${dir} && git commit -q --allow-empty -m there`)
    expect(shas(r.commits).sort()).toEqual([git(wt, "rev-parse", "HEAD"), git(dir, "rev-parse", "HEAD")].sort())
  })

  test("a commit in a submodule of the project, and the superproject's commit of it", async () => {
    const upstream = repo("upstream")
    const dir = repo()
    git(dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", upstream, "libs/up")
    git(dir, "commit", "-q", "-m", "add submodule")
    const r = await call(
      dir,
      "cd libs/up && git commit -q --allow-empty -m insub && cd ../.. && git add libs/up && git commit -q -m 'bump submodule'",
    )
    expect(r.exit).toBe(0)
    expect(shas(r.commits).sort()).toEqual([git(join(dir, "libs/up"), "rev-parse", "HEAD"), git(dir, "rev-parse", "HEAD")].sort())
  })

  test("a submodule added by the call: its clone is not a commit, the superproject's commit is", async () => {
    const upstream = repo("upstream")
    const dir = repo()
    const r = await call(dir, `git -c protocol.file.allow=always submodule add -q ${upstream} mod && git commit -qm 'add mod'`)
    expect(r.exit).toBe(0)
    expect(shas(r.commits)).toEqual([git(dir, "rev-parse", "HEAD")])
  })

  test("commits in an unrelated repository are not the project's", async () => {
    const dir = repo()
    const other = repo("other")
    const r = await call(dir, `cd ${other} && git commit -q --allow-empty -m elsewhere`)
    expect(r.commits).toEqual([])
  })

  test("overlapping calls in one repository: each entry counts once, for the first call to complete", async () => {
    const dir = repo()
    const ledger = new ReflogLedger()
    const first = await snapshotReflogs([dir])
    sh(dir, "git commit -q --allow-empty -m a")
    const second = await snapshotReflogs([dir])
    sh(dir, "git commit -q --allow-empty -m b")
    const firstDone = await commitsSince(first!, ledger)
    sh(dir, "git commit -q --allow-empty -m c")
    const secondDone = await commitsSince(second!, ledger)
    expect(shas(firstDone)).toEqual(logShas(dir, 3).slice(0, 2))
    expect(shas(secondDone)).toEqual(logShas(dir, 1))
  })

  test("no reflog: not a repository, or core.logAllRefUpdates=false -> no snapshot (text fallback)", async () => {
    expect(await snapshotReflogs([join(root, "home")])).toBeUndefined()
    const dir = repo("noreflog", { initialCommit: false })
    git(dir, "config", "core.logAllRefUpdates", "false")
    sh(dir, "git commit -q --allow-empty -m one")
    expect(await snapshotReflogs([dir])).toBeUndefined()
  })

  test("only complete lines count; a partial line waits for the next read", async () => {
    const dir = repo()
    const snapshot = await snapshotReflogs([dir])
    const log = join(dir, ".git", "logs", "HEAD")
    const line = readFileSync(log, "utf8").split("\n")[0]!.replace("commit (initial)", "commit")
    appendFileSync(log, line.slice(0, 50))
    const ledger = new ReflogLedger()
    expect(await commitsSince(snapshot!, ledger)).toEqual([])
    appendFileSync(log, `${line.slice(50)}\n`)
    expect(kinds(await commitsSince(snapshot!, ledger))).toEqual(["commit"])
  })

  test("parses every `git commit` message kind and nothing else", () => {
    const a = "a".repeat(40)
    const b = "b".repeat(40)
    const who = "T <t@e> 1700000000 +0000"
    const text = [
      `${"0".repeat(40)} ${a} ${who}\tcommit (initial): one`,
      `${a} ${b} ${who}\tcommit: two`,
      `${a} ${b} ${who}\tcommit (amend): two`,
      `${a} ${b} ${who}\tcommit (merge): Merge branch 'x'`,
      `${a} ${b} ${who}\tcommit (cherry-pick): y`,
      `${a} ${b} ${who}\tcheckout: moving from a to commit: b`,
      `${a} ${b} ${who}\treset: moving to HEAD~1`,
      `${a} ${b} ${who}\tmerge side: Merge made by the 'ort' strategy.`,
      `garbage commit: x`,
    ].join("\n")
    expect(kinds(parseReflogCommits(text, "HEAD"))).toEqual(["initial", "commit", "amend", "merge", "cherry-pick"])
  })
})

describe("text fallback (no reflog)", () => {
  test("counts the [branch sha] lines git printed, never the command's text", () => {
    const command = "git commit -q -F - <<'EOF'\nFix\n\nsee git commit -m\nEOF"
    expect(commitsFromOutput(command, "")).toEqual([])
    expect(commitsFromOutput("git commit -m a && git commit -m b", "[main abc1234] a\n 1 file changed\n[main def5678] b\n")).toEqual([
      "abc1234",
      "def5678",
    ])
    expect(commitsFromOutput("git init -q && git commit -m first", "[master (root-commit) 0123abc] first\n")).toEqual(["0123abc"])
    expect(commitsFromOutput("cat notes.txt", "[main abc1234] looks like a commit\n")).toEqual([])
  })
})

describe("pull requests from the created URL", () => {
  test("gh pr create and glab mr create, one per distinct URL", () => {
    expect(pullRequestsFromOutput("gh pr create --fill", "Creating pull request for x into main\n\nhttps://github.com/o/r/pull/12\n")).toBe(1)
    expect(pullRequestsFromOutput("glab mr create --fill --yes", "!7 Title (x)\n https://gitlab.com/g/sub/r/-/merge_requests/7\n")).toBe(1)
    expect(pullRequestsFromOutput("gh pr create --fill", "https://ghe.corp.example/team/app/pull/9\n")).toBe(1)
    expect(
      pullRequestsFromOutput(
        "gh pr create -t a -b 'see gh pr create docs' && gh pr create -t b",
        "https://github.com/o/r/pull/1\nhttps://github.com/o/r/pull/2\nhttps://github.com/o/r/pull/1\n",
      ),
    ).toBe(2)
    expect(pullRequestsFromOutput("gh pr create --web", "Opening github.com/o/r/compare/main...x in your browser.\n")).toBe(0)
    expect(pullRequestsFromOutput("gh pr view 3", "https://github.com/o/r/pull/3\n")).toBe(0)
    expect(pullRequestsFromOutput("gh pr create", "https://github.com/o/r/pull/3/files\n")).toBe(0)
    // Nothing printed (output redirected): one per command.
    expect(pullRequestsFromOutput("gh pr create --fill > /dev/null && glab mr create -y >/dev/null", "")).toBe(2)
  })
})

describe("through the handlers: tool.execute.before, then the bash part", () => {
  const it = effectTest(Telemetry.layerTest())
  const created = (id: string) => ({
    type: "session.created",
    properties: { sessionID: id, info: { id, projectID: "p", directory: "/tmp/x", title: "t", time: { created: 1, updated: 1 } } },
  })
  const bashPart = (callID: string, state: Record<string, unknown>) => ({
    type: "message.part.updated",
    properties: { part: { id: `prt_${callID}`, sessionID: "ses_g", messageID: "msg_1", type: "tool", callID, tool: "bash", state } },
  })
  const runCall = (dir: string, callID: string, command: string) =>
    Effect.gen(function* () {
      const input = { command, description: "d" }
      yield* handleToolBefore({ tool: "bash", sessionID: "ses_g", callID }, { args: input }, dir)
      yield* handleEvent(bashPart(callID, { status: "running", input, time: { start: 1 } }))
      const r = sh(dir, command)
      yield* handleEvent(bashPart(callID, { status: "completed", input, output: r.output, metadata: { exit: r.exit, output: r.output }, time: { start: 1, end: 2 } }))
    })

  it("commit.count and commit events with git's full shas; amend marked; failing commit nothing", () =>
    Effect.gen(function* () {
      const dir = repo()
      yield* handleEvent(created("ses_g"))
      yield* runCall(dir, "c1", "git commit -q --allow-empty -F - <<'EOF'\nOne\n\nmentions git commit -m\nEOF")
      yield* runCall(dir, "c2", "git commit -q --allow-empty -m two && git commit -q --allow-empty -m three")
      yield* runCall(dir, "c3", "git commit -q --amend --allow-empty -m three-amended")
      yield* runCall(dir, "c4", "git commit -m nothing")
      yield* endAllSessions()
      const memory = yield* MemoryExporter
      expect(counterTotal(yield* memory.metrics, "opencode.commit.count", {})).toBe(4)
      const events = (yield* memory.logs).filter((l) => l.attributes["event.name"] === "commit")
      const reflog = readFileSync(join(dir, ".git", "logs", "HEAD"), "utf8").trim().split("\n").slice(1)
      expect(events.map((e) => e.attributes["commit.sha"])).toEqual(reflog.map((l) => l.split(" ")[1]))
      expect(events.map((e) => e.attributes["commit.amend"])).toEqual([false, false, false, true])
    }),
  )
})
