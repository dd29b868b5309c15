/**
 * The plain-SDK plugin the bench compares with: the seed plugin (`@devtheops/opencode-plugin-otel`), which calls the
 * OpenTelemetry SDK directly from its hooks. It is not part of this repository. `--peer-dir DIR` names either a
 * checkout of its source (github.com/DEVtheOPS/opencode-plugin-otel; its dependencies are installed there on first
 * use) or a directory whose node_modules holds the package; by default `npm run bench` installs the pinned version
 * from the npm registry into a scratch directory (.tmp/bench/peer, untracked). It reads its settings from the
 * environment only (OPENCODE_ENABLE_TELEMETRY, OPENCODE_OTLP_ENDPOINT, OPENCODE_OTLP_PROTOCOL), so the replay
 * passes them so.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export const PEER_PACKAGE = "@devtheops/opencode-plugin-otel"
export const PEER_VERSION = "0.8.0"

const manifestOf = (root: string): { name?: string; version?: string; main?: string } | undefined => {
  const path = join(root, "package.json")
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as { name?: string; main?: string }) : undefined
}

/** The package's root in `dir`: `dir` itself when it is a checkout of the peer, else its node_modules copy. */
const rootIn = (dir: string): string | undefined => {
  if (manifestOf(dir)?.name === PEER_PACKAGE) return dir
  const installed = join(dir, "node_modules", ...PEER_PACKAGE.split("/"))
  return manifestOf(installed)?.name === PEER_PACKAGE ? installed : undefined
}

/** The peer's entry module and version in `dir`, or undefined when it is not there (or lacks its dependencies). */
export const peerEntry = (dir: string): { entry: string; version: string } | undefined => {
  const root = rootIn(dir)
  if (root === undefined) return undefined
  const manifest = manifestOf(root)!
  const entry = join(root, manifest.main ?? "index.js")
  // A checkout needs its own dependencies; an installed package finds them beside it.
  const ready = root !== dir || existsSync(join(dir, "node_modules", "@opentelemetry", "sdk-metrics"))
  return existsSync(entry) && ready ? { entry, version: manifest.version ?? "?" } : undefined
}

const npmInstall = async (cwd: string, args: ReadonlyArray<string>): Promise<string | undefined> => {
  const npm = Bun.spawn(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", ...args], { cwd, stdout: "ignore", stderr: "pipe" })
  const code = await npm.exited
  if (code === 0) return undefined
  const stderr = (await new Response(npm.stderr).text()).trim().split("\n").slice(-2).join(" ")
  return `npm install exited with ${code}: ${stderr}`
}

/**
 * The peer in `dir`, made ready on first use: a checkout gets its dependencies; an empty directory gets the pinned
 * package from the registry. Returns its entry, or why it could not.
 */
export const ensurePeer = async (dir: string): Promise<{ entry: string; version: string } | { error: string }> => {
  const present = peerEntry(dir)
  if (present !== undefined) return present
  mkdirSync(dir, { recursive: true })
  const failed =
    manifestOf(dir)?.name === PEER_PACKAGE
      ? await npmInstall(dir, ["--omit=dev"])
      : (() => {
          // A package.json of its own, so that npm installs here and not into the repository above.
          if (!existsSync(join(dir, "package.json"))) writeFileSync(join(dir, "package.json"), '{ "private": true }\n')
          return npmInstall(dir, ["--no-package-lock", `${PEER_PACKAGE}@${PEER_VERSION}`])
        })()
  const ready = peerEntry(dir)
  if (ready !== undefined) return ready
  return {
    error:
      `${PEER_PACKAGE} is not in ${dir} (${(await failed) ?? "no entry module"}); ` +
      "point --peer-dir at a checkout of github.com/DEVtheOPS/opencode-plugin-otel, or pass --no-peer",
  }
}

/** The environment the peer reads its settings from. */
export const peerEnvironment = (endpoint: string): Record<string, string> => ({
  OPENCODE_ENABLE_TELEMETRY: "1",
  OPENCODE_OTLP_ENDPOINT: endpoint,
  OPENCODE_OTLP_PROTOCOL: "http/protobuf",
})
