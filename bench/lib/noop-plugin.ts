/** The floor: a plugin with the same hooks that does nothing. The bench reports the plugin minus this. */
export const NoopPlugin = async (_input: unknown, _options?: unknown) => ({
  event: async (_input: unknown) => {},
  "chat.message": async (_input: unknown, _output: unknown) => {},
  "tool.execute.before": async (_input: unknown, _output: unknown) => {},
  "shell.env": async (_input: unknown, _output: unknown) => {},
  dispose: async () => {},
})
