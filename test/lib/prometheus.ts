/**
 * A real Prometheus server (Debian's `prometheus`, 2.42 in CI) for end-to-end tests: scrapes the given loopback
 * targets every second, listens on 127.0.0.1, keeps its data in a temp directory; `stop()` kills it and removes
 * the directory. Fails (does not skip) when the binary is missing.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./net.ts"

export interface Sample {
  metric: Record<string, string>
  value: number
}

export interface PrometheusServer {
  port: number
  /** An instant query (`/api/v1/query`), at `time` (Unix seconds) or now; throws on a PromQL error. */
  query(promql: string, time?: number): Promise<Array<Sample>>
  /** The raw samples of a range selector (`x[10m]`) at `time`: per series, [time ms, value] in time order. */
  range(selector: string, time?: number): Promise<Array<{ metric: Record<string, string>; samples: Array<[number, number]> }>>
  /** The metric names of the series matching `match` (a series selector), from the last hour. */
  names(match: string): Promise<Array<string>>
  stop(): void
}

export const prometheusBinary = (): string =>
  spawnSync("sh", ["-c", "command -v prometheus"], { encoding: "utf8" }).stdout.trim()

/** Starts Prometheus scraping `targets` (job name -> port on 127.0.0.1); resolves when it is ready. */
export async function startPrometheus(
  targets: Record<string, number>,
  scrape: { readonly interval: string; readonly timeout: string } = { interval: "1s", timeout: "900ms" },
): Promise<PrometheusServer> {
  const binary = prometheusBinary()
  if (binary === "") throw new Error("the prometheus binary (apt-get install prometheus) is needed")
  const dir = mkdtempSync(join(tmpdir(), "otel-prom-"))
  const port = await freePort()
  const jobs = Object.entries(targets)
    .map(([job, p]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ["127.0.0.1:${p}"]\n`)
    .join("")
  writeFileSync(join(dir, "prometheus.yml"), `global:\n  scrape_interval: ${scrape.interval}\n  scrape_timeout: ${scrape.timeout}\nscrape_configs:\n${jobs}`)
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=1h",
    ],
    { stdio: "ignore" },
  )
  const stop = () => {
    child.kill("SIGKILL")
    rmSync(dir, { recursive: true, force: true })
  }
  type Result = { metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }
  const instant = async (promql: string, time: number | undefined, resultType: "vector" | "matrix"): Promise<Array<Result>> => {
    const params = new URLSearchParams({ query: promql, ...(time === undefined ? {} : { time: String(time) }) })
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?${params}`)
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<Result> } }
    if (body.status !== "success" || body.data === undefined) throw new Error(`PromQL error for ${promql}: ${body.error}`)
    if (body.data.resultType !== resultType) throw new Error(`${promql}: a ${body.data.resultType}, not a ${resultType}`)
    return body.data.result
  }
  const query = async (promql: string, time?: number): Promise<Array<Sample>> =>
    (await instant(promql, time, "vector")).map((r) => ({ metric: r.metric, value: Number(r.value![1]) }))
  const range = async (selector: string, time?: number) =>
    (await instant(selector, time, "matrix")).map((r) => ({
      metric: r.metric,
      samples: (r.values ?? []).map(([t, v]) => [Math.round(t * 1000), Number(v)] as [number, number]),
    }))
  const names = async (match: string): Promise<Array<string>> => {
    const params = new URLSearchParams({ "match[]": match, start: String(Date.now() / 1000 - 3600) })
    const body = (await (await fetch(`http://127.0.0.1:${port}/api/v1/label/__name__/values?${params}`)).json()) as { data?: string[] }
    return body.data ?? []
  }
  for (let i = 0; i < 60; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/-/ready`).then((r) => r.ok).catch(() => false)
    if (ok) return { port, query, range, names, stop }
    await new Promise((r) => setTimeout(r, 250))
  }
  stop()
  throw new Error("Prometheus did not become ready")
}
