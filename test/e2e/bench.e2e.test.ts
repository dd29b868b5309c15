/**
 * The benchmark runs from a clean clone: a smoke run at a small N (`npm run bench -- --quick`). Nothing about
 * time is asserted; what is checked is that every figure was measured, that everything the plugin sent arrived,
 * and the counts that do not depend on the machine: requests and bytes of one short session.
 */
import { expect, test } from "bun:test"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { REPO_ROOT } from "../support/opencode.ts"

test("the benchmark's smoke run measures every figure and loses nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "otel-bench-smoke-"))
  try {
    const out = join(dir, "latest.json")
    const bench = Bun.spawn([process.execPath, "bench/run.ts", "--quick", "--from", "src", "--strict", "--out", out], {
      cwd: REPO_ROOT,
      stdout: "pipe",
      stderr: "pipe",
    })
    const [code, stdout, stderr] = await Promise.all([bench.exited, new Response(bench.stdout).text(), new Response(bench.stderr).text()])
    expect({ code, stderr: code === 0 ? "" : stderr.slice(-2000) }).toEqual({ code: 0, stderr: "" })
    expect(stdout).toContain("## Targets")

    const result = JSON.parse(readFileSync(out, "utf8"))
    expect(result.problems).toEqual([])
    const replay = result.replays["20"]
    expect(replay.delivered).toBe(true)
    for (const [figure, value] of Object.entries(replay.summary as Record<string, { plugin: { median: number } }>))
      expect({ figure, finite: Number.isFinite(value.plugin.median) }).toEqual({ figure, finite: true })
    // One short session, start to exit: the three signals once each, compressed.
    expect(result.short.requests.max).toBeLessThanOrEqual(3)
    expect(result.short.bytes.max).toBeLessThanOrEqual(5 * 1024)
    expect(result.e2e.invalidSamples).toBe(0)
    expect(result.e2e.samples.length).toBe(2)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}, 600_000)
