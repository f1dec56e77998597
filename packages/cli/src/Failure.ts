/**
 * The one error the commands fail with: a user's mistake, told in one line that names the cause
 * and the fix. `effect/cli` prints the line (its `CliError.userMessage`), `main.ts` exits with 1
 * and no stack trace.
 *
 * @since 0.1.0
 */
import { Data } from "effect"
import { CliError } from "effect/cli"

/**
 * A user's mistake, with the line that explains it.
 *
 * @example
 * ```ts
 * import { Failure } from "kubefx"
 *
 * const e = new Failure.Failure({ message: "module not found: ./nope.ts" })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Failure extends Data.TaggedError("Failure")<{ readonly message: string }> {
  override get [CliError.userMessage](): string {
    return this.message
  }
}
