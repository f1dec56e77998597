/**
 * The namespace fan-out of the watcher: one single-scope watcher per namespace, merged into one
 * stream, for a fixed set of namespaces, or for the namespaces that match a selector as they
 * come and go (a watcher of `namespaces` drives a FiberMap of per-namespace watchers).
 *
 * @internal
 */
import type { KubeObject } from "@kubefx/core"
import { Effect, FiberMap, Queue, Stream } from "effect"
import type * as KubeError from "../KubeError.ts"
import * as NamespaceSelector from "../NamespaceSelector.ts"
import * as WatchState from "../WatchState.ts"
import * as Known from "./known.ts"

type Events = Stream.Stream<WatchState.WatchEvent, KubeError.KubeError>

/** What the fan-out is given. @internal */
export interface Sources {
  /** The watcher of the resource in one namespace, or in the cluster (`undefined`). */
  readonly scope: (namespace: string | undefined) => Events
  /** The watcher of `namespaces`, cluster-wide. */
  readonly namespaces: Events
  /** Runs once when the scope has listed once (see `WatcherOptions.onReady`). */
  readonly ready: Effect.Effect<void>
  /** The resource's plural, for log lines. */
  readonly plural: string
}

/**
 * The watchers of fixed scopes (namespaces, or `[undefined]` for the cluster), merged; `ready`
 * once each has listed.
 *
 * @internal
 */
export const fixed = (scopes: ReadonlyArray<string | undefined>, sources: Sources): Events =>
  Stream.suspend(() => {
    let unsynced = scopes.length
    const merged = Stream.mergeAll(scopes.map(sources.scope), { concurrency: "unbounded" })
    return Stream.concat(
      Stream.fromEffectDrain(unsynced === 0 ? sources.ready : Effect.void),
      merged.pipe(
        Stream.tap((event) =>
          event._tag === "Synced" && event.initial && --unsynced === 0 ? sources.ready : Effect.void
        )
      )
    )
  })

/**
 * Readiness of a `Matching` scope: ready once every namespace that matched at the first list
 * of namespaces has listed (or is gone).
 */
const makeReadiness = (ready: Effect.Effect<void>) => {
  const listedOnce = new Set<string>()
  /** Namespaces `ready` waits for; `undefined` until namespaces have been listed. */
  let pending: Set<string> | undefined
  return {
    settle: (namespace: string): Effect.Effect<void> =>
      Effect.suspend(() =>
        pending === undefined || !pending.delete(namespace) || pending.size > 0
          ? Effect.void
          : ready
      ),
    listed: (namespace: string) => listedOnce.add(namespace),
    /** The first list of namespaces: these are the ones to wait for. */
    expect: (matching: ReadonlyArray<string>): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (pending !== undefined) return Effect.void
        pending = new Set(matching.filter((ns) => !listedOnce.has(ns)))
        return pending.size === 0 ? ready : Effect.void
      })
  }
}

const nameOf = (o: KubeObject.KubeObject) => o.metadata?.name ?? ""

/**
 * The watchers of the namespaces `selector` matches, started as they appear and stopped when
 * they are deleted. Objects whose DELETED had not come through when their namespace's own
 * DELETED arrived are emitted as `Deleted(object, synthetic: true)`.
 *
 * @internal
 */
export const matching = (selector: NamespaceSelector.NamespaceSelector, sources: Sources): Events =>
  Stream.callback<WatchState.WatchEvent, KubeError.KubeError>(
    (queue) =>
      Effect.gen(function* () {
        const fibers = yield* FiberMap.make<string, void, KubeError.KubeError>()
        // The objects emitted and not deleted since: what is still there.
        const tracker = Known.make()
        const readiness = makeReadiness(sources.ready)

        // An event counts as emitted once it is in the queue: interruption (the namespace is
        // gone) cannot fall between the offer and the bookkeeping.
        const emit = (namespace: string, event: WatchState.WatchEvent) =>
          Effect.uninterruptibleMask((restore) =>
            restore(Queue.offer(queue, event)).pipe(
              Effect.andThen(Effect.sync(() => tracker.track(event))),
              Effect.andThen(
                event._tag === "Synced" && event.initial
                  ? Effect.suspend(() => {
                      readiness.listed(namespace)
                      return readiness.settle(namespace)
                    })
                  : Effect.void
              )
            )
          )

        const start = (namespace: string) =>
          FiberMap.run(
            fibers,
            namespace,
            Effect.logInfo(`watching ${sources.plural} in ${namespace}`).pipe(
              Effect.andThen(
                sources.scope(namespace).pipe(Stream.runForEach((e) => emit(namespace, e)))
              )
            ),
            { onlyIfMissing: true }
          )

        // The namespace is gone, and with it every object in it.
        const stop = (namespace: string) =>
          Effect.gen(function* () {
            if (!(yield* FiberMap.has(fibers, namespace))) return
            yield* FiberMap.remove(fibers, namespace)
            yield* Effect.logInfo(`stopped watching ${sources.plural} in ${namespace}: deleted`)
            for (const object of tracker.drop(namespace))
              yield* Queue.offer(queue, WatchState.deleted(object, true))
            yield* readiness.settle(namespace)
          })

        const onNamespace = (event: WatchState.WatchEvent) =>
          Effect.gen(function* () {
            switch (event._tag) {
              case "Applied": {
                const ns = nameOf(event.object)
                if (NamespaceSelector.matches(selector, ns)) yield* start(ns)
                return
              }
              case "Deleted":
                return yield* stop(nameOf(event.object))
              case "Synced": {
                const present = new Set(event.objects.map(nameOf))
                const matches = [...present].filter((ns) => NamespaceSelector.matches(selector, ns))
                for (const ns of matches) yield* start(ns)
                for (const [ns] of Array.from(fibers)) if (!present.has(ns)) yield* stop(ns)
                return yield* readiness.expect(matches)
              }
            }
          })

        yield* Effect.all(
          [sources.namespaces.pipe(Stream.runForEach(onNamespace)), FiberMap.join(fibers)],
          { concurrency: "unbounded", discard: true }
        )
      }),
    { bufferSize: 256, strategy: "suspend" }
  )
