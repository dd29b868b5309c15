/**
 * Proves the opencode test harness against the real opencode CLI: the fake LLM answers (text, tool call,
 * injected error), a file:// plugin is loaded with its tuple options and sees the session events, the parent's
 * OTEL_/OPENCODE_ variables do not leak in, and an `npm pack` tarball installed with installPackedPlugin is
 * loaded by package name with no registry access.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test"
import { existsSync, readFileSync } from "node:fs"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { type FakeLlm, DEFAULT_ANSWER, startFakeLlm } from "./fake-llm.ts"
import {
  createOpencodeHome,
  installPackedPlugin,
  isolatedEnv,
  type OpencodeHome,
  type OpencodeRunResult,
  packPackage,
  removeOpencodeHome,
  runOpencode,
} from "./opencode.ts"

const RECORDER = pathToFileURL(join(import.meta.dir, "recorder-plugin.ts")).href
/** A registry nobody listens on: any npm access by opencode fails instead of silently succeeding. */
const NO_REGISTRY = { npm_config_registry: "http://127.0.0.1:9/" }

type Line = Record<string, any>
const readLines = (file: string): Line[] =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : []

const explain = (r: OpencodeRunResult) =>
  `exit=${r.exitCode} signal=${r.signal} ${r.durationMs}ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr.slice(-4000)}`

let llm: FakeLlm | undefined
const homes: OpencodeHome[] = []
let scratch: string | undefined

afterEach(async () => {
  await llm?.stop()
  llm = undefined
})
afterAll(async () => {
  for (const h of homes) await removeOpencodeHome(h)
  if (scratch) await rm(scratch, { recursive: true, force: true })
})

async function newHome() {
  const h = await createOpencodeHome()
  homes.push(h)
  return h
}

describe("isolatedEnv", () => {
  test("drops the parent's OTEL_/OPENCODE_/XDG_ variables and credentials, keeps what opts give", async () => {
    const h = await newHome()
    const saved = { ...process.env }
    try {
      process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://leak"
      process.env["OPENCODE_CONFIG"] = "/leak.json"
      process.env["XDG_CONFIG_HOME"] = "/leak"
      process.env["OPENAI_API_KEY"] = "sk-leak"
      const env = isolatedEnv(h, { OTEL_SERVICE_NAME: "given" })
      expect(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).toBeUndefined()
      expect(env["OPENCODE_CONFIG"]).toBeUndefined()
      expect(env["OPENAI_API_KEY"]).toBeUndefined()
      expect(env["XDG_CONFIG_HOME"]).toBe(h.configHome)
      expect(env["HOME"]).toBe(h.home)
      expect(env["OTEL_SERVICE_NAME"]).toBe("given")
      expect(env["OPENCODE_DISABLE_AUTOUPDATE"]).toBe("1")
      expect(env["NO_COLOR"]).toBe("1")
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
      Object.assign(process.env, saved)
    }
  })
})

describe("opencode run against the fake LLM", () => {
  test("answers, loads a file:// plugin with tuple options, emits session events, no env leak", async () => {
    llm = await startFakeLlm()
    const h = await newHome()
    const out = join(h.root, "recorder.jsonl")
    const saved = process.env["OTEL_LEAKED_FROM_PARENT"]
    process.env["OTEL_LEAKED_FROM_PARENT"] = "1"
    let r: OpencodeRunResult
    try {
      r = await runOpencode({
        prompt: "say hello",
        llmUrl: llm.url,
        home: h,
        plugins: [[RECORDER, { label: "recorder", n: 1, nested: { ok: true } }]],
        env: { RECORDER_OUT: out, OTEL_SERVICE_NAME: "given", ...NO_REGISTRY },
      })
    } finally {
      if (saved === undefined) delete process.env["OTEL_LEAKED_FROM_PARENT"]
      else process.env["OTEL_LEAKED_FROM_PARENT"] = saved
    }
    expect(r.exitCode, explain(r)).toBe(0)
    expect(r.stdout).toContain(DEFAULT_ANSWER)
    expect(r.logs).toContain("creating instance")
    expect(r.stderr).toContain("creating instance") // --print-logs
    expect(r.durationMs).toBeLessThan(30_000) // no wait for an npm install

    const lines = readLines(out)
    const init = lines.filter((l) => l.hook === "init")
    expect(init).toHaveLength(1)
    expect(init[0]!.options).toEqual({ label: "recorder", n: 1, nested: { ok: true } })
    expect(init[0]!.directory).toBe(r.cwd)
    expect(init[0]!.envKeys).toContain("OTEL_SERVICE_NAME")
    expect(init[0]!.envKeys).toContain("RECORDER_OUT")
    expect(init[0]!.envKeys).not.toContain("OTEL_LEAKED_FROM_PARENT")

    const types = lines.filter((l) => l.hook === "event").map((l) => l.type as string)
    expect(types).toContain("session.created")
    expect(types).toContain("session.idle")
    expect(lines.some((l) => l.hook === "chat.message")).toBe(true)
    expect(lines.some((l) => l.hook === "dispose")).toBe(true)

    const title = llm.requests.filter((q) => q.kind === "title")
    const main = llm.requests.filter((q) => q.kind === "script")
    expect(title.length).toBeGreaterThanOrEqual(1)
    expect(main).toHaveLength(1)
    expect(main[0]!.body.stream).toBe(true)
    expect(main[0]!.headers["authorization"]).toBe("Bearer fake-key")

    // Tokens as opencode recorded them for the assistant message (prompt 100, completion 20).
    const completed = lines.filter(
      (l) =>
        l.type === "message.updated" &&
        l.properties?.info?.role === "assistant" &&
        l.properties?.info?.time?.completed &&
        l.properties?.info?.agent !== "title",
    )
    expect(completed.length).toBeGreaterThanOrEqual(1)
    expect(completed.at(-1)!.properties.info.tokens.input).toBe(100)
    expect(completed.at(-1)!.properties.info.tokens.output).toBe(20)
  }, 120_000)

  test("scripted tool call, then text; usage with cached and reasoning tokens", async () => {
    llm = await startFakeLlm({
      script: [
        { toolCall: { name: "bash", arguments: { command: "echo tool-ran", description: "Echo" } }, usage: { prompt: 200, completion: 30, cached: 50, reasoning: 10 } },
        { text: "The command printed tool-ran.", usage: { prompt: 300, completion: 15 } },
      ],
    })
    const h = await newHome()
    const out = join(h.root, "recorder.jsonl")
    const r = await runOpencode({
      prompt: "run echo",
      llmUrl: llm.url,
      home: h,
      plugins: [RECORDER],
      env: { RECORDER_OUT: out, ...NO_REGISTRY },
    })
    expect(r.exitCode, explain(r)).toBe(0)
    expect(r.stdout).toContain("The command printed tool-ran.")
    const lines = readLines(out)
    expect(lines.find((l) => l.hook === "init")!.options).toBeNull()
    const before = lines.find((l) => l.hook === "tool.execute.before")
    expect(before?.input?.tool).toBe("bash")
    const after = lines.find((l) => l.hook === "tool.execute.after")
    expect(String(after?.output?.output)).toContain("tool-ran")

    const main = llm.requests.filter((q) => q.kind === "script")
    expect(main).toHaveLength(2)
    expect(main[1]!.body.messages.at(-1).role).toBe("tool")

    const steps = lines.filter((l) => l.type === "message.part.updated" && l.properties?.part?.type === "step-finish")
    const tokens = steps.map((l) => l.properties.part.tokens)
    // opencode: input = prompt - cached, output excludes reasoning, cache.read = cached.
    expect(tokens).toContainEqual(expect.objectContaining({ input: 150, output: 20, reasoning: 10, cache: expect.objectContaining({ read: 50 }) }))
    expect(tokens).toContainEqual(expect.objectContaining({ input: 300, output: 15 }))
  }, 120_000)

  test("an injected HTTP 500 is retried and the next step answers", async () => {
    llm = await startFakeLlm({ script: [{ status: 500 }, { text: "Recovered after retry." }] })
    const h = await newHome()
    const out = join(h.root, "recorder.jsonl")
    const r = await runOpencode({
      prompt: "hi",
      llmUrl: llm.url,
      home: h,
      plugins: [RECORDER],
      env: { RECORDER_OUT: out, ...NO_REGISTRY },
    })
    expect(r.exitCode, explain(r)).toBe(0)
    expect(r.stdout).toContain("Recovered after retry.")
    const retries = readLines(out).filter((l) => l.type === "session.status" && l.properties?.status?.type === "retry")
    expect(retries.length).toBeGreaterThanOrEqual(1)
    expect(llm.requests.filter((q) => q.kind === "script")).toHaveLength(2)
  }, 120_000)
})

describe("npm-name plugins", () => {
  test("installPackedPlugin: a packed package is loaded by name, tuple options passed, no registry access", async () => {
    scratch = await mkdtemp(join(tmpdir(), "oc-dummy-"))
    const pkgDir = join(scratch, "pkg")
    await mkdir(pkgDir, { recursive: true })
    await writeFile(
      join(pkgDir, "package.json"),
      JSON.stringify({ name: "dummy-oc-plugin", version: "1.0.0", type: "module", main: "./index.js" }),
    )
    await writeFile(
      join(pkgDir, "index.js"),
      `import { appendFileSync } from "node:fs"
export const DummyPlugin = async (input, options) => {
  appendFileSync(process.env.MARKER_OUT, JSON.stringify({ url: import.meta.url, options: options ?? null, directory: input.directory }) + "\\n")
  return {}
}
`,
    )
    const tarball = await packPackage(pkgDir, scratch)
    llm = await startFakeLlm()
    const h = await newHome()
    const installed = await installPackedPlugin(tarball, h)
    expect(installed).toBe(join(h.cacheHome, "opencode", "packages", "dummy-oc-plugin@latest", "node_modules", "dummy-oc-plugin"))

    const marker = join(h.root, "marker.jsonl")
    const r = await runOpencode({
      prompt: "hi",
      llmUrl: llm.url,
      home: h,
      plugins: [["dummy-oc-plugin", { b: 2 }]],
      env: { MARKER_OUT: marker, ...NO_REGISTRY },
    })
    expect(r.exitCode, explain(r)).toBe(0)
    expect(r.durationMs).toBeLessThan(30_000) // a registry fetch attempt would take ~70 s
    const lines = readLines(marker)
    expect(lines).toHaveLength(1)
    expect(lines[0]!.options).toEqual({ b: 2 })
    expect(lines[0]!.url).toBe(pathToFileURL(join(installed, "index.js")).href)
    expect(r.stderr).not.toContain("FetchError")
  }, 180_000)
})
