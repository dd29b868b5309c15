/**
 * The bus events of one small turn of a session, for tests that need all three signals: the session, one LLM call
 * (which opens the turn's span: no prompt hook is needed) and the turn's end. Counts: session.count 1, one
 * api_request, one `invoke_agent` and one `chat m` span.
 */
export const turnEvents = (id: string, now = Date.now()): ReadonlyArray<unknown> => {
  const assistant = (completed: boolean) => ({
    id: `msg_${id}`,
    sessionID: id,
    role: "assistant",
    modelID: "m",
    providerID: "fake",
    cost: 0.001,
    tokens: { input: 10, output: 2, reasoning: 0, cache: { read: 0, write: 0 } },
    time: { created: now - 500, ...(completed ? { completed: now - 100 } : {}) },
  })
  return [
    { type: "session.created", properties: { sessionID: id, info: { id, title: "t", time: { created: now - 1000, updated: now } } } },
    { type: "session.status", properties: { sessionID: id, status: { type: "busy" } } },
    { type: "message.updated", properties: { info: assistant(false) } },
    { type: "message.updated", properties: { info: assistant(true) } },
    { type: "session.idle", properties: { sessionID: id } },
  ]
}
