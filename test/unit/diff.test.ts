import { expect, test } from "bun:test"
import { lineDiff } from "../../src/lines/diff.ts"

test("line diff counts match a unified diff's", () => {
  expect(lineDiff("", "a\nb\n")).toEqual({ added: 2, removed: 0 })
  expect(lineDiff("a\nb\n", "")).toEqual({ added: 0, removed: 2 })
  expect(lineDiff("a\nb\nc\n", "a\nb\nc\n")).toEqual({ added: 0, removed: 0 })
  // The edit fixture's change: "line two" -> "line 2" + "line two and a half".
  expect(lineDiff("line one\nline two\nline three\n", "line one\nline 2\nline two and a half\nline three\n")).toEqual({ added: 2, removed: 1 })
  expect(lineDiff("a\nb\nc\nd\n", "a\nc\nd\ne\n")).toEqual({ added: 1, removed: 1 })
  expect(lineDiff("x\ny\n", "y\nx\n")).toEqual({ added: 1, removed: 1 })
  expect(lineDiff("a\nb", "a\nb\n")).toEqual({ added: 0, removed: 0 })
})

test("large rewrites stay bounded", () => {
  const before = Array.from({ length: 20_000 }, (_, i) => `old ${i}`).join("\n")
  const after = Array.from({ length: 20_000 }, (_, i) => `new ${i}`).join("\n")
  // Past the edit-distance cap the changed middle counts as replaced (here it is exactly that).
  expect(lineDiff(before, after)).toEqual({ added: 20_000, removed: 20_000 })
})
