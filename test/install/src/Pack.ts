/**
 * The workspace's packages as a user gets them: every package that is not `private`, built and
 * packed with `pnpm pack` (so `publishConfig` applies and `workspace:*` becomes a version), and
 * a project in a temporary folder outside the workspace that installs those tarballs with npm.
 *
 * @since 0.1.0
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { mkdir } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, type Scope } from "effect"
import * as Command from "./Command.ts"

/** The workspace's root folder. @since 0.1.0 */
export const workspaceRoot: string = fileURLToPath(new URL("../../..", import.meta.url))

/** Tarball paths by package name (`@kubefx/core` → `/tmp/…/kubefx-core-0.1.0.tgz`). @since 0.1.0 */
export type Tarballs = Readonly<Record<string, string>>

interface WorkspacePackage {
  readonly name: string
  readonly path: string
  readonly private?: boolean
}

/**
 * The workspace packages that are published: those without `private: true`.
 *
 * @since 0.1.0
 */
export const publishable: Effect.Effect<
  ReadonlyArray<WorkspacePackage>,
  Command.CommandError
> = Command.run("pnpm", ["ls", "-r", "--depth", "-1", "--json"], { cwd: workspaceRoot }).pipe(
  Effect.map((out) => (JSON.parse(out) as Array<WorkspacePackage>).filter((p) => !p.private))
)

/**
 * Builds every publishable package (`pnpm run build` in each, in dependency order) and packs it
 * into `outDir`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pack } from "@kubefx/install-test"
 *
 * const core = Effect.map(Pack.packAll("/tmp/tarballs"), (tarballs) => tarballs["@kubefx/core"])
 * ```
 * @since 0.1.0
 */
export const packAll = (outDir: string): Effect.Effect<Tarballs, Command.CommandError> =>
  Effect.gen(function* () {
    const packages = yield* publishable
    const filters = packages.flatMap((p) => ["--filter", p.name])
    yield* Command.run("pnpm", [...filters, "run", "build"], { cwd: workspaceRoot })
    yield* Effect.promise(() => mkdir(outDir, { recursive: true }))
    const entries = yield* Effect.forEach(packages, (p) =>
      Command.run("pnpm", ["pack", "--pack-destination", outDir, "--json"], { cwd: p.path }).pipe(
        Effect.map((out) => [p.name, (JSON.parse(out) as { filename: string }).filename] as const)
      )
    )
    return Object.fromEntries(entries)
  })

/**
 * A package.json object made to install `tarballs` instead of the registry's versions: each
 * dependency or devDependency named in `tarballs` becomes `file:<tarball>`, and `overrides`
 * make the packages' dependencies on each other use the tarballs too.
 *
 * @since 0.1.0
 */
export const useTarballs = (
  manifest: Readonly<Record<string, unknown>>,
  tarballs: Tarballs
): Record<string, unknown> => {
  const local = (deps: unknown) =>
    Object.fromEntries(
      Object.entries((deps ?? {}) as Record<string, string>).map(([name, spec]) => [
        name,
        tarballs[name] === undefined ? spec : `file:${tarballs[name]}`
      ])
    )
  const overrides = Object.fromEntries(Object.entries(tarballs).map(([n, t]) => [n, `file:${t}`]))
  return {
    ...manifest,
    dependencies: local(manifest.dependencies),
    devDependencies: local(manifest.devDependencies),
    overrides: { ...(manifest.overrides as object | undefined), ...overrides }
  }
}

/**
 * `npm install` in `dir` as a user runs it, with the npm cache used first (`--prefer-offline`)
 * and no audit or funding requests.
 *
 * @since 0.1.0
 */
export const npmInstall = (dir: string): Effect.Effect<string, Command.CommandError> =>
  Command.run(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
    {
      cwd: dir
    }
  )

/**
 * Installs an existing project (a folder with a package.json, e.g. what `kubefx init` wrote)
 * from `tarballs`: its package.json is rewritten with {@link useTarballs}, then {@link npmInstall}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pack } from "@kubefx/install-test"
 *
 * const program = Effect.flatMap(Pack.packAll("/tmp/tarballs"), (tarballs) =>
 *   Pack.installFrom("/tmp/my-operator", tarballs)
 * )
 * ```
 * @since 0.1.0
 */
export const installFrom = (
  dir: string,
  tarballs: Tarballs
): Effect.Effect<string, Command.CommandError> =>
  Effect.suspend(() => {
    const file = join(dir, "package.json")
    const manifest = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>
    writeFileSync(file, `${JSON.stringify(useTarballs(manifest, tarballs), null, 2)}\n`)
    return npmInstall(dir)
  })

/**
 * A user's project: its folder, and commands run in it.
 *
 * @since 0.1.0
 */
export interface Project {
  readonly dir: string
  readonly run: (
    command: string,
    args: ReadonlyArray<string>,
    options?: Omit<Command.Options, "cwd">
  ) => Effect.Effect<string, Command.CommandError>
}

/**
 * What a temporary project holds: its package.json (the tarballs replace the registry versions
 * of the packages they name, {@link useTarballs}) and other files by relative path.
 *
 * @since 0.1.0
 */
export interface ProjectOptions {
  readonly packageJson: Readonly<Record<string, unknown>>
  readonly tarballs: Tarballs
  readonly files?: Readonly<Record<string, string>> | undefined
}

/**
 * A project in a new folder under the system's temporary folder (outside the workspace, so
 * nothing resolves to the workspace's node_modules), with its files written and `npm install`
 * done; the folder is removed when the scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pack } from "@kubefx/install-test"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const tarballs = yield* Pack.packAll("/tmp/tarballs")
 *     const project = yield* Pack.tempProject({
 *       packageJson: { type: "module", dependencies: { "@kubefx/core": "0.1.0", effect: "4.1.0" } },
 *       tarballs,
 *       files: { "main.js": 'import { Registry } from "@kubefx/core"\nconsole.log(typeof Registry.make)\n' }
 *     })
 *     return yield* project.run("node", ["main.js"])
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export const tempProject = (
  options: ProjectOptions
): Effect.Effect<Project, Command.CommandError, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "kubefx-project-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const manifest = { name: "kubefx-user-project", private: true, ...options.packageJson }
    yield* Effect.promise(() => writeFiles(dir, options.files ?? {}))
    writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`)
    yield* installFrom(dir, options.tarballs)
    return {
      dir,
      run: (command, args, runOptions = {}) =>
        Command.run(command, args, { ...runOptions, cwd: dir })
    }
  })

const writeFiles = async (dir: string, files: Readonly<Record<string, string>>) => {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), content)
  }
}

/**
 * The files of a folder of the workspace, by path relative to it, for {@link ProjectOptions}.
 *
 * @since 0.1.0
 */
export const readFiles = (
  dir: string,
  paths: ReadonlyArray<string>
): Readonly<Record<string, string>> =>
  Object.fromEntries(paths.map((path) => [path, readFileSync(join(dir, path), "utf8")]))
