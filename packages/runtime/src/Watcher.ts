/**
 * The watcher: an endless `Stream` of {@link WatchState.WatchEvent}s for one resource in one
 * scope, in the manner of kube-runtime's `watcher`.
 *
 * For each namespace of the scope (or once, cluster-wide):
 *
 * 1. list every page (`limit`/`continue`), diff against what was known, emit the difference and
 *    `Synced` (see {@link WatchState} for the event model);
 * 2. watch from the list's resourceVersion with `allowWatchBookmarks=true`, updating the
 *    resourceVersion from every event and bookmark;
 * 3. when the server ends the watch (its `timeoutSeconds`), watch again from the last
 *    resourceVersion;
 * 4. on 410 Gone (an HTTP 410 or an ERROR event with code 410), go back to 1: the relist
 *    synthesises deletions for objects that vanished and updates for those that changed;
 * 5. on any other failure, wait with a capped, jittered exponential backoff and watch again from
 *    the last resourceVersion (or list again). The backoff resets once an event gets through.
 *    Transient failures (connection refused or reset, no response headers in time, 5xx, 429, no
 *    event nor bookmark for `idleTimeout`) are logged as warnings; refusals (401, 403: missing
 *    RBAC rules, or an API server whose caches are still cold after a restart) and 404 (the
 *    resource is not served: its CRD is gone) as errors that say what to fix. A silent watch is
 *    abandoned with its connection; the next one goes out on a fresh connection.
 *
 * Namespaced scopes run one list+watch per namespace, merged, so the operator needs no
 * cluster-wide list rights (an empty set of namespaces watches nothing). Scopes with globs or
 * exclusions (`Watcher.namespaces(["team-*", "!team-secret"])`) also watch `namespaces`
 * cluster-wide and start or stop a namespace's list+watch as it appears or is deleted (see
 * {@link watch}). Cluster-scoped resources are always watched cluster-wide. Only a request the
 * server calls malformed (400: a bad label or field selector) ends the stream with its error:
 * waiting cannot heal it.
 *
 * @since 0.1.0
 */
import { Duration, Effect, FiberMap, Queue, Schedule, Stream } from "effect"
import { Kube, type KubeService } from "./Kube.ts"
import * as KubeError from "./KubeError.ts"
import * as NamespaceSelector from "./NamespaceSelector.ts"
import * as Resource from "./Resource.ts"
import * as WatchState from "./WatchState.ts"

/**
 * Where to watch: the whole cluster, a fixed set of namespaces, or the namespaces a
 * {@link NamespaceSelector.NamespaceSelector} with globs or exclusions matches (their set changes
 * as namespaces come and go).
 *
 * @since 0.1.0
 * @category models
 */
export type WatchScope =
  | { readonly _tag: "Cluster" }
  | { readonly _tag: "Namespaces"; readonly namespaces: ReadonlyArray<string> }
  | { readonly _tag: "Matching"; readonly selector: NamespaceSelector.NamespaceSelector }

/**
 * The whole cluster (also the only scope of cluster-scoped resources).
 *
 * @example
 * ```ts
 * import { Watcher } from "@kubefx/runtime"
 *
 * const scope = Watcher.cluster
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const cluster: WatchScope = { _tag: "Cluster" }

/**
 * A set of namespaces given as names, glob patterns (`team-*`) and exclusions (`!team-secret`),
 * as {@link NamespaceSelector.make} reads them.
 *
 * When every inclusion is a plain name, this is the fixed scope `Namespaces` (exclusions
 * removed): each namespace is listed and watched on its own, and no cluster-scoped right is
 * needed. Otherwise it is `Matching`: the watcher also lists and watches `namespaces`
 * cluster-wide, and runs one list+watch per matching namespace, started when the namespace
 * appears and stopped when it is gone.
 *
 * @example
 * ```ts
 * import { Watcher } from "@kubefx/runtime"
 *
 * const fixed = Watcher.namespaces(["team-a", "team-b"]) // { _tag: "Namespaces", ... }
 * const dynamic = Watcher.namespaces(["team-*", "!team-secret"]) // { _tag: "Matching", ... }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const namespaces = (
  entries: ReadonlyArray<string> | NamespaceSelector.NamespaceSelector
): WatchScope => {
  const selector = "_tag" in entries ? entries : NamespaceSelector.make(entries)
  const fixed = NamespaceSelector.names(selector)
  return fixed === undefined
    ? { _tag: "Matching", selector }
    : { _tag: "Namespaces", namespaces: fixed }
}

/**
 * A human description of a scope, for logs (`the cluster`, `namespaces a, b`,
 * `namespaces matching team-*,!team-secret`).
 *
 * @example
 * ```ts
 * import { Watcher } from "@kubefx/runtime"
 *
 * Watcher.describeScope(Watcher.namespaces(["team-*"])) // "namespaces matching team-*"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const describeScope = (scope: WatchScope): string => {
  switch (scope._tag) {
    case "Cluster":
      return "the cluster"
    case "Namespaces":
      return `namespaces ${scope.namespaces.join(", ")}`
    case "Matching":
      return `namespaces matching ${NamespaceSelector.format(scope.selector)}`
  }
}

/**
 * Options of a watcher.
 *
 * @since 0.1.0
 * @category models
 */
export interface WatcherOptions {
  /** Default: the whole cluster. */
  readonly scope?: WatchScope | undefined
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
  /** Page size of lists (default 500). */
  readonly pageSize?: number | undefined
  /** Server-side timeout of one watch request, in seconds (default 290). */
  readonly timeoutSeconds?: number | undefined
  /** Reconnect when nothing (no event, no bookmark) arrived for this long (default 90 s; the
   * API server sends a bookmark about once a minute on a quiet watch). */
  readonly idleTimeout?: Duration.Input | undefined
  /** Backoff between reconnections after transient failures (default: 200ms doubling up to
   * 30s, jittered, forever). */
  readonly backoff?: Schedule.Schedule<unknown, KubeError.KubeError> | undefined
  /**
   * Keep `metadata.managedFields` on the objects delivered (default `false`: they are dropped as
   * they arrive, as controller-runtime's `TransformStripManagedFields` and kube-rs's
   * reflector examples do; they are often half of a small object's size and every object of
   * the scope is kept in memory for relists).
   */
  readonly keepManagedFields?: boolean | undefined
  /**
   * Run once when the scope has listed once ({@link watch} only): every namespace of a fixed
   * scope (at once for an empty one), the cluster, or, for a `Matching` scope, every namespace
   * that matched when `namespaces` were first listed (one deleted before its first list counts
   * as done). Namespaces that appear later do not hold it back.
   */
  readonly onReady?: Effect.Effect<void> | undefined
}

/**
 * The default reconnection backoff.
 *
 * @example
 * ```ts
 * import { Watcher } from "@kubefx/runtime"
 *
 * const policy = Watcher.defaultBackoff
 * ```
 *
 * @since 0.1.0
 * @category retries
 */
export const defaultBackoff: Schedule.Schedule<unknown, KubeError.KubeError> = Schedule.min([
  Schedule.exponential("200 millis"),
  Schedule.spaced("30 seconds")
]).pipe(Schedule.jittered)

/**
 * The default idle timeout of a watch.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { Watcher } from "@kubefx/runtime"
 *
 * Duration.toSeconds(Watcher.defaultIdleTimeout) // 90
 * ```
 *
 * @since 0.1.0
 * @category retries
 */
export const defaultIdleTimeout: Duration.Duration = Duration.seconds(90)

/** Everything but a malformed request heals by waiting (or is worth waiting for: RBAC rules
 * and CRDs get fixed while the operator runs). */
const heals = (e: KubeError.KubeError): boolean => e._tag !== "BadRequest"

/** The log line of a failed list or watch of `what`, and its level. */
const failure = (
  what: string,
  resource: Resource.ApiResource,
  e: KubeError.KubeError,
  delay: Duration.Duration
): Effect.Effect<void> => {
  const retry = `retrying in ${Duration.format(delay)}`
  switch (e._tag) {
    case "Forbidden":
    case "Unauthorized":
      return Effect.logError(
        `${what} refused (${e.status}: ${e.message}); if this lasts, the operator's account needs "list" and "watch" on ${resource.plural}${resource.group === "" ? "" : `.${resource.group}`} (an RBAC rule), or its credentials are wrong; ${retry}`
      )
    case "NotFound":
      return Effect.logError(
        `${what}: ${resource.plural} is not served (404: ${e.message}); is its CRD installed? ${retry}`
      )
    default:
      return Effect.logWarning(
        `${what} failed (${e._tag}: ${"message" in e ? e.message : ""}); ${retry}`
      )
  }
}

/**
 * The watcher of one scope (one namespace, or the cluster), with a given client.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Kube, Resource, Watcher } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   yield* Watcher.watchScope(kube, Resource.core("v1", "configmaps", "ConfigMap"), "default").pipe(
 *     Stream.runForEach((event) => Effect.log(event._tag))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const watchScope = (
  kube: KubeService,
  resource: Resource.ApiResource,
  namespace: string | undefined,
  options: WatcherOptions = {}
): Stream.Stream<WatchState.WatchEvent, KubeError.KubeError> =>
  scopeStream(kube, resource, namespace, options)

const identity = <A>(a: A): A => a

/** The object without `metadata.managedFields` (the same object when it has none). */
const dropManagedFields = (object: Resource.KubeObject): Resource.KubeObject => {
  const meta = object.metadata
  if (meta === undefined || !("managedFields" in meta)) return object
  const { managedFields: _, ...rest } = meta as Record<string, unknown>
  return { ...object, metadata: rest }
}

const scopeStream = (
  kube: KubeService,
  resource: Resource.ApiResource,
  namespace: string | undefined,
  options: WatcherOptions
): Stream.Stream<WatchState.WatchEvent, KubeError.KubeError> =>
  Stream.suspend(() => {
    const state = WatchState.make(namespace)
    const idle = Duration.fromInputUnsafe(options.idleTimeout ?? defaultIdleTimeout)
    const where = `${resource.plural}${namespace === undefined ? "" : ` in ${namespace}`}`
    const slim = options.keepManagedFields === true ? identity : dropManagedFields

    const relist = Stream.fromEffect(
      kube.listAll(resource, {
        namespace,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        limit: options.pageSize ?? 500
      })
    ).pipe(
      Stream.tap((list) =>
        Effect.logDebug(`listed ${where}: ${list.items.length} objects at ${list.resourceVersion}`)
      ),
      Stream.flatMap((list) =>
        Stream.fromIterable(WatchState.relisted(state, { ...list, items: list.items.map(slim) }))
      )
    )

    const watchOnce = Stream.suspend(() => {
      const from = state.resourceVersion
      return kube
        .watch(resource, {
          namespace,
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          resourceVersion: from,
          allowWatchBookmarks: true,
          timeoutSeconds: options.timeoutSeconds ?? 290
        })
        .pipe(
          Stream.timeoutOrElse({
            duration: idle,
            orElse: () =>
              Stream.fail(
                new KubeError.TransportError({
                  method: "GET",
                  path: `watch ${where}`,
                  code: "WATCH_IDLE",
                  message: `no event nor bookmark for ${Duration.format(idle)}`
                })
              )
          }),
          Stream.mapEffect((raw) => {
            const step = WatchState.step(
              state,
              raw.type === "ERROR" || raw.type === "BOOKMARK"
                ? raw
                : { ...raw, object: slim(raw.object) }
            )
            switch (step._tag) {
              case "Events":
                return Effect.succeed(step.events)
              case "Expired":
                return Effect.fail(
                  new KubeError.Expired({
                    method: "GET",
                    path: `watch ${where}`,
                    status: 410,
                    reason: "Expired",
                    message: step.message
                  })
                )
              case "Error":
                return Effect.fail(
                  KubeError.fromResponse(
                    { method: "GET", path: `watch ${where}` },
                    step.code,
                    undefined,
                    JSON.stringify({ kind: "Status", ...raw.object }),
                    Date.now()
                  )
                )
            }
          }),
          Stream.flattenIterable,
          Stream.catchTag("Expired", (e) =>
            Stream.fromEffectDrain(
              Effect.sync(() => WatchState.expire(state)).pipe(
                Effect.andThen(
                  Effect.logDebug(`watch ${where} from ${from} expired (${e.message}); relisting`)
                )
              )
            )
          )
        )
    })

    const cycle = Stream.suspend(() =>
      state.resourceVersion === undefined ? Stream.concat(relist, watchOnce) : watchOnce
    )

    return cycle.pipe(
      Stream.repeat(Schedule.spaced("50 millis")),
      Stream.retry(
        (options.backoff ?? defaultBackoff).pipe(
          Schedule.setInputType<KubeError.KubeError>(),
          Schedule.while(({ input }) => heals(input)),
          Schedule.tap(({ input, duration }) =>
            failure(`watch ${where}`, resource, input, duration)
          )
        )
      )
    )
  })

const namespaceResource = Resource.core("v1", "namespaces", "Namespace", false)

/** Runs `effect` the first time it is called. */
const once = (effect: Effect.Effect<void>) => {
  let done = false
  return Effect.suspend(() => {
    if (done) return Effect.void
    done = true
    return effect
  })
}

/**
 * The `Matching` scope: a watcher of `namespaces` (cluster-wide) drives a FiberMap of
 * per-namespace watchers, keyed by namespace, whose events go through one queue.
 */
const watchMatching = (
  kube: KubeService,
  resource: Resource.ApiResource,
  selector: NamespaceSelector.NamespaceSelector,
  options: WatcherOptions,
  ready: Effect.Effect<void>
): Stream.Stream<WatchState.WatchEvent, KubeError.KubeError> =>
  Stream.callback<WatchState.WatchEvent, KubeError.KubeError>(
    (queue) =>
      Effect.gen(function* () {
        const fibers = yield* FiberMap.make<string, void, KubeError.KubeError>()
        /** What was emitted per namespace and not deleted since: the objects still there. */
        const emitted = new Map<string, Map<string, Resource.KubeObject>>()
        const listedOnce = new Set<string>()
        /** Namespaces `ready` waits for; `undefined` until namespaces have been listed. */
        let pending: Set<string> | undefined
        const settle = (namespace: string) =>
          Effect.suspend(() => {
            if (pending === undefined || !pending.delete(namespace) || pending.size > 0)
              return Effect.void
            return ready
          })

        const track = (namespace: string, event: WatchState.WatchEvent) => {
          let objects = emitted.get(namespace)
          if (objects === undefined) {
            objects = new Map()
            emitted.set(namespace, objects)
          }
          switch (event._tag) {
            case "Applied":
              objects.set(Resource.key(event.object), event.object)
              return
            case "Deleted":
              objects.delete(Resource.key(event.object))
              return
            case "Synced":
              objects.clear()
              for (const o of event.objects) objects.set(Resource.key(o), o)
              return
          }
        }

        // An event counts as emitted once it is in the queue: interruption (the namespace is
        // gone) cannot fall between the offer and the bookkeeping.
        const emit = (namespace: string, event: WatchState.WatchEvent) =>
          Effect.uninterruptibleMask((restore) =>
            restore(Queue.offer(queue, event)).pipe(
              Effect.andThen(
                Effect.sync(() => track(namespace, event)).pipe(
                  Effect.andThen(
                    event._tag === "Synced" && event.initial
                      ? Effect.suspend(() => {
                          listedOnce.add(namespace)
                          return settle(namespace)
                        })
                      : Effect.void
                  )
                )
              )
            )
          )

        const start = (namespace: string) =>
          FiberMap.run(
            fibers,
            namespace,
            Effect.logInfo(`watching ${resource.plural} in ${namespace}`).pipe(
              Effect.andThen(
                scopeStream(kube, resource, namespace, options).pipe(
                  Stream.runForEach((event) => emit(namespace, event))
                )
              )
            ),
            { onlyIfMissing: true }
          )

        // The namespace is gone, and with it every object in it: those whose DELETED event did
        // not come through before the watcher stopped get a synthetic `Deleted`.
        const stop = (namespace: string) =>
          Effect.gen(function* () {
            if (!(yield* FiberMap.has(fibers, namespace))) return
            yield* FiberMap.remove(fibers, namespace)
            yield* Effect.logInfo(`stopped watching ${resource.plural} in ${namespace}: deleted`)
            const left = emitted.get(namespace)
            emitted.delete(namespace)
            for (const object of left?.values() ?? [])
              yield* Queue.offer(queue, WatchState.deleted(object, true))
            yield* settle(namespace)
          })

        const name = (o: Resource.KubeObject) => o.metadata?.name ?? ""

        const onNamespace = (event: WatchState.WatchEvent) =>
          Effect.gen(function* () {
            switch (event._tag) {
              case "Applied": {
                const ns = name(event.object)
                if (NamespaceSelector.matches(selector, ns)) yield* start(ns)
                return
              }
              case "Deleted":
                return yield* stop(name(event.object))
              case "Synced": {
                const present = new Set(event.objects.map(name))
                const matching = [...present].filter((ns) =>
                  NamespaceSelector.matches(selector, ns)
                )
                for (const ns of matching) yield* start(ns)
                const running = Array.from(fibers, ([ns]) => ns)
                for (const ns of running) if (!present.has(ns)) yield* stop(ns)
                if (pending === undefined) {
                  pending = new Set(matching.filter((ns) => !listedOnce.has(ns)))
                  if (pending.size === 0) yield* ready
                }
                return
              }
            }
          })

        const namespaceOptions: WatcherOptions = {
          pageSize: options.pageSize,
          timeoutSeconds: options.timeoutSeconds,
          idleTimeout: options.idleTimeout,
          backoff: options.backoff
        }
        yield* Effect.all(
          [
            scopeStream(kube, namespaceResource, undefined, namespaceOptions).pipe(
              Stream.runForEach(onNamespace)
            ),
            FiberMap.join(fibers)
          ],
          { concurrency: "unbounded", discard: true }
        )
      }),
    { bufferSize: 256, strategy: "suspend" }
  )

/**
 * The watcher of a resource over a scope, merged into one stream. Runs until interrupted; fails
 * only when the server calls a request malformed (400). Refusals (403: a RoleBinding that is
 * not there yet, or an API server whose caches are cold after a restart) are retried with the
 * backoff and logged, like every other failure.
 *
 * - `Cluster` (and any scope of a cluster-scoped resource): one list+watch of the cluster.
 * - `Namespaces`: one list+watch per namespace. No cluster-scoped right is needed.
 * - `Matching`: a list+watch of `namespaces` (cluster-wide: that right is needed), and one
 *   list+watch per namespace that matches, started when it is listed or ADDED and stopped when
 *   it is DELETED (or vanishes from a relist). A terminating namespace is still watched, so the
 *   DELETED events of its objects (and finalizers) come through while the namespace controller
 *   empties it; objects whose DELETED had not come through when the namespace's own DELETED
 *   arrived are emitted as `Deleted(object, synthetic: true)` (they are gone with it).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Resource, Watcher } from "@kubefx/runtime"
 *
 * const events = Watcher.watch(Resource.core("v1", "configmaps", "ConfigMap"), {
 *   scope: Watcher.namespaces(["team-*", "!team-secret"])
 * }).pipe(Stream.runForEach((event) => Effect.log(event._tag)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const watch = (
  resource: Resource.ApiResource,
  options: WatcherOptions = {}
): Stream.Stream<WatchState.WatchEvent, KubeError.KubeError, Kube> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const kube = yield* Kube
      const scope = options.scope ?? cluster
      const ready = once(options.onReady ?? Effect.void)
      if (scope._tag === "Matching" && resource.namespaced)
        return watchMatching(kube, resource, scope.selector, options, ready)
      const scopes =
        scope._tag === "Namespaces" && resource.namespaced ? scope.namespaces : [undefined]
      let unsynced = scopes.length
      if (unsynced === 0) yield* ready
      return Stream.mergeAll(
        scopes.map((ns) => watchScope(kube, resource, ns, options)),
        { concurrency: "unbounded" }
      ).pipe(
        Stream.tap((event) =>
          event._tag === "Synced" && event.initial && --unsynced === 0 ? ready : Effect.void
        )
      )
    })
  )
