/**
 * The Effect bridge (src/layers/effectOtel.ts): an embedding program's spans, log lines and Effect metrics leave
 * through the plugin's own providers, resource and delivery; the plugin's own spans and the log lines inside them
 * do not; and opencode's runtime never loads @effect/opentelemetry.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test"
import { readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { Effect, Layer, Metric } from "effect"
import * as EffectOtel from "../../src/layers/effectOtel.ts"
import * as OpencodeLog from "../../src/layers/opencodeLog.ts"
import * as Telemetry from "../../src/layers/telemetry.ts"
import { Exporter, MemoryExporter } from "../../src/services/Exporter.ts"
import { HeaderProvider } from "../../src/services/HeaderProvider.ts"
import { PACKAGE_NAME } from "../../src/version.ts"
import { startReceiver, type Protocol, type Receiver } from "../support/otlp-receiver.ts"
import { captureClient, liveLayer, runScoped } from "../lib/telemetry.ts"

const ROOT = join(import.meta.dir, "..", "..")
const SRC = join(ROOT, "src")
const BUN = join(ROOT, "node_modules", ".bin", "bun")

// The embedding program: its own spans, log lines and an Effect metric. It also runs the plugin's own code on
// its fiber (a flush, with its `Exporter.flush` span), which must stay out of what it exports.
const releases = Metric.counter("bridge.releases", { description: "Services released", incremental: true })
const release = Effect.fn("bridge.release")(function* (service: string) {
  yield* Effect.logInfo(`releasing ${service}`)
  yield* Metric.update(releases, 1)
  yield* Effect.sleep("5 millis").pipe(Effect.withSpan("bridge.upload", { attributes: { "bridge.service": service } }))
})
const program = Effect.gen(function* () {
  yield* release("api")
  yield* release("web")
  yield* (yield* Exporter).flush
}).pipe(Effect.withSpan("bridge.deploy"))

/**
 * Effect's metric registry is the process's: each test gets its own, so that one test's counts are not another's.
 * Under the layer, so that the bridge's producers read the registry the program writes to.
 */
const freshMetricRegistry = () => Layer.succeed(Metric.MetricRegistry, new Map())

const PROGRAM_SPANS = ["bridge.deploy", "bridge.release", "bridge.upload"]
const PROGRAM_LOGS = ["releasing api", "releasing web"]

describe("in memory", () => {
  const layer = () =>
    EffectOtel.layerOn(Telemetry.layerTest()).pipe(Layer.provide(OpencodeLog.layerSilent), Layer.provideMerge(freshMetricRegistry()))

  test("the program's spans, log lines and metric arrive with the plugin's resource; the plugin's own spans do not", async () => {
    const seen = await Effect.runPromise(
      Effect.gen(function* () {
        yield* program
        const memory = yield* MemoryExporter
        // Reading flushes (an `Exporter.flush` span each time): read twice, so the first read's span had its chance.
        yield* memory.spans
        return {
          resource: (yield* Exporter).resource.attributes,
          spans: yield* memory.spans,
          logs: yield* memory.logs,
          metrics: yield* memory.metrics,
        }
      }).pipe(Effect.provide(layer())),
    )
    expect(seen.resource["opencode.plugin.name"]).toBe(PACKAGE_NAME)

    expect(seen.spans.map((s) => s.name).sort()).toEqual(["bridge.deploy", "bridge.release", "bridge.release", "bridge.upload", "bridge.upload"])
    for (const span of seen.spans) expect(span.resource.attributes).toEqual(seen.resource)
    const deploy = seen.spans.find((s) => s.name === "bridge.deploy")!
    const releasesSpans = seen.spans.filter((s) => s.name === "bridge.release")
    for (const span of releasesSpans) expect(span.parentSpanContext?.spanId).toBe(deploy.spanContext().spanId)
    expect(seen.spans.find((s) => s.name === "bridge.upload")?.attributes["bridge.service"]).toBe("api")

    expect(seen.logs.map((l) => l.body)).toEqual(PROGRAM_LOGS)
    for (const log of seen.logs) {
      expect(log.resource.attributes).toEqual(seen.resource)
      // Inside its span: the record carries that span's context.
      expect(releasesSpans.map((s) => s.spanContext().spanId)).toContain(log.spanContext?.spanId ?? "no span")
    }

    const points = seen.metrics
      .flatMap((rm) => rm.scopeMetrics.map((scope) => ({ rm, scope })))
      .flatMap(({ rm, scope }) => scope.metrics.filter((m) => m.descriptor.name === "bridge.releases").map((m) => ({ rm, m })))
    expect(points.length).toBeGreaterThan(0)
    const last = points[points.length - 1]!
    expect(last.rm.resource.attributes).toEqual(seen.resource)
    // Cumulative (the plugin's default temporality): the total, not the last delta.
    expect(last.m.dataPoints.map((p) => p.value)).toEqual([2])
  })

  test("a log line inside a span of the plugin's namespaces stays out; the same line outside it goes through", async () => {
    const logs = await Effect.runPromise(
      Effect.gen(function* () {
        yield* Effect.logWarning("from the plugin").pipe(Effect.withSpan("Exporter.simulated"), Effect.withSpan("bridge.outer"))
        yield* Effect.logWarning("from the program")
        return (yield* (yield* MemoryExporter).logs).map((l) => l.body)
      }).pipe(Effect.provide(layer())),
    )
    expect(logs).toEqual(["from the program"])
  })

  test("every span name in the plugin's sources falls in one of the bridge's plugin namespaces", () => {
    const files = (dir: string): Array<string> =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []))
    const names = files(SRC).flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(/(?:withSpan|Effect\.fn|useSpan|makeSpan)\(\s*(["'`])([^"'`]*)\1?/g)].map((m) => ({ file, name: m[2]! })),
    )
    // The scan does see the spans (Exporter.flush, HeaderProvider.refresh, handlers.endAllSessions, ...).
    expect(names.length).toBeGreaterThan(5)
    expect(names.filter(({ name }) => !EffectOtel.isPluginSpanName(name))).toEqual([])
  })
})

let receiver: Receiver | undefined
afterEach(async () => {
  await receiver?.stop()
  receiver = undefined
})

describe.each(["http/protobuf", "http/json", "grpc"] as Array<Protocol>)("OTLP %s", (protocol) => {
  test("the program's telemetry arrives with the plugin's; no span or log line of the plugin's own work does", async () => {
    receiver = await startReceiver({ protocol })
    const { client, logs: opencodeLog } = captureClient()
    // A header helper that fails: the plugin logs that inside its `HeaderProvider.refresh` span.
    const helperDir = mkdtempSync(join(tmpdir(), "oc-otel-bridge-"))
    const helper = join(helperDir, "helper.sh")
    writeFileSync(helper, "#!/bin/sh\nexit 3\n", { mode: 0o755 })
    try {
      const layer = EffectOtel.layerOn(
        liveLayer(
          {
            OPENCODE_OTLP_ENDPOINT: receiver.url,
            OPENCODE_OTLP_PROTOCOL: protocol,
            OPENCODE_OTLP_HEADERS_HELPER: helper,
            OPENCODE_OTLP_METRICS_TEMPORALITY: "delta",
          },
          client,
        ),
      ).pipe(Layer.provideMerge(freshMetricRegistry()))
      await runScoped(
        layer,
        Effect.gen(function* () {
          yield* program
          yield* (yield* HeaderProvider).refresh
        }),
      )
      await receiver.waitFor(
        (r) =>
          PROGRAM_SPANS.every((name) => r.spans().some((s) => s.name === name)) &&
          PROGRAM_LOGS.every((body) => r.logs().some((l) => l.body === body)) &&
          r.metrics().some((m) => m.name === "bridge.releases"),
        10_000,
      )
      const spans = receiver.spans()
      expect(spans.filter((s) => EffectOtel.isPluginSpanName(s.name))).toEqual([])
      expect(spans.map((s) => s.name).sort()).toEqual(["bridge.deploy", "bridge.release", "bridge.release", "bridge.upload", "bridge.upload"])
      for (const span of spans) expect(span.resource["opencode.plugin.name"]).toBe(PACKAGE_NAME)

      // The plugin's lines went to opencode's log, and only there.
      expect(opencodeLog.some((l) => l.message.includes("Telemetry started"))).toBe(true)
      expect(opencodeLog.filter((l) => l.message.includes(helper)).length).toBeGreaterThan(0)
      const bodies = receiver.logs().map((l) => String(l.body))
      expect(bodies.sort()).toEqual(PROGRAM_LOGS)

      const points = receiver.metrics().filter((m) => m.name === "bridge.releases")
      expect(points.reduce((sum, m) => sum + (m.value as number), 0)).toBe(2)
      for (const point of points) {
        expect(point.temporality).toBe("delta")
        expect(point.resource["opencode.plugin.name"]).toBe(PACKAGE_NAME)
      }
    } finally {
      rmSync(helperDir, { recursive: true, force: true })
    }
  }, 30_000)
})

describe("opencode's hot path", () => {
  /** Local modules and package specifiers reached from `entry`, through static and literal dynamic imports. */
  const importGraph = (entry: string) => {
    const modules = new Set<string>()
    const packages = new Set<string>()
    const visit = (file: string) => {
      if (modules.has(file)) return
      modules.add(file)
      const text = readFileSync(file, "utf8")
      const specifiers = [
        ...[...text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?\bfrom\s+"([^"]+)"/gms)].map((m) => m[1]!),
        ...[...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]!),
      ]
      for (const specifier of specifiers) {
        if (specifier.startsWith(".")) visit(resolve(dirname(file), specifier))
        else packages.add(specifier)
      }
    }
    visit(entry)
    return { modules: [...modules].map((f) => f.slice(SRC.length + 1)), packages: [...packages] }
  }

  test("neither the plugin entry nor the runtime it starts imports the bridge or @effect/opentelemetry", () => {
    const graph = importGraph(join(SRC, "plugin.ts"))
    // Followed through the dynamic import of the runtime.
    expect(graph.modules).toContain("start.ts")
    expect(graph.modules).not.toContain("layers/effectOtel.ts")
    expect(graph.modules).not.toContain("index.ts")
    expect(graph.packages.filter((p) => p.startsWith("@effect/"))).toEqual([])
  })

  test("the plugin's bundle resolves no module of @effect/opentelemetry", async () => {
    const outdir = mkdtempSync(join(tmpdir(), "oc-otel-bundle-"))
    try {
      const resolved: Array<string> = []
      const result = await Bun.build({
        entrypoints: [join(SRC, "plugin.ts")],
        outdir,
        target: "bun",
        format: "esm",
        splitting: true,
        plugins: [{ name: "record-imports", setup: (build) => void build.onResolve({ filter: /.*/ }, (args) => void resolved.push(args.path)) }],
      })
      expect(result.success).toBe(true)
      expect(resolved).toContain("effect")
      expect(resolved.filter((path) => path.includes("@effect/opentelemetry") || path.includes("effectOtel"))).toEqual([])
    } finally {
      rmSync(outdir, { recursive: true, force: true })
    }
  }, 60_000)
})

describe("the README's example", () => {
  const EXAMPLE = join(ROOT, "examples", "effect-otel.ts")
  const readmeBlock = () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8")
    const at = readme.indexOf("(examples/effect-otel.ts)")
    expect(at).toBeGreaterThan(-1)
    const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
    return block?.[1]
  }

  test("is examples/effect-otel.ts, byte for byte", () => {
    expect(readmeBlock()).toBe(readFileSync(EXAMPLE, "utf8"))
  })

  /**
   * The example imports the package by name, as a user would: a tsconfig that maps the name to the sources serves
   * both tsc and Bun (`--tsconfig-override`), with no build.
   */
  let configDir: string | undefined
  const exampleTsconfig = () => {
    configDir ??= mkdtempSync(join(tmpdir(), "oc-otel-example-"))
    const tsconfig = join(configDir, "tsconfig.json")
    writeFileSync(
      tsconfig,
      JSON.stringify({
        extends: join(ROOT, "tsconfig.json"),
        compilerOptions: {
          paths: { "opencode-plugin-opentelemetry/effect": [join(SRC, "index.ts")] },
          typeRoots: [join(ROOT, "node_modules", "@types")],
        },
        include: [],
        files: [EXAMPLE],
      }),
    )
    return tsconfig
  }
  afterAll(() => {
    if (configDir !== undefined) rmSync(configDir, { recursive: true, force: true })
  })

  test("typechecks against the Effect API", () => {
    const tsc = Bun.spawnSync([join(ROOT, "node_modules", ".bin", "tsc"), "-p", exampleTsconfig(), "--noEmit"], { cwd: ROOT })
    expect(tsc.stdout.toString() + tsc.stderr.toString()).toBe("")
    expect(tsc.exitCode).toBe(0)
  }, 60_000)

  test("runs: its span, log line and metric reach a collector over OTLP", async () => {
    receiver = await startReceiver({ protocol: "http/protobuf" })
    const child = Bun.spawn([BUN, "--tsconfig-override", exampleTsconfig(), EXAMPLE], {
      cwd: ROOT,
      env: { ...process.env, OPENCODE_ENABLE_TELEMETRY: "1", OPENCODE_OTLP_ENDPOINT: receiver.url, OPENCODE_OTLP_PROTOCOL: "http/protobuf" },
      stdout: "pipe",
      stderr: "pipe",
    })
    const exitCode = await child.exited
    expect(exitCode === 0 ? "" : await new Response(child.stderr).text()).toBe("")
    const r = receiver
    await r.waitFor(
      () =>
        r.spans().some((s) => s.name === "deploy") &&
        r.logs().some((l) => l.body === "deploying api") &&
        r.metrics().some((m) => m.name === "deploy.count" && m.value === 1),
      10_000,
    )
    expect(r.spans().filter((s) => EffectOtel.isPluginSpanName(s.name))).toEqual([])
  }, 30_000)
})
