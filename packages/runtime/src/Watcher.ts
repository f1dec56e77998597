/**
 * The watcher: an endless `Stream` of {@link WatchEvent}s for one resource over a scope, in the
 * manner of kube-runtime's `watcher`. Three pieces compose it: the single-scope state machine
 * (list, then watch from the list's resourceVersion, relist on 410 Gone; `internal/scope.ts`),
 * {@link StreamBackoff} around it (any failure but a malformed request heals by waiting: the
 * scope goes on from where it was), and the namespace fan-out (`internal/fanout.ts`): one
 * scope per namespace of a fixed set, or per namespace that matches globs and exclusions as
 * namespaces come and go. The event model is {@link WatchState}'s. A watcher may watch only a
 * shard of the objects ({@link ShardOptions}): the API server's sharded list and watch where it
 * honours it, a filter on the client in any case.
 *
 * Failures are logged as they are retried: transient ones (connection refused or reset, no
 * response headers in time, 5xx, 429, a silent watch) as warnings; refusals (401, 403: a missing
 * RBAC rule, or an API server whose caches are cold after a restart) and 404 (the resource is
 * not served: its CRD is gone) as errors that say what to fix.
 *
 * @since 0.1.0
 */
import { Builtins, type KubeObject, type Resource, type Shard } from "@kubefx/core"
import { Duration, Effect, Schedule, Stream } from "effect"
import type * as Health from "./Health.ts"
import * as FanOut from "./internal/fanout.ts"
import * as Format from "./internal/format.ts"
import * as Live from "./internal/liveShard.ts"
import * as Scope from "./internal/scope.ts"
import { Kube, type KubeService } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import * as NamespaceSelector from "./NamespaceSelector.ts"
import * as StreamBackoff from "./StreamBackoff.ts"
import * as WatchState from "./WatchState.ts"

/**
 * What the watcher emits: `Applied`, `Deleted` and `Synced` (see {@link WatchState}).
 *
 * @since 0.1.0
 * @category models
 */
export type WatchEvent = WatchState.WatchEvent

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
  /** Where each scope reports lists, accepted watches, events and failures (the operator's
   * probes; default: nowhere). */
  readonly health?: Health.Health | undefined
  /** Only a shard of the objects (see {@link ShardOptions}), or of a shard that moves while
   * watched ({@link LiveShard}); default: every object. */
  readonly shard?: ShardOptions | LiveShard | undefined
}

/**
 * A shard of a resource's objects: those whose FNV-1a hash of `key` falls in `ranges` (the
 * core's `Shard`). With `serverSide` (the default) lists and watches carry the API server's
 * `shardSelector` (KEP-5866), so a server with the `ShardedListAndWatch` gate sends only
 * those; a server that shows it ignores the selector (an object outside the ranges in a list)
 * is not asked again. Either way the watcher drops every object outside the ranges itself, and
 * counts what it received (`kubefx_watch_events_total`) and dropped
 * (`kubefx_shard_filtered_total`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ShardOptions {
  readonly key: Shard.Key
  readonly ranges: ReadonlyArray<Shard.Range>
  /** Ask the API server to filter (default true). */
  readonly serverSide?: boolean | undefined
}

/**
 * A shard whose ranges move while it is watched (a sharded replica's buckets change; see
 * {@link liveShard}). Each scope follows a move: its watch ends, the objects outside the new
 * ranges are forgotten without an event (they were not deleted), and it watches on from the
 * same resourceVersion with the new selector, or lists again when a range was gained (the
 * list's diff sends only the objects new to it). `listed()` tells whether every scope has
 * caught up with the last move.
 *
 * @since 0.1.0
 * @category models
 */
export type LiveShard = Live.LiveShard

/**
 * A {@link LiveShard} at `ranges`; `move(ranges)` moves it, and `onListed` runs each time the
 * last of its scopes has caught up with a move.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 * import { Watcher } from "@kubefx/runtime"
 *
 * const shard = Watcher.liveShard({ key: "uid", ranges: Shard.ranges([0, 1], 4) })
 * // watch with { shard }; later, give up bucket 1:
 * shard.move(Shard.ranges([0], 4))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const liveShard = (
  options: ShardOptions & { readonly onListed?: Effect.Effect<void> | undefined }
): LiveShard => Live.make(options.key, options.ranges, options.serverSide ?? true, options.onListed)

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
  const retry = `retrying in ${Format.duration(delay)}`
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
 * The watcher of one scope (one namespace, or the cluster), with a given client: the scope's
 * state machine, run again with `backoff` after a failure (from where it was: a reconnect
 * watches from the last resourceVersion, after a 410 it lists). Fails only on a malformed
 * request (400).
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Builtins } from "@kubefx/core"
 * import { Kube, Watcher } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   yield* Watcher.watchScope(kube, Builtins.configMaps, "default").pipe(
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
): Stream.Stream<WatchEvent, KubeError.KubeError> =>
  Stream.suspend(() => {
    const idleTimeout = Duration.fromInputUnsafe(options.idleTimeout ?? defaultIdleTimeout)
    const name = `${resource.plural}${namespace === undefined ? "" : ` in ${namespace}`}`
    const probe = options.health?.track(name, idleTimeout)
    const scope: Scope.Scope = {
      kube,
      resource,
      state: WatchState.make(namespace),
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      pageSize: options.pageSize ?? 500,
      timeoutSeconds: options.timeoutSeconds ?? 290,
      idleTimeout,
      slim: options.keepManagedFields === true ? identity : dropManagedFields,
      probe,
      shard: options.shard === undefined ? undefined : Scope.shardFilter(liveOf(options.shard))
    }
    return Scope.run(scope).pipe(
      StreamBackoff.withBackoff({
        schedule: options.backoff ?? defaultBackoff,
        heals,
        onRetry: (e, delay) => {
          const reason = e._tag === "TransportError" ? e.code : e._tag
          probe?.failed(reason)
          return Effect.andThen(
            Scope.restarted(scope, reason),
            failure(`watch ${Scope.where(scope)}`, resource, e, delay)
          )
        }
      }),
      Stream.ensuring(
        Effect.sync(() => {
          probe?.close()
          scope.shard?.tracked.close()
        })
      )
    )
  })

const liveOf = (shard: ShardOptions | LiveShard): LiveShard =>
  "_tag" in shard ? shard : Live.fixed(shard.key, shard.ranges, shard.serverSide ?? true)

const identity = <A>(a: A): A => a

/** The object without `metadata.managedFields` (the same object when it has none). */
const dropManagedFields = (object: KubeObject.KubeObject): KubeObject.KubeObject => {
  const meta = object.metadata
  if (meta === undefined || !("managedFields" in meta)) return object
  const { managedFields: _, ...rest } = meta
  return { ...object, metadata: rest }
}

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
 * The watcher of a resource over a scope, merged into one stream. Runs until interrupted; fails
 * only when the server calls a request malformed (400).
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
 * import { Builtins } from "@kubefx/core"
 * import { Watcher } from "@kubefx/runtime"
 *
 * const events = Watcher.watch(Builtins.configMaps, {
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
): Stream.Stream<WatchEvent, KubeError.KubeError, Kube> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const kube = yield* Kube
      const scope = options.scope ?? cluster
      const sources: FanOut.Sources = {
        scope: (namespace) => watchScope(kube, resource, namespace, options),
        namespaces: watchScope(kube, Builtins.namespaces, undefined, {
          pageSize: options.pageSize,
          timeoutSeconds: options.timeoutSeconds,
          idleTimeout: options.idleTimeout,
          backoff: options.backoff,
          health: options.health
        }),
        ready: once(options.onReady ?? Effect.void),
        plural: resource.plural
      }
      if (!resource.namespaced || scope._tag === "Cluster")
        return FanOut.fixed([undefined], sources)
      if (scope._tag === "Namespaces") return FanOut.fixed(scope.namespaces, sources)
      return FanOut.matching(scope.selector, sources)
    })
  )
