/**
 * The project's repository from git's files: real repositories made with the git binary in temp dirs (no system
 * or global config), remote URLs normalised as the VCS conventions' examples, the switch decoded, and the
 * attributes where they belong (remote on metric points, branch on events and spans, HEAD re-read on request).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { ConfigProvider, Effect, Layer } from "effect"
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { execFileSync } from "node:child_process"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  headAttributes,
  normalizeRemoteUrl,
  parseGitConfig,
  readRepository,
  remoteAttributes,
  remoteUrlOf,
  type Repository,
} from "../../src/git/repository.ts"
import * as Config from "../../src/services/Config.ts"
import { MemoryExporter } from "../../src/services/Exporter.ts"
import * as Exporter from "../../src/services/Exporter.ts"
import { Instruments } from "../../src/services/Instruments.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { effectTest, runEffect } from "../lib/effect.ts"
import { isolatedGitEnv } from "../lib/git.ts"

let root: string
let env: Record<string, string>
let counter = 0

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "otel-repository-"))
  const home = join(root, "home")
  mkdirSync(home)
  env = isolatedGitEnv(home)
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, env, encoding: "utf8" }).trim()

/** A fresh repository with one commit on `main`. */
const repo = (name = "repo") => {
  const dir = join(root, `${name}-${++counter}`)
  mkdirSync(dir, { recursive: true })
  git(dir, "init", "-q", "-b", "main")
  git(dir, "config", "commit.gpgsign", "false")
  writeFileSync(join(dir, "README.md"), "# test\n")
  git(dir, "add", "README.md")
  git(dir, "commit", "-q", "-m", "initial commit")
  return dir
}

describe("the repository read from git's files", () => {
  test("a clone-like repository with an https remote carrying credentials: no userinfo, no .git", async () => {
    const dir = repo()
    git(dir, "remote", "add", "origin", "https://alice:ghp_secret123@github.com/acme/widgets.git")
    const found = await readRepository([join(dir)])
    expect(found?.head).toEqual({ branch: "main" })
    expect(found?.remote).toEqual({ url: "https://github.com/acme/widgets", owner: "acme", name: "widgets", provider: "github" })
    expect(JSON.stringify(remoteAttributes(found?.remote))).not.toContain("secret")
    expect(remoteAttributes(found?.remote)).toEqual({
      "vcs.repository.url.full": "https://github.com/acme/widgets",
      "vcs.owner.name": "acme",
      "vcs.repository.name": "widgets",
      "vcs.provider.name": "github",
    })
    expect(headAttributes(found?.head)).toEqual({ "vcs.ref.head.name": "main", "vcs.ref.head.type": "branch" })
  })

  test("from a subdirectory of the checkout", async () => {
    const dir = repo()
    git(dir, "remote", "add", "origin", "git@gitlab.com:group/sub/project.git")
    mkdirSync(join(dir, "src", "deep"), { recursive: true })
    const found = await readRepository([join(dir, "src", "deep")])
    expect(found?.remote).toEqual({ url: "https://gitlab.com/group/sub/project", owner: "group/sub", name: "project", provider: "gitlab" })
  })

  test("an ssh scp-form remote becomes the https address", async () => {
    const dir = repo()
    git(dir, "remote", "add", "origin", "git@github.com:acme/widgets.git")
    expect((await readRepository([dir]))?.remote?.url).toBe("https://github.com/acme/widgets")
  })

  test("a linked worktree (git worktree add): its own branch, the main repository's remote", async () => {
    const dir = repo()
    git(dir, "remote", "add", "origin", "https://github.com/acme/widgets.git")
    const worktree = join(root, `worktree-${++counter}`)
    git(dir, "worktree", "add", "-q", "-b", "feature/login", worktree)
    const found = await readRepository([worktree, dir])
    expect(found?.head).toEqual({ branch: "feature/login" })
    expect(found?.remote?.url).toBe("https://github.com/acme/widgets")
    expect(found?.gitDir).toContain(join(".git", "worktrees"))
  })

  test("a detached HEAD: the revision, no name, no type", async () => {
    const dir = repo()
    git(dir, "checkout", "-q", "--detach")
    const sha = git(dir, "rev-parse", "HEAD")
    const found = await readRepository([dir])
    expect(found?.head).toEqual({ revision: sha })
    expect(headAttributes(found?.head)).toEqual({ "vcs.ref.head.revision": sha })
  })

  test("no remote: the branch only", async () => {
    const dir = repo()
    const found = await readRepository([dir])
    expect(found?.remote).toBeUndefined()
    expect(remoteAttributes(found?.remote)).toEqual({})
    expect(found?.head?.branch).toBe("main")
  })

  test("a non-git directory: nothing", async () => {
    const dir = join(root, `plain-${++counter}`)
    mkdirSync(dir)
    // The temp root itself is outside any repository (the walk up reaches /).
    expect(await readRepository([dir])).toBeUndefined()
  })

  test("a submodule (git submodule add): its own git directory's HEAD and remote", async () => {
    const dir = repo()
    git(dir, "remote", "add", "origin", "https://github.com/acme/super.git")
    const moduleSource = repo("lib-source")
    git(dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", moduleSource, "lib")
    const checkout = join(dir, "lib")
    // The submodule's checkout has a `.git` file pointing into the superproject's .git/modules.
    expect(readFileSync(join(checkout, ".git"), "utf8")).toMatch(/^gitdir: /)
    git(checkout, "checkout", "-q", "-b", "develop")
    git(checkout, "remote", "set-url", "origin", "ssh://git@bitbucket.org:22/team/lib.git")
    const found = await readRepository([checkout])
    expect(found?.gitDir).toBe(join(dir, ".git", "modules", "lib"))
    expect(found?.head).toEqual({ branch: "develop" })
    expect(found?.remote).toEqual({ url: "https://bitbucket.org/team/lib", owner: "team", name: "lib", provider: "bitbucket" })
  })

  test("an unreadable config: the branch, no remote", async () => {
    if (process.getuid?.() === 0) return // root reads anything
    const dir = repo()
    git(dir, "remote", "add", "origin", "https://github.com/acme/widgets.git")
    chmodSync(join(dir, ".git", "config"), 0o000)
    try {
      const found = await readRepository([dir])
      expect(found?.head?.branch).toBe("main")
      expect(found?.remote).toBeUndefined()
    } finally {
      chmodSync(join(dir, ".git", "config"), 0o644)
    }
  })

  test("the remote: origin, else the branch's upstream remote, else the only one", async () => {
    const config = parseGitConfig(
      ['[remote "upstream"]', "\turl = https://github.com/up/x.git", '[remote "fork"]', "\turl = https://github.com/me/x.git", '[branch "main"]', "\tremote = fork"].join("\n"),
    )
    expect(remoteUrlOf(config, "main")).toBe("https://github.com/me/x.git")
    expect(remoteUrlOf(config, "other")).toBeUndefined()
    expect(remoteUrlOf(parseGitConfig('[remote "only"]\n url = "git@host.example:a/b.git" ; comment'), undefined)).toBe("git@host.example:a/b.git")
    const both = parseGitConfig('[remote "a"]\nurl = https://h.example/a/a\n[remote "origin"]\nurl = https://h.example/o/o')
    expect(remoteUrlOf(both, undefined)).toBe("https://h.example/o/o")
  })
})

describe("remote URLs as the conventions' canonical URL", () => {
  const cases: ReadonlyArray<readonly [string, string | undefined, string | undefined]> = [
    ["https://github.com/acme/widgets.git", "https://github.com/acme/widgets", "github"],
    ["https://user:token@github.com/acme/widgets.git/", "https://github.com/acme/widgets", "github"],
    ["https://oauth2:glpat-xyz@gitlab.example.com:8443/g/s/p.git?ref=x#frag", "https://gitlab.example.com:8443/g/s/p", "gitlab"],
    ["http://git.example.org/team/repo", "http://git.example.org/team/repo", undefined],
    ["git@github.com:acme/widgets.git", "https://github.com/acme/widgets", "github"],
    ["github.com:acme/widgets", "https://github.com/acme/widgets", "github"],
    ["ssh://git@ssh.github.com:443/acme/widgets.git", "https://github.com/acme/widgets", "github"],
    ["git+ssh://git@gitea.com/org/app.git", "https://gitea.com/org/app", "gitea"],
    ["git://git.kernel.org/pub/scm/git/git.git", "https://git.kernel.org/pub/scm/git/git", undefined],
    ["ssh://git@GitHub.com/Acme/Widgets", "https://github.com/Acme/Widgets", "github"],
    ["/srv/git/project.git", undefined, undefined],
    ["../sibling", undefined, undefined],
    ["file:///srv/git/project.git", undefined, undefined],
    ["C:\\repos\\project", undefined, undefined],
    ["https://github.com/", undefined, undefined],
    ["not a url", undefined, undefined],
  ]
  for (const [raw, url, provider] of cases)
    test(raw, () => {
      const remote = normalizeRemoteUrl(raw)
      expect(remote?.url).toBe(url)
      expect(remote?.provider).toBe(provider)
      if (remote !== undefined) expect(remote.url).not.toMatch(/token|glpat|user:|@/)
    })

  test("a single-segment path has a name and no owner", () => {
    expect(normalizeRemoteUrl("https://git.example.org/solo.git")).toEqual({ url: "https://git.example.org/solo", owner: undefined, name: "solo", provider: undefined })
  })
})

describe("the switch", () => {
  const decode = (raw: Config.RawSettings, repository?: () => Promise<Repository | undefined>) =>
    Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", ...raw }, undefined, {}, repository === undefined ? {} : { repository })

  test("by default: read once, the repository for the resource", () => {
    let asked = 0
    const { config, problems } = decode({}, async () => (asked++, undefined))
    expect(config.metrics.repository).toBe("resource")
    expect(config.host.repository).toBeDefined()
    expect(asked).toBe(1)
    expect(problems).toEqual([])
  })

  test("true: on metric points; false: on the resource; none: git's files are not read", () => {
    let asked = 0
    const read = async () => (asked++, undefined)
    expect(decode({ OPENCODE_METRICS_INCLUDE_REPOSITORY: "true" }, read).config.metrics.repository).toBe("metrics")
    expect(decode({ OPENCODE_METRICS_INCLUDE_REPOSITORY: "false" }, read).config.metrics.repository).toBe("resource")
    expect(asked).toBe(2)
    const none = decode({ OPENCODE_METRICS_INCLUDE_REPOSITORY: " None " }, read).config
    expect([none.metrics.repository, none.host.repository, asked]).toEqual(["none", undefined, 2])
  })

  const fromEnv = (env: Record<string, string>, options: unknown = undefined) =>
    runEffect(
      Effect.gen(function* () {
        return yield* Config.Config
      }).pipe(
        Effect.provide(Config.layerFrom({ options, host: { repository: async () => undefined } })),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { OPENCODE_ENABLE_TELEMETRY: "1", ...env } }))),
      ),
    )

  test("Claude Code's OTEL_METRICS_INCLUDE_REPOSITORY is the fallback; OPENCODE_* and the option win", async () => {
    expect((await fromEnv({ OTEL_METRICS_INCLUDE_REPOSITORY: "true" })).metrics.repository).toBe("metrics")
    expect((await fromEnv({ OTEL_METRICS_INCLUDE_REPOSITORY: "true", OPENCODE_METRICS_INCLUDE_REPOSITORY: "false" })).metrics.repository).toBe("resource")
    expect((await fromEnv({}, { metricsIncludeRepository: true })).metrics.repository).toBe("metrics")
    expect((await fromEnv({ OPENCODE_METRICS_INCLUDE_REPOSITORY: "1" }, { metricsIncludeRepository: false })).metrics.repository).toBe("resource")
  })

  test("a bad value: one problem, and the default (the resource) applies", () => {
    const { config, problems } = decode({ OPENCODE_METRICS_INCLUDE_REPOSITORY: "sometimes" }, async () => undefined)
    expect(config.metrics.repository).toBe("resource")
    expect(problems.map((p) => p.variable)).toEqual(["OPENCODE_METRICS_INCLUDE_REPOSITORY"])
    expect(problems[0]!.message).toContain("The default applies: the repository on the resource")
  })

  test("telemetry off: nothing is read", () => {
    let asked = 0
    Config.decodeSettings({ OPENCODE_METRICS_INCLUDE_REPOSITORY: "true" }, undefined, {}, { repository: async () => (asked++, undefined) })
    expect(asked).toBe(0)
  })
})

/** The services over a decoded configuration whose repository is `read`. */
const layerWith = (raw: Config.RawSettings, read: () => Promise<Repository | undefined>) =>
  Telemetry.layerOn(Exporter.layerMemory).pipe(
    Layer.provideMerge(Config.layerDecoded(Config.decodeSettings({ OPENCODE_ENABLE_TELEMETRY: "1", ...raw }, undefined, {}, { repository: read }))),
  )

describe("where the attributes go", () => {
  let dir: string
  beforeAll(() => {
    dir = repo("instruments")
    git(dir, "remote", "add", "origin", "https://bob:pw@github.com/acme/widgets.git")
  })
  const on = effectTest(Layer.suspend(() => layerWith({ OPENCODE_METRICS_INCLUDE_REPOSITORY: "true" }, () => readRepository([dir]))))
  const off = effectTest(Layer.suspend(() => layerWith({}, () => readRepository([dir]))))
  const none = effectTest(Layer.suspend(() => layerWith({ OPENCODE_METRICS_INCLUDE_REPOSITORY: "none" }, () => readRepository([dir]))))

  on("on: the remote on metric points, the branch on events and spans; a checkout shows after refreshHead", () =>
    Effect.gen(function* () {
      const instruments = yield* Instruments
      const memory = yield* MemoryExporter
      yield* instruments.count("session.count", 1, { "session.id": "s1" })
      yield* instruments.event("user_prompt", { "session.id": "s1" })
      const span = yield* instruments.startSpan("session", "invoke_agent build", { attributes: { "session.id": "s1" } })
      span?.end()
      git(dir, "checkout", "-q", "-b", "feature/x")
      yield* instruments.event("tool_result", { "session.id": "s1" })
      yield* instruments.refreshHead
      yield* instruments.event("tool_result", { "session.id": "s1" })

      const metrics = yield* memory.metrics
      const points = metrics.flatMap((m) => m.scopeMetrics.flatMap((s) => s.metrics.flatMap((x) => (x.dataPoints as ReadonlyArray<{ attributes: Record<string, unknown> }>).map((p) => p))))
      expect(points.length).toBeGreaterThan(0)
      for (const point of points) {
        expect(point.attributes["vcs.repository.url.full"]).toBe("https://github.com/acme/widgets")
        expect(point.attributes["vcs.owner.name"]).toBe("acme")
        expect(point.attributes["vcs.repository.name"]).toBe("widgets")
        expect(point.attributes["vcs.provider.name"]).toBe("github")
        expect(point.attributes["vcs.ref.head.name"]).toBeUndefined()
      }
      const logs = yield* memory.logs
      expect(logs.map((l) => l.attributes["vcs.ref.head.name"])).toEqual(["main", "main", "feature/x"])
      expect(logs.every((l) => l.attributes["vcs.ref.head.type"] === "branch" && l.attributes["vcs.repository.url.full"] === undefined)).toBe(true)
      const spans = yield* memory.spans
      expect(spans.map((s) => s.attributes["vcs.ref.head.name"])).toEqual(["main"])
      git(dir, "checkout", "-q", "main")
    }),
  )

  off("by default: the repository on the resource, the branch on events and spans, nothing on metric points", () =>
    Effect.gen(function* () {
      const instruments = yield* Instruments
      const memory = yield* MemoryExporter
      yield* instruments.count("session.count", 1, { "session.id": "s1" })
      yield* instruments.event("user_prompt", { "session.id": "s1" })
      ;(yield* instruments.startSpan("session", "invoke_agent build"))?.end()
      const metrics = yield* memory.metrics
      expect(JSON.stringify(metrics.map((m) => m.scopeMetrics))).not.toContain("vcs.")
      expect((yield* memory.logs).map((l) => l.attributes["vcs.ref.head.name"])).toEqual(["main"])
      const spans = yield* memory.spans
      expect(spans.map((s) => s.attributes["vcs.ref.head.name"])).toEqual(["main"])
      const resource = spans[0]!.resource
      yield* Effect.promise(() => resource.waitForAsyncAttributes?.() ?? Promise.resolve())
      expect(resource.attributes["vcs.repository.url.full"]).toBe("https://github.com/acme/widgets")
      expect(resource.attributes["vcs.owner.name"]).toBe("acme")
      expect(resource.attributes["vcs.repository.name"]).toBe("widgets")
      expect(resource.attributes["vcs.provider.name"]).toBe("github")
      expect(resource.attributes["vcs.ref.head.name"]).toBeUndefined()
    }),
  )

  none("none: no repository attribute anywhere", () =>
    Effect.gen(function* () {
      const instruments = yield* Instruments
      const memory = yield* MemoryExporter
      yield* instruments.count("session.count", 1, { "session.id": "s1" })
      yield* instruments.event("user_prompt", { "session.id": "s1" })
      ;(yield* instruments.startSpan("session", "invoke_agent build"))?.end()
      yield* instruments.refreshHead
      const spans = yield* memory.spans
      yield* Effect.promise(() => spans[0]!.resource.waitForAsyncAttributes?.() ?? Promise.resolve())
      const everything = JSON.stringify([yield* memory.metrics, (yield* memory.logs).map((l) => l.attributes), spans.map((s) => [s.attributes, s.resource.attributes])])
      expect(everything).toContain("session.id")
      expect(everything).not.toContain("vcs.")
    }),
  )
})
