/** The package's name and version, reported on the resource. Kept in step with package.json by a test. */
export const PACKAGE_NAME = "opencode-plugin-opentelemetry"
export const PACKAGE_VERSION = "0.1.0"
