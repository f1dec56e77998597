/**
 * Loads the user's operator module, as `kubefx run` and `kubefx generate` name it:
 * `<file>[#export]`. The file is TypeScript (Node strips the types) or JavaScript; the registry
 * is the named export (a dotted path reaches into namespaces: `index.ts#Handlers.registry`),
 * else the `default` export, else the one export that is a registry. An export named `layer`
 * that is a Layer provides the services the handlers need.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Registry } from "@kubefx/core"
import { Effect, Layer } from "effect"
import { Failure } from "./Failure.ts"

/**
 * What a module specifier names: the file and, after `#`, the export.
 *
 * @since 0.1.0
 * @category models
 */
export interface Specifier {
  readonly file: string
  readonly exportName: string | undefined
}

/**
 * A loaded operator module.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  /** The file as the user named it. */
  readonly file: string
  readonly exports: Readonly<Record<string, unknown>>
  readonly registry: Registry.Registry<unknown>
  /** The module's `layer` export, when it is a Layer. */
  readonly layer: Layer.Layer<unknown, unknown, unknown> | undefined
}

/**
 * Splits `<file>[#export]`.
 *
 * @example
 * ```ts
 * import { Module } from "kubefx"
 *
 * Module.parse("src/operator.ts#registry") // { file: "src/operator.ts", exportName: "registry" }
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (specifier: string): Specifier => {
  const hash = specifier.lastIndexOf("#")
  return hash <= 0
    ? { file: specifier, exportName: undefined }
    : { file: specifier.slice(0, hash), exportName: specifier.slice(hash + 1) }
}

const firstLine = (cause: unknown): string =>
  (cause instanceof Error ? cause.message : String(cause)).split("\n")[0] ?? ""

/**
 * Imports a module file (relative to `cwd`), failing with one line when there is no such file
 * or it does not load.
 *
 * @example
 * ```ts
 * import { Module } from "kubefx"
 *
 * const exports = Module.importFile("src/operator.ts")
 * ```
 *
 * @since 0.1.0
 * @category loading
 */
export const importFile = (
  file: string,
  cwd: string = process.cwd()
): Effect.Effect<Readonly<Record<string, unknown>>, Failure> => {
  const absolute = path.resolve(cwd, file)
  if (!fs.existsSync(absolute) || !fs.statSync(absolute).isFile())
    return Effect.fail(
      new Failure({
        message: `module not found: ${file} (no file at ${absolute}); name the .ts or .js file that exports your registry`
      })
    )
  return Effect.tryPromise({
    try: () => import(pathToFileURL(absolute).href) as Promise<Record<string, unknown>>,
    catch: (cause) => new Failure({ message: `cannot load ${file}: ${firstLine(cause)}` })
  })
}

const lookup = (exports: Readonly<Record<string, unknown>>, name: string): unknown =>
  name
    .split(".")
    .reduce<unknown>(
      (value, key) =>
        typeof value === "object" && value !== null
          ? (value as Record<string, unknown>)[key]
          : undefined,
      exports
    )

const names = (exports: Readonly<Record<string, unknown>>): string => {
  const all = Object.keys(exports)
  return all.length === 0 ? "none" : all.join(", ")
}

/**
 * Picks the registry out of a module's exports (see the module's documentation).
 *
 * @example
 * ```ts
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Module } from "kubefx"
 *
 * const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
 * const found = Module.findRegistry({ registry, other: 1 }, "operator.ts", undefined)
 * ```
 *
 * @since 0.1.0
 * @category loading
 */
export const findRegistry = (
  exports: Readonly<Record<string, unknown>>,
  file: string,
  exportName: string | undefined
): Effect.Effect<Registry.Registry<unknown>, Failure> => {
  if (exportName !== undefined) {
    const value = lookup(exports, exportName)
    return Registry.isRegistry(value)
      ? Effect.succeed(value)
      : Effect.fail(
          new Failure({
            message: `${file}#${exportName} is ${value === undefined ? "not exported" : "not a registry"} (exports: ${names(exports)}); name an export built with Registry.make`
          })
        )
  }
  if (Registry.isRegistry(exports.default)) return Effect.succeed(exports.default)
  const found = Object.entries(exports).filter(([, value]) => Registry.isRegistry(value))
  const [only] = found
  if (found.length === 1 && only !== undefined)
    return Effect.succeed(only[1] as Registry.Registry<unknown>)
  return Effect.fail(
    new Failure({
      message:
        found.length === 0
          ? `no registry exported by ${file} (exports: ${names(exports)}); export one, e.g. export const registry = Registry.make(...), or name it: ${file}#<export>`
          : `several registries exported by ${file} (${found.map(([name]) => name).join(", ")}); choose one: ${file}#${found[0]?.[0]}`
    })
  )
}

/**
 * Loads `<file>[#export]`: its registry and its `layer`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Module } from "kubefx"
 *
 * const program = Effect.map(Module.load("src/operator.ts"), (loaded) => loaded.registry.handlers.length)
 * ```
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (
  specifier: string,
  cwd: string = process.cwd()
): Effect.Effect<Loaded, Failure> =>
  Effect.gen(function* () {
    const { file, exportName } = parse(specifier)
    const exports = yield* importFile(file, cwd)
    const registry = yield* findRegistry(exports, file, exportName)
    const layer = Layer.isLayer(exports.layer)
      ? (exports.layer as Layer.Layer<unknown, unknown, unknown>)
      : undefined
    return { file, exports, registry, layer }
  })
