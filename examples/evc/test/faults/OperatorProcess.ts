/**
 * The operator under test as a child process (`operator.ts` on this Node): started with a
 * kubeconfig and runtime settings, its stdout and stderr kept as lines for assertions and
 * failure messages, killed (SIGKILL) or stopped (SIGTERM, waiting for its exit) at will, and
 * killed when the scope that started it closes.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { Settings } from "@kubefx/runtime"
import { Effect, type Scope } from "effect"

/** How a process ended: its exit code, or the signal that killed it. @since 0.1.0 */
export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A started operator process. @since 0.1.0 */
export interface OperatorProcess {
  readonly pid: number
  /** Every line it printed (stdout and stderr, interleaved as they arrived). */
  readonly lines: () => ReadonlyArray<string>
  /** Its last `n` lines, for messages. */
  readonly tail: (n?: number) => string
  /** How it ended, `undefined` while it runs. */
  readonly ended: () => Ended | undefined
  /** Sends SIGKILL (does not wait). */
  readonly kill: () => void
  /**
   * Sends SIGTERM and waits up to `within` for the exit; answers how it ended and how long it
   * took, or `undefined` when it is still running (it is then killed).
   */
  readonly terminate: (
    within: number
  ) => Effect.Effect<{ readonly ended: Ended; readonly millis: number } | undefined>
}

const entry = fileURLToPath(new URL("./operator.ts", import.meta.url))

/** Resolves once `child` has exited (at once if it has), or with false after `ms`. */
const exited = (child: ChildProcess, ms: number) =>
  new Promise<boolean>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true)
    const timer = setTimeout(() => resolve(false), ms)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve(true)
    })
  })

/**
 * Starts the operator with `kubeconfig` and runtime `settings` (passed as `KUBEFX_SETTINGS`),
 * and these environment variables, in the current scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as OperatorProcess from "./OperatorProcess.ts"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const operator = yield* OperatorProcess.start("/tmp/operator.kubeconfig", {})
 *     const stopped = yield* operator.terminate(30_000)
 *     console.log(stopped?.ended.code, operator.tail())
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export const start = (
  kubeconfig: string,
  settings: Settings.Input,
  env: Readonly<Record<string, string>> = {}
): Effect.Effect<OperatorProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [entry, "--kubeconfig", kubeconfig], {
        env: { ...process.env, ...env, KUBEFX_SETTINGS: JSON.stringify(settings) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      child.on("error", () => {})
      return child
    }),
    (child) =>
      Effect.promise(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        child.kill("SIGKILL")
        await exited(child, 5_000)
      })
  ).pipe(Effect.map(handle))

const handle = (child: ChildProcess): OperatorProcess => {
  const lines: Array<string> = []
  for (const stream of [child.stdout, child.stderr]) {
    if (stream !== null) createInterface({ input: stream }).on("line", (line) => lines.push(line))
  }
  const ended = (): Ended | undefined =>
    child.exitCode !== null || child.signalCode !== null
      ? { code: child.exitCode, signal: child.signalCode }
      : undefined
  return {
    pid: child.pid ?? 0,
    lines: () => lines,
    tail: (n = 30) => lines.slice(-n).join("\n"),
    ended,
    kill: () => {
      child.kill("SIGKILL")
    },
    terminate: (within) =>
      Effect.promise(async () => {
        const started = Date.now()
        if (ended() === undefined) child.kill("SIGTERM")
        if (await exited(child, within)) {
          return { ended: ended() ?? { code: null, signal: null }, millis: Date.now() - started }
        }
        child.kill("SIGKILL")
        await exited(child, 5_000)
        return undefined
      })
  }
}
