/**
 * A simulated Kubernetes cluster: an in-memory implementation of the runtime's {@link Kube}
 * service with the API server semantics an operator relies on, and a handle to inspect and
 * drive it. Time comes from Effect's `Clock` (so the test clock drives watch timeouts,
 * bookmarks, slow answers, retries and the operator alike) and every fault from a seeded PRNG.
 *
 * What is simulated (and checked against a real kube-apiserver by the differential suite):
 *
 * - **Objects**: `resourceVersion` (one increasing counter, as etcd's revision, answered as an
 *   opaque string), `uid`, `creationTimestamp`, `generation` (custom resources and CRDs: bumped
 *   when anything but metadata and status changes, and when deletion starts); writes that change
 *   nothing keep the version and send no watch event.
 * - **Writes**: create (`AlreadyExists`, `generateName`, name validation, the namespace must
 *   exist and not be terminating), replace (409 on a stale `resourceVersion`; custom resources
 *   need one), merge, JSON (RFC 6902 with `test`), strategic (merge semantics; 415 for custom
 *   resources) and apply patches (merge semantics; creates when missing). A patch that carries
 *   `metadata.resourceVersion` is conditional. Server-managed metadata cannot be changed.
 * - **Status subresource**: the main endpoint keeps the stored status, `/status` keeps everything
 *   but status; `/status` of a resource without the subresource is 404.
 * - **Deletion**: finalizers hold an object with `deletionTimestamp`; removing the last one
 *   deletes it; no finalizer may be added meanwhile (422); preconditions (uid, version).
 * - **Controllers** (switchable): the garbage collector (ownerReferences by uid: background,
 *   foreground and orphan propagation, dangling references), the namespace controller, the
 *   PVC-protection controller and a provisioner that binds and expands claims.
 * - **Custom resources**: a CRD object makes its resource served (with or without `/status`),
 *   with pruning of unknown fields and validation by its structural schema; deleting it deletes
 *   its objects.
 * - **PersistentVolumeClaims**: defaults (`volumeMode`, `status.phase: Pending`, the
 *   `kubernetes.io/pvc-protection` finalizer), spec immutability except the requested storage of
 *   bound claims (422), growth only of bound claims whose StorageClass allows expansion (403).
 * - **List and watch**: namespace scope, label and field selectors, pages with continue tokens,
 *   watch from a version (the history keeps the last `historySize` changes; older versions get
 *   an ERROR event with 410), bookmarks every `bookmarkInterval`, `timeoutSeconds`, an object
 *   leaving a selector is DELETED for that watch.
 * - **Sharded list and watch** (KEP-5866, the `ShardedListAndWatch` gate of kube-apiserver
 *   v1.36.3, on by default): `shardSelector` filters lists and watches by the 64-bit FNV-1a hash
 *   of `metadata.uid` or `metadata.namespace`; lists of built-in types echo it in
 *   `metadata.shardInfo.selector` (those of custom resources do not); a selector that does not
 *   parse is answered 500 with the server's message. With the gate off it is ignored.
 * - **Events** (created like any object) and discovery documents (`/api`, `/apis`, group
 *   versions).
 *
 * @since 0.1.0
 */
import { type Admission, Builtins, type KubeObject, type Resource } from "@kubefx/core"
import {
  type ApiPatch,
  type Discovery,
  Kube,
  type KubeError,
  type KubeService,
  Manifests,
  RequestPolicy
} from "@kubefx/runtime"
import { Clock, Context, Duration, Effect, Layer, Option, Queue, type Schedule } from "effect"
import type * as Scope from "effect/Scope"
import * as Faults from "./Faults.ts"
import { attempt } from "./internal/sim/attempt.ts"
import * as Client from "./internal/sim/client.ts"
import * as Network from "./internal/sim/network.ts"
import * as Pages from "./internal/sim/pages.ts"
import * as Webhooks from "./internal/sim/webhooks.ts"
import * as Store from "./internal/store.ts"

type ApiResource = Resource.ApiResource
type Err = KubeError.KubeError

/**
 * Options of the simulation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Namespaces that exist from the start (default `["default"]`). */
  readonly namespaces?: ReadonlyArray<string> | undefined
  /** Objects created at the start, in order (CRDs, StorageClasses...). */
  readonly objects?: ReadonlyArray<KubeObject.KubeObject> | undefined
  /** Faults of the operator's connections (default none); change them with `setFaults`. */
  readonly faults?: Faults.Faults | undefined
  /** How many changes the watch history keeps (default 1000). */
  readonly historySize?: number | undefined
  /** Interval of watch bookmarks (default 60 seconds). */
  readonly bookmarkInterval?: Duration.Input | undefined
  /** Server-side watch timeout when the client gives none (default 30 minutes). */
  readonly watchTimeout?: Duration.Input | undefined
  /** Delay between a change and the controllers' reaction (default 0). */
  readonly controllerDelay?: Duration.Input | undefined
  /** Which controllers run (default: garbage collector, namespace and PVC-protection
   * controllers on, provisioner off, as in a cluster without a storage driver). */
  readonly controllers?: Partial<Store.ControllerOptions> | undefined
  /** Client retry policy of connections (default `RequestPolicy.defaultRetry`, as the real
   * client). */
  readonly retry?: Schedule.Schedule<unknown, Err> | undefined
  /** Per-attempt time limit of connections' requests (default 30 seconds: the real client's
   * deadline for response headers). */
  readonly requestTimeout?: Duration.Input | undefined
  /** Seed of uids and generated names (default 0). */
  readonly seed?: number | undefined
  /**
   * The `ShardedListAndWatch` feature gate (default on, as the test control plane has it):
   * lists and watches honour `shardSelector`. Off, the simulation is a server without the gate
   * (or older than v1.36): it ignores the parameter.
   */
  readonly shardedListAndWatch?: boolean | undefined
}

/**
 * A client connection to the simulation, as one process has it. Closing it is that process
 * dying: its requests are never answered and its watches end.
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  readonly kube: KubeService
  readonly close: Effect.Effect<void>
  /** Silences this connection alone for `duration` from now, as {@link SimClusterService.blackhole}
   * does every connection: the process is cut off from the API server meanwhile. */
  readonly blackhole: (duration: Duration.Input) => Effect.Effect<void>
}

/**
 * The handle of a simulated cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimClusterService {
  /** A client with faults and the real client's retries (the one the `Kube` layer provides). */
  readonly kube: KubeService
  /** A client without faults nor retries, for the test's own actions and assertions. */
  readonly admin: KubeService
  /** A new client with faults (one per operator process; see {@link Connection}). */
  readonly connect: Effect.Effect<Connection, never, Scope.Scope>
  /** The objects of a resource (in a namespace), sorted by namespace and name. */
  readonly objects: (
    resource: ApiResource,
    namespace?: string | undefined
  ) => Effect.Effect<ReadonlyArray<KubeObject.KubeObject>>
  /** One object, if it exists. */
  readonly find: (
    resource: ApiResource,
    name: string,
    namespace?: string | undefined
  ) => Effect.Effect<Option.Option<KubeObject.KubeObject>>
  /** The core/v1 Events (about an object of that name). */
  readonly events: (about?: {
    readonly name?: string | undefined
    readonly namespace?: string | undefined
  }) => Effect.Effect<ReadonlyArray<KubeObject.KubeObject>>
  readonly faults: Effect.Effect<Faults.Faults>
  /** Replaces the fault configuration (and reseeds the PRNG with its seed). */
  readonly setFaults: (faults: Faults.Faults) => Effect.Effect<void>
  /** Silences every connection of the operator's clients for `duration` from now, as a
   * {@link Faults.Window} does: requests and watches in flight stay silent for good, requests
   * sent meanwhile are never answered, those sent after it are. */
  readonly blackhole: (duration: Duration.Input) => Effect.Effect<void>
  /** Cuts every open watch now (ECONNRESET), but silent ones (blackholed: nothing reaches
   * their client). */
  readonly dropWatches: Effect.Effect<void>
  /** Forgets the watch history (etcd compaction): watches from older versions get 410. */
  readonly compact: Effect.Effect<void>
  /** Runs the controllers now (garbage collection, namespaces, claims). */
  readonly settle: Effect.Effect<void>
  /** Binds a claim as a PV controller would (`status.phase: Bound`, capacity = request). */
  readonly bind: (namespace: string, name: string) => Effect.Effect<KubeObject.KubeObject, Err>
  /** Applies objects (server-side apply, resolving kinds by discovery): `Manifests.apply`. */
  readonly apply: (
    objects: ReadonlyArray<KubeObject.KubeObject>
  ) => Effect.Effect<ReadonlyArray<KubeObject.KubeObject>, Err | Discovery.NotServed>
  /** The last requests of fault-injected connections (`METHOD path -> outcome`), newest last. */
  readonly requests: Effect.Effect<ReadonlyArray<string>>
  /** The current resourceVersion. */
  readonly resourceVersion: Effect.Effect<string>
  /**
   * Runs these admission handlers on the writes of the resources they serve, with the services
   * of `context`, until the scope closes; then, as webhook configurations left behind by a
   * stopped operator, they refuse those writes (`failurePolicy: Fail`) or let them through
   * (`ignoreFailure`). `Runner.make` does it for the registry's handlers.
   */
  readonly serveWebhooks: <R>(
    webhooks: ReadonlyArray<Admission.Webhook<R>>,
    context: Context.Context<R>
  ) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * The simulated cluster's handle as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class SimCluster extends Context.Service<SimCluster, SimClusterService>()(
  "@kubefx/testing/SimCluster"
) {}

const defaultControllers: Store.ControllerOptions = {
  gc: true,
  namespaces: true,
  pvcProtection: true,
  provisioner: false
}

/** The controllers' loop (woken by every change, after `delay`); answers a run of them now. */
const controllerLoop = (
  store: Store.Store,
  delay: Duration.Duration
): Effect.Effect<Effect.Effect<void>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const wake = yield* Queue.sliding<void>(1)
    store.setOnChange(() => {
      Queue.offerUnsafe(wake, undefined)
    })
    const run = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => store.reconcileControllers(now))
    )
    yield* Effect.forkScoped(
      Effect.forever(
        Queue.take(wake).pipe(
          Effect.andThen(Duration.isZero(delay) ? Effect.yieldNow : Effect.sleep(delay)),
          Effect.andThen(run)
        )
      )
    )
    return run
  })

/** A new fault-injected connection, closed with the scope (or by its `close`). */
const connection = (env: Client.Env): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const conn = Network.newConn(true, true)
      const close = Effect.sync(() => {
        conn.closed = true
        for (const k of [...conn.kills]) k()
      })
      const blackhole = (duration: Duration.Input) =>
        Effect.sync(() => {
          const from = env.network.now()
          conn.windows.push({
            from,
            until: from + Duration.toMillis(Duration.fromInputUnsafe(duration))
          })
        })
      return { kube: Client.make(env, conn), close, blackhole }
    }),
    (c) => c.close
  )

const inspection: KubeError.RequestInfo = { method: "GET", path: "(sim)" }

/** The handle's views of the store: objects, one object, Events. */
const views = (store: Store.Store): Pick<SimClusterService, "objects" | "find" | "events"> => ({
  objects: (resource, namespace) =>
    attempt(() => store.list(inspection, resource, namespace, () => true, false).items).pipe(
      Effect.orElseSucceed(() => [])
    ),
  find: (resource, name, namespace) =>
    attempt(() => store.get(inspection, resource, name, namespace)).pipe(
      Effect.map(Option.some),
      Effect.orElseSucceed(() => Option.none())
    ),
  events: (about = {}) =>
    Effect.sync(
      () =>
        store.list(
          inspection,
          Builtins.events,
          about.namespace,
          (o) =>
            about.name === undefined ||
            (o as { involvedObject?: { name?: string } }).involvedObject?.name === about.name,
          false
        ).items
    )
})

/** Binds a claim as a PV controller would (`status.phase: Bound`, capacity = request). */
const bindClaim = (admin: KubeService, namespace: string, name: string) =>
  Effect.gen(function* () {
    const pvcs = Builtins.persistentVolumeClaims
    const pvc = yield* admin.get(pvcs, name, { namespace })
    const spec = (pvc.spec ?? {}) as {
      resources?: { requests?: { storage?: unknown } }
      accessModes?: unknown
    }
    const status = {
      phase: "Bound",
      accessModes: spec.accessModes ?? ["ReadWriteOnce"],
      capacity: { storage: spec.resources?.requests?.storage ?? "0" }
    }
    return yield* admin.patchStatus(
      pvcs,
      name,
      { _tag: "Merge", body: { status } } satisfies ApiPatch.Patch,
      { namespace }
    )
  })

/** The handle of a simulation. */
const handle = (env: Client.Env, settle: Effect.Effect<void>): SimClusterService => {
  const { store, network } = env
  const admin = Client.make(env, Network.newConn(false, false))
  return {
    kube: Client.make(env, Network.newConn(true, true)),
    admin,
    connect: connection(env),
    ...views(store),
    faults: Effect.sync(network.faults),
    setFaults: (f) => Effect.sync(() => network.setFaults(f)),
    blackhole: (duration) => Effect.sync(() => network.blackhole(duration)),
    dropWatches: Effect.sync(() => {
      for (const k of [...network.cuts]) k()
    }),
    compact: Effect.sync(() => {
      store.compact()
      env.pages.clear()
    }),
    settle,
    bind: (namespace, name) => bindClaim(admin, namespace, name),
    apply: (objects) => applyAll(admin, objects),
    requests: Effect.sync(network.requests),
    resourceVersion: Effect.sync(store.currentVersion),
    serveWebhooks: (webhooks, context) =>
      Effect.acquireRelease(
        Effect.sync(() =>
          env.webhooks.register(
            webhooks as ReadonlyArray<Admission.Webhook<unknown>>,
            context as Context.Context<unknown>
          )
        ),
        (served) => Effect.sync(served.unreachable)
      ).pipe(Effect.asVoid)
  }
}

/**
 * Builds a simulated cluster in a scope (its controllers run in the scope's background).
 *
 * @example
 * ```ts
 * import { Builtins } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { SimCluster } from "@kubefx/testing"
 *
 * const program = Effect.gen(function*() {
 *   const sim = yield* SimCluster.make({ namespaces: ["default", "team-a"] })
 *   return yield* sim.admin.list(Builtins.configMaps, { namespace: "team-a" })
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<SimClusterService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const store = Store.make({
      historySize: options.historySize ?? 1000,
      seed: options.seed ?? 0,
      controllers: { ...defaultControllers, ...options.controllers }
    })
    const clock = yield* Effect.clockWith(Effect.succeed)
    const env: Client.Env = {
      store,
      network: Network.make(clock, options.faults ?? Faults.none),
      pages: Pages.make(),
      policy: RequestPolicy.make({
        retry: options.retry,
        attemptTimeout: options.requestTimeout ?? "30 seconds"
      }),
      bookmarkInterval: Duration.fromInputUnsafe(options.bookmarkInterval ?? "60 seconds"),
      watchTimeout: Duration.fromInputUnsafe(options.watchTimeout ?? "30 minutes"),
      webhooks: Webhooks.make(),
      sharded: options.shardedListAndWatch ?? true
    }
    const settle = yield* controllerLoop(
      store,
      Duration.fromInputUnsafe(options.controllerDelay ?? 0)
    )
    const sim = handle(env, settle)
    for (const ns of options.namespaces ?? ["default"])
      yield* sim.admin
        .create(Builtins.namespaces, {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: ns }
        })
        .pipe(Effect.orDie)
    if (options.objects !== undefined) yield* Effect.orDie(applyAll(sim.admin, options.objects))
    return sim
  })

/**
 * Applies objects (server-side apply, kinds resolved by discovery) with a given client: the
 * runtime's `Manifests.apply`, for tests that hold a `KubeService` (works on a real cluster too).
 *
 * @since 0.1.0
 * @category helpers
 */
export const applyAll = (
  kube: KubeService,
  objects: ReadonlyArray<KubeObject.KubeObject>,
  options: Manifests.ApplyOptions = {}
): Effect.Effect<ReadonlyArray<KubeObject.KubeObject>, Err | Discovery.NotServed> =>
  Manifests.apply(objects, options).pipe(Effect.provideService(Kube, kube))

/**
 * A simulated cluster as a layer: the {@link SimCluster} handle and the runtime's `Kube`
 * service (the handle's fault-injected `kube` client).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Builtins } from "@kubefx/core"
 * import { Kube } from "@kubefx/runtime"
 * import { SimCluster } from "@kubefx/testing"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   yield* kube.create(Builtins.configMaps, {
 *     metadata: { name: "a", namespace: "default" }, data: { x: "1" }
 *   })
 * }).pipe(Effect.provide(SimCluster.layer()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<SimCluster | Kube> =>
  Layer.effectContext(
    Effect.map(make(options), (sim) =>
      Context.make(SimCluster, sim).pipe(Context.add(Kube, sim.kube))
    )
  )
