/**
 * `kubefx init`: the project it writes type-checks (strict, NodeNext) and passes its own test
 * against the workspace's packages: it is written inside packages/cli, where Node finds them
 * in the package's node_modules. A folder that is not empty is refused in one line.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { errorLines, kubefx, root } from "./cli.ts"

const cli = path.join(root, "packages/cli")

/** Runs a Node script in `cwd` to its end. */
const node = (cwd: string, script: string, args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, [script, ...args], { cwd, encoding: "utf8" })

describe("kubefx init", () => {
  it("writes a project that type-checks and passes its own test", () => {
    const parent = fs.mkdtempSync(path.join(cli, ".init-"))
    try {
      const dir = path.join(parent, "demo-op")
      const result = kubefx(["init", dir])
      assert.strictEqual(result.status, 0, result.stderr)
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))
      assert.strictEqual(manifest.name, "demo-op")
      assert.strictEqual(manifest.dependencies.effect, "4.1.0")
      const tsc = node(dir, path.join(root, "node_modules/typescript/bin/tsc"), [
        "--noEmit",
        "-p",
        "."
      ])
      assert.strictEqual(tsc.status, 0, tsc.stdout)
      const vitest = node(dir, path.join(cli, "node_modules/vitest/vitest.mjs"), ["run"])
      assert.strictEqual(vitest.status, 0, vitest.stdout + vitest.stderr)
      assert.include(vitest.stdout, "1 passed")
    } finally {
      fs.rmSync(parent, { recursive: true, force: true })
    }
  }, 120_000)

  it("refuses a folder that is not empty", () => {
    const dir = fs.mkdtempSync(path.join(cli, ".init-"))
    try {
      fs.writeFileSync(path.join(dir, "notes.txt"), "mine")
      const result = kubefx(["init", dir])
      assert.strictEqual(result.status, 1)
      assert.deepStrictEqual(errorLines(result), [
        `kubefx: ${dir} is not empty; kubefx init writes a new project into an empty or new folder`
      ])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
