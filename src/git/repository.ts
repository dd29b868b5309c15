/**
 * The project's repository as git's own files describe it: which remote it comes from (for
 * `vcs.repository.url.full`, `vcs.owner.name`, `vcs.repository.name`, `vcs.provider.name`) and what HEAD names now
 * (`vcs.ref.head.*`). Only files are read (node:fs/promises, small and bounded): never a git process, nothing on
 * opencode's thread that waits. Never rejects: anything unreadable or odd reads as "not known".
 *
 * - The git directory: the nearest `.git` up from the directory, a directory or a `gitdir: …` file (a linked
 *   worktree, a submodule); the shared config is in its `commondir` (a linked worktree's main repository).
 * - HEAD: `ref: refs/heads/<branch>` is a branch; a full object name is a detached HEAD (its revision, no name).
 * - The remote: `origin`, else the current branch's upstream remote (`branch.<name>.remote`), else the only remote.
 *   `include`/`includeIf` files and `url.<base>.insteadOf` rewrites are not followed.
 */
import { join } from "node:path"
import { commonDirOf, findGitDir, readSmall } from "./reflog.ts"

/** A remote as the VCS conventions name it: a browsable https address, its owner (group path) and name. */
export interface RemoteRepository {
  /** No credentials, no `.git`, no query: `https://<host>/<owner>/<name>`. */
  readonly url: string
  readonly owner: string | undefined
  readonly name: string
  /** `github`, `gitlab`, `gitea` or `bitbucket` when the host says so; else undefined (omitted). */
  readonly provider: string | undefined
}

/** What HEAD names: a branch, or (detached) a commit's full object name. */
export interface Head {
  readonly branch?: string | undefined
  readonly revision?: string | undefined
}

export interface Repository {
  /** The git directory whose HEAD is read again after a bash call (it may have switched branch). */
  readonly gitDir: string
  readonly remote: RemoteRepository | undefined
  readonly head: Head | undefined
}

/** Hosts whose provider is known by name; a self-hosted `github.`/`gitlab.`/`gitea.`/`bitbucket.` host by its first label. */
const PROVIDERS: ReadonlyArray<readonly [string, string]> = [
  ["github.com", "github"],
  ["gitlab.com", "gitlab"],
  ["bitbucket.org", "bitbucket"],
  ["gitea.com", "gitea"],
]
/** SSH-only host names of the hosted providers, and the web host they stand for. */
const SSH_HOSTS: Readonly<Record<string, string>> = {
  "ssh.github.com": "github.com",
  "altssh.gitlab.com": "gitlab.com",
  "altssh.bitbucket.org": "bitbucket.org",
}

export const providerOf = (host: string): string | undefined => {
  for (const [known, provider] of PROVIDERS) if (host === known || host.endsWith(`.${known}`)) return provider
  const label = host.split(".")[0]
  return PROVIDERS.find(([, provider]) => provider === label)?.[1]
}

/** Schemes whose repositories a browser reaches over https (ssh and git's own protocol have no web port). */
const WEB_SCHEMES = new Set(["http", "https"])
const SSH_SCHEMES = new Set(["ssh", "git", "git+ssh", "ssh+git"])
/** `[user@]host:path`, git's scp-like syntax: a colon before any slash, and a host longer than a drive letter. */
const SCP_LIKE = /^(?:[^@/]+@)?([^@/:[\]]{2,}|\[[^\]]+\]):(?!\/\/)(.+)$/

/**
 * A remote URL as the conventions' canonical URL, or undefined for a local path, a `file://` URL or anything
 * unparseable. `https://user:token@host/o/n.git` → `https://host/o/n` (credentials, `.git`, query and fragment
 * dropped); `git@host:o/n.git` and `ssh://git@host:22/o/n.git` → `https://host/o/n` (an ssh port is no web port).
 */
export const normalizeRemoteUrl = (raw: string): RemoteRepository | undefined => {
  const text = raw.trim()
  let scheme: string
  let host: string
  let port = ""
  let path: string
  const schemed = text.match(/^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//)
  if (schemed !== null) {
    const given = schemed[1]!.toLowerCase()
    if (!WEB_SCHEMES.has(given) && !SSH_SCHEMES.has(given)) return undefined
    let url: URL
    try {
      url = new URL(text)
    } catch {
      return undefined
    }
    scheme = WEB_SCHEMES.has(given) ? given : "https"
    host = url.hostname
    if (WEB_SCHEMES.has(given) && url.port !== "") port = `:${url.port}`
    path = url.pathname
  } else {
    const scp = text.match(SCP_LIKE)
    if (scp === null) return undefined
    scheme = "https"
    host = scp[1]!
    path = scp[2]!
  }
  host = host.toLowerCase()
  host = SSH_HOSTS[host] ?? host
  if (host === "") return undefined
  const segments = path.split("/").filter((s) => s !== "" && s !== ".")
  if (segments.length > 0) segments[segments.length - 1] = segments[segments.length - 1]!.replace(/\.git$/i, "")
  if (segments.length === 0 || segments[segments.length - 1] === "" || segments.some((s) => s === "..")) return undefined
  const name = segments[segments.length - 1]!
  const owner = segments.length > 1 ? segments.slice(0, -1).join("/") : undefined
  return { url: `${scheme}://${host}${port}/${segments.join("/")}`, owner, name, provider: providerOf(host) }
}

/** A config value: quotes removed, escapes decoded, a comment outside quotes cut. */
const configValue = (text: string): string => {
  let value = ""
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === "\\" && i + 1 < text.length) {
      const next = text[++i]!
      value += next === "n" ? "\n" : next === "t" ? "\t" : next === "b" ? "" : next
    } else if (c === '"') quoted = !quoted
    else if (!quoted && (c === "#" || c === ";")) break
    else value += c
  }
  return value.trim()
}

/** The settings of a git config file, `section.subsection.key` → values in order (section and key lower-cased). */
export const parseGitConfig = (text: string): ReadonlyMap<string, ReadonlyArray<string>> => {
  const values = new Map<string, Array<string>>()
  let section = ""
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim()
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue
    const header = line.match(/^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]/)
    if (header !== null) {
      // `[remote "origin"]` keeps the subsection's case; the old `[remote.origin]` form lower-cases it.
      section = header[2] === undefined ? header[1]!.toLowerCase() : `${header[1]!.toLowerCase()}.${header[2].replace(/\\(.)/g, "$1")}`
      line = line.slice(header[0].length).trim()
      if (line === "") continue
    }
    const entry = line.match(/^([A-Za-z][A-Za-z0-9-]*)\s*(?:=(.*))?$/)
    if (entry === null || section === "") continue
    const key = `${section}.${entry[1]!.toLowerCase()}`
    const list = values.get(key) ?? []
    list.push(entry[2] === undefined ? "true" : configValue(entry[2]))
    values.set(key, list)
  }
  return values
}

/** The remote names that have a URL, in the order the config lists them. */
const remotesOf = (config: ReadonlyMap<string, ReadonlyArray<string>>): ReadonlyArray<string> =>
  [...config.keys()].flatMap((key) => (key.startsWith("remote.") && key.endsWith(".url") ? [key.slice(7, -4)] : []))

/** origin, else the current branch's upstream remote, else the only remote; its first URL. */
export const remoteUrlOf = (config: ReadonlyMap<string, ReadonlyArray<string>>, branch: string | undefined): string | undefined => {
  const remotes = remotesOf(config)
  const upstream = branch === undefined ? undefined : config.get(`branch.${branch}.remote`)?.at(-1)
  const chosen = remotes.includes("origin")
    ? "origin"
    : upstream !== undefined && remotes.includes(upstream)
      ? upstream
      : remotes.length === 1
        ? remotes[0]
        : undefined
  return chosen === undefined ? undefined : config.get(`remote.${chosen}.url`)?.[0]
}

const OBJECT_NAME = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/

/** HEAD's text: a branch (`ref: refs/heads/<name>`), a detached commit, or undefined (unreadable, odd). */
export const parseHead = (text: string): Head | undefined => {
  const line = text.trim()
  const ref = line.match(/^ref:\s*refs\/heads\/(.+)$/)
  if (ref !== null) return { branch: ref[1]! }
  return OBJECT_NAME.test(line) ? { revision: line } : undefined
}

/** What HEAD of a git directory names now. Never rejects. */
export const readHead = async (gitDir: string): Promise<Head | undefined> => {
  try {
    const text = await readSmall(join(gitDir, "HEAD"))
    return text === undefined ? undefined : parseHead(text)
  } catch {
    return undefined
  }
}

/**
 * The repository of the first of `directories` inside one (opencode's directory first: in a linked worktree it
 * is the worktree's own checkout); undefined when none is. Never rejects.
 */
export const readRepository = async (directories: ReadonlyArray<string>): Promise<Repository | undefined> => {
  try {
    for (const directory of directories) {
      const gitDir = await findGitDir(directory)
      if (gitDir === undefined) continue
      const head = await readHead(gitDir)
      const config = await readSmall(join(await commonDirOf(gitDir), "config"))
      const url = config === undefined ? undefined : remoteUrlOf(parseGitConfig(config), head?.branch)
      return { gitDir, head, remote: url === undefined ? undefined : normalizeRemoteUrl(url) }
    }
    return undefined
  } catch {
    return undefined
  }
}

/** The remote's attributes (metric points, when OPENCODE_METRICS_INCLUDE_REPOSITORY opts in). */
export const remoteAttributes = (remote: RemoteRepository | undefined): Readonly<Record<string, string>> =>
  remote === undefined
    ? {}
    : {
        "vcs.repository.url.full": remote.url,
        ...(remote.owner === undefined ? {} : { "vcs.owner.name": remote.owner }),
        "vcs.repository.name": remote.name,
        ...(remote.provider === undefined ? {} : { "vcs.provider.name": remote.provider }),
      }

/** HEAD's attributes (events and spans): a branch's name and type, or a detached HEAD's revision alone. */
export const headAttributes = (head: Head | undefined): Readonly<Record<string, string>> =>
  head?.branch !== undefined
    ? { "vcs.ref.head.name": head.branch, "vcs.ref.head.type": "branch" }
    : head?.revision !== undefined
      ? { "vcs.ref.head.revision": head.revision }
      : {}
