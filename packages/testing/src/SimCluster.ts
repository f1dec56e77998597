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
 * - **Events** (created like any object) and discovery documents (`/api`, `/apis`, group
 *   versions).
 *
 * @since 0.1.0
 */
import { Builtins, type KubeObject, type Resource } from "@kubefx/core"
import {
  type ApiPatch,
  type Discovery,
  Kube,
  KubeError,
  type KubeService,
  Manifests,
  type ObjectList,
  Paging,
  Paths,
  type RawWatchEvent,
  RequestPolicy
} from "@kubefx/runtime"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Layer,
  Option,
  Queue,
  type Schedule,
  Stream
} from "effect"
import type * as Scope from "effect/Scope"
import * as Faults from "./Faults.ts"
import * as Selector from "./internal/selector.ts"
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

const attempt = <A>(f: () => A): Effect.Effect<A, Err> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (e) {
      if (e instanceof Store.Fail) return Effect.fail(e.error)
      throw e
    }
  })

const parseSelectors = (
  req: KubeError.RequestInfo,
  labelSelector: string | undefined,
  fieldSelector: string | undefined
) =>
  attempt(() => {
    try {
      const l = Selector.labels(labelSelector)
      const f = Selector.fields(fieldSelector)
      return (o: unknown) => l(o) && f(o)
    } catch (e) {
      throw new Store.Fail(
        new KubeError.BadRequest({
          ...req,
          status: 400,
          reason: "BadRequest",
          message: e instanceof Error ? e.message : String(e)
        })
      )
    }
  })

const discoveryGroup = (defs: Iterable<Store.Def>, group: string, version: string) => {
  const resources: Array<Record<string, unknown>> = []
  for (const d of defs) {
    if (d.group !== group || !d.versions.includes(version)) continue
    resources.push({
      name: d.plural,
      singularName: d.singular,
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
      ...(d.shortNames.length > 0 ? { shortNames: d.shortNames } : {})
    })
    if (d.status)
      resources.push({
        name: `${d.plural}/status`,
        singularName: "",
        namespaced: d.namespaced,
        kind: d.kind,
        verbs: ["get", "patch", "update"]
      })
  }
  return resources
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
    const controllers: Store.ControllerOptions = {
      gc: true,
      namespaces: true,
      pvcProtection: true,
      provisioner: false,
      ...options.controllers
    }
    const store = Store.make({
      historySize: options.historySize ?? 1000,
      seed: options.seed ?? 0,
      controllers
    })
    const bookmarkInterval = Duration.fromInputUnsafe(options.bookmarkInterval ?? "60 seconds")
    const watchTimeout = Duration.fromInputUnsafe(options.watchTimeout ?? "30 minutes")
    const controllerDelay = Duration.fromInputUnsafe(options.controllerDelay ?? 0)
    const policy = RequestPolicy.make({
      retry: options.retry,
      attemptTimeout: options.requestTimeout ?? "30 seconds"
    })
    let faults: Faults.Faults = options.faults ?? Faults.none
    let rng = Faults.prng(faults.seed ?? 0)
    const clock = yield* Effect.clockWith(Effect.succeed)
    // Blackhole periods, `[from, until)` in epoch milliseconds: the configuration's own (cut
    // short when it is replaced) and those `blackhole` started.
    const windows: Array<{ readonly from: number; until: number }> = []
    let configWindow: { readonly from: number; until: number } | undefined
    const takeEffect = (f: Faults.Faults) => {
      const now = clock.currentTimeMillisUnsafe()
      if (configWindow !== undefined) configWindow.until = Math.min(configWindow.until, now)
      const w = Faults.window(f, now)
      configWindow = w === undefined ? undefined : { ...w }
      if (configWindow !== undefined) windows.push(configWindow)
    }
    takeEffect(faults)
    /** Whether a blackhole period met a connection opened at `since` (up to now). */
    const silenced = (since: number): boolean => {
      const now = clock.currentTimeMillisUnsafe()
      return windows.some((w) => w.from < w.until && w.from <= now && w.until > since)
    }
    const log: Array<string> = []
    const note = (line: string) => {
      log.push(line)
      if (log.length > 200) log.shift()
    }
    const kills = new Set<() => void>()
    const pages = new Map<
      string,
      { readonly items: ReadonlyArray<KubeObject.KubeObject>; readonly rv: string }
    >()
    let pageCounter = 0

    // The controllers: woken by every change, after `controllerDelay`.
    const wake = yield* Queue.sliding<void>(1)
    store.setOnChange(() => {
      Queue.offerUnsafe(wake, undefined)
    })
    const runControllers = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => store.reconcileControllers(now))
    )
    yield* Effect.forkScoped(
      Effect.forever(
        Queue.take(wake).pipe(
          Effect.andThen(
            Duration.isZero(controllerDelay) ? Effect.yieldNow : Effect.sleep(controllerDelay)
          ),
          Effect.andThen(runControllers)
        )
      )
    )

    interface Conn {
      closed: boolean
      readonly faulty: boolean
      readonly retried: boolean
      readonly kills: Set<() => void>
    }

    /** Draws a request's faults; `blackhole` is the fraction of silent ones (requests' or
     * watches'). */
    const draw = (
      conn: Conn,
      req: KubeError.RequestInfo,
      kind: "read" | "write" | "create",
      blackhole: number
    ): {
      readonly slow: boolean
      readonly silent: boolean
      readonly error: Err | undefined
    } => {
      if (!conn.faulty || Faults.isNone(faults))
        return { slow: false, silent: false, error: undefined }
      let r = rng.next()
      const slow = rng.next() < (faults.slow ?? 0)
      if (blackhole > 0 && rng.next() < blackhole) return { slow, silent: true, error: undefined }
      const status = (code: number, reason: string, retryAfter?: string) =>
        KubeError.fromResponse(
          req,
          code,
          retryAfter,
          JSON.stringify({
            kind: "Status",
            code,
            reason,
            message: `injected fault: ${reason}`,
            ...(retryAfter === undefined ? {} : { details: { retryAfterSeconds: 1 } })
          }),
          0
        )
      const conflict = faults.conflict ?? 0
      if (kind === "write") {
        if (r < conflict) return { slow, silent: false, error: status(409, "Conflict") }
        r -= conflict
      }
      const tooMany = faults.tooManyRequests ?? 0
      if (r < tooMany) return { slow, silent: false, error: status(429, "TooManyRequests", "1") }
      r -= tooMany
      if (r < (faults.serverError ?? 0))
        return {
          slow,
          silent: false,
          error: status(r < (faults.serverError ?? 0) / 2 ? 500 : 503, "InternalError")
        }
      return { slow, silent: false, error: undefined }
    }

    /** A connection that stays open and never answers: only the client's deadline ends it. */
    const silence = (what: string, why: string) =>
      Effect.suspend(() => {
        note(`${what} -> silent (${why})`)
        return Effect.never
      })

    const makeClient = (conn: Conn): KubeService => {
      const call = <A>(
        req: KubeError.RequestInfo,
        kind: "read" | "write" | "create",
        idempotent: boolean,
        run: (now: number) => A
      ): Effect.Effect<A, Err> => {
        const once = Effect.gen(function* () {
          if (conn.closed) return yield* Effect.never
          const sent = clock.currentTimeMillisUnsafe()
          const what = `${req.method} ${req.path}`
          if (conn.faulty && silenced(sent)) return yield* silence(what, "blackhole window")
          const fault = draw(conn, req, kind, faults.blackhole ?? 0)
          if (fault.silent) return yield* silence(what, "injected blackhole")
          if (fault.slow) yield* Effect.sleep(Faults.slowDelay(faults))
          if (conn.closed) return yield* Effect.never
          if (conn.faulty && silenced(sent)) return yield* silence(what, "blackhole window")
          if (fault.error !== undefined) {
            if (conn.faulty) note(`${req.method} ${req.path} -> ${fault.error._tag} (injected)`)
            return yield* Effect.fail(fault.error)
          }
          const now = yield* Clock.currentTimeMillis
          return yield* attempt(() => run(now)).pipe(
            Effect.tapError((e) =>
              Effect.sync(() => conn.faulty && note(`${req.method} ${req.path} -> ${e._tag}`))
            ),
            Effect.tap(() =>
              Effect.sync(() => conn.faulty && note(`${req.method} ${req.path} -> ok`))
            )
          )
        })
        return conn.retried ? policy.send(req, idempotent, once) : once
      }

      const path = (
        r: ApiResource,
        at: {
          readonly namespace?: string | undefined
          readonly name?: string
          readonly subresource?: string
        }
      ) => Paths.path(r, at)

      const list: KubeService["list"] = (resource, o = {}) => {
        const req = { method: "GET", path: path(resource, { namespace: o.namespace }) }
        return Effect.flatMap(parseSelectors(req, o.labelSelector, o.fieldSelector), (match) =>
          call(req, "read", true, () => {
            if (o.continue !== undefined) {
              const page = pages.get(o.continue)
              if (page === undefined)
                throw new Store.Fail(
                  new KubeError.Expired({
                    ...req,
                    status: 410,
                    reason: "Expired",
                    message:
                      "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
                  })
                )
              pages.delete(o.continue)
              return slice(page.items, page.rv, o.limit)
            }
            const all = store.list(req, resource, o.namespace, match)
            return slice(all.items, all.resourceVersion, o.limit)
          })
        )
      }

      const slice = (
        items: ReadonlyArray<KubeObject.KubeObject>,
        rv: string,
        limit: number | undefined
      ): ObjectList => {
        if (limit === undefined || limit <= 0 || items.length <= limit)
          return { items, resourceVersion: rv, continue: undefined }
        const token = `sim-continue-${++pageCounter}`
        pages.set(token, { items: items.slice(limit), rv })
        return { items: items.slice(0, limit), resourceVersion: rv, continue: token }
      }

      const listAll: KubeService["listAll"] = (resource, o = {}) =>
        Paging.listAll((page) => list(resource, { ...o, ...page }), o)

      const watch: KubeService["watch"] = (resource, o = {}) =>
        Stream.callback<RawWatchEvent, Err>((queue) =>
          Effect.gen(function* () {
            const req = {
              method: "GET",
              path: `${path(resource, { namespace: o.namespace })}?watch=true`
            }
            if (conn.closed) return yield* Effect.never
            const sent = clock.currentTimeMillisUnsafe()
            if (conn.faulty && silenced(sent))
              return yield* silence(`WATCH ${req.path}`, "blackhole window")
            const fault = draw(conn, req, "read", faults.blackholeWatch ?? 0)
            if (fault.slow) yield* Effect.sleep(Faults.slowDelay(faults))
            if (conn.faulty && silenced(sent))
              return yield* silence(`WATCH ${req.path}`, "blackhole window")
            if (fault.error !== undefined) {
              note(`WATCH ${req.path} -> ${fault.error._tag} (injected)`)
              return yield* Effect.fail(fault.error)
            }
            const match = yield* parseSelectors(req, o.labelSelector, o.fieldSelector)
            const expired = (message: string) => {
              Queue.offerUnsafe(queue, {
                type: "ERROR",
                object: {
                  kind: "Status",
                  apiVersion: "v1",
                  metadata: {},
                  status: "Failure",
                  message,
                  reason: "Expired",
                  code: 410
                }
              })
              Queue.endUnsafe(queue)
            }
            if (!fault.silent && conn.faulty && rng.next() < (faults.expireWatch ?? 0)) {
              note(`WATCH ${req.path} -> 410 (injected)`)
              return expired(`too old resource version: ${o.resourceVersion ?? ""} (injected)`)
            }
            const def = yield* attempt(() => store.defFor(req, resource))
            let open = true
            // A silent watch (blackholed) stays open, and nothing of it reaches the client: no
            // event, no bookmark, no end, no reset. Only the client itself can end it.
            let silent = fault.silent
            const quiet = () => {
              if (!silent && conn.faulty && silenced(sent)) silent = true
              return silent
            }
            const kill = (error: Err | undefined) => {
              if (!open) return
              open = false
              store.watches.delete(w)
              conn.kills.delete(killer)
              kills.delete(serverCut)
              if (error === undefined) Queue.endUnsafe(queue)
              else Queue.failCauseUnsafe(queue, Cause.fail(error))
            }
            const reset = () =>
              new KubeError.TransportError({
                ...req,
                code: "ECONNRESET",
                message: "the watch connection was reset"
              })
            const killer = () => kill(reset())
            const serverCut = () => {
              if (!quiet()) kill(reset())
            }
            const w: Store.Watch = {
              def: def.key,
              namespace: def.namespaced ? o.namespace : undefined,
              match,
              deliver: (type, object) => {
                if (!open || quiet()) return
                if (
                  conn.faulty &&
                  (faults.dropWatch ?? 0) > 0 &&
                  rng.next() < (faults.dropWatch ?? 0)
                ) {
                  note(`WATCH ${req.path} -> dropped (injected)`)
                  return kill(reset())
                }
                Queue.offerUnsafe(queue, { type, object: store.out(def, object, resource.version) })
              }
            }
            const opened = yield* attempt(() =>
              store.openWatch(req, resource, w, o.resourceVersion)
            )
            if (opened._tag === "Expired") {
              note(`WATCH ${req.path} -> 410`)
              return expired(`too old resource version: ${o.resourceVersion ?? ""}`)
            }
            note(
              `WATCH ${req.path} from ${o.resourceVersion ?? "now"} -> ${silent ? "silent (injected blackhole)" : "ok"}`
            )
            conn.kills.add(killer)
            kills.add(serverCut)
            for (const c of opened.initial) store.deliver(w, c)
            yield* Effect.addFinalizer(() =>
              Effect.sync(() => {
                open = false
                store.watches.delete(w)
                conn.kills.delete(killer)
                kills.delete(serverCut)
              })
            )
            const timeout =
              o.timeoutSeconds !== undefined ? Duration.seconds(o.timeoutSeconds) : watchTimeout
            yield* Effect.forkScoped(
              Effect.sleep(timeout).pipe(
                Effect.andThen(
                  Effect.sync(() => {
                    if (!quiet()) kill(undefined)
                  })
                )
              )
            )
            if (o.allowWatchBookmarks ?? true)
              yield* Effect.forkScoped(
                Effect.forever(
                  Effect.sleep(bookmarkInterval).pipe(
                    Effect.andThen(
                      Effect.sync(() => {
                        if (open && !quiet())
                          Queue.offerUnsafe(queue, {
                            type: "BOOKMARK",
                            object: {
                              kind: def.kind,
                              apiVersion: Store.apiVersionOf(def.group, resource.version),
                              metadata: { resourceVersion: store.currentVersion() }
                            }
                          })
                      })
                    )
                  )
                )
              )
          })
        )

      const get: KubeService["get"] = (resource, name, o = {}) =>
        call(
          { method: "GET", path: path(resource, { namespace: o.namespace, name }) },
          "read",
          true,
          () =>
            store.get(
              { method: "GET", path: path(resource, { namespace: o.namespace, name }) },
              resource,
              name,
              o.namespace
            )
        )

      const create: KubeService["create"] = (resource, body, o) => {
        const namespace = o?.namespace ?? body.metadata?.namespace
        const req = { method: "POST", path: path(resource, { namespace }) }
        return call(req, "create", false, (now) =>
          store.create(req, resource, body, namespace, now, o?.dryRun === true)
        )
      }

      const put = (
        resource: ApiResource,
        name: string,
        body: KubeObject.KubeObject,
        o:
          | { readonly namespace?: string | undefined; readonly dryRun?: boolean | undefined }
          | undefined,
        subresource: string | undefined
      ) => {
        const namespace = o?.namespace ?? body.metadata?.namespace
        const req = {
          method: "PUT",
          path: path(resource, {
            namespace,
            name,
            ...(subresource === undefined ? {} : { subresource })
          })
        }
        return call(req, "write", true, (now) =>
          store.replace(req, resource, name, body, namespace, subresource, now, o?.dryRun === true)
        )
      }

      const patch: KubeService["patch"] = (resource, name, p, o) => {
        const req = {
          method: "PATCH",
          path: path(resource, {
            namespace: o?.namespace,
            name,
            ...(o?.subresource === undefined ? {} : { subresource: o.subresource })
          })
        }
        return call(req, "write", p._tag !== "Json", (now) =>
          store.patch(req, resource, name, p, o?.namespace, o?.subresource, now, o?.dryRun === true)
        )
      }

      const del: KubeService["delete"] = (resource, name, o = {}) => {
        const req = { method: "DELETE", path: path(resource, { namespace: o.namespace, name }) }
        return call(req, "write", true, (now) =>
          store.remove(req, resource, name, o.namespace, o, now)
        )
      }

      const request: KubeService["request"] = (r) => {
        const req = { method: r.method, path: r.path }
        return call(req, r.method === "GET" ? "read" : "write", r.method !== "POST", () => {
          const p = r.path.split("?")[0]!.replace(/\/$/, "")
          const notFound = () =>
            new Store.Fail(
              new KubeError.NotFound({
                ...req,
                status: 404,
                reason: "NotFound",
                message: "the server could not find the requested resource"
              })
            )
          if (r.method !== "GET") throw notFound()
          if (p === "/version")
            return { major: "1", minor: "34", gitVersion: "v1.34.0-kubefx-sim", platform: "sim" }
          if (p === "/api") return { kind: "APIVersions", versions: ["v1"] }
          if (p === "/apis") {
            const groups = new Map<string, Array<string>>()
            for (const d of store.defs.values()) {
              if (d.group === "") continue
              const vs = groups.get(d.group) ?? []
              for (const v of d.versions) if (!vs.includes(v)) vs.push(v)
              groups.set(d.group, vs)
            }
            return {
              kind: "APIGroupList",
              apiVersion: "v1",
              groups: [...groups].map(([name, versions]) => ({
                name,
                versions: versions.map((version) => ({
                  groupVersion: `${name}/${version}`,
                  version
                })),
                preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] }
              }))
            }
          }
          const core = /^\/api\/([^/]+)$/.exec(p)
          const named = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p)
          const gv =
            core !== null
              ? { group: "", version: core[1]! }
              : named !== null
                ? { group: decodeURIComponent(named[1]!), version: named[2]! }
                : undefined
          if (gv === undefined) throw notFound()
          const resources = discoveryGroup(store.defs.values(), gv.group, gv.version)
          if (resources.length === 0) throw notFound()
          return {
            kind: "APIResourceList",
            apiVersion: "v1",
            groupVersion: Store.apiVersionOf(gv.group, gv.version),
            resources
          }
        })
      }

      return {
        server: "https://kubefx-sim.invalid",
        list,
        listAll,
        watch,
        get,
        create,
        replace: (resource, name, body, o) => put(resource, name, body, o, undefined),
        patch,
        delete: del,
        getStatus: (resource, name, o = {}) =>
          call(
            {
              method: "GET",
              path: path(resource, { namespace: o.namespace, name, subresource: "status" })
            },
            "read",
            true,
            () => {
              const req = {
                method: "GET",
                path: path(resource, { namespace: o.namespace, name, subresource: "status" })
              }
              const d = store.defFor(req, resource)
              if (!d.status)
                throw new Store.Fail(
                  new KubeError.NotFound({
                    ...req,
                    status: 404,
                    reason: "NotFound",
                    message: "the server could not find the requested resource"
                  })
                )
              return store.get(req, resource, name, o.namespace)
            }
          ),
        patchStatus: (resource, name, p, o) =>
          patch(resource, name, p, { ...o, subresource: "status" }),
        replaceStatus: (resource, name, body, o) => put(resource, name, body, o, "status"),
        request
      } satisfies KubeService
    }

    const newConn = (faulty: boolean, retried: boolean): Conn => ({
      closed: false,
      faulty,
      retried,
      kills: new Set()
    })
    const admin = makeClient(newConn(false, false))
    const kube = makeClient(newConn(true, true))

    const connect: Effect.Effect<Connection, never, Scope.Scope> = Effect.acquireRelease(
      Effect.sync(() => {
        const conn = newConn(true, true)
        const close = Effect.sync(() => {
          conn.closed = true
          for (const k of [...conn.kills]) k()
        })
        return { kube: makeClient(conn), close }
      }),
      (c) => c.close
    )

    const sim: SimClusterService = {
      kube,
      admin,
      connect,
      objects: (resource, namespace) =>
        attempt(
          () =>
            store.list({ method: "GET", path: "(sim)" }, resource, namespace, () => true, false)
              .items
        ).pipe(Effect.orElseSucceed(() => [])),
      find: (resource, name, namespace) =>
        attempt(() => store.get({ method: "GET", path: "(sim)" }, resource, name, namespace)).pipe(
          Effect.map(Option.some),
          Effect.orElseSucceed(() => Option.none())
        ),
      events: (about = {}) =>
        Effect.sync(
          () =>
            store.list(
              { method: "GET", path: "(sim)" },
              Builtins.events,
              about.namespace,
              (o) =>
                about.name === undefined ||
                (o as { involvedObject?: { name?: string } }).involvedObject?.name === about.name,
              false
            ).items
        ),
      faults: Effect.sync(() => faults),
      setFaults: (f) =>
        Effect.sync(() => {
          faults = f
          rng = Faults.prng(f.seed ?? 0)
          takeEffect(f)
        }),
      blackhole: (duration) =>
        Effect.sync(() => {
          const from = clock.currentTimeMillisUnsafe()
          windows.push({
            from,
            until: from + Duration.toMillis(Duration.fromInputUnsafe(duration))
          })
        }),
      dropWatches: Effect.sync(() => {
        for (const k of [...kills]) k()
      }),
      compact: Effect.sync(() => {
        store.compact()
        pages.clear()
      }),
      settle: runControllers,
      bind: (namespace, name) =>
        Effect.gen(function* () {
          const pvcs = Builtins.persistentVolumeClaims
          const pvc = yield* admin.get(pvcs, name, { namespace })
          const spec = (pvc.spec ?? {}) as {
            resources?: { requests?: { storage?: unknown } }
            accessModes?: unknown
          }
          return yield* admin.patchStatus(
            pvcs,
            name,
            {
              _tag: "Merge",
              body: {
                status: {
                  phase: "Bound",
                  accessModes: spec.accessModes ?? ["ReadWriteOnce"],
                  capacity: { storage: spec.resources?.requests?.storage ?? "0" }
                }
              }
            } satisfies ApiPatch.Patch,
            { namespace }
          )
        }),
      apply: (objects) => applyAll(admin, objects),
      requests: Effect.sync(() => [...log]),
      resourceVersion: Effect.sync(() => store.currentVersion())
    }

    const namespaces = Builtins.namespaces
    for (const ns of options.namespaces ?? ["default"])
      yield* admin
        .create(namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
        .pipe(Effect.orDie)
    if (options.objects !== undefined) yield* Effect.orDie(applyAll(admin, options.objects))
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
