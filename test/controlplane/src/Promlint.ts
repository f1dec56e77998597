/**
 * A Prometheus format checker for tests: the small Go program in `promlint/` (prometheus/common's
 * text parser, as a scrape parses, and client_golang's promlint rules, the checks of `promtool
 * check metrics`), built once from Go modules into `<cache>/promlint/<key>/promlint`, where
 * `<key>` is a digest of its sources and the Go version.
 *
 * @since 0.1.0
 */
import { execFileSync, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { cacheRoot } from "./Paths.ts"

const sourceDir = fileURLToPath(new URL("../promlint", import.meta.url))
const sources = ["go.mod", "go.sum", "main.go"]

/** The checker's binary, built on first use (progress on stderr). @since 0.1.0 */
export const binary = (): string => {
  const goVersion = execFileSync("go", ["version"], { encoding: "utf8" }).trim()
  const hash = createHash("sha256").update(goVersion)
  for (const file of sources) hash.update(readFileSync(join(sourceDir, file)))
  const dir = join(cacheRoot(), "promlint", hash.digest("hex").slice(0, 16))
  const out = join(dir, "promlint")
  if (existsSync(out)) return out
  mkdirSync(dir, { recursive: true })
  process.stderr.write(`building the promlint checker into ${dir} (once)\n`)
  execFileSync("go", ["build", "-o", `${out}.tmp`, "."], {
    cwd: sourceDir,
    env: { ...process.env, GOFLAGS: "-mod=mod" },
    stdio: ["ignore", "inherit", "inherit"]
  })
  renameSync(`${out}.tmp`, out)
  return out
}

/**
 * Checks Prometheus text: answers the problems found (empty when the text parses and passes
 * every lint rule).
 *
 * @example
 * ```ts
 * import { Promlint } from "@kubefx/controlplane"
 *
 * const problems = Promlint.check("# TYPE up gauge\nup 1\n") // []
 * ```
 * @since 0.1.0
 */
export const check = (text: string): ReadonlyArray<string> => {
  const result = spawnSync(binary(), [], { input: text, encoding: "utf8" })
  if (result.error !== undefined) throw result.error
  if (result.status === 0) return []
  return result.stdout.split("\n").filter((line) => line !== "")
}
