/**
 * The scenarios, run one after another against one contender on its own fresh control plane:
 * startup, API calls per object (one create, one update, the operator otherwise idle), bursts,
 * latency at a steady rate, update burst, idle footprint.
 */
import { readFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { parse } from "yaml"
import * as Audit from "./Audit.ts"
import * as Client from "./Client.ts"
import type * as Contenders from "./Contenders.ts"
import * as Proc from "./Proc.ts"
import * as Tracker from "./Tracker.ts"

export interface Options {
  readonly bursts: ReadonlyArray<number>
  readonly latencyRate: number
  readonly latencyCount: number
  readonly update: number
  readonly idle: number
  readonly idleSeconds: number
  readonly settleSeconds: number
  readonly timeoutSeconds: number
  readonly harnessConcurrency: number
  /** After the idle run, ask the contender for a heap summary and snapshot (SIGUSR2). */
  readonly heap?: boolean
}

export interface BurstResult {
  readonly n: number
  readonly complete: boolean
  readonly done: number
  readonly seconds: number
  readonly throughput: number
  /** When the harness had sent its last create (the harness's own share of the time). */
  readonly createSeconds: number
  readonly callsPerObject: number
  readonly byCall: Record<string, number>
  readonly operatorCpuSeconds: number
  readonly serverCpuSeconds: number
  readonly peakRssMiB: number
}

export interface Result {
  /** The machine's load average when this contender started (other work on the machine). */
  loadAverage?: ReadonlyArray<number>
  startupSeconds?: number
  calls?: { readonly create: Audit.Counts; readonly update: Audit.Counts }
  readonly bursts: Array<BurstResult>
  latency?: {
    readonly rate: number
    readonly count: number
    readonly complete: boolean
    readonly p50: number
    readonly p95: number
    readonly p99: number
    readonly max: number
  }
  update?: Omit<BurstResult, "createSeconds"> & { readonly markBoundSeconds: number }
  idle?: {
    readonly objects: number
    readonly complete: boolean
    readonly fillSeconds: number
    readonly windowSeconds: number
    readonly rssMiB: number
    readonly peakRssMiB: number
    readonly cpuSecondsPerMinute: number
    readonly callsPerMinute: number
    readonly watchesPerMinute: number
  }
  error?: string
}

const NS = "bench"
const EVCS = `/apis/kopf.dev/v1/namespaces/${NS}/ephemeralvolumeclaims`
const PVCS = `/api/v1/namespaces/${NS}/persistentvolumeclaims`
const MiB = 1024 * 1024

/** The EVC example's CRD and storage class, for {@link setup}. */
export const manifests = {
  crd: parse(
    readFileSync(
      fileURLToPath(new URL("../../examples/evc/deploy/crd.yaml", import.meta.url)),
      "utf8"
    )
  ),
  storageClass: parse(
    readFileSync(
      fileURLToPath(new URL("../../examples/evc/deploy/storageclass.yaml", import.meta.url)),
      "utf8"
    )
  )
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const evc = (name: string, size = "1G") => ({
  apiVersion: "kopf.dev/v1",
  kind: "EphemeralVolumeClaim",
  metadata: { name, namespace: NS },
  spec: { size }
})

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN)

/** Installs the CRD and the StorageClass, makes the namespace, waits until EVCs are served. */
export const setup = async (
  kube: Client.Client,
  manifests: { readonly crd: unknown; readonly storageClass: unknown }
): Promise<void> => {
  await kube.json(
    "POST",
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    manifests.crd,
    { ok: [409] }
  )
  await kube.json("POST", "/apis/storage.k8s.io/v1/storageclasses", manifests.storageClass, {
    ok: [409]
  })
  await kube.json(
    "POST",
    "/api/v1/namespaces",
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
    { ok: [409] }
  )
  for (let i = 0; i < 300; i++) {
    const res = await kube.request("GET", EVCS)
    if (res.status === 200) return
    await sleep(100)
  }
  throw new Error("the EVC CRD was not served within 30s")
}

export const run = async (
  contender: Contenders.Running,
  user: string,
  kube: Client.Client,
  auditLog: string,
  serverPids: ReadonlyArray<number>,
  options: Options,
  result: Result
): Promise<void> => {
  const label = contender.name
  const timeoutMs = options.timeoutSeconds * 1000
  const tracker = await Tracker.start(kube, NS)
  const handled = (name: string) => {
    const a = tracker.handledAt.get(name)
    const b = tracker.pvcAt.get(name)
    return a === undefined || b === undefined ? undefined : Math.max(a, b)
  }
  const alive = () => {
    const code = contender.exited()
    if (code !== undefined) throw new Error(`${label} exited with code ${code}; see its log`)
  }
  const create = async (names: ReadonlyArray<string>) =>
    Client.forEachConcurrent(names, options.harnessConcurrency, async (name) => {
      await kube.json("POST", EVCS, evc(name), { ok: [409] })
    })
  const resize = async (names: ReadonlyArray<string>, size: string) =>
    Client.forEachConcurrent(names, options.harnessConcurrency, async (name) => {
      await kube.json("PATCH", `${EVCS}/${name}`, { spec: { size } }, { contentType: Client.MERGE })
    })
  /** Stands in for a provisioner: marks PVCs Bound through their status subresource. */
  const markBound = async (names: ReadonlyArray<string>) =>
    Client.forEachConcurrent(names, options.harnessConcurrency, async (name) => {
      await kube.json(
        "PATCH",
        `${PVCS}/${name}/status`,
        { status: { phase: "Bound", accessModes: ["ReadWriteOnce"], capacity: { storage: "1G" } } },
        { contentType: Client.MERGE }
      )
    })
  const operatorSample = () => Proc.sample(contender.pid) ?? { rss: 0, hwm: 0, cpu: 0 }
  const created: Array<string> = []

  try {
    // Startup: from spawning the process until a first EVC is handled.
    console.log(`  [${label}] startup: one EVC, until it has its PVC and its status`)
    await create(["warmup-0"])
    created.push("warmup-0")
    const warm = await Tracker.waitAll(["warmup-0"], handled, {
      timeoutMs: 180_000,
      label: `${label} startup`
    })
    alive()
    if (!warm.complete) throw new Error(`${label} did not handle a first EVC within 180s`)
    result.startupSeconds = (warm.at - contender.startedAt) / 1000

    // API calls per object, counted at the API server, the operator otherwise idle.
    console.log(`  [${label}] API calls: one create, then one update`)
    await sleep(3000)
    let from = Audit.offset(auditLog)
    await create(["calls-0"])
    created.push("calls-0")
    await Tracker.waitAll(["calls-0"], handled, { timeoutMs, label: `${label} calls create` })
    await sleep(3000)
    const createCounts = Audit.count(auditLog, from, Audit.offset(auditLog), user)
    await markBound(["calls-0"])
    await sleep(1000)
    from = Audit.offset(auditLog)
    await resize(["calls-0"], "2G")
    await Tracker.waitAll(
      ["calls-0"],
      (n) => (tracker.pvcSize.get(n) === "2G" ? tracker.pvcSizeAt.get(n) : undefined),
      { timeoutMs, label: `${label} calls update` }
    )
    await sleep(3000)
    const updateCounts = Audit.count(auditLog, from, Audit.offset(auditLog), user)
    result.calls = { create: createCounts, update: updateCounts }
    console.log(
      `    create: ${createCounts.total} calls ${JSON.stringify(createCounts.byCall)}; update: ${updateCounts.total} calls ${JSON.stringify(updateCounts.byCall)}`
    )
    alive()

    // Bursts.
    for (const n of options.bursts) {
      console.log(`  [${label}] burst: ${n} EVCs at once`)
      const names = Array.from({ length: n }, (_, i) => `b${n}-${i}`)
      await sleep(2000)
      const cpu0 = operatorSample().cpu
      const server0 = Proc.cpuOf(serverPids)
      const audit0 = Audit.offset(auditLog)
      const t0 = performance.now()
      const creating = create(names).then(() => performance.now())
      const wait = await Tracker.waitAll(names, handled, {
        timeoutMs,
        label: `${label} burst ${n}`
      })
      const createdAt = await creating
      created.push(...names)
      const s = operatorSample()
      const counts = Audit.count(auditLog, audit0, Audit.offset(auditLog), user)
      const seconds = (wait.at - t0) / 1000
      result.bursts.push({
        n,
        complete: wait.complete,
        done: wait.done,
        seconds,
        throughput: wait.done / seconds,
        createSeconds: (createdAt - t0) / 1000,
        callsPerObject: counts.total / n,
        byCall: counts.byCall,
        operatorCpuSeconds: s.cpu - cpu0,
        serverCpuSeconds: Proc.cpuOf(serverPids) - server0,
        peakRssMiB: s.hwm / MiB
      })
      console.log(
        `    ${wait.done}/${n} in ${seconds.toFixed(2)}s: ${(wait.done / seconds).toFixed(1)}/s (creates sent in ${((createdAt - t0) / 1000).toFixed(2)}s), ${(counts.total / n).toFixed(2)} calls/object`
      )
      alive()
    }

    // Latency at a steady rate: from sending the create to the PVC's appearance.
    if (options.latencyCount > 0) {
      console.log(`  [${label}] latency: ${options.latencyCount} EVCs at ${options.latencyRate}/s`)
      await sleep(2000)
      const names = Array.from({ length: options.latencyCount }, (_, i) => `l-${i}`)
      const sentAt = new Map<string, number>()
      const t0 = performance.now()
      const sends: Array<Promise<unknown>> = []
      for (const [i, name] of names.entries()) {
        const due = t0 + (i * 1000) / options.latencyRate
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
        sentAt.set(name, performance.now())
        sends.push(kube.json("POST", EVCS, evc(name), { ok: [409] }))
      }
      await Promise.all(sends)
      created.push(...names)
      const wait = await Tracker.waitAll(names, (n) => tracker.pvcAt.get(n), {
        timeoutMs,
        label: `${label} latency`
      })
      const latencies = names
        .map((n) => {
          const a = tracker.pvcAt.get(n)
          const s = sentAt.get(n)
          return a === undefined || s === undefined ? Number.NaN : a - s
        })
        .filter((x) => !Number.isNaN(x))
        .sort((a, b) => a - b)
      result.latency = {
        rate: options.latencyRate,
        count: options.latencyCount,
        complete: wait.complete,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: latencies[latencies.length - 1] ?? Number.NaN
      }
      console.log(
        `    p50 ${result.latency.p50.toFixed(0)} ms, p95 ${result.latency.p95.toFixed(0)} ms, p99 ${result.latency.p99.toFixed(0)} ms`
      )
      alive()
    }

    // Update burst: resize N EVCs at once (their PVCs marked Bound first, untimed).
    if (options.update > 0) {
      const pool = created.filter((n) => n.startsWith("b"))
      const extra = Array.from(
        { length: Math.max(0, options.update - pool.length) },
        (_, i) => `u-${i}`
      )
      if (extra.length > 0) {
        console.log(`  [${label}] update: creating ${extra.length} more EVCs first`)
        await create(extra)
        created.push(...extra)
        await Tracker.waitAll(extra, handled, { timeoutMs, label: `${label} update prepare` })
      }
      const names = [...pool, ...extra].slice(0, options.update)
      console.log(
        `  [${label}] update burst: marking ${names.length} PVCs Bound, then resizing their EVCs at once`
      )
      const b0 = performance.now()
      await markBound(names)
      const markBoundSeconds = (performance.now() - b0) / 1000
      await sleep(2000)
      const cpu0 = operatorSample().cpu
      const server0 = Proc.cpuOf(serverPids)
      const audit0 = Audit.offset(auditLog)
      const t0 = performance.now()
      const sending = resize(names, "3G")
      const wait = await Tracker.waitAll(
        names,
        (n) => (tracker.pvcSize.get(n) === "3G" ? tracker.pvcSizeAt.get(n) : undefined),
        { timeoutMs, label: `${label} update ${names.length}` }
      )
      await sending
      const s = operatorSample()
      // The status writes that follow the last resize land after it: count them too.
      await sleep(2000)
      const counts = Audit.count(auditLog, audit0, Audit.offset(auditLog), user)
      const seconds = (wait.at - t0) / 1000
      result.update = {
        n: names.length,
        complete: wait.complete,
        done: wait.done,
        seconds,
        throughput: wait.done / seconds,
        callsPerObject: counts.total / names.length,
        byCall: counts.byCall,
        operatorCpuSeconds: s.cpu - cpu0,
        serverCpuSeconds: Proc.cpuOf(serverPids) - server0,
        peakRssMiB: s.hwm / MiB,
        markBoundSeconds
      }
      console.log(
        `    ${wait.done}/${names.length} in ${seconds.toFixed(2)}s: ${(wait.done / seconds).toFixed(1)}/s, ${(counts.total / names.length).toFixed(2)} calls/object`
      )
      alive()
    }

    // Idle footprint: with `idle` EVCs present and handled, at rest.
    if (options.idle > 0) {
      const fill = Array.from(
        { length: Math.max(0, options.idle - created.length) },
        (_, i) => `i-${i}`
      )
      console.log(
        `  [${label}] idle: creating ${fill.length} more EVCs (${options.idle} in all), then ${options.settleSeconds}s to settle and ${options.idleSeconds}s at rest`
      )
      const f0 = performance.now()
      await create(fill)
      created.push(...fill)
      const wait = await Tracker.waitAll(created, handled, {
        timeoutMs,
        label: `${label} idle fill`
      })
      const fillSeconds = (performance.now() - f0) / 1000
      await sleep(options.settleSeconds * 1000)
      const s0 = operatorSample()
      const audit0 = Audit.offset(auditLog)
      await sleep(options.idleSeconds * 1000)
      const s1 = operatorSample()
      const counts = Audit.count(auditLog, audit0, Audit.offset(auditLog), user)
      const perMinute = 60 / options.idleSeconds
      result.idle = {
        objects: created.length,
        complete: wait.complete,
        fillSeconds,
        windowSeconds: options.idleSeconds,
        rssMiB: s1.rss / MiB,
        peakRssMiB: s1.hwm / MiB,
        cpuSecondsPerMinute: (s1.cpu - s0.cpu) * perMinute,
        callsPerMinute: counts.total * perMinute,
        watchesPerMinute: counts.watches * perMinute
      }
      if (options.heap === true && contender.name !== "kopf") {
        process.kill(contender.pid, "SIGUSR2")
        await sleep(20_000)
      }
      console.log(
        `    RSS ${(s1.rss / MiB).toFixed(1)} MiB (peak ${(s1.hwm / MiB).toFixed(1)} MiB), ${result.idle.cpuSecondsPerMinute.toFixed(2)} CPU s/min, ${result.idle.callsPerMinute.toFixed(1)} calls/min`
      )
      alive()
    }
  } finally {
    tracker.stop()
  }
}
