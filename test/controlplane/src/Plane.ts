/**
 * How a control plane's components start, wait until ready, stop and start again: the steps of
 * `ControlPlane.start`.
 *
 * @internal
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Data, Effect } from "effect"
import * as Audit from "./Audit.ts"
import * as Binaries from "./Binaries.ts"
import type { Component, Info, Options } from "./ControlPlane.ts"
import * as Kubeconfig from "./Kubeconfig.ts"
import * as Pki from "./Pki.ts"
import * as Ports from "./Ports.ts"
import * as Process from "./Process.ts"
import * as Watchdog from "./Watchdog.ts"

/** The control plane could not be built or started; the message says which part and why. @since 0.1.0 */
export class ControlPlaneError extends Data.TaggedError("ControlPlaneError")<{
  readonly message: string
}> {}

/** A free port, or the control plane's error. */
const freePort = Ports.free.pipe(
  Effect.mapError((e) => new ControlPlaneError({ message: e.message }))
)

interface Tls {
  readonly ca: Buffer
  readonly cert: Buffer
  readonly key: Buffer
}

/**
 * GETs `url` with client-certificate TLS, or with none and any server certificate for
 * `"self-signed"` (kube-controller-manager's health endpoint); resolves with status and body.
 */
/** @internal */
export const get = (url: string, tls: Tls | "self-signed") =>
  Effect.callback<{ status: number; body: string }, ControlPlaneError>((resume, signal) => {
    const options = tls === "self-signed" ? { rejectUnauthorized: false } : tls
    const req = request(url, { ...options, method: "GET", signal, timeout: 5_000 }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk) => (body += chunk))
      res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, body })))
    })
    req.on("timeout", () => req.destroy(new Error("timed out")))
    req.on("error", (error) =>
      resume(Effect.fail(new ControlPlaneError({ message: `GET ${url}: ${error.message}` })))
    )
    req.end()
  })

/** Fails unless `process` still runs, quoting its log. */
const stillRunning = (process: Process.Running) =>
  Effect.suspend(() => {
    const code = process.exitCode()
    return code === undefined
      ? Effect.void
      : Effect.fail(
          new ControlPlaneError({
            message: `${process.name} exited with code ${code} while starting; last lines of ${process.logFile}:\n${Process.tail(process.logFile)}`
          })
        )
  })

/** Polls `check` every 200 ms until it holds; fails at once if `process` died, or after `seconds`. */
/** @internal */
export const waitUntil = (
  what: string,
  process: Process.Running,
  seconds: number,
  check: Effect.Effect<boolean, ControlPlaneError>
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + seconds * 1000
    for (;;) {
      yield* stillRunning(process)
      if (yield* check.pipe(Effect.orElseSucceed(() => false))) return
      if (Date.now() > deadline) {
        return yield* new ControlPlaneError({
          message: `${what} did not happen within ${seconds}s; last lines of ${process.logFile}:\n${Process.tail(process.logFile)}`
        })
      }
      yield* Effect.sleep("200 millis")
    }
  })

/** What the components of one control plane share while they start. */
interface Plane {
  readonly binaries: Binaries.Binaries
  /** Whether kube-controller-manager runs (its binary is there and it was not turned off). */
  readonly controllerManager: boolean
  readonly authority: Pki.Authority
  readonly dataDir: string
  readonly options: Options
  readonly file: (name: string) => string
  readonly ports: {
    readonly etcd: number
    readonly etcdPeer: number
    readonly api: number
    readonly kcm: number
  }
  readonly server: string
  readonly tls: Tls
  readonly auditLog: string | undefined
  /** The feature gates kube-apiserver runs with (see {@link wantedFeatureGates}). */
  readonly featureGates: ReadonlyArray<string>
  readonly components: Map<Component, Started>
}

interface Started {
  readonly process: Process.Running
  readonly ready: Effect.Effect<void, ControlPlaneError>
}

/** Starts a component and waits until `ready`; remembered for stop and start. */
const launch = (
  plane: Plane,
  name: Component,
  program: string,
  args: ReadonlyArray<string>,
  ready: (process: Process.Running) => Effect.Effect<void, ControlPlaneError>
) =>
  Effect.gen(function* () {
    const process = yield* Process.start({
      name,
      program,
      logFile: join(plane.dataDir, `${name}.log`),
      pidFile: join(plane.dataDir, "pids", name),
      args
    })
    const started = { process, ready: ready(process) }
    plane.components.set(name, started)
    yield* started.ready
    return process
  })

const dataFolder = (options: Options) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      removeAbandonedDataDirs()
      const dir = mkdtempSync(join(tmpdir(), dataDirPrefix))
      writeFileSync(join(dir, "owner.pid"), String(process.pid))
      return dir
    }),
    (dir) =>
      Effect.sync(() => {
        if (!options.keepData) rmSync(dir, { recursive: true, force: true })
      })
  )

/**
 * Whether kube-controller-manager runs: by default when its binary is there; asked for
 * explicitly without one, a one-line error.
 */
const runsControllerManager = (binaries: Binaries.Binaries, options: Options) => {
  if (options.controllerManager === false) return Effect.succeed(false)
  if (binaries.kubeControllerManager !== undefined) return Effect.succeed(true)
  if (options.controllerManager === true)
    return Effect.fail(
      new ControlPlaneError({
        message: `kubefx: no kube-controller-manager next to ${binaries.kubeApiserver} (envtest's folder has none); drop controllerManager: true to run without it (no garbage collection, no namespace deletion, no default ServiceAccounts)`
      })
    )
  return Effect.logInfo(
    "kubefx: no kube-controller-manager among the binaries: running without it (no garbage collection, no namespace deletion, no default ServiceAccounts)"
  ).pipe(Effect.as(false))
}

/** The folder, the certificates, the watchdog and the ports of a new control plane. */
/** @internal */
export const prepare = (options: Options) =>
  Effect.gen(function* () {
    const binaries = yield* Binaries.resolve(options.binDir).pipe(
      Effect.mapError((error) => new ControlPlaneError({ message: error.message }))
    )
    const controllerManager = yield* runsControllerManager(binaries, options)
    const dataDir = yield* dataFolder(options)
    const pidDir = join(dataDir, "pids")
    mkdirSync(pidDir)
    yield* Watchdog.start({ pidDir, removeDir: options.keepData ? undefined : dataDir })
    const pki = join(dataDir, "pki")
    const authority = yield* Pki.write(pki).pipe(
      Effect.mapError((error) => new ControlPlaneError({ message: error.message }))
    )
    const file = (name: string) => join(pki, name)
    const ports = {
      etcd: yield* freePort,
      etcdPeer: yield* freePort,
      api: yield* freePort,
      kcm: yield* freePort
    }
    const plane: Plane = {
      binaries,
      controllerManager,
      authority,
      dataDir,
      options,
      file,
      ports,
      server: `https://127.0.0.1:${ports.api}`,
      tls: {
        ca: readFileSync(file("ca.crt")),
        cert: readFileSync(file("users/admin.crt")),
        key: readFileSync(file("users/admin.key"))
      },
      auditLog:
        options.auditLog || options.auditRequestBodies !== undefined
          ? join(dataDir, "audit.log")
          : undefined,
      featureGates: featureGatesOf(binaries.kubeApiserver),
      components: new Map()
    }
    return plane
  })

/** @internal */
export const startEtcd = (plane: Plane) => {
  const { etcd, etcdPeer } = plane.ports
  return launch(
    plane,
    "etcd",
    plane.binaries.etcd,
    [
      "--name=kubefx",
      `--data-dir=${join(plane.dataDir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcd}`,
      `--advertise-client-urls=http://127.0.0.1:${etcd}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=kubefx=http://127.0.0.1:${etcdPeer}`,
      "--unsafe-no-fsync",
      "--log-level=warn"
    ],
    (process) =>
      waitUntil(
        "etcd health",
        process,
        30,
        Effect.tryPromise({
          try: () => fetch(`http://127.0.0.1:${etcd}/health`).then((r) => r.ok),
          catch: (error) => new ControlPlaneError({ message: String(error) })
        })
      )
  )
}

/**
 * The alpha feature gates the control plane turns on when its kube-apiserver knows them:
 * `ShardedListAndWatch` (KEP-5866: lists and watches with a `shardSelector`), which kubefx's
 * sharded operators use. An older kube-apiserver (envtest's, say) does not know it and would
 * refuse to start with it, so it runs without.
 *
 * @internal
 */
export const wantedFeatureGates: ReadonlyArray<string> = ["ShardedListAndWatch"]

const knownGates = new Map<string, ReadonlyArray<string>>()

/** The gates of {@link wantedFeatureGates} that `kube-apiserver --help` lists. @internal */
export const featureGatesOf = (kubeApiserver: string): ReadonlyArray<string> => {
  const known = knownGates.get(kubeApiserver)
  if (known !== undefined) return known
  let help = ""
  try {
    help = execFileSync(kubeApiserver, ["--help"], { encoding: "utf8", timeout: 30_000 })
  } catch (error) {
    help = String((error as { stdout?: unknown }).stdout ?? "")
  }
  const gates = wantedFeatureGates.filter((gate) => help.includes(`${gate}=true|false`))
  knownGates.set(kubeApiserver, gates)
  return gates
}

const auditFlags = (plane: Plane): ReadonlyArray<string> =>
  plane.auditLog === undefined
    ? []
    : [
        `--audit-log-path=${plane.auditLog}`,
        `--audit-policy-file=${writeAuditPolicy(plane.dataDir, plane.options.auditRequestBodies ?? [])}`,
        "--audit-log-format=json",
        "--audit-log-mode=blocking"
      ]

/** @internal */
export const startApiServer = (plane: Plane) => {
  const { file } = plane
  return launch(
    plane,
    "kube-apiserver",
    plane.binaries.kubeApiserver,
    [
      `--etcd-servers=http://127.0.0.1:${plane.ports.etcd}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${plane.ports.api}`,
      `--cert-dir=${join(plane.dataDir, "apiserver")}`,
      `--tls-cert-file=${file("serving.crt")}`,
      `--tls-private-key-file=${file("serving.key")}`,
      `--client-ca-file=${file("ca.crt")}`,
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${file("sa.pub")}`,
      `--service-account-signing-key-file=${file("sa.key")}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--allow-privileged=true",
      "--profiling=false",
      ...(plane.featureGates.length === 0
        ? []
        : [`--feature-gates=${plane.featureGates.map((gate) => `${gate}=true`).join(",")}`]),
      // As envtest does: without the controller manager no namespace gets its default
      // ServiceAccount, which the ServiceAccount admission plugin would require of every pod.
      ...(plane.controllerManager ? [] : ["--disable-admission-plugins=ServiceAccount"]),
      ...auditFlags(plane)
    ],
    (process) =>
      waitUntil(
        "kube-apiserver /readyz",
        process,
        90,
        get(`${plane.server}/readyz`, plane.tls).pipe(Effect.map((r) => r.status === 200))
      )
  )
}

/** A kubeconfig for one of the client certificates of the plane's PKI (`users/<cert>`). */
/** @internal */
export const kubeconfigFor = (plane: Plane, file: string, cert: string, user: string) =>
  Kubeconfig.write({
    path: join(plane.dataDir, `${file}.kubeconfig`),
    server: plane.server,
    caFile: plane.file("ca.crt"),
    certFile: plane.file(`users/${cert}.crt`),
    keyFile: plane.file(`users/${cert}.key`),
    user
  })

/** The controllers kube-controller-manager runs. @internal */
export const controllers: ReadonlyArray<string> = [
  "garbage-collector-controller",
  "namespace-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "clusterrole-aggregation-controller",
  "persistentvolumeclaim-protection-controller",
  "persistentvolume-protection-controller"
]

/** @internal */
export const startControllerManager = (plane: Plane, program: string) => {
  const kubeconfig = kubeconfigFor(
    plane,
    "controller-manager",
    "controller-manager",
    "system:kube-controller-manager"
  )
  return launch(
    plane,
    "kube-controller-manager",
    program,
    [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${plane.ports.kcm}`,
      `--cert-dir=${join(plane.dataDir, "controller-manager")}`,
      `--controllers=${controllers.join(",")}`,
      `--service-account-private-key-file=${plane.file("sa.key")}`,
      `--root-ca-file=${plane.file("ca.crt")}`,
      "--use-service-account-credentials=false",
      "--leader-elect=false"
    ],
    (process) =>
      waitUntil(
        "kube-controller-manager /healthz",
        process,
        60,
        get(`https://127.0.0.1:${plane.ports.kcm}/healthz`, "self-signed").pipe(
          Effect.map((r) => r.status === 200)
        )
      )
  )
}

/** Stopping and starting again the components of a running control plane. */
/** @internal */
export const lifecycle = (plane: Plane): Pick<Info, "stop" | "start" | "restart"> => {
  const component = (name: Component) => {
    const found = plane.components.get(name)
    return found === undefined
      ? Effect.fail(new ControlPlaneError({ message: `${name} is not part of this control plane` }))
      : Effect.succeed(found)
  }
  const stop: Info["stop"] = (name, { signal }) =>
    Effect.flatMap(component(name), ({ process }) => process.stop(signal))
  const start: Info["start"] = (name) =>
    Effect.flatMap(component(name), ({ process, ready }) =>
      process.start.pipe(
        Effect.mapError((error) => new ControlPlaneError({ message: error.message })),
        Effect.andThen(ready)
      )
    )
  return {
    stop,
    start,
    restart: (name, options) => Effect.andThen(stop(name, options), start(name))
  }
}

const dataDirPrefix = "kubefx-controlplane-"

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Removes data folders left by runs that were killed before they could clean up (their owner
 * process is gone; their servers were already stopped by the watchdog, which removes the folder
 * itself unless it was killed too).
 */
const removeAbandonedDataDirs = () => {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(dataDirPrefix)) continue
    const dir = join(tmpdir(), name)
    try {
      const owner = Number(readFileSync(join(dir, "owner.pid"), "utf8"))
      if (owner > 0 && !isAlive(owner)) rmSync(dir, { recursive: true, force: true })
    } catch {
      // Not ours to judge (no owner file, or already gone).
    }
  }
}

const writeAuditPolicy = (dataDir: string, bodies: ReadonlyArray<Audit.Bodies>): string => {
  const path = join(dataDir, "audit-policy.yaml")
  writeFileSync(path, JSON.stringify(Audit.policy(bodies), null, 2))
  return path
}
