/**
 * Content that leaves the machine only on opt-in (OTEL_LOG_USER_PROMPTS, OTEL_LOG_TOOL_DETAILS,
 * OTEL_LOG_TOOL_CONTENT), bounded as Claude Code bounds it.
 */
import { mcpParts } from "../naming/toolNames.ts"

/** Prompt text and tool input/output on spans: at most 60 KB each. */
export const CONTENT_LIMIT = 60 * 1024
/** Each value in tool parameters: at most 512 characters; the whole payload about 4 K characters. */
export const DETAIL_VALUE_LIMIT = 512
export const DETAIL_PAYLOAD_LIMIT = 4 * 1024

export const truncateText = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…[truncated]` : text)

/** JSON with every string value cut at `DETAIL_VALUE_LIMIT`, and the whole cut at `DETAIL_PAYLOAD_LIMIT`. */
export const boundedJson = (value: unknown): string => {
  const json = safeStringify(value, (_key, v: unknown) => (typeof v === "string" ? truncateText(v, DETAIL_VALUE_LIMIT) : v))
  return truncateText(json, DETAIL_PAYLOAD_LIMIT)
}

/** The parameters worth a name, per tool: the bash command, a file path, a subagent, a URL or pattern. */
export const toolParameters = (
  tool: string,
  input: Readonly<Record<string, unknown>> | undefined,
  mcpServers?: ReadonlySet<string> | undefined,
): Record<string, unknown> => {
  if (input === undefined) return {}
  const pick = (key: string) => (typeof input[key] === "string" || typeof input[key] === "number" ? input[key] : undefined)
  const out: Record<string, unknown> = {}
  if (tool === "bash") {
    out["bash_command"] = pick("command")
    out["description"] = pick("description")
    out["timeout"] = pick("timeout")
  }
  // Claude Code's Skill tool parameters name the skill.
  if (tool === "skill") out["skill_name"] = pick("name")
  for (const [key, name] of [
    ["filePath", "file_path"],
    ["path", "path"],
    ["pattern", "pattern"],
    ["url", "url"],
    ["subagent_type", "subagent_type"],
  ] as const)
    if (pick(key) !== undefined) out[name] = pick(key)
  // opencode names MCP tools <server>_<tool>.
  const mcp = mcpParts(tool, mcpServers)
  if (mcp !== undefined) {
    out["mcp_server_name"] = mcp.server
    out["mcp_tool_name"] = mcp.tool
  }
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined))
}

/** The size in bytes of a value as JSON (what Claude Code's tool_input_size_bytes measures); 0 when it has none. */
export const jsonByteLength = (value: unknown): number => Buffer.byteLength(safeStringify(value, (_key, v: unknown) => v), "utf8")

const safeStringify = (value: unknown, replacer: (key: string, value: unknown) => unknown): string => {
  try {
    return JSON.stringify(value, replacer) ?? ""
  } catch {
    return ""
  }
}
