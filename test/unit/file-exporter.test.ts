/** The file exporter's writer: appends in order, the bounded wait, rotation replacing the older previous file. */
import { afterEach, expect, test } from "bun:test"
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { MAX_PENDING_BYTES, SignalFile } from "../../src/exporters/file.ts"

let dir = ""
afterEach(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true })
  dir = ""
})

const fileIn = (maxBytes: number, drops: Array<string> = []) => {
  dir = mkdtempSync(join(tmpdir(), "otel-file-unit-"))
  return new SignalFile("logs", dir, maxBytes, () => Promise.resolve(), { onDrop: (_signal, count, _path, code) => drops.push(`${count} ${code}`) })
}
const line = (text: string) => new TextEncoder().encode(text)

test("appends made at once are written whole, in the order made", async () => {
  const file = fileIn(1024 * 1024)
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => file.append(line(`{"n":${i}}`), 1)))
  expect(results.every(Boolean)).toBe(true)
  expect(readFileSync(join(dir, "logs.jsonl"), "utf8")).toBe(Array.from({ length: 50 }, (_, i) => `{"n":${i}}\n`).join(""))
})

test("past the pending bound a batch is dropped and reported, never queued", async () => {
  const drops: Array<string> = []
  const file = fileIn(1024 * 1024 * 1024, drops)
  const big = new Uint8Array(MAX_PENDING_BYTES - 10).fill(0x61)
  const first = file.append(big, 3)
  expect(await file.append(line("x".repeat(20)), 2)).toBe(false)
  expect(drops).toEqual(["2 queue_full"])
  expect(await first).toBe(true)
  // Once written, there is room again.
  expect(await file.append(line("{}"), 1)).toBe(true)
})

test("rotation: the file becomes logs.1.jsonl before it would pass the cap, replacing the older one", async () => {
  const file = fileIn(25)
  writeFileSync(join(dir, "logs.1.jsonl"), "old\n")
  for (const text of ["aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd"]) await file.append(line(text), 1)
  expect(readdirSync(dir).sort()).toEqual(["logs.1.jsonl", "logs.jsonl"])
  expect(readFileSync(join(dir, "logs.1.jsonl"), "utf8")).toBe("aaaaaaaaaa\nbbbbbbbbbb\n")
  expect(readFileSync(join(dir, "logs.jsonl"), "utf8")).toBe("cccccccccc\ndddddddddd\n")
})

test("a write that fails is reported with its code and resolves false; the next write still runs", async () => {
  const drops: Array<string> = []
  const file = fileIn(1024, drops)
  rmSync(dir, { recursive: true })
  expect(await file.append(line("{}"), 4)).toBe(false)
  expect(drops).toEqual(["4 ENOENT"])
  mkdirSync(dir)
  expect(await file.append(line("{}"), 1)).toBe(true)
  expect(readFileSync(join(dir, "logs.jsonl"), "utf8")).toBe("{}\n")
})
