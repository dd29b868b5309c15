/**
 * A scripted, deterministic fake OpenAI-compatible LLM for driving the real opencode CLI in tests.
 *
 * `POST /v1/chat/completions` (`stream: true`) answers Server-Sent Events: `data: {chunk}\n\n` lines, then a
 * usage chunk with `choices: []` (when `stream_options.include_usage` is set, as opencode does, or always
 * when absent from the request — harmless), then `data: [DONE]`. Non-streaming requests get one JSON completion.
 *
 * - A request without `tools` is opencode's title generator: it gets a short fixed text ("Fake session title").
 * - A request with `tools` consumes the next step of the script. When the script is exhausted the answer is
 *   plain text "done.".
 * - A step with `status` (e.g. 500, 429) answers that HTTP status with a `retry-after-ms: 0` header (opencode
 *   retries, and the retry consumes the next step).
 *
 * Binds 127.0.0.1 on an ephemeral port; stops by itself after `lifetimeMs` (an unref'd timer).
 */

export interface ScriptStep {
  text?: string
  toolCall?: { name: string; arguments: Record<string, unknown> }
  usage?: { prompt: number; completion: number; cached?: number; reasoning?: number }
  /** Answer this HTTP status instead (e.g. 500 or 429), with a `retry-after-ms: 0` header. */
  status?: number
  /** Wait this long before answering (a slow model: keeps a session alive across scrapes). */
  delayMs?: number
}

export interface FakeLlmRequest {
  body: any
  headers: Record<string, string>
  /** "title": a request without tools; "script": a tool-enabled request; "other": anything else. */
  kind: "title" | "script" | "other"
  /** The script step answered (index into the script), or undefined (title, exhausted script, other). */
  step?: number
}

export interface FakeLlm {
  /** Base URL including `/v1`, for the provider's `options.baseURL`. */
  url: string
  port: number
  requests: FakeLlmRequest[]
  stop(): Promise<void>
}

export interface FakeLlmOptions {
  script?: ScriptStep[]
  /** The server stops by itself after this long (default 5 minutes). */
  lifetimeMs?: number
}

export const DEFAULT_ANSWER = "Hello from the fake model."
export const DEFAULT_USAGE = { prompt: 100, completion: 20 } as const
export const TITLE_TEXT = "Fake session title"
export const TITLE_USAGE = { prompt: 10, completion: 4 } as const
export const EXHAUSTED_TEXT = "done."
export const EXHAUSTED_USAGE = { prompt: 10, completion: 2 } as const

const CREATED = 1_700_000_000
const MODEL = "m"

type Usage = NonNullable<ScriptStep["usage"]>

function usageJson(u: Usage) {
  return {
    prompt_tokens: u.prompt,
    completion_tokens: u.completion,
    total_tokens: u.prompt + u.completion,
    prompt_tokens_details: { cached_tokens: u.cached ?? 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoning ?? 0 },
  }
}

export interface Answer {
  text?: string
  toolCall?: { id: string; name: string; arguments: Record<string, unknown> }
  usage: Usage
}

/** An answer as OpenAI-compatible streaming chunks (`data: {chunk}` lines, usage last, then `[DONE]`). */
export function sse(id: string, answer: Answer, includeUsage: boolean): string {
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: CREATED, model: MODEL, choices, ...extra })}\n\n`
  let out = chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }])
  if (answer.text !== undefined) {
    // Two deltas, to exercise streaming, split deterministically.
    const words = answer.text.split(/(?<= )/)
    const half = Math.ceil(words.length / 2)
    for (const piece of [words.slice(0, half).join(""), words.slice(half).join("")]) {
      if (piece) out += chunk([{ index: 0, delta: { content: piece }, finish_reason: null }])
    }
  }
  if (answer.toolCall) {
    const tc = answer.toolCall
    out += chunk([
      {
        index: 0,
        delta: {
          tool_calls: [
            { index: 0, id: tc.id, type: "function", function: { name: tc.name, arguments: JSON.stringify(tc.arguments) } },
          ],
        },
        finish_reason: null,
      },
    ])
  }
  out += chunk([{ index: 0, delta: {}, finish_reason: answer.toolCall ? "tool_calls" : "stop" }])
  if (includeUsage) out += chunk([], { usage: usageJson(answer.usage) })
  out += "data: [DONE]\n\n"
  return out
}

function completion(id: string, answer: Answer) {
  return {
    id,
    object: "chat.completion",
    created: CREATED,
    model: MODEL,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: answer.text ?? null,
          ...(answer.toolCall
            ? {
                tool_calls: [
                  {
                    id: answer.toolCall.id,
                    type: "function",
                    function: { name: answer.toolCall.name, arguments: JSON.stringify(answer.toolCall.arguments) },
                  },
                ],
              }
            : {}),
        },
        finish_reason: answer.toolCall ? "tool_calls" : "stop",
      },
    ],
    usage: usageJson(answer.usage),
  }
}

export async function startFakeLlm(opts: FakeLlmOptions = {}): Promise<FakeLlm> {
  const script: ScriptStep[] = opts.script ?? [{ text: DEFAULT_ANSWER, usage: { ...DEFAULT_USAGE } }]
  const requests: FakeLlmRequest[] = []
  let next = 0
  let seq = 0

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url)
      const headers: Record<string, string> = {}
      req.headers.forEach((v, k) => {
        headers[k.toLowerCase()] = v
      })
      let body: any = undefined
      const raw = await req.text()
      try {
        body = raw ? JSON.parse(raw) : undefined
      } catch {
        body = raw
      }
      if (req.method !== "POST" || !url.pathname.endsWith("/chat/completions")) {
        requests.push({ body, headers, kind: "other" })
        return Response.json({ error: { message: `fake-llm: no route ${req.method} ${url.pathname}` } }, { status: 404 })
      }

      const n = ++seq
      const id = `chatcmpl-fake-${n}`
      const hasTools = Array.isArray(body?.tools) && body.tools.length > 0
      let answer: Answer
      if (!hasTools) {
        requests.push({ body, headers, kind: "title" })
        answer = { text: TITLE_TEXT, usage: { ...TITLE_USAGE } }
      } else if (next < script.length) {
        const index = next++
        const step = script[index]!
        requests.push({ body, headers, kind: "script", step: index })
        if (step.delayMs !== undefined) await Bun.sleep(step.delayMs)
        if (step.status !== undefined) {
          return Response.json(
            { error: { message: `fake-llm: injected HTTP ${step.status}`, type: "fake_error", code: step.status } },
            { status: step.status, headers: { "retry-after-ms": "0", "retry-after": "0" } },
          )
        }
        answer = {
          ...(step.text !== undefined ? { text: step.text } : {}),
          ...(step.toolCall ? { toolCall: { id: `call_fake_${n}`, ...step.toolCall } } : {}),
          usage: step.usage ?? { ...DEFAULT_USAGE },
        }
        if (answer.text === undefined && !answer.toolCall) answer.text = ""
      } else {
        requests.push({ body, headers, kind: "script" })
        answer = { text: EXHAUSTED_TEXT, usage: { ...EXHAUSTED_USAGE } }
      }

      if (body?.stream) {
        // opencode sets stream_options.include_usage; answer usage when it is absent too.
        const includeUsage = body?.stream_options?.include_usage !== false
        return new Response(sse(id, answer, includeUsage), {
          headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
        })
      }
      return Response.json(completion(id, answer))
    },
  })

  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= (async () => {
      clearTimeout(timer)
      await server.stop(true)
    })()
    return stopped
  }
  const timer = setTimeout(() => void stop(), opts.lifetimeMs ?? 5 * 60_000)
  timer.unref()

  return { url: `http://127.0.0.1:${server.port}/v1`, port: server.port!, requests, stop }
}
