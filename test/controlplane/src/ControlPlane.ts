/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC, client-certificate
 * authentication) and kube-controller-manager (garbage collector, namespace and service-account
 * controllers), built from Go modules (`Build`) or taken from a folder of binaries such as
 * envtest's (`Binaries`), and started in a temporary folder with certificates of its own (`Pki`).
 *
 * `ControlPlane.layer` is a scoped Layer: building it starts everything and waits until the API
 * server is ready and the `default` namespace exists; releasing it stops every process and
 * removes the folder, also when a test fails or the run is interrupted. A `Watchdog` stops the
 * servers if this process dies without releasing.
 *
 * For fault tests, a component can be stopped (SIGTERM, or SIGKILL as a crash) and started again
 * with the same flags, port, certificates and etcd data (`Info.restart`), and the audit log can
 * record the request bodies of chosen resources (`auditRequestBodies`; read it with `Audit`).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type * as Audit from "./Audit.ts"
import {
  ControlPlaneError,
  controllers,
  get,
  kubeconfigFor,
  lifecycle,
  prepare,
  startApiServer,
  startControllerManager,
  startEtcd,
  waitUntil
} from "./Plane.ts"
import type * as Process from "./Process.ts"

export { ControlPlaneError }

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
  /** The servers' processes (the pid is current after a restart). */
  readonly processes: ReadonlyArray<{ readonly name: string; readonly pid: number }>
  /**
   * The kube-controller-manager controllers that run: none when it does not run (envtest's
   * binaries, or `controllerManager: false`). Without them, ownerReferences do not cascade (no
   * garbage collection), a deleted namespace stays Terminating, and namespaces get no `default`
   * ServiceAccount (pods are admitted without one).
   */
  readonly controllers: ReadonlyArray<string>
  /** Path of the audit log (JSON lines; read it with `Audit.read`), when one is written. */
  readonly auditLog: string | undefined
  /**
   * The alpha feature gates kube-apiserver runs with: `ShardedListAndWatch` (lists and watches
   * with a `shardSelector`, KEP-5866) when the binary knows it (v1.36 and later), none otherwise.
   */
  readonly featureGates: ReadonlyArray<string>
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
  /**
   * Start kube-controller-manager (default: when its binary is there; `true` without one is an
   * error).
   */
  readonly controllerManager?: boolean
  /**
   * A folder of existing binaries to start instead of building them: `etcd` and
   * `kube-apiserver`, and `kube-controller-manager` if present; envtest's `KUBEBUILDER_ASSETS`
   * folder works. Default: `$KUBEFX_CONTROLPLANE_BIN`, else the build from Go modules.
   */
  readonly binDir?: string
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
    const kcm = plane.binaries.kubeControllerManager
    if (plane.controllerManager && kcm !== undefined)
      processes.push(yield* startControllerManager(plane, kcm))
    yield* waitUntil(
      "the default namespace",
      processes[1]!,
      60,
      get(`${plane.server}/api/v1/namespaces/default`, plane.tls).pipe(
        Effect.map((r) => r.status === 200)
      )
    )
    const userKubeconfig = (name: string, groups: ReadonlyArray<string> = []) => {
      const file = name.replace(/[^a-zA-Z0-9_.-]/g, "_")
      return plane.authority.user(file, name, groups).pipe(
        Effect.mapError((error) => new ControlPlaneError({ message: error.message })),
        Effect.map(() => kubeconfigFor(plane, file, file, name))
      )
    }
    return {
      server: plane.server,
      kubeconfig: kubeconfigFor(plane, "admin", "admin", "kubefx-admin"),
      restrictedKubeconfig: kubeconfigFor(plane, "restricted", "restricted", "kubefx-restricted"),
      restrictedUser: "kubefx-restricted",
      caFile: plane.file("ca.crt"),
      dataDir: plane.dataDir,
      processes,
      controllers: plane.controllerManager ? controllers : [],
      auditLog: plane.auditLog,
      featureGates: plane.featureGates,
      userKubeconfig,
      ...lifecycle(plane)
    } satisfies Info
  }).pipe(
    Effect.catchTag("ProcessError", (error) =>
      Effect.fail(new ControlPlaneError({ message: error.message }))
    )
  )

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
