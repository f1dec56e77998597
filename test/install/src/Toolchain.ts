/**
 * Node versions besides the toolchain's, from the npm registry's `node` package, installed once
 * into `~/.cache/kubefx/toolchain/node<version>` (or under `$KUBEFX_CACHE`), outside the clone.
 *
 * @since 0.1.0
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import * as Command from "./Command.ts"

/** The Node 22 release the install test runs on (the newest 22.x on the registry). @since 0.1.0 */
export const node22 = "22.23.3"

const cacheRoot = (): string =>
  process.env.KUBEFX_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "kubefx")

/**
 * The path of a `node` binary of `version`, installed with npm on first use (printing what it
 * does, as it downloads tens of megabytes).
 *
 * @example
 * ```ts
 * import { Toolchain } from "@kubefx/install-test"
 *
 * // Effect<string, CommandError>: "~/.cache/kubefx/toolchain/node22.23.3/node_modules/.bin/node"
 * const node22 = Toolchain.node(Toolchain.node22)
 * ```
 * @since 0.1.0
 */
export const node = (version: string): Effect.Effect<string, Command.CommandError> =>
  Effect.gen(function* () {
    const dir = join(cacheRoot(), "toolchain", `node${version}`)
    const binary = join(dir, "node_modules", ".bin", "node")
    if (existsSync(binary)) return binary
    process.stderr.write(
      `kubefx: installing Node ${version} from the npm registry into ${dir} (once)...\n`
    )
    mkdirSync(dir, { recursive: true })
    if (!existsSync(join(dir, "package.json")))
      writeFileSync(join(dir, "package.json"), '{"private":true}\n')
    yield* Command.run(
      "npm",
      ["install", "--prefix", dir, "--no-audit", "--no-fund", "--save-exact", `node@${version}`],
      { echo: true }
    )
    process.stderr.write(`kubefx: Node ${version} installed\n`)
    return binary
  })
