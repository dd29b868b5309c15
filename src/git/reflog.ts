/**
 * Commits as git itself recorded them: the entries a bash call appended to the HEAD reflog(s) of the project's
 * repository. Every `git commit` that makes a commit appends one line `<old> <new> <who> <when>\t<message>` to
 * `<gitdir>/logs/HEAD`, its message `commit: …`, `commit (initial): …`, `commit (amend): …`, `commit (merge): …`
 * or `commit (cherry-pick): …`; a failing commit appends nothing. Which command text made them, what it printed
 * and how its message was written (-m, -F, a heredoc, -q) do not matter.
 *
 * Only files are read (node:fs/promises, bounded): never a git process, nothing on opencode's thread that waits.
 * The files watched: the HEAD reflog of the repository the call starts in (a `.git` file — a linked worktree or a
 * submodule — is followed), of the repository's main and linked worktrees (`<commondir>/worktrees/*`) and of its
 * submodules (`<commondir>/modules/**`, nested ones included).
 */
import { open, readdir, readFile, stat } from "node:fs/promises"
import { dirname, isAbsolute, join, resolve } from "node:path"

/** A commit recorded in a HEAD reflog. */
export interface ReflogCommit {
  /** The new commit's full object name. */
  readonly sha: string
  /** `commit`, or the kind git wrote in parentheses: `initial`, `amend`, `merge`, `cherry-pick`, … */
  readonly kind: string
  /** The HEAD reflog (file path) it was read from. */
  readonly reflog: string
}

/** The HEAD reflogs of one or more repositories and their byte sizes when a call started. */
export interface ReflogSnapshot {
  /** Git directories whose structure (worktrees, submodules) is listed again when the call completes. */
  readonly commonDirs: ReadonlyArray<string>
  /** HEAD reflog path -> its size in bytes at the start (0: not there yet). */
  readonly sizes: ReadonlyMap<string, number>
}

/** Never more than this many bytes are read from one reflog per call (about 5,000 commits). */
export const MAX_APPENDED_BYTES = 1024 * 1024
/** At most this many git directories (worktrees and submodules, all levels) are watched per repository. */
const MAX_GIT_DIRS = 128
/** Directory levels walked up to find `.git`, and down `modules/` to find submodules. */
const MAX_UP = 64
const MAX_MODULE_DEPTH = 8
/** A `.git` file, a `commondir` file or a config larger than this is not read. */
const MAX_SMALL_FILE = 64 * 1024

const isFile = async (path: string) => (await stat(path).catch(() => undefined))?.isFile() === true
const sizeOf = async (path: string): Promise<number | undefined> => {
  const s = await stat(path).catch(() => undefined)
  return s?.isFile() === true ? s.size : undefined
}
/** A small file's text (at most 64 KiB); undefined when missing, larger or unreadable. */
export const readSmall = async (path: string): Promise<string | undefined> => {
  const size = await sizeOf(path)
  if (size === undefined || size > MAX_SMALL_FILE) return undefined
  return readFile(path, "utf8").catch(() => undefined)
}

/** The git directory of the repository `start` is in: the nearest `.git` directory, or where a `.git` file points. */
export const findGitDir = async (start: string): Promise<string | undefined> => {
  let dir = resolve(start)
  for (let i = 0; i < MAX_UP; i++) {
    const dotGit = join(dir, ".git")
    const s = await stat(dotGit).catch(() => undefined)
    if (s?.isDirectory() === true) return dotGit
    if (s?.isFile() === true) {
      const text = await readSmall(dotGit)
      const target = text?.match(/^gitdir:\s*(.+?)\s*$/m)?.[1]
      if (target !== undefined) return isAbsolute(target) ? target : resolve(dir, target)
      return undefined
    }
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
  return undefined
}

/** `<gitdir>/commondir` names the directory shared by all worktrees (relative to gitdir); else gitdir itself. */
export const commonDirOf = async (gitDir: string): Promise<string> => {
  const text = (await readSmall(join(gitDir, "commondir")))?.trim()
  if (text === undefined || text === "") return gitDir
  return isAbsolute(text) ? text : resolve(gitDir, text)
}

/**
 * Whether git writes a HEAD reflog here: it appends to an existing one whatever the settings, and creates it
 * unless `core.logAllRefUpdates` is false (the default for bare repositories, where no commit is made anyway).
 */
const reflogEnabled = async (commonDir: string, headLog: string): Promise<boolean> => {
  if (await isFile(headLog)) return true
  const config = await readSmall(join(commonDir, "config"))
  if (config === undefined) return true
  let core = false
  for (const raw of config.split("\n")) {
    const line = raw.trim()
    const section = line.match(/^\[\s*([^\]\s"]+)/)
    if (section !== null) core = section[1]!.toLowerCase() === "core"
    else if (core) {
      const setting = line.match(/^logallrefupdates\s*=\s*([^\s;#]+)/i)
      if (setting !== null) return !/^(false|no|off|0)$/i.test(setting[1]!)
    }
  }
  return true
}

const subdirs = async (dir: string): Promise<ReadonlyArray<string>> =>
  (await readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => join(dir, e.name))

/**
 * Every git directory of a repository: the common directory (main worktree), its linked worktrees, and its
 * submodules (whose names may contain `/`), each with their own worktrees and submodules. Bounded.
 */
const gitDirsOf = async (commonDir: string): Promise<ReadonlyArray<string>> => {
  const found: Array<string> = []
  const seen = new Set<string>()
  const visitRepo = async (gitDir: string, depth: number): Promise<void> => {
    if (found.length >= MAX_GIT_DIRS || seen.has(gitDir)) return
    seen.add(gitDir)
    found.push(gitDir)
    for (const worktree of await subdirs(join(gitDir, "worktrees"))) {
      if (found.length >= MAX_GIT_DIRS) return
      if (!seen.has(worktree)) {
        seen.add(worktree)
        found.push(worktree)
      }
    }
    await visitModules(join(gitDir, "modules"), depth)
  }
  const visitModules = async (dir: string, depth: number): Promise<void> => {
    if (depth >= MAX_MODULE_DEPTH) return
    for (const entry of await subdirs(dir)) {
      if (found.length >= MAX_GIT_DIRS) return
      // A submodule's git directory holds HEAD; other directories are parts of a name like `libs/foo`.
      if (await isFile(join(entry, "HEAD"))) await visitRepo(entry, depth + 1)
      else await visitModules(entry, depth + 1)
    }
  }
  await visitRepo(commonDir, 0)
  return found
}

const headLogsOf = async (commonDirs: ReadonlyArray<string>): Promise<ReadonlyArray<string>> => {
  const logs = new Set<string>()
  for (const commonDir of commonDirs) for (const gitDir of await gitDirsOf(commonDir)) logs.add(join(gitDir, "logs", "HEAD"))
  return [...logs]
}

/**
 * The HEAD reflogs to watch for a call starting in `directories` (opencode's directory, the call's workdir),
 * with their sizes now; undefined when none of them is in a repository git keeps a HEAD reflog for.
 * Never rejects.
 */
export const snapshotReflogs = async (directories: ReadonlyArray<string>): Promise<ReflogSnapshot | undefined> => {
  try {
    const commonDirs: Array<string> = []
    for (const directory of directories) {
      const gitDir = await findGitDir(directory)
      if (gitDir === undefined) continue
      const commonDir = await commonDirOf(gitDir)
      if (commonDirs.includes(commonDir)) continue
      if (!(await reflogEnabled(commonDir, join(gitDir, "logs", "HEAD")))) continue
      commonDirs.push(commonDir)
    }
    if (commonDirs.length === 0) return undefined
    const sizes = new Map<string, number>()
    for (const log of await headLogsOf(commonDirs)) sizes.set(log, (await sizeOf(log)) ?? 0)
    return { commonDirs, sizes }
  } catch {
    return undefined
  }
}

/**
 * How far each reflog has been attributed to a call: an entry is counted once, by the first call to complete
 * whose window (start to completion) contains it, however many calls overlap in one repository. Bounded.
 */
export class ReflogLedger {
  private readonly claimed = new Map<string, number>()
  constructor(private readonly max = 1024) {}
  get(path: string): number {
    return this.claimed.get(path) ?? 0
  }
  set(path: string, offset: number): void {
    this.claimed.delete(path)
    this.claimed.set(path, offset)
    if (this.claimed.size > this.max) this.claimed.delete(this.claimed.keys().next().value!)
  }
}

/** The ledger shared by every call of this process (two sessions can commit in one repository). */
export const sharedLedger = new ReflogLedger()

const ENTRY = /^([0-9a-f]{40}(?:[0-9a-f]{24})?) ([0-9a-f]{40}(?:[0-9a-f]{24})?) [^\t\n]*\t(.*)$/
const COMMIT_MESSAGE = /^commit(?: \(([^)\n]*)\))?: /
const ZERO = /^0+$/

/** The commits a reflog text records, in order: entries whose message is `git commit`'s. */
export const parseReflogCommits = (text: string, reflog: string): ReadonlyArray<ReflogCommit> => {
  const commits: Array<ReflogCommit> = []
  for (const line of text.split("\n")) {
    const entry = line.match(ENTRY)
    if (entry === null) continue
    const message = entry[3]!.match(COMMIT_MESSAGE)
    if (message === null || ZERO.test(entry[2]!)) continue
    commits.push({ sha: entry[2]!, kind: message[1] ?? "commit", reflog })
  }
  return commits
}

const readRange = async (path: string, start: number, length: number): Promise<Buffer | undefined> => {
  const handle = await open(path, "r").catch(() => undefined)
  if (handle === undefined) return undefined
  try {
    const buffer = Buffer.alloc(length)
    let read = 0
    while (read < length) {
      const r = await handle.read(buffer, read, length - read, start + read)
      if (r.bytesRead === 0) break
      read += r.bytesRead
    }
    return buffer.subarray(0, read)
  } finally {
    await handle.close().catch(() => undefined)
  }
}

/**
 * The commits appended since `snapshot` (and not already attributed to another call), reflog by reflog.
 * Worktrees and submodules created during the call are watched from their first entry. A reflog that shrank
 * (expired or rewritten meanwhile) gives nothing. Only complete lines count. Never rejects.
 */
export const commitsSince = async (snapshot: ReflogSnapshot, ledger: ReflogLedger = sharedLedger): Promise<ReadonlyArray<ReflogCommit>> => {
  try {
    const logs = new Set([...snapshot.sizes.keys(), ...(await headLogsOf(snapshot.commonDirs))])
    const commits: Array<ReflogCommit> = []
    for (const log of logs) {
      const size = await sizeOf(log)
      const before = snapshot.sizes.get(log) ?? 0
      if (size === undefined || size < before) continue
      const claimed = ledger.get(log)
      const start = claimed > size ? before : Math.max(before, claimed)
      const length = Math.min(size - start, MAX_APPENDED_BYTES)
      if (length <= 0) continue
      const bytes = await readRange(log, start, length)
      if (bytes === undefined) continue
      const complete = bytes.lastIndexOf(0x0a)
      if (complete < 0) continue
      ledger.set(log, start + complete + 1)
      commits.push(...parseReflogCommits(bytes.subarray(0, complete + 1).toString("utf8"), log))
    }
    return commits
  } catch {
    return []
  }
}
