/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC, client-certificate
 * authentication) and kube-controller-manager (garbage collector, namespace and service-account
 * controllers), built from Go modules (see {@link Build}) and started in a temporary folder.
 *
 * `ControlPlane.layer` is a scoped Layer: building it starts everything and waits until the API
 * server is ready and the `default` namespace exists; releasing it stops every process and
 * removes the folder, also when a test fails or the run is interrupted. Processes run under a
 * supervisor that stops them if this process dies without releasing.
 *
 * For fault tests, a component can be stopped (SIGTERM, or SIGKILL as a crash) and started again
 * with the same flags, port, certificates and etcd data (`Info.restart`), and the audit log can
 * record the request bodies of chosen resources (`auditRequestBodies`; read it with `Audit`).
 *
 * @since 0.1.0
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:https"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Data, Effect, Layer, type Scope } from "effect"
import * as Audit from "./Audit.ts"
import * as Build from "./Build.ts"
import * as Kubeconfig from "./Kubeconfig.ts"
import * as Process from "./Process.ts"

/** A component of the control plane that can be stopped and started again. @since 0.1.0 */
export type Component = "etcd" | "kube-apiserver" | "kube-controller-manager"

/** What a started control plane offers its users. @since 0.1.0 */
export interface Info {
  /** The API server's URL, `https://127.0.0.1:<port>`. */
  readonly server: string
  /** Path of a kubeconfig for `kubefx-admin`, a member of `system:masters`. */
  readonly kubeconfig: string
  /** Path of a kubeconfig for `kubefx-restricted`, a user with no rights at all. */
  readonly restrictedKubeconfig: string
  /** The restricted user's name, for RoleBindings. */
  readonly restrictedUser: string
  /** Path of the cluster CA certificate. */
  readonly caFile: string
  /** The temporary folder holding data, certificates and logs (removed on release). */
  readonly dataDir: string
  /** The supervised processes (the supervisor's pid, current after a restart; the server is its
   * only child). */
  readonly processes: ReadonlyArray<{ readonly name: string; readonly pid: number }>
  /** Path of the audit log (JSON lines; read it with `Audit.read`), when one is written. */
  readonly auditLog: string | undefined
  /** A kubeconfig for a new client-certificate user `name` in `groups`; returns its path. */
  readonly userKubeconfig: (
    name: string,
    groups?: ReadonlyArray<string>
  ) => Effect.Effect<string, ControlPlaneError>
  /**
   * Stops `component` and waits until it is gone: `SIGTERM` lets it shut down, `SIGKILL` kills
   * it as a crash would. It stays down until {@link Info.start}.
   */
  readonly stop: (
    component: Component,
    options: { readonly signal: Process.StopSignal }
  ) => Effect.Effect<void, ControlPlaneError>
  /** Starts a stopped `component` again, with the same flags, port, certificates and data, and
   * waits until it is ready (kube-apiserver: `/readyz`). */
  readonly start: (component: Component) => Effect.Effect<void, ControlPlaneError>
  /** {@link Info.stop}, then {@link Info.start}. */
  readonly restart: (
    component: Component,
    options: { readonly signal: Process.StopSignal }
  ) => Effect.Effect<void, ControlPlaneError>
}

/** The control plane could not be built or started; the message says which part and why. @since 0.1.0 */
export class ControlPlaneError extends Data.TaggedError("ControlPlaneError")<{
  readonly message: string
}> {}

/** Options for {@link start}. @since 0.1.0 */
export interface Options {
  /** Keep the data folder after release, for debugging (default false). */
  readonly keepData?: boolean
  /** Write an audit log of every request to `<dataDir>/audit.log`, at level Metadata (default
   * false). */
  readonly auditLog?: boolean
  /**
   * Also record the request bodies (level Request) of these resources in the audit log, e.g.
   * `[{ group: "kopf.dev", resources: ["ephemeralvolumeclaims", "ephemeralvolumeclaims/status"] }]`
   * (`""` is the core group); turns the audit log on.
   */
  readonly auditRequestBodies?: ReadonlyArray<Audit.Bodies>
  /** Start kube-controller-manager (default true). */
  readonly controllerManager?: boolean
}

const freePort = Effect.callback<number, ControlPlaneError>((resume) => {
  const server = createServer()
  server.unref()
  server.on("error", (error) =>
    resume(Effect.fail(new ControlPlaneError({ message: `no free port: ${error.message}` })))
  )
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

interface Tls {
  readonly ca: Buffer
  readonly cert: Buffer
  readonly key: Buffer
}

/**
 * GETs `url` with client-certificate TLS, or with none and any server certificate for
 * `"self-signed"` (kube-controller-manager's health endpoint); resolves with status and body.
 */
const get = (url: string, tls: Tls | "self-signed") =>
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
const waitUntil = (
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

const runHelper = (helper: string, args: ReadonlyArray<string>) =>
  Effect.try({
    try: () => execFileSync(helper, args, { stdio: ["ignore", "pipe", "pipe"] }),
    catch: (error) =>
      new ControlPlaneError({
        message: `kubefx-cp ${args[0]}: ${(error as { stderr?: Buffer }).stderr?.toString() ?? String(error)}`
      })
  })

/** What the components of one control plane share while they start. */
interface Plane {
  readonly binaries: Build.Binaries
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
      helper: plane.binaries.helper,
      program,
      logFile: join(plane.dataDir, `${name}.log`),
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

/** The folder, the certificates and the ports of a new control plane. */
const prepare = (options: Options) =>
  Effect.gen(function* () {
    const binaries = yield* Build.ensureBinaries.pipe(
      Effect.mapError((error) => new ControlPlaneError({ message: error.message }))
    )
    const dataDir = yield* dataFolder(options)
    const pki = join(dataDir, "pki")
    yield* runHelper(binaries.helper, ["pki", pki])
    const file = (name: string) => join(pki, name)
    const ports = {
      etcd: yield* freePort,
      etcdPeer: yield* freePort,
      api: yield* freePort,
      kcm: yield* freePort
    }
    const plane: Plane = {
      binaries,
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
      components: new Map()
    }
    return plane
  })

const startEtcd = (plane: Plane) => {
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

const auditFlags = (plane: Plane): ReadonlyArray<string> =>
  plane.auditLog === undefined
    ? []
    : [
        `--audit-log-path=${plane.auditLog}`,
        `--audit-policy-file=${writeAuditPolicy(plane.dataDir, plane.options.auditRequestBodies ?? [])}`,
        "--audit-log-format=json",
        "--audit-log-mode=blocking"
      ]

const startApiServer = (plane: Plane) => {
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

/** A kubeconfig for one of the certificates `kubefx-cp pki` or `user` wrote. */
const kubeconfigFor = (plane: Plane, file: string, cert: string, user: string) =>
  Kubeconfig.write({
    path: join(plane.dataDir, `${file}.kubeconfig`),
    server: plane.server,
    caFile: plane.file("ca.crt"),
    certFile: plane.file(`users/${cert}.crt`),
    keyFile: plane.file(`users/${cert}.key`),
    user
  })

const startControllerManager = (plane: Plane) => {
  const kubeconfig = kubeconfigFor(
    plane,
    "controller-manager",
    "controller-manager",
    "system:kube-controller-manager"
  )
  return launch(
    plane,
    "kube-controller-manager",
    plane.binaries.kubeControllerManager,
    [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${plane.ports.kcm}`,
      `--cert-dir=${join(plane.dataDir, "controller-manager")}`,
      "--controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,clusterrole-aggregation-controller,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller",
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
const lifecycle = (plane: Plane): Pick<Info, "stop" | "start" | "restart"> => {
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

/**
 * Starts a control plane in the current scope and returns its {@link Info}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ControlPlane } from "@kubefx/controlplane"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const cluster = yield* ControlPlane.start()
 *     console.log(cluster.server, cluster.kubeconfig)
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export const start = (options: Options = {}): Effect.Effect<Info, ControlPlaneError, Scope.Scope> =>
  Effect.gen(function* () {
    const plane = yield* prepare(options)
    const processes: Array<Process.Running> = [
      yield* startEtcd(plane),
      yield* startApiServer(plane)
    ]
    if (options.controllerManager !== false) processes.push(yield* startControllerManager(plane))
    yield* waitUntil(
      "the default namespace",
      processes[1]!,
      60,
      get(`${plane.server}/api/v1/namespaces/default`, plane.tls).pipe(
        Effect.map((r) => r.status === 200)
      )
    )
    const userKubeconfig = (name: string, groups: ReadonlyArray<string> = []) =>
      Effect.map(
        runHelper(plane.binaries.helper, ["user", join(plane.dataDir, "pki"), name, ...groups]),
        () => kubeconfigFor(plane, name.replace(/[^a-zA-Z0-9_.-]/g, "_"), name, name)
      )
    return {
      server: plane.server,
      kubeconfig: kubeconfigFor(plane, "admin", "admin", "kubefx-admin"),
      restrictedKubeconfig: kubeconfigFor(plane, "restricted", "restricted", "kubefx-restricted"),
      restrictedUser: "kubefx-restricted",
      caFile: plane.file("ca.crt"),
      dataDir: plane.dataDir,
      processes,
      auditLog: plane.auditLog,
      userKubeconfig,
      ...lifecycle(plane)
    } satisfies Info
  }).pipe(
    Effect.catchTag("ProcessError", (error) =>
      Effect.fail(new ControlPlaneError({ message: error.message }))
    )
  )

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
 * process is gone; their servers were already stopped by the supervisor).
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

/**
 * The control plane as a service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ControlPlane } from "@kubefx/controlplane"
 *
 * const program = Effect.gen(function* () {
 *   const { kubeconfig } = yield* ControlPlane.ControlPlane
 *   return kubeconfig
 * }).pipe(Effect.provide(ControlPlane.layer))
 * ```
 * @since 0.1.0
 */
export class ControlPlane extends Context.Service<ControlPlane, Info>()(
  "@kubefx/controlplane/ControlPlane"
) {}

/**
 * A scoped Layer that starts a fresh control plane and stops it on release.
 *
 * @example
 * ```ts
 * import { layer } from "@effect/vitest"
 * import { ControlPlane } from "@kubefx/controlplane"
 * import { Effect } from "effect"
 *
 * layer(ControlPlane.layer)("against a real API server", (it) => {
 *   it.effect("serves https", () =>
 *     Effect.gen(function*() {
 *       const cp = yield* ControlPlane.ControlPlane
 *       yield* Effect.log(cp.server)
 *     })
 *   )
 * })
 * ```
 * @since 0.1.0
 */
export const layer: Layer.Layer<ControlPlane, ControlPlaneError> = Layer.effect(
  ControlPlane,
  start()
)

/**
 * Like {@link layer}, with {@link Options}.
 *
 * @example
 * ```ts
 * import { ControlPlane } from "@kubefx/controlplane"
 * const audited = ControlPlane.layerWith({ auditLog: true })
 * ```
 * @since 0.1.0
 */
export const layerWith = (options: Options): Layer.Layer<ControlPlane, ControlPlaneError> =>
  Layer.effect(ControlPlane, start(options))
