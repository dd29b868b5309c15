/**
 * Content that leaves the machine only when opted in, all off by default. Only clear values count: anything
 * else is reported and stays off, so a value like "disabled" never sends prompt text.
 */
import { flag, type Input } from "./values.ts"

export interface Content {
  /** Prompt text on user_prompt events. */
  readonly userPrompts: boolean
  /** Tool parameters (bash command, file paths, MCP server/tool) on tool_result events and tool spans. */
  readonly toolDetails: boolean
  /** Tool input and output on tool spans (truncated at 60 KB). */
  readonly toolContent: boolean
  /** The assistant's reply text on assistant_response events (truncated at 60 KB). */
  readonly assistantResponses: boolean
}

export const decodeContent = (input: Input): Content => ({
  userPrompts: flag(input, "OPENCODE_LOG_USER_PROMPTS"),
  toolDetails: flag(input, "OPENCODE_LOG_TOOL_DETAILS"),
  toolContent: flag(input, "OPENCODE_LOG_TOOL_CONTENT"),
  assistantResponses: flag(input, "OPENCODE_LOG_ASSISTANT_RESPONSES"),
})
