/**
 * A control-plane process as a scoped resource: started with its output kept in a log file and
 * its pid in a file that the control plane's `Watchdog` reads (so a server outlives no dead test
 * process), and stopped with SIGTERM (then SIGKILL) when the scope closes. It can be stopped
 * (SIGTERM, or SIGKILL as a crash) and started again with the same arguments while the scope is
 * open.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { Data, Effect, type Scope } from "effect"

/** The signal that stops a process: `SIGTERM` asks it to shut down, `SIGKILL` kills it. @since 0.1.0 */
export type StopSignal = "SIGTERM" | "SIGKILL"

/**
 * A started process: its name, pid, log file and whether it has exited, and the means to stop
 * it and start it again with the same program and arguments (a server restart).
 *
 * @since 0.1.0
 */
export interface Running {
  readonly name: string
  /** The server's pid; a new one after {@link Running.start}. */
  readonly pid: number
  readonly logFile: string
  /** The exit code once the process has exited, `undefined` while it runs. */
  readonly exitCode: () => number | null | undefined
  /**
   * Stops the server and waits until it is gone: `SIGTERM` asks it to shut down (SIGKILL after
   * 15 s); `SIGKILL` kills it, as a crash would. Does nothing when it is not running.
   */
  readonly stop: (signal: StopSignal) => Effect.Effect<void>
  /** Starts the program again with the same arguments, appending to the same log. */
  readonly start: Effect.Effect<void, ProcessError>
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

const spawnLogged = (options: StartOptions): ChildProcess => {
  const log = openSync(options.logFile, "a")
  try {
    const child = spawn(options.program, [...options.args], { stdio: ["ignore", log, log] })
    child.on("error", () => {})
    if (child.pid === undefined) throw new Error(`could not start ${options.program}`)
    if (options.pidFile !== undefined) {
      const { pidFile } = options
      writeFileSync(pidFile, String(child.pid))
      child.once("exit", () => rmSync(pidFile, { force: true }))
    }
    return child
  } finally {
    closeSync(log)
  }
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

/** Stops `child` with `signal` and waits for it; SIGKILL if SIGTERM has not stopped it in 15 s. */
const stopChild = async (child: ChildProcess, signal: StopSignal) => {
  if (hasExited(child)) return
  child.kill(signal)
  if (await waitForExit(child, signal === "SIGKILL" ? 10_000 : 15_000)) return
  child.kill("SIGKILL")
  await waitForExit(child, 5_000)
}

interface StartOptions {
  readonly name: string
  readonly program: string
  readonly args: ReadonlyArray<string>
  readonly logFile: string
  /** A file that holds the pid while the process runs (for the `Watchdog`). */
  readonly pidFile?: string | undefined
}

/**
 * Starts `program args`, logging to `logFile` (and its pid to `pidFile`); the scope's release
 * stops it (SIGTERM, then SIGKILL after 15 seconds), also after a restart.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Process } from "@kubefx/controlplane"
 *
 * const etcd = Process.start({
 *   name: "etcd", program: "/path/etcd", args: ["--data-dir", "/tmp/d"],
 *   logFile: "/tmp/etcd.log"
 * })
 * Effect.scoped(Effect.flatMap(etcd, (running) => running.stop("SIGKILL")))
 * ```
 * @since 0.1.0
 */
export const start = (options: StartOptions): Effect.Effect<Running, ProcessError, Scope.Scope> => {
  const spawnNow = Effect.try({
    try: () => spawnLogged(options),
    catch: (error) =>
      new ProcessError({ message: `starting ${options.name}: ${(error as Error).message}` })
  })
  return Effect.acquireRelease(
    Effect.map(spawnNow, (child) => ({ child })),
    (current) => Effect.promise(() => stopChild(current.child, "SIGTERM"))
  ).pipe(
    Effect.map(
      (current): Running => ({
        name: options.name,
        get pid() {
          return current.child.pid!
        },
        logFile: options.logFile,
        exitCode: () => {
          const { child } = current
          return child.exitCode !== null
            ? child.exitCode
            : child.signalCode !== null
              ? -1
              : undefined
        },
        stop: (signal) => Effect.promise(() => stopChild(current.child, signal)),
        start: Effect.suspend(() =>
          hasExited(current.child)
            ? Effect.map(spawnNow, (child) => {
                current.child = child
              })
            : Effect.fail(
                new ProcessError({ message: `${options.name} is still running; stop it first` })
              )
        )
      })
    )
  )
}
