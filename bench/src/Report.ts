/**
 * The results table: one row per figure, one column per contender, and the ratios kubefx/Kopf
 * and kubefx/limit (a plain quotient of the two figures: for times, below 1 means kubefx is
 * faster; for throughputs, above 1 does).
 */
import { fileURLToPath } from "node:url"
import type * as Audit from "./Audit.ts"
import type * as Contenders from "./Contenders.ts"
import type * as Scenarios from "./Scenarios.ts"

/** Where the benchmarks write their results (`bench/results/`). */
export const resultsDir = fileURLToPath(new URL("../results/", import.meta.url))

/** A run's time as it names its result files: `2026-12-06T23-47-49Z`. */
export const stampOf = (at: Date): string =>
  at
    .toISOString()
    .replace(/[:.]/g, "-")
    .replace(/-\d{3}Z$/, "Z")

export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly os: string
  readonly node: string
  readonly python: string
  readonly kopf: string
  readonly kubernetesClient: string
  readonly kubeApiserver: string
  readonly loadAverageAtStart: ReadonlyArray<number>
}

export interface Run {
  readonly startedAt: string
  readonly finishedAt: string
  readonly command: string
  readonly machine: Machine
  readonly options: Scenarios.Options
  readonly contenders: Partial<
    Record<Contenders.Name, Scenarios.Result & { readonly description: string }>
  >
}

interface Row {
  readonly label: string
  readonly values: Partial<Record<Contenders.Name, number | undefined>>
  readonly digits: number
}

const calls = (c: Audit.Counts | undefined) => c?.total

const breakdown = (c: Audit.Counts | undefined): string =>
  c === undefined
    ? ""
    : Object.entries(c.byCall)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${v} ${k}`)
        .join(", ")

export const rows = (run: Run): ReadonlyArray<Row> => {
  const c = run.contenders
  const each = (f: (r: Scenarios.Result) => number | undefined) => ({
    kopf: c.kopf === undefined ? undefined : f(c.kopf),
    kubefx: c.kubefx === undefined ? undefined : f(c.kubefx),
    limit: c.limit === undefined ? undefined : f(c.limit),
    "kubefx-tuned": c["kubefx-tuned"] === undefined ? undefined : f(c["kubefx-tuned"])
  })
  const out: Array<Row> = []
  out.push({
    label: "startup: spawn to first EVC handled (s)",
    values: each((r) => r.startupSeconds),
    digits: 2
  })
  for (const n of run.options.bursts) {
    const b = (r: Scenarios.Result) => r.bursts.find((x) => x.n === n)
    out.push({
      label: `burst ${n}: time to all handled (s)`,
      values: each((r) => b(r)?.seconds),
      digits: 2
    })
    out.push({
      label: `burst ${n}: throughput (EVC/s)`,
      values: each((r) => b(r)?.throughput),
      digits: 1
    })
    out.push({
      label: `burst ${n}: operator CPU (s)`,
      values: each((r) => b(r)?.operatorCpuSeconds),
      digits: 2
    })
    out.push({
      label: `burst ${n}: API server + etcd CPU (s)`,
      values: each((r) => b(r)?.serverCpuSeconds),
      digits: 2
    })
    out.push({
      label: `burst ${n}: API calls per EVC`,
      values: each((r) => b(r)?.callsPerObject),
      digits: 2
    })
  }
  if (run.options.latencyCount > 0) {
    const l = `latency at ${run.options.latencyRate}/s, create to PVC`
    out.push({ label: `${l}: p50 (ms)`, values: each((r) => r.latency?.p50), digits: 0 })
    out.push({ label: `${l}: p95 (ms)`, values: each((r) => r.latency?.p95), digits: 0 })
    out.push({ label: `${l}: p99 (ms)`, values: each((r) => r.latency?.p99), digits: 0 })
  }
  if (run.options.update > 0) {
    out.push({
      label: `update burst ${run.options.update}: time to all PVCs resized (s)`,
      values: each((r) => r.update?.seconds),
      digits: 2
    })
    out.push({
      label: `update burst ${run.options.update}: throughput (EVC/s)`,
      values: each((r) => r.update?.throughput),
      digits: 1
    })
    out.push({
      label: `update burst ${run.options.update}: operator CPU (s)`,
      values: each((r) => r.update?.operatorCpuSeconds),
      digits: 2
    })
    out.push({
      label: `update burst ${run.options.update}: API calls per EVC`,
      values: each((r) => r.update?.callsPerObject),
      digits: 2
    })
  }
  if (run.options.idle > 0) {
    out.push({
      label: `idle with ${run.options.idle} EVCs: RSS (MiB)`,
      values: each((r) => r.idle?.rssMiB),
      digits: 1
    })
    out.push({
      label: `idle with ${run.options.idle} EVCs: peak RSS of the run (MiB)`,
      values: each((r) => r.idle?.peakRssMiB),
      digits: 1
    })
    out.push({
      label: `idle with ${run.options.idle} EVCs: CPU (s per minute)`,
      values: each((r) => r.idle?.cpuSecondsPerMinute),
      digits: 3
    })
    out.push({
      label: `idle with ${run.options.idle} EVCs: API calls per minute`,
      values: each((r) => r.idle?.callsPerMinute),
      digits: 1
    })
    out.push({
      label: `idle fill: time to create and handle the rest (s)`,
      values: each((r) => r.idle?.fillSeconds),
      digits: 1
    })
  }
  out.push({
    label: "API calls for one create",
    values: each((r) => calls(r.calls?.create)),
    digits: 0
  })
  out.push({
    label: "API calls for one update",
    values: each((r) => calls(r.calls?.update)),
    digits: 0
  })
  return out
}

const fmt = (v: number | undefined, digits: number) =>
  v === undefined || Number.isNaN(v) ? "-" : v.toFixed(digits)

const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || b === 0
    ? "-"
    : (a / b).toFixed(2)

export const table = (run: Run): ReadonlyArray<ReadonlyArray<string>> => {
  const tuned = run.contenders["kubefx-tuned"] !== undefined
  return [
    [
      "figure",
      "Kopf",
      "kubefx",
      "limit",
      "kubefx/Kopf",
      "kubefx/limit",
      ...(tuned ? ["kubefx-tuned", "tuned/Kopf", "tuned/limit"] : [])
    ],
    ...rows(run).map((r) => [
      r.label,
      fmt(r.values.kopf, r.digits),
      fmt(r.values.kubefx, r.digits),
      fmt(r.values.limit, r.digits),
      ratio(r.values.kubefx, r.values.kopf),
      ratio(r.values.kubefx, r.values.limit),
      ...(tuned
        ? [
            fmt(r.values["kubefx-tuned"], r.digits),
            ratio(r.values["kubefx-tuned"], r.values.kopf),
            ratio(r.values["kubefx-tuned"], r.values.limit)
          ]
        : [])
    ])
  ]
}

export const text = (run: Run): string => {
  const t = table(run)
  const widths = t[0]?.map((_, i) => Math.max(...t.map((row) => (row[i] ?? "").length))) ?? []
  return t
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join("  ")
    )
    .join("\n")
}

const machineLines = (m: Machine) => [
  `- CPU: ${m.cpu}, ${m.cores} cores; memory ${m.memoryGiB.toFixed(1)} GiB; ${m.os}`,
  `- load average at start: ${m.loadAverageAtStart.map((x) => x.toFixed(2)).join(", ")}`,
  `- Node ${m.node}; ${m.python}; Kopf ${m.kopf}; kubernetes (Python client) ${m.kubernetesClient}; kube-apiserver ${m.kubeApiserver}`
]

export const markdown = (run: Run): string => {
  const t = table(run)
  const header = t[0] ?? []
  const lines = [
    `# kubefx benchmark, ${run.startedAt}`,
    "",
    `Command: \`${run.command}\``,
    "",
    ...machineLines(run.machine),
    "",
    "Contenders:",
    "",
    ...Object.entries(run.contenders).map(
      ([name, r]) =>
        `- **${name}**: ${r?.description ?? ""}${r?.loadAverage === undefined ? "" : `; load average at its start ${r.loadAverage.map((x) => x.toFixed(2)).join(", ")}`}${r?.error === undefined ? "" : ` (failed: ${r.error})`}`
    ),
    "",
    `| ${header.join(" | ")} |`,
    `| ${header.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...t.slice(1).map((row) => `| ${row.join(" | ")} |`),
    "",
    "Ratios are kubefx's figure divided by the other's: for times, memory, CPU and calls below 1 favours kubefx; for throughput above 1 does.",
    "",
    "API calls per object, by call (counted in the API server's audit log, per client-certificate user):",
    "",
    ...Object.entries(run.contenders).flatMap(([name, r]) => [
      `- **${name}**, one create: ${breakdown(r?.calls?.create)}`,
      `- **${name}**, one update: ${breakdown(r?.calls?.update)}`,
      ...(r?.bursts ?? []).map(
        (b) =>
          `- **${name}**, burst ${b.n} (all calls / ${b.n}): ${Object.entries(b.byCall)
            .map(([k, v]) => `${(v / b.n).toFixed(2)} ${k}`)
            .join(", ")}`
      ),
      ...(r?.update === undefined ? [] : [r.update]).map(
        (u) =>
          `- **${name}**, update burst ${u.n}: ${Object.entries(u.byCall)
            .map(([k, v]) => `${(v / u.n).toFixed(2)} ${k}`)
            .join(", ")}`
      )
    ]),
    ""
  ]
  return lines.join("\n")
}
