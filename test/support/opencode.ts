/**
 * Run the real opencode CLI (the pinned `opencode-ai` devDependency, 1.18.33) headless, offline and isolated.
 *
 * Isolation: each run uses temp `HOME` and `XDG_{CONFIG,DATA,CACHE,STATE}_HOME` (made fresh, or a prepared
 * {@link OpencodeHome} reused across runs); the parent's `OTEL_*`, `OPENCODE_*`, `XDG_*`, `GIT_*`, `npm_*`,
 * `BUN_*`, `NODE_OPTIONS`, `*_API_KEY` and provider credential variables are not passed on (only `opts.env` sets
 * them); the `OPENCODE_DISABLE_*` switches and `NO_COLOR=1` are set; the config (fake provider, model `fake/m`)
 * goes in `OPENCODE_CONFIG_CONTENT`, so nothing is written into the project directory.
 *
 * Verified with opencode 1.18.33 (by reading the binary's bundled source and by experiment, with
 * `npm_config_registry` pointed at a closed port so any registry access fails):
 *
 * - Startup dependency install. For every config directory (here `$XDG_CONFIG_HOME/opencode`) opencode forks an
 *   `Npm.install(dir, {add: ["@opencode-ai/plugin@1.18.33"]})` and, when any plugin is configured, waits for it
 *   before loading plugins. That install runs npm (arborist reify, network) unless `<dir>/node_modules` exists
 *   AND every name in `<dir>/package.json` deps plus `@opencode-ai/plugin` is listed in
 *   `<dir>/package-lock.json` `packages[""].dependencies`. A `node_modules/@opencode-ai/plugin` alone is NOT
 *   enough: with the registry unreachable the run then took 73 s (the install fails after npm's retries, logged as
 *   WARN "background dependency install failed"). {@link createOpencodeHome} therefore writes package.json +
 *   package-lock.json and symlinks this repo's `node_modules/@opencode-ai/plugin`; a whole run then takes ~2.8 s
 *   with no registry access. Without plugins opencode does not wait for the install (~3.3 s either way).
 *
 * - npm-name plugins (`"plugin": ["name"]` or `["name", {options}]`): the spec `name` becomes `name@latest`
 *   (`name@1.0.0` stays as written) and opencode calls `Npm.add(spec)`, whose directory is
 *   `$XDG_CACHE_HOME/opencode/packages/<spec>` (e.g. `.../packages/opencode-plugin-opentelemetry@latest`;
 *   verified: `dummy-oc-plugin@1.0.0` loads from `.../packages/dummy-oc-plugin@1.0.0/` and NOT from an `@latest`
 *   install). If
 *   `<that dir>/node_modules/<name>` exists it is used as is: no registry access, no version check. Otherwise
 *   arborist installs `<spec>` from the registry (with the registry unreachable: ~70 s of retries, then the plugin
 *   is skipped silently — nothing at INFO level, exit code still 0). The entry is the package's
 *   `exports["./server"]` (`import`/`default`), else `main`; `engines.opencode`, if present, must match 1.18.33.
 *   Every exported function of the entry module is called as a plugin with `(input, options)`; the tuple's
 *   object arrives as `options`. `XDG_CONFIG_HOME/opencode/node_modules` and the project's `.opencode/` are NOT
 *   where npm-name plugins are looked up. {@link installPackedPlugin} puts an `npm pack` tarball there (verified
 *   with a dummy package: loaded from `.../packages/dummy-oc-plugin@latest/node_modules/dummy-oc-plugin/index.js`
 *   with the tuple options, registry unreachable, run 2.8 s; bare-string form too, options then `undefined`).
 *   The packed opencode-plugin-opentelemetry itself, installed this way and configured by name with
 *   `{enabled: true, endpoint, protocol: "http/json"}`, loaded and exported traces, logs and metrics (3.3 s run).
 *
 * - Plugin directories: opencode loads `{plugin,plugins}/*.{ts,js}` (a glob: not recursive, no `.mjs`, symlinks
 *   followed) of every config directory: `$XDG_CONFIG_HOME/opencode`, each `.opencode` from the project directory
 *   up to the worktree, `~/.opencode`, `$OPENCODE_CONFIG_DIR`; such plugins get no options. Every exported value
 *   must be a function (or `{server}`): each is called; one that is not fails the file (ERROR "failed to load
 *   plugin ... Plugin export is not a function"). A file that fails to import is skipped with nothing logged.
 *   opencode installs `@opencode-ai/plugin` into each of those directories (see {@link seedConfigDir}).
 *
 * - Logs: `--print-logs --log-level INFO` writes `timestamp=... level=... message=...` lines to stderr, mixed with
 *   a few lines of CLI output ("> build · m"). `$XDG_DATA_HOME/opencode/log/opencode.log` gets the same lines but
 *   is often INCOMPLETE at exit (in 5 of 7 runs it ended at the first "loop ... step=0" line: 12 of 29 lines), so
 *   {@link runOpencode} returns the stderr log lines as `logs` and the file as `logFile`. Plugin loading is not
 *   logged at INFO (not even a failure) nor DEBUG (which adds one line in all).
 *
 * - PWD: opencode takes the project directory from `$PWD` when set. With the test runner's stale PWD it opened a
 *   second instance there (plugins initialised twice, once with project "global"), so runs set PWD to the cwd.
 *
 * - Timing (this machine): a whole `opencode run` with the default one-answer script takes 2.5-3.5 s with the
 *   pre-seeded config dir; plugin factories are called ~1.0-1.1 s after launch, session.idle ~2.6-2.9 s after
 *   launch, exit ~0.1 s later; installPackedPlugin of this package (56 packages from the npm cache) takes 3-7 s.
 */
import { Database } from "bun:sqlite"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { isAbsolute, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"

/** The repository root (this file is test/support/opencode.ts). */
export const REPO_ROOT = resolve(import.meta.dir, "..", "..")

/** Path of the pinned opencode CLI. */
export function opencodeBin(): string {
  return join(REPO_ROOT, "node_modules", ".bin", "opencode")
}

/** The version of the pinned opencode CLI (the matching @opencode-ai/plugin is a devDependency too). */
export async function opencodeVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, "node_modules", "opencode-ai", "package.json"), "utf8"))
  return String(pkg.version)
}

/** An isolated set of HOME/XDG directories for opencode. Reuse one across runs to keep installed plugins. */
export interface OpencodeHome {
  /** The temp directory holding all of the below. */
  root: string
  /** HOME */
  home: string
  /** XDG_CONFIG_HOME; opencode's global config dir is `<configHome>/opencode`. */
  configHome: string
  /** XDG_DATA_HOME; the session database and `opencode/log/opencode.log` live here. */
  dataHome: string
  /** XDG_CACHE_HOME; npm-name plugins resolve from `<cacheHome>/opencode/packages/<spec>/node_modules/<name>`. */
  cacheHome: string
  /** XDG_STATE_HOME */
  stateHome: string
}

/**
 * Make temp HOME/XDG dirs and pre-seed `$XDG_CONFIG_HOME/opencode` with `@opencode-ai/plugin` (a symlink to this
 * repo's copy, plus package.json and package-lock.json naming it) so that opencode does not run npm at startup.
 */
export async function createOpencodeHome(): Promise<OpencodeHome> {
  const root = await mkdtemp(join(tmpdir(), "oc-home-"))
  const dirs: OpencodeHome = {
    root,
    home: join(root, "home"),
    configHome: join(root, "config"),
    dataHome: join(root, "data"),
    cacheHome: join(root, "cache"),
    stateHome: join(root, "state"),
  }
  for (const d of [dirs.home, dirs.configHome, dirs.dataHome, dirs.cacheHome, dirs.stateHome]) {
    await mkdir(d, { recursive: true })
  }
  await seedConfigDir(join(dirs.configHome, "opencode"))
  return dirs
}

/**
 * Pre-seed one of opencode's config directories (`$XDG_CONFIG_HOME/opencode`, a project's `.opencode`,
 * `~/.opencode`) the way opencode's own start-up install would leave it: package.json and package-lock.json naming
 * `@opencode-ai/plugin`, and `node_modules/@opencode-ai/plugin` (a symlink to this repo's copy). opencode 1.18.33
 * installs that package into EVERY config directory it finds (seen: into a project's `.opencode/` too, writing
 * package.json, package-lock.json, node_modules/ and a .gitignore there) and, with plugins configured, waits for
 * it; seeded, it runs no npm. Unlike opencode's real install (which brings that package's dependencies, `effect`
 * among them), nothing else is there: a plugin file that needs more than Bun's built-ins fails to load here.
 */
export async function seedConfigDir(configDir: string): Promise<void> {
  await mkdir(join(configDir, "node_modules", "@opencode-ai"), { recursive: true })
  await symlink(
    join(REPO_ROOT, "node_modules", "@opencode-ai", "plugin"),
    join(configDir, "node_modules", "@opencode-ai", "plugin"),
    "dir",
  )
  const version = await opencodeVersion()
  const deps = { "@opencode-ai/plugin": version }
  await writeFile(join(configDir, "package.json"), JSON.stringify({ dependencies: deps }, null, 2) + "\n")
  await writeFile(
    join(configDir, "package-lock.json"),
    JSON.stringify({ name: "opencode", lockfileVersion: 3, requires: true, packages: { "": { dependencies: deps } } }, null, 2) +
      "\n",
  )
}

/** A setting of this machine's npm (`npm config get <key>`, e.g. "cache", "registry"), for installs that must stay offline. */
export async function npmConfigGet(key: string): Promise<string> {
  const res = await exec("npm", ["config", "get", key], { env: process.env as Record<string, string> })
  const value = res.stdout.trim()
  if (res.exitCode !== 0 || value === "") throw new Error(`npm config get ${key} failed (${res.exitCode}): ${res.stderr}`)
  return value
}

/**
 * Install an `npm pack` tarball where opencode 1.18.33 resolves the npm-name plugin `spec` (default:
 * `<package name>@latest`, which is what a bare `"plugin": ["<name>"]` becomes):
 * `<cacheHome>/opencode/packages/<spec>/node_modules/<name>`, dependencies included (npm install
 * `--prefer-offline --ignore-scripts`, so they come from the npm cache that this repo's own `npm install` filled).
 * opencode then loads it without any registry access. Returns the installed package directory.
 */
export async function installPackedPlugin(
  tarballPath: string,
  home: OpencodeHome | string,
  opts: { spec?: string } = {},
): Promise<string> {
  const cacheHome = typeof home === "string" ? home : home.cacheHome
  const tarball = resolve(tarballPath)
  const name = await tarballPackageName(tarball)
  const spec = opts.spec ?? `${name}@latest`
  const dir = join(cacheHome, "opencode", "packages", spec)
  await mkdir(dir, { recursive: true })
  const res = await exec(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock", "--loglevel=error", tarball],
    { cwd: dir, env: process.env as Record<string, string>, timeoutMs: 180_000 },
  )
  const installed = join(dir, "node_modules", name)
  if (res.exitCode !== 0 || !existsSync(join(installed, "package.json"))) {
    throw new Error(`npm install ${tarball} in ${dir} failed (${res.exitCode}):\n${res.stdout}\n${res.stderr}`)
  }
  return installed
}

/** Run `npm pack` on a package directory (scripts skipped by default) and return the tarball path. */
export async function packPackage(packageDir: string, destination: string, opts: { ignoreScripts?: boolean } = {}) {
  await mkdir(destination, { recursive: true })
  const args = ["pack", "--json", "--pack-destination", destination]
  if (opts.ignoreScripts !== false) args.push("--ignore-scripts")
  const res = await exec("npm", args, { cwd: packageDir, env: process.env as Record<string, string>, timeoutMs: 180_000 })
  if (res.exitCode !== 0) throw new Error(`npm pack in ${packageDir} failed (${res.exitCode}):\n${res.stderr}`)
  const out = JSON.parse(res.stdout.slice(res.stdout.indexOf("[")))
  return join(destination, String(out[0].filename))
}

async function tarballPackageName(tarball: string): Promise<string> {
  const res = await exec("tar", ["-xzOf", tarball, "package/package.json"], { env: process.env as Record<string, string> })
  if (res.exitCode !== 0) throw new Error(`cannot read package/package.json from ${tarball}: ${res.stderr}`)
  return String(JSON.parse(res.stdout).name)
}

export type PluginSpec = string | [string, Record<string, unknown>]

/** The opencode config for the fake provider `fake` (model `fake/m`): costs input 3, output 15, cache_read 0.3, cache_write 3.75 per 1M tokens. */
export function fakeProviderConfig(llmUrl: string, plugins: PluginSpec[] = []): Record<string, unknown> {
  return {
    $schema: "https://opencode.ai/config.json",
    provider: {
      fake: {
        npm: "@ai-sdk/openai-compatible",
        name: "Fake",
        options: { baseURL: llmUrl, apiKey: "fake-key" },
        models: {
          m: {
            name: "Fake model",
            tool_call: true,
            cost: { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
            limit: { context: 128000, output: 8192 },
          },
        },
      },
    },
    model: "fake/m",
    small_model: "fake/m",
    enabled_providers: ["fake"],
    autoupdate: false,
    share: "disabled",
    lsp: false,
    formatter: false,
    permission: { edit: "allow", bash: "allow" },
    plugin: plugins.map(normalizePluginSpec),
  }
}

function normalizePluginSpec(p: PluginSpec): PluginSpec {
  const fix = (s: string) => (isAbsolute(s) ? pathToFileURL(s).href : s)
  return typeof p === "string" ? fix(p) : [fix(p[0]), p[1]]
}

const DISABLE_ENV: Record<string, string> = {
  OPENCODE_DISABLE_AUTOUPDATE: "1",
  OPENCODE_DISABLE_MODELS_FETCH: "1",
  OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
  OPENCODE_DISABLE_SHARE: "1",
  OPENCODE_DISABLE_CLAUDE_CODE: "1",
  OPENCODE_DISABLE_EXTERNAL_SKILLS: "1",
  OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
  NO_COLOR: "1",
}

const DROPPED_ENV =
  /^(OTEL_|OPENCODE_|XDG_|GIT_|npm_|BUN_|NODE_OPTIONS$|NODE_PATH$|HOME$|NO_COLOR$|FORCE_COLOR$|ANTHROPIC_|OPENAI_|AWS_|AZURE_|GOOGLE_|GEMINI_|OPENROUTER_|GITHUB_TOKEN$|GH_TOKEN$)|_API_KEY$/i

/** The environment opencode runs with: the parent's minus the dropped variables, plus isolation and `extra`. */
export function isolatedEnv(dirs: OpencodeHome, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !DROPPED_ENV.test(k)) env[k] = v
  }
  return {
    ...env,
    HOME: dirs.home,
    XDG_CONFIG_HOME: dirs.configHome,
    XDG_DATA_HOME: dirs.dataHome,
    XDG_CACHE_HOME: dirs.cacheHome,
    XDG_STATE_HOME: dirs.stateHome,
    GIT_CONFIG_NOSYSTEM: "1",
    ...DISABLE_ENV,
    ...extra,
  }
}

/** Make `dir` a git repo with one commit (README.md) and a local identity, as opencode expects a project. */
export async function initGitRepo(dir: string, env: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, "README.md"), "# test project\n")
  const git = async (...args: string[]) => {
    const r = await exec("git", args, { cwd: dir, env })
    if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`)
  }
  await git("init", "-q")
  await git("config", "user.name", "Test User")
  await git("config", "user.email", "test@example.com")
  await git("config", "commit.gpgsign", "false")
  await git("add", "README.md")
  await git("commit", "-q", "-m", "initial commit")
}

export interface OpencodeRunOptions {
  prompt: string
  /** Base URL of the fake LLM, including `/v1`. */
  llmUrl: string
  /** Plugin specs for `"plugin"`; absolute paths are turned into file:// URLs. */
  plugins?: PluginSpec[]
  /** Extra environment for opencode (applied last: may set OTEL_*, OPENCODE_*, ...). */
  env?: Record<string, string>
  /** Project directory; a temp git repo (one commit) is created if omitted. */
  cwd?: string
  /** `--log-level` (default "INFO"); logs go to stderr (`--print-logs`) and to `logs`. */
  logLevel?: "DEBUG" | "INFO" | "WARN" | "ERROR"
  /** Arguments placed before the prompt, e.g. ["--format", "json"] or ["--auto"] (not --log-level: use logLevel). */
  extraArgs?: string[]
  /** SIGKILL (the whole process group) after this long; default 120 s. */
  timeoutMs?: number
  /** A prepared home (e.g. with {@link installPackedPlugin} done); a fresh one is made if omitted. */
  home?: OpencodeHome
  /** Merged (shallowly) over {@link fakeProviderConfig}. */
  config?: Record<string, unknown>
}

export interface OpencodeRunResult {
  exitCode: number | null
  /** The signal that ended opencode, if any ("SIGKILL" after a timeout). */
  signal: string | null
  timedOut: boolean
  stdout: string
  stderr: string
  durationMs: number
  /** HOME of the run. */
  home: string
  /** All isolated directories of the run. */
  dirs: OpencodeHome
  cwd: string
  /** opencode's log lines (`timestamp=... level=... message=...`) from stderr (`--print-logs`). */
  logs: string
  /** `$XDG_DATA_HOME/opencode/log/*.log` — incomplete in `run` (see the top of this file); prefer `logs`. */
  logFile: string
  /** The environment opencode ran with. */
  env: Record<string, string>
}

/** `opencode run --print-logs --log-level <logLevel|INFO> [...extraArgs] <prompt>` against the fake LLM. */
export async function runOpencode(opts: OpencodeRunOptions): Promise<OpencodeRunResult> {
  const dirs = opts.home ?? (await createOpencodeHome())
  const config = { ...fakeProviderConfig(opts.llmUrl, opts.plugins ?? []), ...(opts.config ?? {}) }
  const env = isolatedEnv(dirs, { OPENCODE_CONFIG_CONTENT: JSON.stringify(config), ...(opts.env ?? {}) })
  let cwd = opts.cwd
  if (cwd === undefined) {
    cwd = await mkdtemp(join(dirs.root, "project-"))
    await initGitRepo(cwd, env)
  }
  // opencode takes the project directory from $PWD when set: a stale PWD (the test runner's) makes it open a
  // second instance there (seen: plugins initialised twice, once for the runner's cwd with project "global").
  env["PWD"] = cwd
  delete env["OLDPWD"]
  const args = ["run", "--print-logs", "--log-level", opts.logLevel ?? "INFO", ...(opts.extraArgs ?? []), opts.prompt]
  const res = await exec(opencodeBin(), args, { cwd, env, timeoutMs: opts.timeoutMs ?? 120_000 })
  const logs = res.stderr
    .split("\n")
    .filter((l) => l.startsWith("timestamp="))
    .join("\n")
  return { ...res, home: dirs.home, dirs, cwd, logs, logFile: await readLogFile(dirs), env }
}

/**
 * Run another opencode subcommand (e.g. `["export", sessionID]`, `["stats"]`) in the same isolation as a
 * previous run.
 */
export async function opencodeCommand(
  args: string[],
  run: Pick<OpencodeRunResult, "cwd" | "env">,
  timeoutMs = 60_000,
): Promise<ExecResult> {
  return exec(opencodeBin(), args, { cwd: run.cwd, env: run.env, timeoutMs })
}

async function readLogFile(dirs: OpencodeHome): Promise<string> {
  const dir = join(dirs.dataHome, "opencode", "log")
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".log")).sort()
  const parts: string[] = []
  for (const f of files) parts.push(await readFile(join(dir, f), "utf8").catch(() => ""))
  return parts.join("")
}

/** Delete a home made by {@link createOpencodeHome} (and the temp project inside it). */
export async function removeOpencodeHome(dirs: OpencodeHome): Promise<void> {
  await rm(dirs.root, { recursive: true, force: true })
}

export interface ExecResult {
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  stdout: string
  stderr: string
  durationMs: number
}

/** Spawn in its own process group, collect output, SIGKILL the group after `timeoutMs`. */
export function exec(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env: Record<string, string>; timeoutMs?: number },
): Promise<ExecResult> {
  const started = performance.now()
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      env: opts.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout!.on("data", (b: Buffer) => out.push(b))
    child.stderr!.on("data", (b: Buffer) => err.push(b))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid!, "SIGKILL")
      } catch {
        child.kill("SIGKILL")
      }
    }, opts.timeoutMs ?? 120_000)
    child.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolvePromise({
        exitCode: code,
        signal: signal ?? null,
        timedOut,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        durationMs: Math.round(performance.now() - started),
      })
    })
  })
}

/**
 * `opencode export <id>`. opencode's database allows one writer: a concurrent or just-exited process can leave it
 * locked for a moment, so a "database is locked" export is tried again (bounded).
 */
export async function exportSession(id: string, run: { cwd: string; env: Record<string, string> }): Promise<ExecResult> {
  let res = await opencodeCommand(["export", id], run)
  for (let attempt = 1; attempt < 5 && res.exitCode !== 0 && res.stderr.includes("database is locked"); attempt++) {
    await new Promise((r) => setTimeout(r, 300 * attempt))
    res = await opencodeCommand(["export", id], run)
  }
  return res
}

/**
 * Every session in opencode's database, subagents included, in creation order. `opencode session list` shows
 * top-level sessions only. opencode 1.18.33 keeps them in `$XDG_DATA_HOME/opencode/opencode.db` (`opencode db
 * path`), table `session`, columns `id` and `time_created`; read directly (a second), else through `opencode db`.
 */
export async function listSessions(dirs: OpencodeHome, run: { cwd: string; env: Record<string, string> }): Promise<string[]> {
  const query = "select id from session order by time_created, id"
  const file = join(dirs.dataHome, "opencode", "opencode.db")
  if (existsSync(file)) {
    try {
      const db = new Database(file, { readonly: true })
      try {
        return db.query<{ id: string }, []>(query).all().map((r) => r.id)
      } finally {
        db.close()
      }
    } catch {
      // fall through to opencode's own reader
    }
  }
  const res = await opencodeCommand(["db", query, "--format", "json"], run)
  const start = res.stdout.indexOf("[")
  if (res.exitCode !== 0 || start < 0) throw new Error(`opencode db failed (${res.exitCode}): ${res.stderr.slice(-2000)}`)
  return (JSON.parse(res.stdout.slice(start)) as Array<{ id: string }>).map((r) => r.id)
}
