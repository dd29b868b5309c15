/**
 * Tool names as Claude Code spells them, for the claude-code profile: dashboards written for Claude Code filter
 * on `tool_name="Bash"`, `"Edit"`, `mcp__<server>__<tool>`, and would find nothing under opencode's `bash`, `edit`.
 */

/** opencode's built-in tools and Claude Code's name for each (or the nearest one, where opencode's has no twin). */
export const CLAUDE_CODE_TOOL_NAMES: Readonly<Record<string, string>> = {
  bash: "Bash",
  read: "Read",
  write: "Write",
  edit: "Edit",
  multiedit: "MultiEdit",
  // A patch edits files: Claude Code's dashboards count file edits under Edit.
  patch: "Edit",
  apply_patch: "Edit",
  glob: "Glob",
  grep: "Grep",
  list: "LS",
  task: "Task",
  webfetch: "WebFetch",
  websearch: "WebSearch",
  codesearch: "CodeSearch",
  todowrite: "TodoWrite",
  todoread: "TodoRead",
  skill: "Skill",
  question: "AskUserQuestion",
  plan_enter: "EnterPlanMode",
  plan_exit: "ExitPlanMode",
  lsp: "LSP",
  batch: "Batch",
  invalid: "Invalid",
}

export const isBuiltinTool = (tool: string): boolean => Object.hasOwn(CLAUDE_CODE_TOOL_NAMES, tool)

/**
 * An MCP tool's server and tool, from opencode's `<server>_<tool>` name; undefined for any other tool. With the
 * configured servers known (opencode's names, see host/opencodeHost.ts), only their prefixes count, the longest
 * first; before that, any name with an underscore that is not a built-in tool (a custom tool's own underscore
 * then passes for a server's).
 */
export const mcpParts = (
  tool: string,
  servers?: ReadonlySet<string> | undefined,
): { readonly server: string; readonly tool: string } | undefined => {
  if (isBuiltinTool(tool)) return undefined
  if (servers !== undefined) {
    let server: string | undefined
    for (const s of servers) if (tool.length > s.length + 1 && tool.startsWith(`${s}_`) && (server === undefined || s.length > server.length)) server = s
    return server === undefined ? undefined : { server, tool: tool.slice(server.length + 1) }
  }
  const at = tool.indexOf("_")
  return at <= 0 || at === tool.length - 1 ? undefined : { server: tool.slice(0, at), tool: tool.slice(at + 1) }
}

/**
 * Claude Code's name for an opencode tool: built-ins by the table, MCP tools as `mcp__<server>__<tool>`, any other
 * tool (a plugin's own) with its first letter upper-cased, as Claude Code's tools are spelled.
 */
export const claudeCodeToolName = (tool: string, servers?: ReadonlySet<string> | undefined): string => {
  const known = CLAUDE_CODE_TOOL_NAMES[tool]
  if (known !== undefined) return known
  const mcp = mcpParts(tool, servers)
  if (mcp !== undefined) return `mcp__${mcp.server}__${mcp.tool}`
  return tool.length === 0 ? tool : `${tool[0]!.toUpperCase()}${tool.slice(1)}`
}
