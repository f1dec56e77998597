/**
 * kubefx against Kopf and against the bare-client limit, on the same local control plane
 * build, in the same run.
 *
 *   sh scripts/dev.sh --filter @kubefx/bench start [-- flags]
 *
 * Flags (defaults in brackets):
 *   --only kopf,kubefx,limit   contenders, in this order            [kopf,kubefx,limit]
 *   --only kubefx-tuned        also: the tuned kubefx experiment (src/kubefx-tuned.ts)
 *   --burst 100,1000,5000      burst sizes                          [100,1000,5000]
 *   --latency-rate 20          creates per second in the latency run [20]
 *   --latency-count 200        EVCs in the latency run              [200]
 *   --update 1000              EVCs resized in the update burst      [1000]
 *   --idle 10000               EVCs present for the idle footprint   [10000]
 *   --idle-seconds 60          length of the idle measurement        [60]
 *   --settle-seconds 15        rest before the idle measurement      [15]
 *   --timeout-seconds 900      longest wait of one scenario          [900]
 *   --harness-concurrency 32   the harness's requests in flight      [32]
 *   --heap                     after the idle run, a heap summary and snapshot of the Node
 *                              contenders (in their logs and results/logs/)
 *   --profile                  write V8 CPU profiles of the Node contenders to results/logs/ (see src/profile.ts)
 *
 * Each contender gets a fresh control plane (etcd, kube-apiserver with an audit log,
 * kube-controller-manager), so that none inherits the objects or the etcd history of another.
 * Results: `bench/results/<timestamp>.json` and `.md`, and `bench/results/latest.md`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg, release, totalmem, type } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { ControlPlane } from "@kubefx/controlplane"
import { Effect } from "effect"
import * as Client from "./Client.ts"
import * as Contenders from "./Contenders.ts"
import * as Kopf from "./Kopf.ts"
import * as Proc from "./Proc.ts"
import * as Report from "./Report.ts"
import * as Scenarios from "./Scenarios.ts"

const { values: flags } = parseArgs({
  options: {
    only: { type: "string", default: "kopf,kubefx,limit" },
    burst: { type: "string", default: "100,1000,5000" },
    "latency-rate": { type: "string", default: "20" },
    "latency-count": { type: "string", default: "200" },
    update: { type: "string", default: "1000" },
    idle: { type: "string", default: "10000" },
    "idle-seconds": { type: "string", default: "60" },
    "settle-seconds": { type: "string", default: "15" },
    "timeout-seconds": { type: "string", default: "900" },
    "harness-concurrency": { type: "string", default: "32" },
    profile: { type: "boolean", default: false },
    heap: { type: "boolean", default: false }
  },
  strict: true,
  allowPositionals: false
})

const numbers = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")
    .map(Number)
    // A size of 0 skips the scenario (`--burst 0`).
    .filter((n) => n > 0)
const only = flags.only.split(",").map((x) => x.trim()) as Array<Contenders.Name>
for (const name of only) {
  if (!Contenders.all.includes(name))
    throw new Error(`--only: unknown contender ${name} (kopf, kubefx, limit)`)
}
const options: Scenarios.Options = {
  bursts: numbers(flags.burst),
  latencyRate: Number(flags["latency-rate"]),
  latencyCount: Number(flags["latency-count"]),
  update: Number(flags.update),
  idle: Number(flags.idle),
  idleSeconds: Number(flags["idle-seconds"]),
  settleSeconds: Number(flags["settle-seconds"]),
  timeoutSeconds: Number(flags["timeout-seconds"]),
  harnessConcurrency: Number(flags["harness-concurrency"]),
  heap: flags.heap
}

const results = Report.resultsDir
const logs = join(results, "logs")
const stamp = Report.stampOf(new Date())

const python = only.includes("kopf") ? Kopf.ensure((l) => console.log(l)) : undefined
mkdirSync(logs, { recursive: true })

let apiserverVersion = "?"

const runOne = (name: Contenders.Name) =>
  Effect.scoped(
    Effect.gen(function* () {
      console.log(`bench: ${name}: starting a fresh control plane`)
      const cluster = yield* ControlPlane.start({ auditLog: true })
      const user = `bench-${name}`
      const operatorKubeconfig = yield* cluster.userKubeconfig(user, ["system:masters"])
      const harnessKubeconfig = yield* cluster.userKubeconfig("bench-harness", ["system:masters"])
      const serverPids = cluster.processes
        .filter((p) => p.name === "kube-apiserver" || p.name === "etcd")
        .flatMap((p) => [p.pid, ...Proc.children(p.pid)])
      const kube = yield* Effect.acquireRelease(
        Effect.sync(() =>
          Client.make(harnessKubeconfig, { maxSockets: options.harnessConcurrency })
        ),
        (k) => Effect.sync(() => k.close())
      )
      const result: Scenarios.Result = { bursts: [], loadAverage: loadavg() }
      yield* Effect.tryPromise(async () => {
        await Scenarios.setup(kube, Scenarios.manifests)
        const version = (await kube.json("GET", "/version")) as { gitVersion?: string }
        apiserverVersion = version.gitVersion ?? "?"
      })
      const logFile = join(logs, `${stamp}-${name}.log`)
      console.log(`bench: ${name}: starting the operator (log: ${logFile})`)
      const running = yield* Effect.acquireRelease(
        Effect.sync(() =>
          Contenders.start(name, operatorKubeconfig, logFile, {
            ...(python === undefined ? {} : { python }),
            ...(flags.profile ? { profile: join(logs, `${stamp}-${name}.cpuprofile`) } : {}),
            ...(flags.heap ? { heap: join(logs, `${stamp}-${name}.heapsnapshot`) } : {})
          })
        ),
        (r) => Effect.promise(() => r.stop())
      )
      yield* Effect.tryPromise(() =>
        Scenarios.run(
          running,
          user,
          kube,
          join(cluster.dataDir, "audit.log"),
          serverPids,
          options,
          result
        )
      ).pipe(
        Effect.catch((error) =>
          Effect.sync(() => {
            const message = String((error as { cause?: unknown }).cause ?? error)
            console.log(`bench: ${name} failed: ${message}`)
            result.error = message
          })
        )
      )
      return result
    })
  )

const program = Effect.gen(function* () {
  const startedAt = new Date().toISOString()
  const load = loadavg()
  const contenders: Partial<Record<Contenders.Name, Scenarios.Result & { description: string }>> =
    {}
  for (const name of only) {
    const result = yield* runOne(name)
    contenders[name] = { ...result, description: Contenders.describe[name] }
  }
  const run: Report.Run = {
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `node bench/src/main.ts ${process.argv.slice(2).join(" ")}`.trim(),
    machine: {
      cpu: cpus()[0]?.model ?? "?",
      cores: cpus().length,
      memoryGiB: totalmem() / 1024 ** 3,
      os: `${type()} ${release()}`,
      node: process.version,
      python: python === undefined ? "-" : Kopf.pythonVersion(),
      kopf: Kopf.pinned("kopf"),
      kubernetesClient: Kopf.pinned("kubernetes"),
      kubeApiserver: apiserverVersion,
      loadAverageAtStart: load
    },
    options,
    contenders
  }
  writeFileSync(join(results, `${stamp}.json`), `${JSON.stringify(run, null, 2)}\n`)
  const md = Report.markdown(run)
  writeFileSync(join(results, `${stamp}.md`), md)
  writeFileSync(join(results, "latest.md"), md)
  console.log("")
  console.log(Report.text(run))
  console.log("")
  console.log(
    `bench: wrote ${join(results, `${stamp}.json`)}, ${join(results, `${stamp}.md`)} and latest.md`
  )
})

// Ctrl-C interrupts the run: the operator and the control plane are stopped and removed.
NodeRuntime.runMain(program)
