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
 * 5. on a transient failure (connection refused or reset, 5xx, 429, or no data nor bookmark for
 *    `idleTimeout`), wait with a capped, jittered exponential backoff and watch again from the
 *    last resourceVersion. The backoff resets once an event gets through.
 *
 * Namespaced scopes run one list+watch per namespace, merged, so the operator needs no
 * cluster-wide list rights (an empty set of namespaces watches nothing). Cluster-scoped
 * resources are always watched cluster-wide. Errors that cannot heal by waiting (401, 403, 404, 422, ...) end
 * the stream with their typed error.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schedule, Stream } from "effect"
import { Kube, type KubeService } from "./Kube.ts"
import * as KubeError from "./KubeError.ts"
import type * as Resource from "./Resource.ts"
import * as WatchState from "./WatchState.ts"

/**
 * Where to watch: the whole cluster, or a fixed set of namespaces.
 *
 * @since 0.1.0
 * @category models
 */
export type WatchScope =
  | { readonly _tag: "Cluster" }
  | { readonly _tag: "Namespaces"; readonly namespaces: ReadonlyArray<string> }

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
 * A fixed set of namespaces, each listed and watched on its own.
 *
 * @example
 * ```ts
 * import { Watcher } from "@kubefx/runtime"
 *
 * const scope = Watcher.namespaces(["team-a", "team-b"])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const namespaces = (names: ReadonlyArray<string>): WatchScope => ({
  _tag: "Namespaces",
  namespaces: [...new Set(names)]
})

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
  /** Reconnect when nothing (no event, no bookmark) arrived for this long (default 150s). */
  readonly idleTimeout?: Duration.Input | undefined
  /** Backoff between reconnections after transient failures (default: 200ms doubling up to
   * 30s, jittered, forever). */
  readonly backoff?: Schedule.Schedule<unknown, KubeError.KubeError> | undefined
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

/** Transient errors, an Expired list continuation, and an undecodable line (a connection
 * cut mid-event) heal by reconnecting. */
const retryable = (e: KubeError.KubeError): boolean =>
  KubeError.isTransient(e) || e._tag === "Expired" || e._tag === "DecodeError"

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
  Stream.suspend(() => {
    const state = WatchState.make(namespace)
    const idle = Duration.fromInputUnsafe(options.idleTimeout ?? "150 seconds")
    const where = `${resource.plural}${namespace === undefined ? "" : ` in ${namespace}`}`

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
      Stream.flatMap((list) => Stream.fromIterable(WatchState.relisted(state, list)))
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
            const step = WatchState.step(state, raw)
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
          Schedule.while(({ input }) => retryable(input)),
          Schedule.tap(({ input, duration }) =>
            Effect.logWarning(
              `watch ${where} failed (${input._tag}: ${"message" in input ? input.message : ""}); retrying in ${Duration.format(duration)}`
            )
          )
        )
      )
    )
  })

/**
 * The watcher of a resource over a scope: one list+watch per namespace (or one for the cluster),
 * merged. Runs until interrupted; fails only with errors that waiting cannot heal.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Resource, Watcher } from "@kubefx/runtime"
 *
 * const events = Watcher.watch(Resource.core("v1", "configmaps", "ConfigMap"), {
 *   scope: Watcher.namespaces(["default"])
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
      if (scope._tag === "Cluster" || !resource.namespaced) {
        return watchScope(kube, resource, undefined, options)
      }
      return Stream.mergeAll(
        scope.namespaces.map((ns) => watchScope(kube, resource, ns, options)),
        { concurrency: "unbounded" }
      )
    })
  )
