/**
 * A test-only opencode plugin that delays opencode's exit: its `dispose` hook waits LINGER_MS (default 2500 ms).
 * opencode disposes plugin hooks one after another in load order, so listed BEFORE the telemetry plugin it keeps
 * the plugin's Prometheus endpoint serving the final totals (the last LLM call included) for a few more scrapes.
 */
export const LingerPlugin = async () => ({
  dispose: () => new Promise<void>((resolve) => setTimeout(resolve, Number(process.env["LINGER_MS"] ?? 2500))),
})
