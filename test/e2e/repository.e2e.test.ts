/**
 * Repository and branch through the real opencode CLI, in a temp repository with a remote that carries
 * credentials. Events and spans carry the branch, and a branch a bash call switched to (`git checkout -b`) shows on
 * what follows that call; the repository (no credentials) is on the resource, or on every metric point with
 * OPENCODE_METRICS_INCLUDE_REPOSITORY on; with it `none`, nothing `vcs.*` arrives anywhere.
 */
import { afterAll, beforeAll, expect, test } from "bun:test"
import { join } from "node:path"
import { startFakeLlm, type ScriptStep } from "../support/fake-llm.ts"
import { createOpencodeHome, exec, initGitRepo, isolatedEnv, REPO_ROOT, removeOpencodeHome, runOpencode, type OpencodeHome, type OpencodeRunResult } from "../support/opencode.ts"
import { bigintReplacer } from "../lib/received.ts"
import { startReceiver, type FlatLog, type Receiver } from "../support/otlp-receiver.ts"

const PLUGIN_SOURCE = join(REPO_ROOT, "src", "plugin.ts")
const REMOTE = "https://alice:ghp_e2eSecretToken@github.com/acme/widgets.git"

const bash = (command: string): ScriptStep => ({ toolCall: { name: "bash", arguments: { command, description: "git" } } })
const SCRIPT: ScriptStep[] = [
  bash("git status --short"),
  bash("git checkout -q -b feature/e2e"),
  bash("git status --short"),
  { text: "Switched." },
]

interface Run {
  readonly result: OpencodeRunResult
  readonly receiver: Receiver
}
let home: OpencodeHome
const runs: Partial<Record<"on" | "byDefault" | "off", Run>> = {}

const runIn = async (name: string, include: string | undefined): Promise<Run> => {
  const env = isolatedEnv(home, {})
  const project = join(home.root, `project-${name}`)
  await initGitRepo(project, env)
  const git = async (...args: string[]) => {
    const r = await exec("git", args, { cwd: project, env })
    if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`)
  }
  await git("branch", "-m", "trunk")
  await git("remote", "add", "origin", REMOTE)
  const receiver = await startReceiver({ protocol: "http/protobuf" })
  const llm = await startFakeLlm({ script: SCRIPT })
  try {
    const result = await runOpencode({
      prompt: "Switch to a feature branch.",
      llmUrl: llm.url,
      plugins: [PLUGIN_SOURCE],
      cwd: project,
      home,
      env: {
        OPENCODE_ENABLE_TELEMETRY: "1",
        OPENCODE_OTLP_ENDPOINT: receiver.url,
        OPENCODE_OTLP_PROTOCOL: "http/protobuf",
        ...(include === undefined ? {} : { OTEL_METRICS_INCLUDE_REPOSITORY: include }),
      },
    })
    return { result, receiver }
  } finally {
    await llm.stop()
  }
}

beforeAll(async () => {
  home = await createOpencodeHome()
  runs.on = await runIn("on", "true")
  runs.byDefault = await runIn("default", undefined)
  runs.off = await runIn("none", "none")
}, 300_000)

afterAll(async () => {
  await runs.on?.receiver.stop()
  await runs.off?.receiver.stop()
  await runs.byDefault?.receiver.stop()
  if (home) await removeOpencodeHome(home)
})

const toolResults = (logs: ReadonlyArray<FlatLog>) =>
  logs
    .filter((l) => l.attributes["event.name"] === "tool_result")
    .sort((a, b) => Number(a.attributes["event.sequence"]) - Number(b.attributes["event.sequence"]))

test("on (Claude Code's OTEL_METRICS_INCLUDE_REPOSITORY): every metric point carries the repository, without credentials", () => {
  const { result, receiver } = runs.on!
  expect(result.exitCode).toBe(0)
  const points = receiver.metrics()
  expect(points.length).toBeGreaterThan(0)
  for (const point of points) {
    expect(point.attributes["vcs.repository.url.full"]).toBe("https://github.com/acme/widgets")
    expect(point.attributes["vcs.owner.name"]).toBe("acme")
    expect(point.attributes["vcs.repository.name"]).toBe("widgets")
    expect(point.attributes["vcs.provider.name"]).toBe("github")
    // The branch is no metric dimension.
    expect(point.attributes["vcs.ref.head.name"]).toBeUndefined()
  }
  const everything = JSON.stringify([receiver.metrics(), receiver.logs(), receiver.spans()], bigintReplacer)
  expect(everything).not.toContain("ghp_e2eSecretToken")
  expect(everything).not.toContain("alice")
}, 30_000)

test("on: events and spans carry the branch; the one a bash call switched to shows after that call", () => {
  const { receiver } = runs.on!
  const logs = receiver.logs()
  expect(logs.length).toBeGreaterThan(0)
  for (const log of logs) {
    expect(["trunk", "feature/e2e"]).toContain(String(log.attributes["vcs.ref.head.name"]))
    expect(log.attributes["vcs.ref.head.type"]).toBe("branch")
    expect(log.attributes["vcs.repository.url.full"]).toBeUndefined()
  }
  // The checkout's own tool_result is emitted as the call completes, before HEAD is read again.
  expect(toolResults(logs).map((l) => l.attributes["vcs.ref.head.name"])).toEqual(["trunk", "trunk", "feature/e2e"])
  const tools = receiver.spans().filter((s) => s.attributes["gen_ai.operation.name"] === "execute_tool" && s.name.includes("bash"))
  const toolBranches = tools
    .filter((s) => s.attributes["gen_ai.tool.call.id"] !== undefined)
    .sort((a, b) => Number(a.startTimeUnixNano - b.startTimeUnixNano))
    .map((s) => s.attributes["vcs.ref.head.name"])
  expect(toolBranches).toEqual(["trunk", "trunk", "feature/e2e"])
  for (const span of receiver.spans()) expect(["trunk", "feature/e2e"]).toContain(String(span.attributes["vcs.ref.head.name"]))
}, 30_000)

test("by default: the repository on the resource, not on metric points; the branch on events and spans", () => {
  const { result, receiver } = runs.byDefault!
  expect(result.exitCode).toBe(0)
  expect(receiver.metrics().length).toBeGreaterThan(0)
  expect(JSON.stringify(receiver.metrics().map((m) => m.attributes), bigintReplacer)).not.toContain("vcs.")
  for (const item of [...receiver.spans(), ...receiver.logs()]) {
    expect(item.resource["vcs.repository.url.full"]).toBe("https://github.com/acme/widgets")
    expect(item.resource["vcs.owner.name"]).toBe("acme")
    expect(item.resource["vcs.repository.name"]).toBe("widgets")
    expect(item.resource["vcs.provider.name"]).toBe("github")
  }
  expect(toolResults(receiver.logs()).map((l) => l.attributes["vcs.ref.head.name"])).toEqual(["trunk", "trunk", "feature/e2e"])
  const everything = JSON.stringify([receiver.metrics(), receiver.logs(), receiver.spans()], bigintReplacer)
  expect(everything).not.toContain("ghp_e2eSecretToken")
}, 30_000)

test("none: no vcs.* attribute anywhere", () => {
  const { result, receiver } = runs.off!
  expect(result.exitCode).toBe(0)
  expect(receiver.metrics().length).toBeGreaterThan(0)
  expect(toolResults(receiver.logs())).toHaveLength(3)
  const everything = JSON.stringify([receiver.metrics(), receiver.logs(), receiver.spans()], bigintReplacer)
  expect(everything).toContain("session.id")
  expect(everything).not.toContain("vcs.")
  expect(everything).not.toContain("acme/widgets")
}, 30_000)
