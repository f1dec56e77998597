/**
 * The watcher of one scope (a namespace, or the cluster) as a state machine, in the manner of
 * kube-runtime's `watcher`: its state is a {@link WatchState} (the known objects and the last
 * resourceVersion), and each step is a stream of events:
 *
 * - **List** (no resourceVersion): list every page, diff against what was known, emit the
 *   difference and `Synced`; the list's resourceVersion is where the watch starts.
 * - **Watch** (a resourceVersion): watch from it with bookmarks, updating it from every event;
 *   when the server ends the watch, the next step watches again from the last one; a 410 Gone
 *   forgets it, so the next step lists.
 *
 * A failure ends the stream with its error and leaves the state as it was: the caller decides
 * when to go on (the watcher wraps this with {@link StreamBackoff}). A watch that delivers
 * nothing, not even a bookmark, for `idleTimeout` fails with `WATCH_IDLE`.
 *
 * A sharded scope follows its shard as it moves: the watch ends, the objects outside the new
 * ranges are forgotten without an event (they were not deleted: another replica has them now),
 * and the next step watches on from the same resourceVersion with the new selector when nothing
 * was gained, or lists when some range was (its objects are new to the scope; those it keeps
 * are unchanged, so the list's diff sends nothing for them) or when the server has not yet
 * shown whether it applies the selector (the scope had listed the whole space).
 *
 * @internal
 */
import { type KubeObject, type Resource, Shard } from "@kubefx/core"
import { Duration, Effect, Metric, Schedule, Stream } from "effect"
import type { ScopeProbe } from "../Health.ts"
import type { KubeService, ObjectList, RawWatchEvent } from "../Kube.ts"
import * as KubeError from "../KubeError.ts"
import * as Metrics from "../Metrics.ts"
import * as WatchState from "../WatchState.ts"
import * as Live from "./liveShard.ts"

/** What one scope's steps need. @internal */
export interface Scope {
  readonly kube: KubeService
  readonly resource: Resource.ApiResource
  readonly state: WatchState.WatchState
  readonly labelSelector: string | undefined
  readonly fieldSelector: string | undefined
  readonly pageSize: number
  readonly timeoutSeconds: number
  readonly idleTimeout: Duration.Duration
  /** Applied to every object that is kept or emitted (e.g. dropping `managedFields`). */
  readonly slim: (object: KubeObject.KubeObject) => KubeObject.KubeObject
  /** Told of lists, accepted watches and events (the probes' signs of life). */
  readonly probe: ScopeProbe | undefined
  /** Only a shard of the objects, when sharded. */
  readonly shard: ShardFilter | undefined
}

/**
 * A scope's shard: the objects whose hash of `key` falls in `ranges`, the ranges of the live
 * shard's `version` this scope follows now (its known set holds only their objects).
 * `selector` is sent to the API server (KEP-5866) until it shows it does not honour it
 * (`mode` "client" then); the client filters every object either way. @internal
 */
export interface ShardFilter {
  readonly shard: Live.LiveShard
  readonly key: Shard.Key
  ranges: ReadonlyArray<Shard.Range>
  version: number
  selector: string | undefined
  /** How the server answered the first list: applied (echoed), ignored, or did not say. */
  mode: "unknown" | "server" | "unconfirmed" | "client"
  /** Where the scope says which version of the shard it has listed. */
  readonly tracked: Live.Tracked
}

const selectorOf = (filter: Pick<ShardFilter, "key" | "ranges" | "mode">) => {
  const selector = Shard.selector(filter.ranges, filter.key)
  return filter.mode !== "client" && selector._tag === "Some" ? selector.value : undefined
}

/** A scope's filter of a live shard (tracked until `tracked.close()`). @internal */
export const shardFilter = (shard: Live.LiveShard): ShardFilter => {
  const { ranges, version } = shard.current()
  const filter: ShardFilter = {
    shard,
    key: shard.key,
    ranges,
    version,
    selector: undefined,
    mode: shard.serverSide ? "unknown" : "client",
    tracked: shard.track()
  }
  filter.selector = selectorOf(filter)
  return filter
}

/**
 * Follows a move of the shard, if there was one: the known objects outside the new ranges are
 * forgotten (no event), and the state is expired (the next step lists) when a range was
 * gained; otherwise the move needs no list and counts as listed at once. @internal
 */
export const follow = (scope: Scope): Effect.Effect<void> =>
  Effect.suspend(() => {
    const filter = scope.shard
    if (filter === undefined) return Effect.void
    const { ranges, version } = filter.shard.current()
    if (version === filter.version) return Effect.void
    const gained = !Live.within(ranges, filter.ranges)
    filter.ranges = ranges
    filter.version = version
    filter.selector = selectorOf(filter)
    for (const [k, object] of scope.state.known)
      if (!inShard(scope, object)) scope.state.known.delete(k)
    // A list also shows whether the server applies the selector, when no list has yet (the
    // scope listed the whole space, without one).
    const unjudged = filter.mode === "unknown" && filter.selector !== undefined
    if (gained || unjudged) {
      WatchState.expire(scope.state)
      return Effect.logDebug(
        `${where(scope)}: the shard ${gained ? "gained ranges" : "has a selector now"}; relisting`
      )
    }
    return filter.tracked.listed(version)
  })

/** Whether the scope's shard has the object (always, unsharded). @internal */
export const inShard = (scope: Scope, object: KubeObject.KubeObject): boolean =>
  scope.shard === undefined ||
  Shard.contains(scope.shard.ranges, Shard.keyValue(object, scope.shard.key))

/** `configmaps in ns`, for messages. @internal */
export const where = (scope: Scope): string =>
  `${scope.resource.plural}${scope.state.namespace === undefined ? "" : ` in ${scope.state.namespace}`}`

const resourceName = (scope: Scope) =>
  `${scope.resource.plural}${scope.resource.group === "" ? "" : `.${scope.resource.group}`}`

const watchEvents = Metrics.series(Metrics.watchEvents)
const shardFiltered = Metrics.series(Metrics.shardFiltered)

/** Counts received objects, drops those outside the shard (counted too). */
const sharded = (
  scope: Scope,
  items: ReadonlyArray<KubeObject.KubeObject>
): Effect.Effect<ReadonlyArray<KubeObject.KubeObject>> =>
  Effect.suspend(() => {
    const kept = scope.shard === undefined ? items : items.filter((o) => inShard(scope, o))
    const resource = resourceName(scope)
    return Metric.update(watchEvents({ resource }), items.length).pipe(
      Effect.andThen(
        kept.length === items.length
          ? Effect.void
          : Metric.update(shardFiltered({ resource }), items.length - kept.length)
      ),
      Effect.as(kept)
    )
  })

/** What the first list says of the server's sharding: applied, ignored, or nothing. */
const judgeShard = (scope: Scope, found: ObjectList): Effect.Effect<void> =>
  Effect.suspend(() => {
    const shard = scope.shard
    if (shard === undefined || shard.selector === undefined || shard.mode !== "unknown")
      return Effect.void
    if (found.shard !== undefined) {
      shard.mode = "server"
      return Effect.logInfo(`listed ${where(scope)}: the API server applied the shard selector`)
    }
    if (found.items.some((o) => !inShard(scope, o))) {
      shard.mode = "client"
      shard.selector = undefined
      return Effect.logInfo(
        `listed ${where(scope)}: the API server ignores shardSelector (its ShardedListAndWatch feature gate is off, or it is older than v1.36); filtering on the client`
      )
    }
    shard.mode = "unconfirmed"
    return Effect.logDebug(
      `listed ${where(scope)}: the API server did not say whether it applied the shard selector (lists of custom resources do not); every object listed is in the shard`
    )
  })

/** The API server refused the shard selector itself (it answers 500 for one it cannot read). */
const refusesShard = (scope: Scope, e: KubeError.KubeError): boolean =>
  scope.shard?.selector !== undefined &&
  (e._tag === "ServerError" || e._tag === "BadRequest" || e._tag === "Invalid") &&
  /shard/i.test(e.message)

const listShard = (scope: Scope): Effect.Effect<ObjectList, KubeError.KubeError> =>
  scope.kube
    .listAll(scope.resource, {
      namespace: scope.state.namespace,
      labelSelector: scope.labelSelector,
      fieldSelector: scope.fieldSelector,
      limit: scope.pageSize,
      shardSelector: scope.shard?.selector
    })
    .pipe(
      Effect.catchIf(
        (e) => refusesShard(scope, e),
        (e) =>
          Effect.gen(function* () {
            const shard = scope.shard!
            shard.selector = undefined
            shard.mode = "client"
            yield* Effect.logWarning(
              `list ${where(scope)}: the API server refused the shard selector (${e._tag}: ${"message" in e ? e.message : ""}); filtering on the client`
            )
            return yield* listShard(scope)
          })
      )
    )

const list = (scope: Scope): Stream.Stream<WatchState.WatchEvent, KubeError.KubeError> => {
  const version = scope.shard?.version
  return Stream.fromEffect(listShard(scope)).pipe(
    Stream.tap((found) =>
      Effect.logDebug(
        `listed ${where(scope)}: ${found.items.length} objects at ${found.resourceVersion}`
      ).pipe(
        Effect.andThen(judgeShard(scope, found)),
        Effect.andThen(Effect.sync(() => scope.probe?.listed()))
      )
    ),
    Stream.mapEffect((found) =>
      Effect.map(sharded(scope, found.items), (items) => ({ ...found, items }))
    ),
    Stream.flatMap((found) =>
      Stream.fromIterable(
        WatchState.relisted(scope.state, { ...found, items: found.items.map(scope.slim) })
      )
    ),
    Stream.concat(
      Stream.fromEffectDrain(
        version === undefined || scope.shard === undefined
          ? Effect.void
          : scope.shard.tracked.listed(version)
      )
    )
  )
}

/** The events of one raw watch event, or the error it stands for. */
const stepOf = (
  scope: Scope,
  raw: RawWatchEvent
): Effect.Effect<ReadonlyArray<WatchState.WatchEvent>, KubeError.KubeError> => {
  const step = WatchState.step(
    scope.state,
    raw.type === "ERROR" || raw.type === "BOOKMARK"
      ? raw
      : { ...raw, object: scope.slim(raw.object) }
  )
  const path = `watch ${where(scope)}`
  switch (step._tag) {
    case "Events":
      return Effect.succeed(step.events)
    case "Expired":
      return Effect.fail(
        new KubeError.Expired({
          method: "GET",
          path,
          status: 410,
          reason: "Expired",
          message: step.message
        })
      )
    case "Error":
      return Effect.fail(
        KubeError.fromResponse(
          { method: "GET", path },
          step.code,
          undefined,
          JSON.stringify({ kind: "Status", ...raw.object }),
          Date.now()
        )
      )
  }
}

const watchRestarts = Metrics.series(Metrics.watchRestarts)

/** Counts a restart of the scope's list or watch in `kubefx_watch_restarts_total`. @internal */
export const restarted = (scope: Scope, reason: string): Effect.Effect<void> =>
  Metric.update(
    watchRestarts({
      resource: `${scope.resource.plural}${scope.resource.group === "" ? "" : `.${scope.resource.group}`}`,
      reason
    }),
    1
  )

const watch = (scope: Scope): Stream.Stream<WatchState.WatchEvent, KubeError.KubeError> =>
  Stream.suspend(() => {
    const from = scope.state.resourceVersion
    const idle = scope.idleTimeout
    const shard = scope.shard
    return scope.kube
      .watch(scope.resource, {
        namespace: scope.state.namespace,
        labelSelector: scope.labelSelector,
        fieldSelector: scope.fieldSelector,
        resourceVersion: from,
        allowWatchBookmarks: true,
        timeoutSeconds: scope.timeoutSeconds,
        onOpen: scope.probe?.alive,
        shardSelector: shard?.selector
      })
      .pipe(
        // The shard moved: this watch ends, the next step follows it.
        shard === undefined ? identity : Stream.interruptWhen(shard.shard.changed(shard.version)),
        Stream.timeoutOrElse({
          duration: idle,
          orElse: () =>
            Stream.fail(
              new KubeError.TransportError({
                method: "GET",
                path: `watch ${where(scope)}`,
                code: "WATCH_IDLE",
                message: `no event nor bookmark for ${Duration.format(idle)}`
              })
            )
        }),
        Stream.mapEffect((raw) => {
          scope.probe?.alive()
          if (raw.type === "BOOKMARK" || raw.type === "ERROR") return stepOf(scope, raw)
          return Effect.flatMap(sharded(scope, [raw.object]), (kept) =>
            kept.length === 0 ? Effect.succeed([]) : stepOf(scope, raw)
          )
        }),
        Stream.flattenIterable,
        // 410 (an ERROR event, or the answer to the watch request): forget the
        // resourceVersion, so that the next step lists.
        Stream.catchTag("Expired", (e) =>
          Stream.fromEffectDrain(
            Effect.sync(() => WatchState.expire(scope.state)).pipe(
              Effect.andThen(restarted(scope, "Expired")),
              Effect.andThen(
                Effect.logDebug(
                  `watch ${where(scope)} from ${from} expired (${e.message}); relisting`
                )
              )
            )
          )
        )
      )
  })

/**
 * The steps of a scope, one after the other, until one fails: list when the state has no
 * resourceVersion, else watch from it.
 *
 * @internal
 */
export const run = (scope: Scope): Stream.Stream<WatchState.WatchEvent, KubeError.KubeError> =>
  Stream.unwrap(
    Effect.as(
      follow(scope),
      Stream.suspend(() =>
        scope.state.resourceVersion === undefined
          ? Stream.concat(list(scope), watch(scope))
          : watch(scope)
      )
    )
  ).pipe(Stream.repeat(Schedule.spaced("50 millis")))

const identity = <A>(a: A): A => a
