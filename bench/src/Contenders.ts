/**
 * The three contenders, each its own OS process (so that memory and CPU come from
 * `/proc/<pid>`), run with a kubeconfig of their own client-certificate user (a member of
 * `system:masters`, as the admin), so that the audit log tells their calls apart.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, openSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Kopf from "./Kopf.ts"

export type Name = "kopf" | "kubefx" | "limit" | "kubefx-tuned"
export const all: ReadonlyArray<Name> = ["kopf", "kubefx", "limit", "kubefx-tuned"]

const spawned =
  process.env.BENCH_SPAWNED === "1"
    ? ", with a sleeping daemon and a 60 s timer per EVC (BENCH_SPAWNED=1)"
    : ""

// The Node contenders (and the harness) take V8's heap settings from NODE_OPTIONS.
const nodeOptions =
  process.env.NODE_OPTIONS === undefined || process.env.NODE_OPTIONS === ""
    ? ""
    : `, with NODE_OPTIONS="${process.env.NODE_OPTIONS}"`

export const describe: Record<Name, string> = {
  kopf: `Kopf ${Kopf.pinned("kopf")} + kubernetes ${Kopf.pinned("kubernetes")} (bench/src/kopf/ephemeral.py)${spawned}`,
  kubefx: `kubefx examples/evc (node examples/evc/src/main.ts)${nodeOptions}`,
  limit: `bare client, no framework (node bench/src/limit.ts)${nodeOptions}`,
  "kubefx-tuned": `kubefx examples/evc's registry with the settings ${process.env.KUBEFX_SETTINGS ?? "{}"} (KUBEFX_SETTINGS; node bench/src/kubefx-tuned.ts)${spawned}${nodeOptions}`
}

const repo = fileURLToPath(new URL("../../", import.meta.url))

export interface Running {
  readonly name: Name
  readonly pid: number
  readonly startedAt: number
  readonly exited: () => number | null | undefined
  readonly stop: () => Promise<void>
}

export const start = (
  name: Name,
  kubeconfig: string,
  logFile: string,
  options: { readonly python?: string; readonly profile?: string; readonly heap?: string }
): Running => {
  const env = { ...process.env, KUBECONFIG: kubeconfig, EVC_STORAGE_CLASS: "kubefx-expandable" }
  const nodeArgs =
    options.profile !== undefined
      ? ["bench/src/profiled.ts", options.profile]
      : options.heap !== undefined
        ? ["--expose-gc", "bench/src/heap.ts", options.heap]
        : []
  // The log goes straight to a file: a pipe through the harness could block a busy operator.
  const out = openSync(logFile, "w")
  let child: ChildProcess
  switch (name) {
    case "kopf":
      child = spawn(
        options.python ?? Kopf.python,
        ["-m", "kopf", "run", "--standalone", "--all-namespaces", Kopf.operatorFile],
        { cwd: repo, env, stdio: ["ignore", out, out] }
      )
      break
    case "kubefx":
      child = spawn(
        process.execPath,
        [...nodeArgs, "examples/evc/src/main.ts", "--kubeconfig", kubeconfig],
        {
          cwd: repo,
          env,
          stdio: ["ignore", out, out]
        }
      )
      break
    case "kubefx-tuned":
      child = spawn(
        process.execPath,
        [...nodeArgs, "bench/src/kubefx-tuned.ts", "--kubeconfig", kubeconfig],
        {
          cwd: repo,
          env,
          stdio: ["ignore", out, out]
        }
      )
      break
    case "limit":
      child = spawn(
        process.execPath,
        [...nodeArgs, "bench/src/limit.ts", "--kubeconfig", kubeconfig],
        {
          cwd: repo,
          env,
          stdio: ["ignore", out, out]
        }
      )
      break
  }
  closeSync(out)
  let code: number | null | undefined
  const exited = new Promise<void>((resolve) =>
    child.on("exit", (c, signal) => {
      code = c ?? (signal === null ? null : -1)
      resolve()
    })
  )
  if (child.pid === undefined) throw new Error(`could not start ${name}`)
  return {
    name,
    pid: child.pid,
    startedAt: performance.now(),
    exited: () => code,
    stop: async () => {
      if (code !== undefined) return
      child.kill("SIGTERM")
      const killed = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), 15_000))
      ])
      if (killed) {
        child.kill("SIGKILL")
        await exited
      }
    }
  }
}
