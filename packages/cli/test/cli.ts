/**
 * Runs the `kubefx` executable as a user would (a child process on this Node), and collects its
 * exit code and output.
 */
import { spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

/** The executable's source file. */
export const bin = fileURLToPath(new URL("../bin/kubefx.ts", import.meta.url))

/** The workspace's root: module paths in the tests are relative to it. */
export const root = fileURLToPath(new URL("../../../", import.meta.url))

/** What a finished command left. */
export interface Finished {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `kubefx ...args` to its end. */
export const kubefx = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>> = {}
): Finished => {
  const result = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: "utf8"
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Starts `kubefx ...args` in the background, its stderr kept in `lines`. */
export const start = (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  let rest = ""
  child.stderr.setEncoding("utf8")
  child.stderr.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n")
    rest = parts.pop() ?? ""
    lines.push(...parts)
  })
  child.stdout.resume()
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, lines, exited }
}

/** A log line starts with its time (plain format) or is a JSON object. */
export const isLogLine = (line: string): boolean =>
  /^\d{4}-\d\d-\d\dT/.test(line) || line.startsWith("{")

/** The lines of a command's stderr that are not log lines. */
export const errorLines = (finished: Finished): ReadonlyArray<string> =>
  finished.stderr.split("\n").filter((line) => line !== "" && !isLogLine(line))
