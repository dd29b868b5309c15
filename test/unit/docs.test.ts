import { expect, test } from "bun:test"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { REPO_ROOT } from "../support/opencode.ts"
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

test("every link of the README leads somewhere: its section anchors exist, and so do the files it names", () => {
  const slug = (heading: string) =>
    heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\- _]/gu, "")
      .replace(/ /g, "-")
  const anchors = new Set(readme.split("\n").filter((line) => line.startsWith("#")).map((line) => slug(line.replace(/^#+\s*/, ""))))
  for (const [, anchor] of readme.matchAll(/\]\(#([^)]+)\)/g)) expect({ anchor, exists: anchors.has(anchor!) }).toEqual({ anchor, exists: true })
  for (const [, file] of readme.matchAll(/\]\((?!https?:|#)([^)#]+)[^)]*\)/g))
    expect({ file, exists: existsSync(join(REPO_ROOT, file!)) }).toEqual({ file, exists: true })
})
