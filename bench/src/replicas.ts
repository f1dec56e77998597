/**
 * kubefx's EVC operator as several replicas: the burst of EVCs with 1, 2 and 4 sharded replicas,
 * the API server's sharded watch beside filtering on the client, and how long a takeover takes
 * after a kill -9 (sharded, and with leader election).
 *
 *   sh scripts/dev.sh --filter @kubefx/bench replicas [-- flags]
 *
 * Flags (defaults in brackets):
 *   --replicas 1,2,4          replica counts                          [1,2,4]
 *   --filters server,client   how the watches are sharded             [server,client]
 *   --burst 5000              EVCs created at once                    [5000]
 *   --takeover 100            EVCs created right after a kill -9      [100]
 *   --timeout-seconds 900     longest wait of one burst               [900]
 *
 * Each configuration gets a fresh control plane. Per replica: the objects the API server sent
 * it (lists and watch events, `kubefx_watch_events_total`), those it dropped as outside its
 * shard (`kubefx_shard_filtered_total`), its create handler's runs, its CPU seconds during the
 * burst and its resident memory after it. Results: `bench/results/<timestamp>-replicas.md` and
 * `.json`.
 */
import { writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { ControlPlane } from "@kubefx/controlplane"
import { Effect } from "effect"
import * as Client from "./Client.ts"
import * as Fleet from "./Fleet.ts"
import * as Report from "./Report.ts"
import * as Scenarios from "./Scenarios.ts"
import * as Tracker from "./Tracker.ts"

const { values: flags } = parseArgs({
  options: {
    replicas: { type: "string", default: "1,2,4" },
    filters: { type: "string", default: "server,client" },
    burst: { type: "string", default: "5000" },
    takeover: { type: "string", default: "100" },
    "timeout-seconds": { type: "string", default: "900" }
  },
  strict: true
})

const counts = flags.replicas.split(",").map(Number)
const filters = flags.filters.split(",") as Array<"server" | "client">
const burst = Number(flags.burst)
const takeover = Number(flags.takeover)
const timeoutMs = Number(flags["timeout-seconds"]) * 1000

const results = Report.resultsDir
const stamp = Report.stampOf(new Date())
const { NS } = Fleet
const MiB = 1024 * 1024

interface ReplicaResult {
  readonly identity: string
  readonly received: number
  readonly filtered: number
  readonly created: number
  readonly cpuSeconds: number
  readonly rssMiB: number
  readonly peakRssMiB: number
}

interface Config {
  readonly mode: "sharded" | "leader election"
  readonly replicas: number
  readonly filter: "server" | "client" | "-"
}

interface ConfigResult extends Config {
  readonly seconds: number
  readonly complete: boolean
  readonly perReplica: ReadonlyArray<ReplicaResult>
  /** From the kill -9 of a replica until every EVC created right after it was handled. */
  readonly takeoverSeconds?: number | undefined
  readonly error?: string | undefined
}

const settingsOf = (config: Config) => (identity: string) =>
  config.mode === "sharded"
    ? {
        sharding: {
          group: "bench",
          namespace: NS,
          identity,
          serverSide: config.filter !== "client"
        }
      }
    : { leaderElection: { leaseName: "bench", namespace: NS, identity } }

const runConfig = (config: Config) =>
  Effect.scoped(
    Effect.gen(function* () {
      const label = `${config.mode}, ${config.replicas} replica${config.replicas === 1 ? "" : "s"}${config.filter === "-" ? "" : `, ${config.filter}-side filter`}`
      console.log(`bench replicas: ${label}: starting a fresh control plane`)
      const cluster = yield* ControlPlane.start()
      const harness = yield* cluster.userKubeconfig("bench-harness", ["system:masters"])
      const kube = yield* Effect.acquireRelease(
        Effect.sync(() => Client.make(harness, { maxSockets: 32 })),
        (k) => Effect.sync(() => k.close())
      )
      yield* Effect.promise(() => Scenarios.setup(kube, Scenarios.manifests))
      const fleet = yield* Fleet.start(
        cluster,
        Array.from({ length: config.replicas }, (_, i) => `r${i}`),
        settingsOf(config),
        join(results, "logs", `${stamp}-replicas`)
      )
      return yield* Effect.promise(async (): Promise<ConfigResult> => {
        const tracker = await Tracker.start(kube, NS)
        const handled = (name: string) => {
          const a = tracker.handledAt.get(name)
          const b = tracker.pvcAt.get(name)
          return a === undefined || b === undefined ? undefined : Math.max(a, b)
        }
        try {
          await fleet.ready(120_000)
          await Fleet.createEvcs(kube, ["warmup-0"])
          await Tracker.waitAll(["warmup-0"], handled, {
            timeoutMs: 120_000,
            label: `${label} warm-up`
          })
          await Scenarios.sleep(2000)
          const before = await fleet.sample()
          const names = Array.from(
            { length: config.mode === "sharded" ? burst : 0 },
            (_, i) => `b-${i}`
          )
          const t0 = performance.now()
          await Fleet.createEvcs(kube, names)
          const wait = await Tracker.waitAll(names, handled, {
            timeoutMs,
            label: `${label} burst ${burst}`
          })
          const seconds = names.length === 0 ? Number.NaN : (wait.at - t0) / 1000
          await Scenarios.sleep(1000)
          const after = await fleet.sample()
          const perReplica = after.map((a, i) => {
            const b = before[i]!
            return {
              identity: a.identity,
              received: a.received - b.received,
              filtered: a.filtered - b.filtered,
              created: a.created - b.created,
              cpuSeconds: a.cpu - b.cpu,
              rssMiB: a.rss / MiB,
              peakRssMiB: a.hwm / MiB
            }
          })
          if (names.length > 0)
            console.log(`    ${wait.done}/${names.length} in ${seconds.toFixed(1)} s`)
          let takeoverSeconds: number | undefined
          if (config.replicas > 1 && takeover > 0) {
            const victim =
              config.mode === "sharded" ? fleet.replicas.at(-1)! : await fleet.leader(kube)
            const k0 = performance.now()
            victim.kill()
            const late = Array.from({ length: takeover }, (_, i) => `t-${i}`)
            await Fleet.createEvcs(kube, late)
            const done = await Tracker.waitAll(late, handled, {
              timeoutMs: 180_000,
              label: `${label} takeover`
            })
            takeoverSeconds = (done.at - k0) / 1000
            console.log(
              `    kill -9 of ${victim.identity}: every EVC created after it handled ${takeoverSeconds.toFixed(1)} s later`
            )
          }
          return { ...config, seconds, complete: wait.complete, perReplica, takeoverSeconds }
        } catch (error) {
          console.log(`bench replicas: ${label} failed: ${String(error)}`)
          return {
            ...config,
            seconds: Number.NaN,
            complete: false,
            perReplica: [],
            error: String(error)
          }
        } finally {
          tracker.stop()
        }
      })
    })
  )

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-")

const markdown = (all: ReadonlyArray<ConfigResult>, header: string): string => {
  const lines = [
    header,
    "",
    "| configuration | burst (s) | EVCs/s | replica | objects received | dropped on the client | EVCs created | CPU (s) | RSS (MiB) | peak RSS (MiB) |",
    "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  ]
  for (const r of all.filter((c) => c.mode === "sharded")) {
    const name = `${r.replicas} replica${r.replicas === 1 ? "" : "s"}, ${r.filter}-side`
    r.perReplica.forEach((p, i) => {
      lines.push(
        `| ${i === 0 ? name : ""} | ${i === 0 ? fixed(r.seconds) : ""} | ${i === 0 ? fixed(burst / r.seconds, 0) : ""} | ${p.identity} | ${p.received} | ${p.filtered} | ${p.created} | ${fixed(p.cpuSeconds, 2)} | ${fixed(p.rssMiB)} | ${fixed(p.peakRssMiB)} |`
      )
    })
    const sum = (f: (p: ReplicaResult) => number) => r.perReplica.reduce((s, p) => s + f(p), 0)
    if (r.perReplica.length > 1)
      lines.push(
        `| | | | all | ${sum((p) => p.received)} | ${sum((p) => p.filtered)} | ${sum((p) => p.created)} | ${fixed(
          sum((p) => p.cpuSeconds),
          2
        )} | ${fixed(sum((p) => p.rssMiB))} | |`
      )
  }
  lines.push(
    "",
    "| takeover after kill -9 | seconds until every EVC created right after the kill was handled |",
    "| --- | ---: |"
  )
  for (const r of all)
    if (r.takeoverSeconds !== undefined)
      lines.push(
        `| ${r.mode}, ${r.replicas} replicas${r.filter === "-" ? "" : `, ${r.filter}-side`} | ${fixed(r.takeoverSeconds)} |`
      )
  return `${lines.join("\n")}\n`
}

const program = Effect.gen(function* () {
  const startedAt = new Date().toISOString()
  const configs: Array<Config> = []
  for (const n of counts)
    for (const filter of n === 1 ? (["server"] as const) : filters)
      configs.push({ mode: "sharded", replicas: n, filter })
  configs.push({ mode: "leader election", replicas: 2, filter: "-" })
  const all: Array<ConfigResult> = []
  for (const config of configs) all.push(yield* runConfig(config))
  const header = `# kubefx replicas: burst of ${burst} EVCs, takeover after kill -9\n\n${startedAt}, ${cpus().length} × ${cpus()[0]?.model ?? "?"}, load average at the end ${loadavg()
    .map((l) => l.toFixed(2))
    .join(
      " "
    )}; lease duration 15 s, renew deadline 10 s, retry period 2 s (client-go's defaults). Command: \`node bench/src/replicas.ts ${process.argv.slice(2).join(" ")}\``
  const md = markdown(all, header)
  writeFileSync(
    join(results, `${stamp}-replicas.json`),
    `${JSON.stringify({ startedAt, burst, takeover, configs: all }, null, 2)}\n`
  )
  writeFileSync(join(results, `${stamp}-replicas.md`), md)
  console.log(`\n${md}`)
  console.log(`bench replicas: wrote ${join(results, `${stamp}-replicas.md`)} and .json`)
})

NodeRuntime.runMain(program)
