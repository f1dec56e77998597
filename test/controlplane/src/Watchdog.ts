/**
 * Stops a control plane's servers when the process that started them dies without cleaning up
 * (a test run killed with SIGKILL, a crashed worker): one small Node process per control plane,
 * detached into its own session, holding the read end of a pipe from its parent. The kernel
 * closes the pipe when the parent dies, however it dies; the watchdog then sends SIGTERM to the
 * pids listed in its folder (one file per server, kept by `Process`), SIGKILL after 10 s to what
 * is left, removes the data folder unless told to keep it, and exits.
 *
 * Why not the alternatives: Linux's `PR_SET_PDEATHSIG` is not reachable from Node's
 * `child_process` without a native addon or `setpriv` (util-linux), fires when the parent
 * *thread* ends, and does not exist on macOS; a process group dies with its parent only when
 * someone signals the group, which is exactly what a killed parent cannot do. A pipe's end of
 * file needs none of that and no polling of a pid that may be reused.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"
import { Effect, type Scope } from "effect"

/** The watchdog's program, run with `node -e`: argv is `[pidDir, removeDir?]`. */
const program = `
const fs = require("node:fs")
const path = require("node:path")
const [pidDir, removeDir] = process.argv.slice(1)
const alive = (pid) => { try { process.kill(pid, 0); return true } catch (e) { return e.code === "EPERM" } }
const pids = () => {
  try {
    return fs.readdirSync(pidDir).map((f) => Number(fs.readFileSync(path.join(pidDir, f), "utf8"))).filter((p) => p > 0)
  } catch { return [] }
}
const signal = (list, sig) => { for (const pid of list) { try { process.kill(pid, sig) } catch {} } }
const orphaned = () => {
  const servers = pids()
  signal(servers, "SIGTERM")
  const deadline = Date.now() + 10000
  const wait = () => {
    const left = servers.filter(alive)
    if (left.length > 0 && Date.now() < deadline) return setTimeout(wait, 100)
    signal(left, "SIGKILL")
    if (removeDir) setTimeout(() => { fs.rmSync(removeDir, { recursive: true, force: true }); process.exit(0) }, 200)
    else process.exit(0)
  }
  wait()
}
process.stdin.on("end", orphaned)
process.stdin.on("error", orphaned)
process.stdin.resume()
`

/**
 * Starts a watchdog over the servers whose pids are files in `pidDir`; on release (the servers
 * already stopped) it is ended. With `removeDir`, an orphaned watchdog also removes that folder.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Watchdog } from "@kubefx/controlplane"
 *
 * const guarded = Effect.scoped(Watchdog.start({ pidDir: "/tmp/plane/pids" }))
 * ```
 * @since 0.1.0
 */
export const start = (options: {
  readonly pidDir: string
  readonly removeDir?: string | undefined
}): Effect.Effect<{ readonly pid: number }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(
        process.execPath,
        [
          "-e",
          program,
          options.pidDir,
          ...(options.removeDir === undefined ? [] : [options.removeDir])
        ],
        { detached: true, stdio: ["pipe", "ignore", "ignore"] }
      )
      child.on("error", () => {})
      // Neither the child nor its pipe keeps this process alive: the pipe only has to exist.
      child.unref()
      child.stdin?.on("error", () => {})
      ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
      return child
    }),
    (child) =>
      Effect.sync(() => {
        child.kill("SIGKILL")
      })
  ).pipe(Effect.map((child) => ({ pid: child.pid ?? 0 })))
