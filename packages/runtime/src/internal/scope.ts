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
 * @internal
 */
import type { KubeObject, Resource } from "@kubefx/core"
import { Duration, Effect, Metric, Schedule, Stream } from "effect"
import type { ScopeProbe } from "../Health.ts"
import type { KubeService, RawWatchEvent } from "../Kube.ts"
import * as KubeError from "../KubeError.ts"
import * as Metrics from "../Metrics.ts"
import * as WatchState from "../WatchState.ts"

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
}

/** `configmaps in ns`, for messages. @internal */
export const where = (scope: Scope): string =>
  `${scope.resource.plural}${scope.state.namespace === undefined ? "" : ` in ${scope.state.namespace}`}`

const list = (scope: Scope): Stream.Stream<WatchState.WatchEvent, KubeError.KubeError> =>
  Stream.fromEffect(
    scope.kube.listAll(scope.resource, {
      namespace: scope.state.namespace,
      labelSelector: scope.labelSelector,
      fieldSelector: scope.fieldSelector,
      limit: scope.pageSize
    })
  ).pipe(
    Stream.tap((found) =>
      Effect.logDebug(
        `listed ${where(scope)}: ${found.items.length} objects at ${found.resourceVersion}`
      ).pipe(Effect.andThen(Effect.sync(() => scope.probe?.listed())))
    ),
    Stream.flatMap((found) =>
      Stream.fromIterable(
        WatchState.relisted(scope.state, { ...found, items: found.items.map(scope.slim) })
      )
    )
  )

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
    return scope.kube
      .watch(scope.resource, {
        namespace: scope.state.namespace,
        labelSelector: scope.labelSelector,
        fieldSelector: scope.fieldSelector,
        resourceVersion: from,
        allowWatchBookmarks: true,
        timeoutSeconds: scope.timeoutSeconds,
        onOpen: scope.probe?.alive
      })
      .pipe(
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
          return stepOf(scope, raw)
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
  Stream.suspend(() =>
    scope.state.resourceVersion === undefined
      ? Stream.concat(list(scope), watch(scope))
      : watch(scope)
  ).pipe(Stream.repeat(Schedule.spaced("50 millis")))
