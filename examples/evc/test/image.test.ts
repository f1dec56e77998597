/**
 * The Dockerfile copies exactly what the image runs: the workspace packages in the closure of
 * the example's `dependencies` (their package.json and src), and every module `src/main.ts`
 * reaches imports only packages its own package lists in `dependencies`.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { parse } from "yaml"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const example = "examples/evc"

interface Manifest {
  readonly name: string
  readonly dependencies?: Readonly<Record<string, string>>
  /** Provided by the package that depends on this one (the example provides `effect`). */
  readonly peerDependencies?: Readonly<Record<string, string>>
  readonly exports?: Readonly<Record<string, string | { readonly default: string }>>
}

/** The file a package's `.` export names in the workspace (a path, or conditions with `default`). */
const entryOf = (dir: string): string => {
  const entry = manifestOf(dir).exports?.["."]
  return entry === undefined ? "index.ts" : typeof entry === "string" ? entry : entry.default
}

const manifestOf = (dir: string): Manifest =>
  JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as Manifest

/** The workspace's packages by name, from pnpm-workspace.yaml's globs (`dir/*` or `dir`). */
const workspace = (): ReadonlyMap<string, string> => {
  const globs = (
    parse(readFileSync(join(root, "pnpm-workspace.yaml"), "utf8")) as {
      packages: ReadonlyArray<string>
    }
  ).packages
  const dirs = globs.flatMap((glob) =>
    glob.endsWith("/*")
      ? readdirSync(join(root, glob.slice(0, -2))).map((d) => `${glob.slice(0, -2)}/${d}`)
      : [glob]
  )
  return new Map(
    dirs
      .filter((d) => existsSync(join(root, d, "package.json")))
      .map((d) => [manifestOf(d).name, d] as const)
  )
}

/** The package directories the example needs at run time: itself and its workspace dependencies. */
const runtimeClosure = (packages: ReadonlyMap<string, string>): ReadonlySet<string> => {
  const out = new Set<string>()
  const visit = (dir: string) => {
    if (out.has(dir)) return
    out.add(dir)
    for (const [name, version] of Object.entries(manifestOf(dir).dependencies ?? {}))
      if (version.startsWith("workspace:")) visit(packages.get(name) ?? `missing ${name}`)
  }
  visit(example)
  return out
}

/** The sources of the build stage's COPY lines. */
const copied = (): ReadonlyArray<string> => {
  const dockerfile = readFileSync(join(root, example, "Dockerfile"), "utf8")
  const build = dockerfile.split(/^FROM /m)[1] ?? ""
  return build
    .split("\n")
    .filter((line) => line.startsWith("COPY ") && !line.includes("--from"))
    .flatMap((line) => line.split(/\s+/).slice(1, -1))
}

const specifiers = (source: string): ReadonlyArray<string> => {
  const code = source.replace(/^\s*(\/\/|\*|\/\*).*$/gm, "")
  const found = [
    ...code.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?from\s+["']([^"']+)["']/gm),
    ...code.matchAll(/^\s*import\s+["']([^"']+)["']/gm),
    ...code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)
  ]
  return found.map((m) => m[1] ?? "")
}

const assets = (source: string): ReadonlyArray<string> =>
  [...source.matchAll(/new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/g)].map(
    (m) => m[1] ?? ""
  )

const packageName = (specifier: string) =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/")

/** Walks the modules main.ts reaches: the files it reads, and the refused imports. */
const reach = (packages: ReadonlyMap<string, string>) => {
  const files = new Set<string>()
  const refused: Array<string> = []
  const visit = (file: string, dir: string) => {
    if (files.has(file)) return
    files.add(file)
    const source = readFileSync(join(root, file), "utf8")
    for (const asset of assets(source))
      files.add(relative(root, resolve(root, dirname(file), asset)))
    const manifest = manifestOf(dir)
    const dependencies = { ...manifest.peerDependencies, ...manifest.dependencies }
    for (const specifier of specifiers(source)) {
      if (specifier.startsWith("node:")) continue
      if (specifier.startsWith(".")) {
        visit(relative(root, resolve(root, dirname(file), specifier)), dir)
        continue
      }
      const name = packageName(specifier)
      if (dependencies[name] === undefined) refused.push(`${file} imports ${name}`)
      const workspaceDir = packages.get(name)
      if (workspaceDir !== undefined) visit(join(workspaceDir, entryOf(workspaceDir)), workspaceDir)
    }
  }
  visit(`${example}/src/main.ts`, example)
  return { files, refused }
}

describe("the EVC image", () => {
  const packages = workspace()

  it("copies the package.json and src of exactly the workspace packages it needs at run time", () => {
    const needed = [...runtimeClosure(packages)].sort()
    assert.deepStrictEqual(needed, [example, "packages/core", "packages/runtime"])
    assert.deepStrictEqual(
      [...copied()].sort(),
      [
        "package.json",
        "pnpm-lock.yaml",
        "pnpm-workspace.yaml",
        ...needed.flatMap((d) => [`${d}/package.json`, `${d}/src`])
      ].sort()
    )
  })

  it("runs main.ts from copied files that import only their packages' dependencies", () => {
    const { files, refused } = reach(packages)
    assert.deepStrictEqual(refused, [])
    const sources = copied().filter((c) => c.endsWith("/src"))
    const outside = [...files].filter((f) => !sources.some((s) => f.startsWith(`${s}/`)))
    assert.deepStrictEqual(outside, [])
    assert.isTrue(files.has(`${example}/src/pvc.yaml`))
    assert.isTrue(files.has("packages/runtime/src/Operator.ts"))
  })
})
