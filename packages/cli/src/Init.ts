/**
 * `kubefx init <dir>`: writes a new operator project ({@link Template}) into a folder that does
 * not exist or is empty, on the versions of the packages this command runs with
 * ({@link Versions}).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Console, Effect } from "effect"
import { Argument, Command } from "effect/cli"
import { Failure } from "./Failure.ts"
import * as Template from "./Template.ts"
import * as Versions from "./Versions.ts"

/** An npm package name from the folder's name. */
const projectName = (dir: string): string =>
  path
    .basename(path.resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[._-]+/, "") || "operator"

/**
 * Writes the project into `dir`, failing with one line when the folder is not empty.
 *
 * @example
 * ```ts
 * import { Init } from "kubefx"
 *
 * const program = Init.init("demo-op")
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const init = (dir: string): Effect.Effect<ReadonlyArray<string>, Failure> =>
  Effect.try({
    try: () => {
      if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0)
        throw new Failure({
          message: `${dir} is not empty; kubefx init writes a new project into an empty or new folder`
        })
      const files = Template.files(projectName(dir), Versions.of)
      for (const file of files) {
        const target = path.join(dir, file.path)
        fs.mkdirSync(path.dirname(target), { recursive: true })
        fs.writeFileSync(target, file.content)
      }
      return files.map((file) => file.path)
    },
    catch: (cause) =>
      cause instanceof Failure
        ? cause
        : new Failure({
            message: `cannot write the project into ${dir}: ${(cause as Error).message}`
          })
  })

/**
 * The `init` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "init",
  { dir: Argument.String("dir").pipe(Argument.withDescription("The new project's folder")) },
  ({ dir }) =>
    Effect.flatMap(init(dir), (files) =>
      Console.log(
        [
          `kubefx: wrote ${files.length} files into ${dir}: ${files.join(", ")}`,
          `next: cd ${dir} && npm install && npm test (then see README.md)`
        ].join("\n")
      )
    )
).pipe(
  Command.withDescription(
    "Start a new operator project: a resource with its Schema, a handler, a simulated-cluster test, a Dockerfile and a README"
  ),
  Command.withExamples([{ command: "kubefx init demo-op", description: "A project in ./demo-op" }])
)
