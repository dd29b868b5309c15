/**
 * The README's signal reference (`npm run docs`; a test fails when the README drifts), rendered from the signal
 * catalog (src/signals.ts) and the GenAI conventions' metrics (src/naming/genAiMetrics.ts).
 */
import { renderGenAiReference } from "./naming/genAiMetrics.ts"
import { COMMON_EVENT_ATTRIBUTES, EVENTS, METRICS, PROFILE_ATTRIBUTES, REPOSITORY_ATTRIBUTES, SELF_METRICS, SPANS, type SpanKey, type SpanSpec } from "./signals.ts"

export const renderSignalReference = (): string => {
  const lines: Array<string> = []
  lines.push("### Metrics (name = `OPENCODE_METRIC_PREFIX` + suffix; default prefix `opencode.`)", "")
  lines.push("| suffix | type | unit | attributes | emitted |", "| --- | --- | --- | --- | --- |")
  for (const [name, spec] of Object.entries(METRICS))
    lines.push(`| \`${name}\` | ${spec.kind} | \`${spec.unit}\` | ${spec.attributes.map((a) => `\`${a}\``).join(", ")} | ${spec.when} |`)
  for (const [name, spec] of Object.entries(SELF_METRICS))
    lines.push(`| \`${name}\` (self) | ${spec.kind} | \`${spec.unit}\` | ${spec.attributes.map((a) => `\`${a}\``).join(", ")} | ${spec.when} |`)
  lines.push("", ...renderGenAiReference())
  lines.push("", "### Log events (body `<event>`; `claude_code.<event>` in the claude-code profile)", "")
  lines.push(`Every event carries ${COMMON_EVENT_ATTRIBUTES.map((a) => `\`${a}\``).join(", ")} (prompt.id once a prompt was seen).`)
  lines.push(
    `In the claude-code profile, metric points and events also carry ${PROFILE_ATTRIBUTES.map((a) => `\`${a}\``).join(", ")}, ` +
      "and tool names (`tool_name`, `gen_ai.tool.name`) are Claude Code's (`Bash`, `Edit`, `mcp__<server>__<tool>`).",
  )
  lines.push(
    `In a git repository, the resource carries ${REPOSITORY_ATTRIBUTES.metrics.map((a) => `\`${a}\``).join(", ")} ` +
      "(every metric point instead, with `OPENCODE_METRICS_INCLUDE_REPOSITORY=true`; neither with `none`), " +
      `and events and spans ${REPOSITORY_ATTRIBUTES.eventsAndSpans.map((a) => `\`${a}\``).join(", ")}.`,
    "",
  )
  lines.push("| event | attributes | emitted |", "| --- | --- | --- |")
  for (const [name, spec] of Object.entries(EVENTS))
    lines.push(`| \`${name}\` | ${spec.attributes.map((a) => `\`${a}\``).join(", ")} | ${spec.when} |`)
  lines.push("", "### Traces (`OPENCODE_DISABLE_TRACES` types: session, llm, tool)", "")
  lines.push("| type | span name | kind | attributes | emitted |", "| --- | --- | --- | --- | --- |")
  for (const [type, spec] of Object.entries(SPANS) as Array<[SpanKey, SpanSpec]>)
    lines.push(`| ${type} | \`${spec.prefix}${spec.detail === undefined ? "" : ` <${spec.detail}>`}\` | ${spec.kind} | ${spec.attributes.map((a) => `\`${a}\``).join(", ")} | ${spec.when} |`)
  return lines.join("\n")
}
