/**
 * Replicas of the kubefx EVC operator for the replicas benchmark: each `bench/src/kubefx-tuned.ts`
 * as its own process and client-certificate user, with its runtime settings (sharding or leader
 * election) and a health server on a port of its own, whose `/readyz` and `/metrics` the
 * benchmark reads.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, mkdirSync, openSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type ControlPlane, Ports } from "@kubefx/controlplane"
import { Effect, type Scope } from "effect"
import * as Client from "./Client.ts"
import * as Proc from "./Proc.ts"

const repo = fileURLToPath(new URL("../../", import.meta.url))

/** The namespace the replicas benchmarks create their EVCs in. */
export const NS = "bench"
export const EVCS = `/apis/kopf.dev/v1/namespaces/${NS}/ephemeralvolumeclaims`

/** Creates an EVC of each name in {@link NS}, 32 at a time (one that exists already is fine). */
export const createEvcs = (kube: Client.Client, names: ReadonlyArray<string>) =>
  Client.forEachConcurrent(names, 32, async (name) => {
    await kube.json(
      "POST",
      EVCS,
      {
        apiVersion: "kopf.dev/v1",
        kind: "EphemeralVolumeClaim",
        metadata: { name, namespace: NS },
        spec: { size: "1G" }
      },
      { ok: [409] }
    )
  })

/** One replica process. */
export interface Replica {
  readonly identity: string
  readonly pid: number
  readonly url: string
  readonly kill: () => void
}

/** What a sample of a replica says. */
export interface Sample {
  readonly identity: string
  /** Objects received from lists and watches (`kubefx_watch_events_total`), all resources. */
  readonly received: number
  /** Received objects dropped as outside its shard (`kubefx_shard_filtered_total`). */
  readonly filtered: number
  /** Successful runs of the create handler (`kubefx_handler_runs_total`). */
  readonly created: number
  readonly cpu: number
  readonly rss: number
  readonly hwm: number
}

/** The sum of a metric's series (those whose labels include every one of `labels`). */
const total = (text: string, name: string, ...labels: ReadonlyArray<string>) =>
  text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .filter((l) => labels.every((label) => l.includes(label)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0)

const get = (url: string) =>
  fetch(url)
    .then(async (r) => ({ status: r.status, body: await r.text() }))
    .catch(() => ({ status: 0, body: "" }))

/** Starts one replica per identity in the current scope (SIGTERM, then SIGKILL, when it closes). */
export const start = (
  cluster: ControlPlane.Info,
  identities: ReadonlyArray<string>,
  settings: (identity: string) => Record<string, unknown>,
  logs: string
): Effect.Effect<
  {
    readonly replicas: ReadonlyArray<Replica>
    readonly ready: (within: number) => Promise<void>
    readonly sample: () => Promise<ReadonlyArray<Sample>>
    readonly leader: (kube: Client.Client) => Promise<Replica>
  },
  unknown,
  Scope.Scope
> =>
  Effect.gen(function* () {
    mkdirSync(logs, { recursive: true })
    const replicas: Array<Replica> = []
    for (const identity of identities) {
      const kubeconfig = yield* cluster.userKubeconfig(`bench-${identity}`, ["system:masters"])
      const port = yield* Ports.free
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const out = openSync(join(logs, `${identity}.log`), "w")
          const started = spawn(
            process.execPath,
            ["bench/src/kubefx-tuned.ts", "--kubeconfig", kubeconfig],
            {
              cwd: repo,
              env: {
                ...process.env,
                EVC_STORAGE_CLASS: "kubefx-expandable",
                KUBEFX_SETTINGS: JSON.stringify({
                  ...settings(identity),
                  health: { port, host: "127.0.0.1" }
                })
              },
              stdio: ["ignore", out, out]
            }
          )
          closeSync(out)
          return started
        }),
        (c: ChildProcess) =>
          Effect.promise(async () => {
            if (c.exitCode !== null || c.signalCode !== null) return
            c.kill("SIGTERM")
            const ended = await new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), 20_000)
              c.once("exit", () => {
                clearTimeout(timer)
                resolve(true)
              })
            })
            if (!ended) c.kill("SIGKILL")
          })
      )
      replicas.push({
        identity,
        pid: child.pid ?? 0,
        url: `http://127.0.0.1:${port}`,
        kill: () => child.kill("SIGKILL")
      })
    }
    const ready = async (within: number) => {
      const deadline = Date.now() + within
      for (const r of replicas)
        while ((await get(`${r.url}/readyz`)).status !== 200) {
          if (Date.now() > deadline) throw new Error(`replica ${r.identity} not ready in time`)
          await new Promise((resolve) => setTimeout(resolve, 250))
        }
    }
    const sample = () =>
      Promise.all(
        replicas.map(async (r) => {
          const text = (await get(`${r.url}/metrics`)).body
          const proc = Proc.sample(r.pid) ?? { rss: 0, hwm: 0, cpu: 0 }
          return {
            identity: r.identity,
            received: total(text, "kubefx_watch_events_total", "ephemeralvolumeclaims"),
            filtered: total(text, "kubefx_shard_filtered_total", "ephemeralvolumeclaims"),
            created:
              total(text, "kubefx_handler_runs_total", 'outcome="Success"') -
              total(text, "kubefx_handler_runs_total", 'handler="update_fn"'),
            ...proc
          }
        })
      )
    const leader = async (kube: Client.Client) => {
      const lease = await kube.json(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/bench/leases/bench"
      )
      const holder = (lease.spec as { holderIdentity?: string } | undefined)?.holderIdentity
      const found = replicas.find((r) => r.identity === holder)
      if (found === undefined) throw new Error(`no replica holds the lease (holder: ${holder})`)
      return found
    }
    return { replicas, ready, sample, leader }
  })
