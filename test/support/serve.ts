/**
 * A harness for `opencode serve` (the long-lived server the TUI, IDEs and `opencode attach` talk to), driven over
 * its HTTP API, plus a reactive fake LLM that serves several concurrent sessions deterministically.
 *
 * Routes, verified against the running opencode 1.18.33 server (its OpenAPI document is served at `GET /doc`,
 * 479 kB; `GET /openapi.json` answers a 2.9 kB stub, not the document). Every route takes `?directory=<project>`.
 *
 * - `GET  /session`                          → Session[]; answers 200 once the server is ready (~2-4 s after spawn).
 * - `POST /session` `{title?, permission?, parentID?, ...}` → Session (`id` "ses_...").
 * - `POST /session/{id}/message` `{parts: [{type: "text", text}], model: {providerID, modelID}}` → `{info, parts}`
 *   of the last assistant message; it answers only when the turn has ended (blocking).
 * - `POST /session/{id}/prompt_async` (same body) → 204 at once; the turn runs in the background.
 * - `POST /session/{id}/abort` → true.
 * - `POST /permission/{requestID}/reply` `{reply: "once"|"always"|"reject", message?}` → true. (The older
 *   `POST /session/{id}/permissions/{permissionID}` `{response}` is listed too, as is the v2
 *   `POST /api/session/{id}/permission/{requestID}/reply` `{reply}`, both in /doc; only the first is exercised.)
 * - `GET  /session/{id}/message` → `[{info, parts}]`, the same shape as `opencode export`'s `messages`.
 * - `POST /session/{id}/summarize` `{providerID, modelID, auto?}` → true (then `session.compacted` on the bus).
 * - `POST /session/{id}/revert` `{messageID, partID?}` → Session (with `revert`); `POST /session/{id}/unrevert` → Session.
 * - `GET  /session/status` → `{[sessionID]: {type: "busy"|"retry"|"idle"}}`; a session not listed is idle.
 * - `GET  /event` → the bus as server-sent events (`data: {"type", "properties"}`), starting with
 *   `server.connected`. (`GET /global/event` and the v2 `GET /api/event` exist too.)
 *
 * Stopping: {@link ServeHandle.stop} sends SIGTERM, as a system shutdown does. opencode then exits at once (killed
 * by the signal) without calling any plugin's `dispose`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { type Answer, sse } from "./fake-llm.ts"
import { join } from "node:path"
import {
  createOpencodeHome,
  exec,
  fakeProviderConfig,
  initGitRepo,
  isolatedEnv,
  type OpencodeHome,
  opencodeBin,
  exportSession,
  listSessions,
  type PluginSpec,
  removeOpencodeHome,
} from "./opencode.ts"

// ---- a reactive fake LLM --------------------------------------------------------------------------------------

/**
 * Answers by looking at the conversation, not at a global script, so that concurrent sessions cannot take each
 * other's steps:
 * - no `tools` in the request (the title generator): a short text;
 * - the last message has role `tool`: a text answer (the turn ends);
 * - the last user message contains `[[bash: <command>]]`: a bash tool call running `<command>`;
 * - anything else (a plain prompt, the compaction request): a text answer.
 * Each answered request gets distinct usage (request n: prompt 1000+n·37 with 100+n cached, completion 20+n
 * with n reasoning), so a message counted twice or dropped shows in the totals.
 */
export interface ReactiveLlm {
  url: string
  port: number
  /** Each request answered, with its headers (names lower-cased). */
  requests: Array<{ kind: "title" | "tool" | "text"; n: number; body: any; headers: Record<string, string> }>
  stop(): Promise<void>
}

const lastUserText = (messages: any[]): string => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]
    if (m?.role !== "user") continue
    if (typeof m.content === "string") return m.content
    if (Array.isArray(m.content)) return m.content.map((c: any) => (typeof c?.text === "string" ? c.text : "")).join("\n")
    return ""
  }
  return ""
}

export async function startReactiveLlm(): Promise<ReactiveLlm> {
  const requests: ReactiveLlm["requests"] = []
  let seq = 0
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url)
      if (req.method !== "POST" || !url.pathname.endsWith("/chat/completions")) return new Response("no route", { status: 404 })
      const body: any = await req.json().catch(() => ({}))
      const headers: Record<string, string> = {}
      req.headers.forEach((value, name) => {
        headers[name.toLowerCase()] = value
      })
      const n = ++seq
      const messages: any[] = Array.isArray(body?.messages) ? body.messages : []
      const hasTools = Array.isArray(body?.tools) && body.tools.length > 0
      const last = messages[messages.length - 1]
      let text: string | undefined
      let toolCall: Answer["toolCall"]
      let kind: "title" | "tool" | "text"
      const directive = /\[\[bash: ([^\]]+)\]\]/.exec(lastUserText(messages))
      if (!hasTools) {
        kind = "title"
        text = "Fake session title"
      } else if (last?.role !== "tool" && directive !== null) {
        kind = "tool"
        toolCall = { id: `call_r${n}`, name: "bash", arguments: { command: directive[1]!, description: "Run it" } }
      } else {
        kind = "text"
        text = last?.role === "tool" ? `The command finished (${n}).` : `Answer number ${n}.`
      }
      requests.push({ kind, n, body, headers })
      // Usage differs per request, so that each call's tokens can be told apart in the export.
      const usage = { prompt: 1000 + n * 37, completion: 20 + n, cached: 100 + n, reasoning: n }
      const out = sse(`chatcmpl-r${n}`, { ...(text === undefined ? {} : { text }), ...(toolCall === undefined ? {} : { toolCall }), usage }, true)
      return new Response(out, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } })
    },
  })
  return { url: `http://127.0.0.1:${server.port}/v1`, port: server.port!, requests, stop: () => server.stop(true) }
}

// ---- the server -----------------------------------------------------------------------------------------------

export interface BusEvent {
  type: string
  properties: any
  /** Date.now() when it arrived. */
  at: number
}

export interface ServeOptions {
  llmUrl: string
  plugins?: PluginSpec[]
  /** Extra environment (OTLP settings, ...). */
  env?: Record<string, string>
  /** Merged shallowly over {@link fakeProviderConfig}. */
  config?: Record<string, unknown>
  logLevel?: "DEBUG" | "INFO" | "WARN" | "ERROR"
}

export interface ServeHandle {
  base: string
  port: number
  dirs: OpencodeHome
  project: string
  /** The environment opencode ran with. */
  env: Record<string, string>
  /** Everything the bus sent so far (a live array). */
  events: BusEvent[]
  /** stdout + stderr so far. */
  output(): string
  /** JSON request to a route; `?directory=` is added; throws on a non-2xx answer. */
  api<T = any>(method: string, path: string, body?: unknown): Promise<T>
  createSession(title?: string): Promise<string>
  /** POST /session/{id}/message: resolves when the turn has ended. */
  prompt(sessionID: string, text: string): Promise<any>
  /** POST /session/{id}/prompt_async: resolves at once. */
  promptAsync(sessionID: string, text: string): Promise<void>
  /** Waits for a bus event matching `pred` among those from index `from` on. */
  waitEvent(pred: (e: BusEvent) => boolean, opts?: { from?: number; timeoutMs?: number }): Promise<BusEvent>
  /** Waits until GET /session/status lists none of `sessionIDs` as busy/retry, twice 200 ms apart. */
  waitIdle(sessionIDs: string[], timeoutMs?: number): Promise<void>
  /** SIGTERM, then wait for the exit (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: string | null; ms: number }>
  /** `opencode export <id>` after the server is gone (same isolation, config without the plugins). */
  exportSession(id: string): Promise<any>
  /** Every session in opencode's database (subagents included), oldest first. */
  listSessions(): Promise<string[]>
  cleanup(): Promise<void>
}

const freePort = async (): Promise<number> => {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") })
  const port = s.port!
  await s.stop(true)
  return port
}

export const MODEL = { providerID: "fake", modelID: "m" } as const

export async function startServe(opts: ServeOptions): Promise<ServeHandle> {
  const dirs = await createOpencodeHome()
  const project = join(dirs.root, "project")
  const config = { ...fakeProviderConfig(opts.llmUrl, opts.plugins ?? []), ...(opts.config ?? {}) }
  const env = isolatedEnv(dirs, { OPENCODE_CONFIG_CONTENT: JSON.stringify(config), ...(opts.env ?? {}) })
  await initGitRepo(project, env)
  env["PWD"] = project
  delete env["OLDPWD"]
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const child: ChildProcess = spawn(
    opencodeBin(),
    ["serve", "--port", String(port), "--hostname", "127.0.0.1", "--print-logs", "--log-level", opts.logLevel ?? "INFO"],
    { cwd: project, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  )
  const chunks: Buffer[] = []
  child.stdout!.on("data", (b: Buffer) => chunks.push(b))
  child.stderr!.on("data", (b: Buffer) => chunks.push(b))
  let exit: { code: number | null; signal: string | null } | undefined
  const exited = new Promise<void>((resolve) =>
    child.on("close", (code, signal) => {
      exit = { code, signal: signal ?? null }
      resolve()
    }),
  )
  const output = () => Buffer.concat(chunks).toString("utf8")
  const q = `directory=${encodeURIComponent(project)}`
  const withQuery = (path: string) => `${base}${path}${path.includes("?") ? "&" : "?"}${q}`

  const api = async <T = any>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(withQuery(path), {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
      signal: AbortSignal.timeout(120_000),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`)
    return (text === "" ? undefined : JSON.parse(text)) as T
  }

  const stopProcess = async (timeoutMs = 10_000) => {
    const started = performance.now()
    if (exit === undefined) {
      try {
        child.kill("SIGTERM")
      } catch {}
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, "SIGKILL")
        } catch {}
      }, timeoutMs)
      await exited
      clearTimeout(timer)
    }
    return { ...exit!, ms: Math.round(performance.now() - started) }
  }

  // Ready: GET /session answers.
  const deadline = Date.now() + 60_000
  for (;;) {
    if (exit !== undefined) throw new Error(`opencode serve exited early (${JSON.stringify(exit)}):\n${output().slice(-3000)}`)
    try {
      const r = await fetch(withQuery("/session"), { signal: AbortSignal.timeout(2_000) })
      if (r.ok) break
    } catch {}
    if (Date.now() > deadline) {
      await stopProcess()
      throw new Error(`opencode serve not ready after 60 s:\n${output().slice(-3000)}`)
    }
    await Bun.sleep(100)
  }

  // The bus, as server-sent events.
  const events: BusEvent[] = []
  const bus = new AbortController()
  const connected = (async () => {
    const res = await fetch(withQuery("/event"), { signal: bus.signal, headers: { accept: "text/event-stream" } })
    return res
  })()
  const res = await connected
  void (async () => {
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let buf = ""
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buf += decoder.decode(value, { stream: true })
        let i: number
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart())
            .join("\n")
          if (data === "") continue
          try {
            const e = JSON.parse(data)
            events.push({ type: String(e.type), properties: e.properties, at: Date.now() })
          } catch {}
        }
      }
    } catch {}
  })()

  const waitEvent: ServeHandle["waitEvent"] = async (pred, o = {}) => {
    const until = Date.now() + (o.timeoutMs ?? 60_000)
    for (;;) {
      const found = events.slice(o.from ?? 0).find(pred)
      if (found !== undefined) return found
      if (Date.now() > until) throw new Error(`no matching bus event; got: ${[...new Set(events.map((e) => e.type))].join(", ")}`)
      await Bun.sleep(25)
    }
  }

  const waitIdle: ServeHandle["waitIdle"] = async (ids, timeoutMs = 60_000) => {
    const until = Date.now() + timeoutMs
    let quiet = 0
    while (quiet < 2) {
      const status = await api<Record<string, { type: string }>>("GET", "/session/status")
      const busy = ids.filter((id) => status[id] !== undefined && status[id]!.type !== "idle")
      quiet = busy.length === 0 ? quiet + 1 : 0
      if (Date.now() > until) throw new Error(`sessions still busy: ${JSON.stringify(status)}`)
      await Bun.sleep(200)
    }
  }

  // Export: same isolation and config, minus the plugins (export would load them too).
  const commandEnv = {
    ...env,
    OPENCODE_CONFIG_CONTENT: JSON.stringify({ ...fakeProviderConfig(opts.llmUrl), ...(opts.config ?? {}) }),
  }
  const exportOne = async (id: string) => {
    const r = await exportSession(id, { cwd: project, env: commandEnv })
    const start = r.stdout.indexOf("{")
    if (r.exitCode !== 0 || start < 0) throw new Error(`opencode export ${id} failed (${r.exitCode}): ${r.stderr.slice(-2000)}`)
    return JSON.parse(r.stdout.slice(start))
  }


  const textBody = (text: string) => ({ parts: [{ type: "text", text }], model: { ...MODEL } })

  return {
    base,
    port,
    dirs,
    project,
    env,
    events,
    output,
    api,
    createSession: async (title) => (await api<{ id: string }>("POST", "/session", title !== undefined ? { title } : {})).id,
    prompt: (id, text) => api("POST", `/session/${id}/message`, textBody(text)),
    promptAsync: async (id, text) => {
      await api("POST", `/session/${id}/prompt_async`, textBody(text))
    },
    waitEvent,
    waitIdle,
    stop: async (timeoutMs) => {
      const r = await stopProcess(timeoutMs)
      bus.abort()
      return r
    },
    exportSession: exportOne,
    listSessions: () => listSessions(dirs, { cwd: project, env: commandEnv }),
    cleanup: async () => {
      bus.abort()
      await stopProcess(2_000)
      await removeOpencodeHome(dirs)
    },
  }
}

/** Git in the project (e.g. to check what a reverted edit left). */
export const gitIn = (project: string, env: Record<string, string>, args: string[]) => exec("git", args, { cwd: project, env })
