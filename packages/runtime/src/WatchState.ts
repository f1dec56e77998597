/**
 * The watcher's bookkeeping, without I/O: the set of objects known in one scope, the last
 * resourceVersion seen, and how a list answer or a raw watch event changes them into
 * {@link WatchEvent}s.
 *
 * ## The event model
 *
 * - `Applied(object)`: the object exists in this state (it was created or changed). Emitted for
 *   watch ADDED/MODIFIED events and, after a (re)list, for every object that is new or whose
 *   resourceVersion changed since it was last seen.
 * - `Deleted(object, synthetic)`: the object is gone. From a watch DELETED event (its final
 *   state), or `synthetic: true` when a relist no longer contains it (its last known state: the
 *   deletion happened while the watch was down). An object deleted and re-created under the same
 *   name while unseen (another uid) yields `Deleted(old)` then `Applied(new)`.
 * - `Synced(objects)`: a (re)list of the scope just completed and was diffed; `objects` is the
 *   complete current set of the scope (`namespace`, or `undefined` for cluster-wide).
 *   `initial` is true for the first list. Consumers that keep indexes, or decide what to resume
 *   at start-up, wait for it; others ignore it.
 *
 * Unchanged objects are not re-emitted after a relist, so a 410 Gone costs one list and no
 * spurious reprocessing. ResourceVersions are opaque strings, only compared with `===`.
 *
 * @since 0.1.0
 */

import { KubeObject, Resource } from "@kubefx/core"
import { Predicate } from "effect"
import type { ObjectList, RawWatchEvent } from "./Kube.ts"

/**
 * What the watcher emits.
 *
 * @since 0.1.0
 * @category models
 */
export type WatchEvent =
  | { readonly _tag: "Applied"; readonly object: KubeObject.KubeObject }
  | {
      readonly _tag: "Deleted"
      readonly object: KubeObject.KubeObject
      readonly synthetic: boolean
    }
  | {
      readonly _tag: "Synced"
      readonly namespace: string | undefined
      readonly objects: ReadonlyArray<KubeObject.KubeObject>
      readonly initial: boolean
    }

/**
 * `Applied(object)`.
 *
 * @example
 * ```ts
 * import { WatchState } from "@kubefx/runtime"
 *
 * WatchState.applied({ metadata: { name: "a" } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const applied = (object: KubeObject.KubeObject): WatchEvent => ({ _tag: "Applied", object })

/**
 * `Deleted(object)`.
 *
 * @example
 * ```ts
 * import { WatchState } from "@kubefx/runtime"
 *
 * WatchState.deleted({ metadata: { name: "a" } }, true)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const deleted = (object: KubeObject.KubeObject, synthetic = false): WatchEvent => ({
  _tag: "Deleted",
  object,
  synthetic
})

/**
 * The known set of one scope.
 *
 * @since 0.1.0
 * @category models
 */
export interface WatchState {
  readonly namespace: string | undefined
  /** Objects by {@link Resource.key}. */
  readonly known: Map<string, KubeObject.KubeObject>
  /** Where the next watch starts; `undefined` means a list is needed first. */
  resourceVersion: string | undefined
  /** Whether a list has completed once. */
  listed: boolean
}

/**
 * An empty state: the next step is a list.
 *
 * @example
 * ```ts
 * import { WatchState } from "@kubefx/runtime"
 *
 * const state = WatchState.make("default")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (namespace: string | undefined): WatchState => ({
  namespace,
  known: new Map(),
  resourceVersion: undefined,
  listed: false
})

/**
 * Takes a complete list answer: diffs it against the known set, replaces the known set and the
 * resourceVersion, and answers the events that tell the difference, ending with `Synced`.
 *
 * @example
 * ```ts
 * import { WatchState } from "@kubefx/runtime"
 *
 * const state = WatchState.make(undefined)
 * const events = WatchState.relisted(state, {
 *   items: [{ metadata: { name: "a", uid: "1", resourceVersion: "5" } }],
 *   resourceVersion: "7",
 *   continue: undefined
 * })
 * // => [Applied(a), Synced([a])]
 * ```
 *
 * @since 0.1.0
 * @category transitions
 */
export const relisted = (state: WatchState, list: ObjectList): ReadonlyArray<WatchEvent> => {
  const events: Array<WatchEvent> = []
  const next = new Map<string, KubeObject.KubeObject>()
  for (const object of list.items) next.set(KubeObject.key(object), object)
  for (const [key, old] of state.known) {
    if (!next.has(key)) events.push(deleted(old, true))
  }
  for (const [key, object] of next) {
    const old = state.known.get(key)
    if (old === undefined) {
      events.push(applied(object))
    } else if (KubeObject.uid(old) !== KubeObject.uid(object)) {
      events.push(deleted(old, true), applied(object))
    } else if (KubeObject.resourceVersion(old) !== KubeObject.resourceVersion(object)) {
      events.push(applied(object))
    }
  }
  events.push({
    _tag: "Synced",
    namespace: state.namespace,
    objects: list.items,
    initial: !state.listed
  })
  state.known.clear()
  for (const [key, object] of next) state.known.set(key, object)
  state.resourceVersion = list.resourceVersion
  state.listed = true
  return events
}

/**
 * What a raw watch event does to the state.
 *
 * @since 0.1.0
 * @category models
 */
export type Step =
  | { readonly _tag: "Events"; readonly events: ReadonlyArray<WatchEvent> }
  /** ERROR with code 410: the resourceVersion is too old; list again. */
  | { readonly _tag: "Expired"; readonly message: string }
  /** ERROR with another code: reconnect from the last resourceVersion. */
  | {
      readonly _tag: "Error"
      readonly code: number
      readonly reason: string
      readonly message: string
    }

const field = (object: KubeObject.KubeObject, name: string): unknown => object[name]

/**
 * Takes one raw watch event. ADDED/MODIFIED/DELETED update the known set and the
 * resourceVersion; BOOKMARK only the resourceVersion; ERROR changes nothing but tells whether a
 * relist (410) or a reconnect is needed (an expired one also forgets the resourceVersion).
 *
 * @example
 * ```ts
 * import { WatchState } from "@kubefx/runtime"
 *
 * const state = WatchState.make(undefined)
 * WatchState.step(state, { type: "BOOKMARK", object: { metadata: { resourceVersion: "9" } } })
 * state.resourceVersion // => "9"
 * ```
 *
 * @since 0.1.0
 * @category transitions
 */
export const step = (state: WatchState, event: RawWatchEvent): Step => {
  const object = event.object
  switch (event.type) {
    case "ADDED":
    case "MODIFIED": {
      state.known.set(KubeObject.key(object), object)
      advance(state, object)
      return { _tag: "Events", events: [applied(object)] }
    }
    case "DELETED": {
      state.known.delete(KubeObject.key(object))
      advance(state, object)
      return { _tag: "Events", events: [deleted(object)] }
    }
    case "BOOKMARK": {
      advance(state, object)
      return { _tag: "Events", events: [] }
    }
    case "ERROR": {
      const code = field(object, "code")
      const reason = field(object, "reason")
      const message = field(object, "message")
      const text = Predicate.isString(message) ? message : ""
      if (code === 410 || reason === "Expired" || reason === "Gone") {
        state.resourceVersion = undefined
        return { _tag: "Expired", message: text }
      }
      return {
        _tag: "Error",
        code: Predicate.isNumber(code) ? code : 500,
        reason: Predicate.isString(reason) ? reason : "",
        message: text
      }
    }
  }
}

const advance = (state: WatchState, object: KubeObject.KubeObject): void => {
  const rv = KubeObject.resourceVersion(object)
  if (rv !== "") state.resourceVersion = rv
}

/**
 * Forgets the resourceVersion so that the next step is a list (after a 410 Gone); the known set
 * stays, to diff the list against.
 *
 * @example
 * ```ts
 * import { WatchState } from "@kubefx/runtime"
 *
 * const state = WatchState.make(undefined)
 * WatchState.expire(state)
 * ```
 *
 * @since 0.1.0
 * @category transitions
 */
export const expire = (state: WatchState): void => {
  state.resourceVersion = undefined
}
