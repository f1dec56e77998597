/**
 * A control-plane process as a scoped resource: started under `kubefx-cp supervise` (which stops
 * it if this Node process dies without cleaning up), its output kept in a log file, and stopped
 * with SIGTERM (then SIGKILL) when the scope closes.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, openSync, readFileSync } from "node:fs"
import { Data, Effect, type Scope } from "effect"

/** A started process: its name, pid, log file, and whether it has exited. @since 0.1.0 */
export interface Running {
  readonly name: string
  readonly pid: number
  readonly logFile: string
  /** The exit code once the process has exited, `undefined` while it runs. */
  readonly exitCode: () => number | null | undefined
}

/** A process could not be started, or exited while it should be running. @since 0.1.0 */
export class ProcessError extends Data.TaggedError("ProcessError")<{
  readonly message: string
}> {}

/** The last lines of a log file, for error messages. @since 0.1.0 */
export const tail = (logFile: string, lines = 25): string => {
  try {
    return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n")
  } catch {
    return "(no log)"
  }
}

const waitForExit = (child: ChildProcess, ms: number) =>
  new Promise<boolean>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true)
    const timer = setTimeout(() => resolve(false), ms)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

/**
 * Starts `program args` under the supervisor `helper`, logging to `logFile`; the scope's release
 * stops it (SIGTERM, then SIGKILL after 15 seconds).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Process } from "@kubefx/controlplane"
 *
 * const etcd = Process.start({
 *   name: "etcd", helper: "/path/kubefx-cp", program: "/path/etcd", args: ["--data-dir", "/tmp/d"],
 *   logFile: "/tmp/etcd.log"
 * })
 * Effect.scoped(etcd)
 * ```
 * @since 0.1.0
 */
export const start = (options: {
  readonly name: string
  readonly helper: string
  readonly program: string
  readonly args: ReadonlyArray<string>
  readonly logFile: string
}): Effect.Effect<Running, ProcessError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const log = openSync(options.logFile, "a")
        try {
          const child = spawn(
            options.helper,
            ["supervise", "--", options.program, ...options.args],
            { stdio: ["ignore", log, log] }
          )
          child.on("error", () => {})
          if (child.pid === undefined) throw new Error(`could not start ${options.program}`)
          return child
        } finally {
          closeSync(log)
        }
      },
      catch: (error) =>
        new ProcessError({ message: `starting ${options.name}: ${(error as Error).message}` })
    }),
    (child) =>
      Effect.promise(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill("SIGTERM")
        if (!(await waitForExit(child, 15_000))) {
          child.kill("SIGKILL")
          await waitForExit(child, 5_000)
        }
      })
  ).pipe(
    Effect.map(
      (child): Running => ({
        name: options.name,
        pid: child.pid!,
        logFile: options.logFile,
        exitCode: () =>
          child.exitCode !== null ? child.exitCode : child.signalCode !== null ? -1 : undefined
      })
    )
  )
