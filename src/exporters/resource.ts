/** The resource every signal of the plugin carries. */
import { resourceFromAttributes, type Resource } from "@opentelemetry/resources"
import type { TelemetryConfig } from "../config/settings.ts"
import { PACKAGE_NAME, PACKAGE_VERSION } from "../version.ts"

/**
 * service.name, service.version (opencode's), service.instance.id, os.type, host.arch, the plugin's name and
 * version, then OPENCODE_RESOURCE_ATTRIBUTES. The plugin's name and version are also the instrumentation scope's.
 */
export const makeResource = (
  config: Pick<TelemetryConfig, "resourceAttributes" | "serviceName" | "serviceVersion" | "serviceInstanceId">,
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
    ...config.resourceAttributes,
  })

const osType = (platform: NodeJS.Platform): string => (platform === "win32" ? "windows" : platform === "sunos" ? "solaris" : platform)

const hostArch = (arch: string): string => ({ x64: "amd64", ia32: "x86", arm: "arm32", ppc: "ppc32" } as Record<string, string>)[arch] ?? arch
