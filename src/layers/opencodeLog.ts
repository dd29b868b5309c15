/**
 * Routes the plugin's Effect logs to opencode's own log (`client.app.log`), never to the terminal:
 * inside opencode's TUI any write to stdout/stderr corrupts the screen.
 */
import { Cause, Layer, Logger } from "effect"
import { sendLog, type OpencodeLogClient, type OpencodeLogLevel } from "../host/opencodeClient.ts"

export { sendLog, type OpencodeLogClient, type OpencodeLogLevel } from "../host/opencodeClient.ts"

const levelOf = (label: string): OpencodeLogLevel =>
  label === "Fatal" || label === "Error" ? "error" : label === "Warn" ? "warn" : label === "Info" ? "info" : "debug"

const render = (message: unknown): string =>
  Array.isArray(message) ? message.map(render).join(" ") : typeof message === "string" ? message : safeJson(message)

const safeJson = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

export const makeLogger = (client: OpencodeLogClient | undefined) =>
  Logger.make<unknown, void>(({ message, logLevel, cause }) => {
    const squashed = cause.reasons.length > 0 ? Cause.squash(cause) : undefined
    const reason = squashed === undefined ? "" : ` (${squashed instanceof Error ? squashed.message : "failure"})`
    sendLog(client, levelOf(logLevel), `${render(message)}${reason}`)
  })

/** Replaces every logger (including the default console logger) with opencode's log. */
export const layer = (client: OpencodeLogClient | undefined) => Logger.layer([makeLogger(client)], { mergeWithExisting: false })

/** Drops all logs: for tests and embedders that want silence. */
export const layerSilent = Layer.mergeAll(Logger.layer([], { mergeWithExisting: false }))
