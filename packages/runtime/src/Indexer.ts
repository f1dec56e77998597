/**
 * The indexes of a registry (`Index` of `@kubefx/core`) while an operator runs: one store per
 * index, fed by the watcher of its resource (the operator's own watcher when handlers serve the
 * resource too, before the handlers see the event), and the context that provides each index
 * to the handlers. `ready` completes once every index's resource has been listed once: the
 * operator runs no handler before.
 *
 * @since 0.1.0
 */
import { Index, Resource } from "@kubefx/core"
import { Context, Deferred, Effect } from "effect"
import type * as Discovery from "./Discovery.ts"
import type * as WatchState from "./WatchState.ts"

/**
 * The running indexes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Indexer {
  /** The resources the indexes watch (`Resource.format` keys), with their targets. */
  readonly targets: ReadonlyMap<string, Discovery.Target>
  /** The services handlers read: one `Index.Lookup` per index. */
  readonly context: Context.Context<never>
  /** Feeds a watch event of a resource to its indexes (logs what an index function threw). */
  readonly observe: (resource: string, event: WatchState.WatchEvent) => Effect.Effect<void>
  /** Marks a resource's first list complete (see `Watcher.onReady`). */
  readonly listed: (resource: string) => Effect.Effect<void>
  /** Completes once every index's resource has been listed once. */
  readonly ready: Effect.Effect<void>
  /** The stores, by index id (what the health endpoint and tests read). */
  readonly stores: ReadonlyMap<string, Index.Store>
}

const objectName = (body: { readonly metadata?: unknown }): string => {
  const meta = (body.metadata ?? {}) as { readonly name?: unknown; readonly namespace?: unknown }
  const name = String(meta.name ?? "")
  return typeof meta.namespace === "string" ? `${meta.namespace}/${name}` : name
}

const warn = (id: string, body: { readonly metadata?: unknown }, error: Error) =>
  Effect.logWarning(
    `index ${id}: ${objectName(body)} is left out of the index: ${error.message}`
  ).pipe(Effect.annotateLogs({ index: id, object: objectName(body) }))

/**
 * Makes the indexer of resolved indexes (each with the target of its selector).
 *
 * @example
 * ```ts
 * import { Builtins, Index } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Indexer } from "@kubefx/runtime"
 *
 * const byNode = Index.make("by-node", Builtins.pods, (pod) => ({ [String(pod.body.spec?.nodeName)]: pod.name }))
 * const target = { resource: Builtins.pods, api: Builtins.pods, statusSubresource: true }
 * const program = Effect.gen(function* () {
 *   const indexer = yield* Indexer.make([{ index: byNode, target }])
 *   yield* indexer.listed("v1/pods")
 *   yield* indexer.ready
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  indexes: ReadonlyArray<{ readonly index: Index.Any; readonly target: Discovery.Target }>
): Effect.Effect<Indexer> =>
  Effect.gen(function* () {
    const byResource = new Map<string, Array<Index.Store>>()
    const targets = new Map<string, Discovery.Target>()
    const stores = new Map<string, Index.Store>()
    let context = Context.empty()
    for (const { index, target } of indexes) {
      const key = Resource.format(target.resource)
      const store = new Index.Store(Index.definition(index))
      targets.set(key, target)
      stores.set(store.definition.id, store)
      byResource.set(key, [...(byResource.get(key) ?? []), store])
      context = Context.add(context, index as never, store.lookup)
    }
    const unlisted = new Set(targets.keys())
    const ready = yield* Deferred.make<void>()
    if (unlisted.size === 0) yield* Deferred.succeed(ready, undefined)
    const observe = (resource: string, event: WatchState.WatchEvent): Effect.Effect<void> =>
      Effect.suspend(() => {
        const warnings: Array<Effect.Effect<void>> = []
        for (const store of byResource.get(resource) ?? []) {
          const id = store.definition.id
          if (event._tag === "Applied") {
            const error = store.applied(event.object)
            if (error !== undefined) warnings.push(warn(id, event.object, error))
          } else if (event._tag === "Deleted") store.deleted(event.object)
          else
            for (const { body, error } of store.synced(event.namespace, event.objects))
              warnings.push(warn(id, body, error))
        }
        return warnings.length === 0 ? Effect.void : Effect.all(warnings, { discard: true })
      })
    const listed = (resource: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!unlisted.delete(resource) || unlisted.size > 0) return Effect.void
        return Effect.andThen(
          Effect.logInfo(
            `indexes filled: ${[...stores.values()].map((s) => `${s.definition.id} (${s.objects} objects)`).join(", ")}`
          ),
          Deferred.succeed(ready, undefined)
        )
      })
    return {
      targets,
      context: context as Context.Context<never>,
      observe,
      listed,
      ready: Deferred.await(ready),
      stores
    }
  })
