/** The resource every signal of the plugin carries. */
import { resourceFromAttributes, type Resource } from "@opentelemetry/resources"
import type { TelemetryConfig } from "../config/settings.ts"
import { remoteAttributes, type Repository } from "../git/repository.ts"
import { REPOSITORY_ATTRIBUTES } from "../signals.ts"
import { PACKAGE_NAME, PACKAGE_VERSION } from "../version.ts"

/** The longest the resource waits for the repository's facts (git's files, read in the background at start). */
const REPOSITORY_WAIT_MS = 1_000

/**
 * The repository's attributes, as the resource's asynchronous attributes (the SDK waits for them before an
 * export): on the resource unless OPENCODE_METRICS_INCLUDE_REPOSITORY puts them on metric points instead.
 */
const repositoryOnResource = (repository: Promise<Repository | undefined> | undefined) => {
  if (repository === undefined) return {}
  const remote = new Promise<Readonly<Record<string, string>>>((resolve) => {
    const timer = setTimeout(() => resolve({}), REPOSITORY_WAIT_MS)
    timer.unref?.()
    repository.then(
      (known) => {
        clearTimeout(timer)
        resolve(remoteAttributes(known?.remote))
      },
      () => resolve({}),
    )
  })
  return Object.fromEntries(REPOSITORY_ATTRIBUTES.metrics.map((key) => [key, remote.then((attributes) => attributes[key])]))
}

/**
 * service.name, service.version (opencode's), service.instance.id, os.type, host.arch, the plugin's name and
 * version, the repository (vcs.*, when it goes on the resource), then OPENCODE_RESOURCE_ATTRIBUTES. The plugin's name and version are also the instrumentation scope's.
 */
export const makeResource = (
  config: Pick<TelemetryConfig, "resourceAttributes" | "serviceName" | "serviceVersion" | "serviceInstanceId"> &
    Partial<Pick<TelemetryConfig, "host" | "metrics">>,
): Resource =>
  resourceFromAttributes({
    "service.name": config.serviceName,
    ...(config.serviceVersion === undefined ? {} : { "service.version": config.serviceVersion }),
    "service.instance.id": config.serviceInstanceId,
    "os.type": osType(process.platform),
    "host.arch": hostArch(process.arch),
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.language": "nodejs",
    "opencode.plugin.name": PACKAGE_NAME,
    "opencode.plugin.version": PACKAGE_VERSION,
    ...(config.metrics?.repository === "resource" ? repositoryOnResource(config.host?.repository) : {}),
    ...config.resourceAttributes,
  })

const osType = (platform: NodeJS.Platform): string => (platform === "win32" ? "windows" : platform === "sunos" ? "solaris" : platform)

const hostArch = (arch: string): string => ({ x64: "amd64", ia32: "x86", arm: "arm32", ppc: "ppc32" } as Record<string, string>)[arch] ?? arch
