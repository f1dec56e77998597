/**
 * Resident memory and CPU time of a process, from `/proc/<pid>` (Linux).
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"

let ticks: number | undefined
const clockTicks = (): number => {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100
    } catch {
      ticks = 100
    }
  }
  return ticks
}

export interface Sample {
  /** Resident set size now, in bytes (VmRSS). */
  readonly rss: number
  /** Peak resident set size, in bytes (VmHWM). */
  readonly hwm: number
  /** User + system CPU seconds so far. */
  readonly cpu: number
}

const kb = (status: string, field: string): number => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)
  return match === null ? 0 : Number(match[1]) * 1024
}

/** Samples `pid`; undefined when it is gone. */
export const sample = (pid: number): Sample | undefined => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return {
      rss: kb(status, "VmRSS"),
      hwm: kb(status, "VmHWM"),
      cpu: (utime + stime) / clockTicks()
    }
  } catch {
    return undefined
  }
}

/** The children of `pid` (from `/proc`). */
export const children = (pid: number): ReadonlyArray<number> => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter((s) => s !== "")
      .map(Number)
  } catch {
    return []
  }
}

/** CPU seconds of a set of processes together. */
export const cpuOf = (pids: ReadonlyArray<number>): number =>
  pids.reduce((sum, pid) => sum + (sample(pid)?.cpu ?? 0), 0)
