/**
 * The versions a new project depends on (`kubefx init`): those of the packages this command
 * runs with. A package this command can import is read from its own package.json (so in the
 * workspace, the workspace's versions); the others (the test tools) from this package's own
 * dependency list, which packing turns into exact versions.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

interface Manifest {
  readonly name?: string
  readonly version?: string
  readonly dependencies?: Readonly<Record<string, string>>
  readonly devDependencies?: Readonly<Record<string, string>>
}

/**
 * This package's own package.json (read beside `src/` or `dist/`, which are siblings).
 *
 * @example
 * ```ts
 * import { Versions } from "kubefx"
 *
 * Versions.self.name // "kubefx"
 * ```
 *
 * @since 0.1.0
 * @category versions
 */
export const self: Manifest & { readonly name: string; readonly version: string } = JSON.parse(
  fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")
)

/** The package.json of `name` above the file it resolves to, when it resolves. */
const installed = (name: string): string | undefined => {
  let file: string
  try {
    file = fileURLToPath(import.meta.resolve(name))
  } catch {
    return undefined
  }
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, "package.json")
    if (!fs.existsSync(candidate)) continue
    const manifest = JSON.parse(fs.readFileSync(candidate, "utf8")) as Manifest
    if (manifest.name === name) return manifest.version
  }
  return undefined
}

const declared = (name: string): string | undefined => {
  const lists: ReadonlyArray<Readonly<Record<string, string>>> = [
    self.dependencies ?? {},
    self.devDependencies ?? {}
  ]
  const spec = lists.map((list) => list[name]).find((s) => s !== undefined)
  return spec === undefined || spec.startsWith("workspace:") ? undefined : spec
}

/**
 * The version of `name` for a new project's package.json; throws when this command knows none.
 *
 * @example
 * ```ts
 * import { Versions } from "kubefx"
 *
 * Versions.of("effect") // e.g. "4.1.0"
 * ```
 *
 * @since 0.1.0
 * @category versions
 */
export const of = (name: string): string => {
  const version = name === self.name ? self.version : (installed(name) ?? declared(name))
  if (version === undefined)
    throw new Error(`kubefx: no version of ${name} is known to this command`)
  return version
}
