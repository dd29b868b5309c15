/**
 * Every way opencode 1.18.33 can install this plugin, each checked with the real opencode CLI (`opencode run`,
 * isolated and offline, against the scripted fake LLM) with telemetry on: the plugin must send
 * `opencode.session.count` = 1, the session.created event and the session span to a loopback receiver, and
 * opencode's exit code and output must be what they are without the plugin.
 *
 * What opencode does (read from its bundled source, then run):
 * - `"plugin": ["<name>"]` becomes `<name>@latest`; `"<name>@0.1.0"` stays as written. The spec names a folder,
 *   `$XDG_CACHE_HOME/opencode/packages/<spec>/` (`~/.cache/opencode/packages/...`): if its
 *   `node_modules/<name>` exists it is loaded as it is, with no registry access and no version check, ever;
 *   otherwise opencode installs the spec there itself, with npm's Arborist built into it (no `npm` or `bun`
 *   process; npm's config and registry apply, scripts are not run). A new version is therefore installed only
 *   for a new spec (a pinned version) or after that folder is deleted.
 * - `<name>@file:/abs/x.tgz` is installed the same way from the tarball (folder `packages/<name>@file:/abs/x.tgz/`).
 * - Plugin directories: `plugin/*.{js,ts}` and `plugins/*.{js,ts}` of every config directory
 *   (`$XDG_CONFIG_HOME/opencode`, each `.opencode` from the project directory up to the worktree, `~/.opencode`,
 *   `$OPENCODE_CONFIG_DIR`); not recursive, no `.mjs`; symlinks followed. Every exported value of such a file
 *   must be a function (or `{server}`); each is called as a plugin, and one that is not fails the whole file.
 * - `file://` URLs (and absolute paths) to a module, or to a package directory (its package.json `main`).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { builtinModules } from "node:module"
import { existsSync } from "node:fs"
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join, parse } from "node:path"
import { pathToFileURL } from "node:url"
import { DEFAULT_ANSWER, startFakeLlm } from "../support/fake-llm.ts"
import {
  createOpencodeHome,
  exec,
  initGitRepo,
  installPackedPlugin,
  isolatedEnv,
  npmConfigGet,
  packPackage,
  REPO_ROOT,
  removeOpencodeHome,
  runOpencode,
  seedConfigDir,
  type OpencodeHome,
  type OpencodeRunResult,
  type PluginSpec,
} from "../support/opencode.ts"
import { latestPoints } from "../lib/received.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"

const PROMPT = "Say hello to the telemetry test."
const NAME = "opencode-plugin-opentelemetry"
/** The self-contained single-file build (scripts/bundle.ts), the file to copy into a plugin directory. */
const SINGLE_FILE = `${NAME}.js`
/** Nothing listens here: any registry access fails (and would take opencode ~70 s of retries). */
const CLOSED_REGISTRY = "http://127.0.0.1:9/"

let home: OpencodeHome
let baseline: OpencodeRunResult
let scratch: string
let tarball: string
let version: string

beforeAll(async () => {
  home = await createOpencodeHome()
  scratch = await mkdtemp(join(tmpdir(), "otel-install-"))
  version = String(JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")).version)
  // prepack builds dist/ (tsc, then scripts/bundle.ts), as `npm publish` would: the tarball and dist/ are fresh.
  tarball = await packPackage(REPO_ROOT, join(scratch, "pack"), { ignoreScripts: false })
  baseline = await runWith({ home })
}, 240_000)

afterAll(async () => {
  if (home) await removeOpencodeHome(home)
  if (scratch) await rm(scratch, { recursive: true, force: true })
})

/** One opencode run against a fresh scripted model. */
async function runWith(options: Omit<Parameters<typeof runOpencode>[0], "prompt" | "llmUrl">): Promise<OpencodeRunResult> {
  const llm = await startFakeLlm()
  try {
    return await runOpencode({ prompt: PROMPT, llmUrl: llm.url, ...options })
  } finally {
    await llm.stop()
  }
}

/** A run with telemetry switched on by the environment only, sending to a fresh receiver. */
async function runWithTelemetry(
  protocol: Protocol,
  options: { home: OpencodeHome; plugins?: PluginSpec[]; cwd?: string; env?: Record<string, string> },
): Promise<{ result: OpencodeRunResult; receiver: Receiver }> {
  const receiver = await startReceiver({ protocol })
  try {
    const result = await runWith({
      ...options,
      env: {
        OPENCODE_ENABLE_TELEMETRY: "1",
        OPENCODE_OTLP_ENDPOINT: receiver.url,
        OPENCODE_OTLP_PROTOCOL: protocol,
        npm_config_registry: CLOSED_REGISTRY,
        ...options.env,
      },
    })
    return { result, receiver }
  } finally {
    await receiver.stop()
  }
}

/** The plugin ran exactly once and sent what it sends for one session; opencode's exit code and output are unchanged. */
function expectInstalled({ result, receiver }: { result: OpencodeRunResult; receiver: Receiver }) {
  expect(baseline.exitCode).toBe(0)
  expect(baseline.stdout).toContain(DEFAULT_ANSWER)
  expect(result.exitCode).toBe(baseline.exitCode)
  expect(result.stdout).toBe(baseline.stdout)
  const counts = latestPoints({ metrics: receiver.metrics() }, "opencode.session.count")
  if (counts.length !== 1) {
    console.error(`no telemetry (${receiver.requests.length} requests); the plugin's log lines:`)
    console.error(result.logs.split("\n").filter((line) => line.includes(NAME)).join("\n") || "(none)")
  }
  expect(counts.map((point) => point.value)).toEqual([1])
  expect(counts[0]!.scope.name).toBe(NAME)
  expect(counts[0]!.scope.version).toBe(version)
  const sessionID = counts[0]!.attributes["session.id"]
  expect(String(sessionID)).toMatch(/^ses_/)
  // Loaded twice (say, also from a subdirectory), the plugin would send each event twice.
  const created = receiver.logs().filter((log) => log.attributes["event.name"] === "session.created")
  expect(created.map((log) => log.attributes["session.id"])).toEqual([sessionID!])
  expect(receiver.spans().filter((span) => span.name.startsWith("invoke_agent"))).toHaveLength(1)
  // Far below the ~70 s opencode spends retrying an unreachable registry: nothing was installed at start-up.
  expect(result.durationMs).toBeLessThan(30_000)
}

/** True if some `node_modules` on the way from `dir` up to `/` holds `name`. */
function resolvableAbove(dir: string, name: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, "node_modules", name)
    if (existsSync(candidate)) return candidate
    if (at === parse(at).root) return undefined
  }
}

describe("by package name, from opencode's package cache", () => {
  test(
    `"plugin": ["${NAME}"] loads $XDG_CACHE_HOME/opencode/packages/${NAME}@latest/node_modules/${NAME} without asking the registry`,
    async () => {
      // What opencode's own install would leave there once the package is published (npm install of the tarball).
      const installed = await installPackedPlugin(tarball, home)
      expect(installed).toBe(join(home.cacheHome, "opencode", "packages", `${NAME}@latest`, "node_modules", NAME))
      expectInstalled(await runWithTelemetry("http/json", { home, plugins: [NAME] }))
    },
    240_000,
  )

  test(
    `a pinned "${NAME}@<version>" is a folder of its own, packages/${NAME}@<version>/ (the way to upgrade)`,
    async () => {
      const pinnedHome = await createOpencodeHome()
      try {
        // No @latest folder here: the pinned spec can only be served from its own folder.
        const installed = await installPackedPlugin(tarball, pinnedHome, { spec: `${NAME}@${version}` })
        expect(installed).toBe(join(pinnedHome.cacheHome, "opencode", "packages", `${NAME}@${version}`, "node_modules", NAME))
        expect(existsSync(join(pinnedHome.cacheHome, "opencode", "packages", `${NAME}@latest`))).toBe(false)
        expectInstalled(await runWithTelemetry("http/protobuf", { home: pinnedHome, plugins: [`${NAME}@${version}`] }))
      } finally {
        await removeOpencodeHome(pinnedHome)
      }
    },
    240_000,
  )

  test(
    `"${NAME}@file:/abs/path/to/the.tgz": opencode installs the tarball itself (npm's cache only, offline)`,
    async () => {
      const fileHome = await createOpencodeHome()
      try {
        const spec = `${NAME}@file:${tarball}`
        const outcome = await runWithTelemetry("http/json", {
          home: fileHome,
          plugins: [spec],
          // opencode's built-in npm reads npm's usual config: the dependencies come from this machine's npm cache
          // (whose entries are keyed by the registry's URL), with no network.
          env: {
            npm_config_cache: await npmConfigGet("cache"),
            npm_config_registry: await npmConfigGet("registry"),
            npm_config_offline: "true",
          },
        })
        expectInstalled(outcome)
        // The spec, slashes and all, is the folder's name.
        const folder = join(fileHome.cacheHome, "opencode", "packages", spec)
        expect(existsSync(join(folder, "node_modules", NAME, "package.json"))).toBe(true)
        // effect, a peer dependency, was installed alongside.
        expect(existsSync(join(folder, "node_modules", "effect", "package.json"))).toBe(true)
      } finally {
        await removeOpencodeHome(fileHome)
      }
    },
    240_000,
  )
})

describe(`the single file dist/${SINGLE_FILE} in a plugin directory`, () => {
  test("it imports nothing but Bun's built-in modules and exports exactly one function", async () => {
    const code = await readFile(join(REPO_ROOT, "dist", SINGLE_FILE), "utf8")
    // Static imports, dynamic imports and require calls, also those inside the lazily run part.
    const transpiler = new Bun.Transpiler({ loader: "js" })
    const specifiers = transpiler.scanImports(code).map((entry) => entry.path)
    expect(specifiers.length).toBeGreaterThan(10)
    const builtins = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)])
    expect([...new Set(specifiers.filter((specifier) => !builtins.has(specifier)))]).toEqual([])
    expect(transpiler.scan(code).exports).toEqual(["OpenTelemetryPlugin"])
    // Loaded from a directory with no node_modules anywhere above it.
    const alone = await mkdtemp(join(tmpdir(), "otel-single-"))
    try {
      expect(resolvableAbove(alone, "effect")).toBeUndefined()
      await copyFile(join(REPO_ROOT, "dist", SINGLE_FILE), join(alone, SINGLE_FILE))
      const module = (await import(pathToFileURL(join(alone, SINGLE_FILE)).href)) as Record<string, unknown>
      expect(Object.keys(module)).toEqual(["OpenTelemetryPlugin"])
      expect(typeof module["OpenTelemetryPlugin"]).toBe("function")
    } finally {
      await rm(alone, { recursive: true, force: true })
    }
  })

  test(
    "copied into $XDG_CONFIG_HOME/opencode/plugin/ (~/.config/opencode/plugin/), next to a subdirectory and a .mjs copy that opencode ignores",
    async () => {
      const globalHome = await createOpencodeHome()
      try {
        const pluginDir = join(globalHome.configHome, "opencode", "plugin")
        await mkdir(join(pluginDir, "chunks"), { recursive: true })
        await copyFile(join(REPO_ROOT, "dist", SINGLE_FILE), join(pluginDir, SINGLE_FILE))
        // Loaded as well, these would run the plugin two or three times (each session.created sent as often).
        await copyFile(join(REPO_ROOT, "dist", SINGLE_FILE), join(pluginDir, "chunks", SINGLE_FILE))
        await copyFile(join(REPO_ROOT, "dist", SINGLE_FILE), join(pluginDir, `${NAME}.mjs`))
        // Nothing to borrow: the seeded node_modules of the config directory holds @opencode-ai/plugin only.
        expect(resolvableAbove(pluginDir, "effect")).toBeUndefined()
        expect(resolvableAbove(pluginDir, "@opentelemetry/api")).toBeUndefined()
        expectInstalled(await runWithTelemetry("grpc", { home: globalHome }))
      } finally {
        await removeOpencodeHome(globalHome)
      }
    },
    240_000,
  )

  test.each(["plugins", "plugin"])(
    "copied into the project's .opencode/%s/",
    async (directoryName) => {
      const project = await mkdtemp(join(home.root, "project-"))
      await initGitRepo(project, isolatedEnv(home))
      // opencode installs @opencode-ai/plugin into the project's .opencode/ as into every config directory.
      await seedConfigDir(join(project, ".opencode"))
      const pluginDir = join(project, ".opencode", directoryName)
      await mkdir(pluginDir, { recursive: true })
      await copyFile(join(REPO_ROOT, "dist", SINGLE_FILE), join(pluginDir, SINGLE_FILE))
      expect(resolvableAbove(pluginDir, "effect")).toBeUndefined()
      expectInstalled(await runWithTelemetry("http/protobuf", { home, cwd: project }))
    },
    240_000,
  )
})

describe("by file:// URL to a checkout (src/plugin.ts: see plugin.e2e.test.ts)", () => {
  test(
    "to its dist/plugin.js",
    async () => {
      expectInstalled(await runWithTelemetry("http/json", { home, plugins: [pathToFileURL(join(REPO_ROOT, "dist", "plugin.js")).href] }))
    },
    240_000,
  )

  test(
    "to the checkout's directory: opencode loads its package.json main, dist/plugin.js",
    async () => {
      expectInstalled(await runWithTelemetry("http/json", { home, plugins: [pathToFileURL(REPO_ROOT).href] }))
    },
    240_000,
  )
})

describe("the npm-pack tarball", () => {
  test(
    "holds dist's JavaScript and declarations and the README; npm install of it installs the peer effect; both entries load under Bun",
    async () => {
      const listing = await exec("tar", ["-tzf", tarball], { env: process.env as Record<string, string> })
      expect(listing.exitCode).toBe(0)
      const files = listing.stdout.split("\n").filter((line) => line !== "").map((line) => line.replace(/^package\//, ""))
      for (const needed of ["package.json", "README.md", "dist/plugin.js", "dist/plugin.d.ts", "dist/index.js", "dist/index.d.ts", `dist/${SINGLE_FILE}`]) {
        expect(files).toContain(needed)
      }
      expect(files.some((file) => file.startsWith("dist/chunks/"))).toBe(true)
      expect(files.filter((file) => !/^dist\/.+\.(js|d\.ts)$/.test(file) && !["package.json", "README.md", "CHANGELOG.md", "LICENSE"].includes(file))).toEqual([])

      const project = join(scratch, "consumer")
      await mkdir(project, { recursive: true })
      await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }) + "\n")
      const install = await exec("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], {
        cwd: project,
        env: process.env as Record<string, string>,
        timeoutMs: 180_000,
      })
      expect(install.exitCode).toBe(0)
      const added = Number(/added (\d+) packages?/.exec(install.stdout)?.[1])
      console.log(`npm install of the tarball into an empty project: added ${added} packages`)
      expect(added).toBeGreaterThan(1)
      expect(existsSync(join(project, "node_modules", "effect", "package.json"))).toBe(true)
      const manifest = JSON.parse(await readFile(join(project, "package.json"), "utf8"))
      expect(Object.keys(manifest.dependencies)).toEqual([NAME])

      const probe = [
        `const effectApi = await import("${NAME}/effect")`,
        `const plugin = await import("${NAME}")`,
        `console.log(JSON.stringify({ effect: Object.keys(effectApi).length, plugin: Object.keys(plugin) }))`,
      ].join("\n")
      await writeFile(join(project, "probe.ts"), probe + "\n")
      const loaded = await exec(join(REPO_ROOT, "node_modules", ".bin", "bun"), ["run", "probe.ts"], {
        cwd: project,
        env: process.env as Record<string, string>,
        timeoutMs: 60_000,
      })
      expect(loaded.stderr).toBe("")
      expect(loaded.exitCode).toBe(0)
      const seen = JSON.parse(loaded.stdout.trim().split("\n").at(-1)!)
      expect(seen.effect).toBeGreaterThan(0)
      expect(seen.plugin).toEqual(["OpenTelemetryPlugin"])
    },
    240_000,
  )
})
