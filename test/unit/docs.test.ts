import { expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { readmePath, withReference } from "../../scripts/docs.ts"
import { METRIC_NAMES, VARIABLES } from "../../src/services/Config.ts"
import { METRICS } from "../../src/signals.ts"
import packageJson from "../../package.json"
import { PACKAGE_NAME, PACKAGE_VERSION } from "../../src/version.ts"

const readme = readFileSync(readmePath, "utf8")

test("the README's signal reference is the one generated from src/signals.ts (npm run docs)", () => {
  expect(readme).toBe(withReference(readme))
})

test("every metric has a catalog entry, and every variable is documented", () => {
  expect(Object.keys(METRICS).sort()).toEqual([...METRIC_NAMES].sort())
  for (const variable of Object.keys(VARIABLES)) expect(readme).toContain(`\`${variable}\``)
})

test("the version reported on the resource is the package's", () => {
  expect(PACKAGE_NAME).toBe(packageJson.name)
  expect(PACKAGE_VERSION).toBe(packageJson.version)
})
