/**
 * Commands of the install test: a program run to its end (`run`), or one kept running in a
 * scope (`background`) whose output is collected, for `npm`, `pnpm`, `tsc` and `node`.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"
import { Data, Effect, type Scope } from "effect"

/**
 * A command that could not start or exited with a failure; `output` is the end of what it
 * printed.
 *
 * @since 0.1.0
 */
export class CommandError extends Data.TaggedError("CommandError")<{
  readonly command: string
  readonly code: number | null
  readonly output: string
}> {
  override get message(): string {
    return `'${this.command}' failed (exit code ${this.code}):\n${this.output}`
  }
}

/**
 * Where and how a command runs. `echo` copies its output to this process's stderr as it comes
 * (for long steps whose progress a person watches).
 *
 * @since 0.1.0
 */
export interface Options {
  readonly cwd?: string | undefined
  readonly env?: NodeJS.ProcessEnv | undefined
  readonly echo?: boolean | undefined
}

const lastChars = 8_000

const line = (command: string, args: ReadonlyArray<string>) => [command, ...args].join(" ")

/**
 * Runs `command args` to its end and succeeds with its standard output; a non-zero exit fails
 * with both streams' end. Interruption kills the process.
 *
 * @example
 * ```ts
 * import { Command } from "@kubefx/install-test"
 *
 * const version = Command.run("node", ["--version"]) // Effect<string, CommandError>
 * ```
 * @since 0.1.0
 */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: Options = {}
): Effect.Effect<string, CommandError> =>
  Effect.callback<string, CommandError>((resume) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env })
    let stdout = ""
    let both = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk
      both = (both + chunk).slice(-lastChars)
      if (options.echo) process.stderr.write(chunk)
    })
    child.stderr.on("data", (chunk: Buffer) => {
      both = (both + chunk).slice(-lastChars)
      if (options.echo) process.stderr.write(chunk)
    })
    child.on("error", (error) =>
      resume(
        Effect.fail(
          new CommandError({ command: line(command, args), code: null, output: String(error) })
        )
      )
    )
    child.on("close", (code) =>
      resume(
        code === 0
          ? Effect.succeed(stdout)
          : Effect.fail(new CommandError({ command: line(command, args), code, output: both }))
      )
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/**
 * A process kept running until its scope closes: what it printed so far, and whether it has
 * exited (and how).
 *
 * @since 0.1.0
 */
export interface Background {
  readonly output: () => string
  readonly exitCode: () => number | null | undefined
}

/**
 * Starts `command args` for the scope's lifetime: the scope's release stops it (SIGTERM).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Command } from "@kubefx/install-test"
 *
 * const program = Effect.scoped(
 *   Effect.map(Command.background("node", ["server.js"]), (server) => server.output())
 * )
 * ```
 * @since 0.1.0
 */
export const background = (
  command: string,
  args: ReadonlyArray<string>,
  options: Options = {}
): Effect.Effect<Background, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env })
      let output = ""
      let exitCode: number | null | undefined
      const collect = (chunk: Buffer) => {
        output = (output + chunk).slice(-64_000)
      }
      child.stdout.on("data", collect)
      child.stderr.on("data", collect)
      child.on("error", (error) => collect(Buffer.from(`${error}\n`)))
      child.on("exit", (code) => {
        exitCode = code
      })
      return { child, handle: { output: () => output, exitCode: () => exitCode } }
    }),
    ({ child }) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  ).pipe(Effect.map(({ handle }) => handle))
