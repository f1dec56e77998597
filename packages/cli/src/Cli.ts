/**
 * The `kubefx` command and its subcommands, with the version of this package.
 *
 * @since 0.1.0
 */
import type { Layer } from "effect"
import { CliOutput, Command } from "effect/cli"
import * as Generate from "./Generate.ts"
import * as Init from "./Init.ts"
import * as Run from "./Run.ts"
import * as Versions from "./Versions.ts"

/**
 * This package's version (`kubefx --version`).
 *
 * @since 0.1.0
 * @category metadata
 */
export const version: string = Versions.self.version

/**
 * The root command.
 *
 * @example
 * ```ts
 * import type { Layer } from "effect"
import { CliOutput, Command } from "effect/cli"
 * import { Cli } from "kubefx"
 *
 * const main = Command.runWith(Cli.command, { version: Cli.version })
 * ```
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("kubefx").pipe(
  Command.withDescription(
    "kubefx: run, generate and start Kubernetes operators written with Effect"
  ),
  Command.withSubcommands([Run.command, Generate.command, Init.command])
)

const base = CliOutput.defaultFormatter()

/**
 * `effect/cli`'s output, with a user's mistake printed as one line: `kubefx: <what and how to
 * fix it>`.
 *
 * @since 0.1.0
 * @category output
 */
export const output: Layer.Layer<never> = CliOutput.layer({
  ...base,
  formatError: (error) =>
    error._tag === "UserError" ? `kubefx: ${error.message}` : base.formatError(error)
})
