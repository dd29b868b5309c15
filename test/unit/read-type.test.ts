/**
 * Which bus events reach the queue (`readType`): the types the plugin reads, less the ones that change nothing,
 * told apart without decoding. Anything of a read type that is not plainly a no-op is decoded (and, if
 * malformed, skipped and counted there).
 */
import { expect, test } from "bun:test"
import { readType } from "../../src/handlers/index.ts"

const status = (status: unknown) => ({ type: "session.status", properties: { sessionID: "s", status } })
const diff = (d: unknown) => ({ type: "session.diff", properties: { sessionID: "s", diff: d } })
const part = (type: unknown) => ({ type: "message.part.updated", properties: { part: { type } } })

test("the no-op events stop before decoding: an idle status, an empty diff, parts not read, types not read", () => {
  expect(readType(status({ type: "idle" }))).toBeUndefined()
  expect(readType(diff([]))).toBeUndefined()
  expect(readType(part("reasoning"))).toBeUndefined()
  expect(readType({ type: "message.part.delta", properties: {} })).toBeUndefined()
})

test("everything else of a read type goes on, malformed ones included (to be decoded, skipped and counted)", () => {
  expect(readType(status({ type: "busy" }))).toBe("session.status")
  expect(readType(status({ type: "retry", attempt: 1 }))).toBe("session.status")
  expect(readType(status(undefined))).toBe("session.status")
  expect(readType({ type: "session.status" })).toBe("session.status")
  expect(readType(diff([{ additions: 1, deletions: 0 }]))).toBe("session.diff")
  expect(readType(diff("not a list"))).toBe("session.diff")
  expect(readType(part("tool"))).toBe("message.part.updated")
  expect(readType({ type: "session.idle", properties: { sessionID: "s" } })).toBe("session.idle")
})

test("an event whose fields throw goes on to decoding (which fails and says so), never lost in the filter", () => {
  const throwing = { type: "session.status", get properties(): unknown { throw new Error("a hostile getter") } }
  expect(readType(throwing)).toBe("session.status")
  const part = { type: "message.part.updated", get properties(): unknown { throw new Error("a hostile getter") } }
  expect(readType(part)).toBe("message.part.updated")
})
