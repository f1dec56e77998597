/**
 * JSON merge patches (RFC 7386) as plain JSON values: objects merge key by key, `null` deletes
 * a key, anything else (arrays included) replaces. Pure: inputs are never mutated.
 *
 * @since 0.1.0
 */
import { Effect, Ref } from "effect"
import * as Json from "./Json.ts"
import * as Outcome from "./Outcome.ts"

/**
 * A merge patch of an object.
 *
 * @example
 * ```ts
 * import type { Patch } from "@kubefx/core"
 *
 * const p: Patch.MergePatch = { metadata: { annotations: { "a.b/c": null } }, status: { phase: "Ready" } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type MergePatch = Json.JsonObject

/**
 * The empty patch.
 *
 * @example
 * ```ts
 * import { Patch } from "@kubefx/core"
 *
 * Patch.isEmpty(Patch.empty) // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: MergePatch = {}

/**
 * Whether a patch changes nothing by construction (no keys).
 *
 * @example
 * ```ts
 * import { Patch } from "@kubefx/core"
 *
 * Patch.isEmpty({}) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isEmpty = (patch: MergePatch): boolean => Object.keys(patch).length === 0

/**
 * Applies a merge patch to a value (RFC 7386 `MergePatch(Target, Patch)`).
 *
 * @example
 * ```ts
 * import { Patch } from "@kubefx/core"
 *
 * Patch.apply({ a: 1, b: { c: 2, d: 3 } }, { a: null, b: { c: 4 } }) // { b: { c: 4, d: 3 } }
 * ```
 *
 * @since 0.1.0
 * @category applying
 */
export const apply = (target: Json.Json | undefined, patch: Json.Json): Json.Json => {
  if (!Json.isObject(patch)) return patch
  const out: Record<string, Json.Json> = { ...Json.asObject(target) }
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else Json.assign(out, k, apply(Json.own(out, k), v))
  }
  return out
}

/**
 * Combines two merge patches into one: `apply(apply(x, a), b)` equals `apply(x, combine(a, b))`
 * whenever `b` does not set an object at a key that `a` deletes (the kubefx core never does).
 *
 * @example
 * ```ts
 * import { Patch } from "@kubefx/core"
 *
 * Patch.combine({ status: { a: 1 } }, { status: { b: 2 } }) // { status: { a: 1, b: 2 } }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const combine = (a: MergePatch, b: MergePatch): MergePatch => {
  const out: Record<string, Json.Json> = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const prev = Json.own(out, k)
    Json.assign(out, k, Json.isObject(v) && Json.isObject(prev) ? combine(prev, v) : v)
  }
  return out
}

/**
 * The merge patch that turns `old` into `next`: keys of `old` missing from `next` are deleted
 * (`null`), objects are compared key by key, anything else is replaced. Exact for values
 * without `null`s (a merge patch cannot set a value to `null`: such keys are deleted instead).
 *
 * @example
 * ```ts
 * import { Patch } from "@kubefx/core"
 *
 * Patch.make({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2, d: 4 } }) // { a: null, b: { d: 4 } }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (old: Json.Json | undefined, next: Json.Json): Json.Json => {
  if (!Json.isObject(next) || !Json.isObject(old)) return next
  const out: Record<string, Json.Json> = {}
  for (const k of Object.keys(old)) if (!Object.hasOwn(next, k)) Json.assign(out, k, null)
  for (const [k, v] of Object.entries(next)) {
    const prev = Object.hasOwn(old, k) ? old[k] : undefined
    if (prev !== undefined && Json.equals(prev, v)) continue
    Json.assign(out, k, Json.isObject(v) && Json.isObject(prev) ? make(prev, v) : v)
  }
  return out
}

/**
 * Builds the patch that sets `value` at `path` (nested objects), e.g. `status.kubefx.progress`.
 *
 * A merge patch cannot address an array element (it replaces arrays as a whole), so a path with
 * an index segment (`"spec.items.0.size"`, see `Json.isIndex`) throws an `Error` naming the
 * path: read the array, change it and write it whole (`Patch.at("spec.items", items)`). For an
 * object key that is a number, write the patch as an object literal
 * (`{ data: { "0": "x" } }`). The error is a programming error: thrown in a handler, it is a
 * defect that declares itself permanent (see `Outcome.permanent`), so the handler fails for good
 * with this message instead of retrying.
 *
 * @example
 * ```ts
 * import { Patch } from "@kubefx/core"
 *
 * Patch.at(["status", "x"], 1) // { status: { x: 1 } }
 * Patch.at("spec.items.0.size", 1) // throws: merge patches cannot address array elements
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const at = (path: Json.PathInput, value: Json.Json): MergePatch => {
  const keys = Json.path(path)
  const index = keys.findIndex(Json.isIndex)
  if (index >= 0) throw new ArrayElementPathError({ path: keys, index })
  let out: Json.Json = value
  for (let i = keys.length - 1; i >= 0; i--) out = { [keys[i]!]: out }
  return Json.asObject(out)
}

/**
 * Thrown by {@link at} for a path that steps into an array element. Declares itself permanent
 * (`Outcome.permanent`): no retry makes the path writable.
 *
 * @example
 * ```ts
 * import { Patch } from "@kubefx/core"
 *
 * try {
 *   Patch.at("spec.items.0.size", 1)
 * } catch (e) {
 *   e instanceof Patch.ArrayElementPathError // true
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ArrayElementPathError extends Error {
  readonly path: Json.Path
  constructor(options: { readonly path: Json.Path; readonly index: number }) {
    const p = Json.formatPath(options.path)
    super(
      `kubefx: Patch.at(${JSON.stringify(p)}): segment ${JSON.stringify(options.path[options.index])} indexes an array, and merge patches cannot address array elements (they replace arrays as a whole); write the whole array instead: Patch.at(${JSON.stringify(Json.formatPath(options.path.slice(0, options.index)))}, items)`
    )
    this.name = "ArrayElementPathError"
    this.path = options.path
  }
  get [Outcome.permanent](): string {
    return this.message
  }
}

/**
 * Splits a patch into its `status` part and the rest, for a runtime that sends status to the
 * `/status` subresource. Each part is `undefined` when empty.
 *
 * @example
 * ```ts
 * import { Patch } from "@kubefx/core"
 *
 * Patch.split({ status: { a: 1 }, metadata: { finalizers: [] } })
 * // { main: { metadata: { finalizers: [] } }, status: { status: { a: 1 } } }
 * ```
 *
 * @since 0.1.0
 * @category applying
 */
export const split = (
  patch: MergePatch
): { readonly main: MergePatch | undefined; readonly status: MergePatch | undefined } => {
  const { status, ...rest } = patch
  return {
    main: Object.keys(rest).length > 0 ? rest : undefined,
    status: status === undefined ? undefined : { status }
  }
}

/**
 * A handler's way to change its own object (Kopf's `patch`): each call records a merge patch,
 * all are combined into the step's decision. Keys under the framework's storage are overwritten
 * by the framework.
 *
 * @example
 * ```ts
 * import type { Patch } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const ready = (patch: Patch.Builder) => patch.status({ phase: "Ready" })
 * ```
 *
 * @since 0.1.0
 * @category builder
 */
export interface Builder {
  /** Records a raw merge patch. */
  readonly merge: (patch: MergePatch) => Effect.Effect<void>
  /** Merges fields into `status`. */
  readonly status: (fields: Json.JsonObject) => Effect.Effect<void>
  /** Sets (string) or removes (null) labels. */
  readonly labels: (labels: Readonly<Record<string, string | null>>) => Effect.Effect<void>
  /** Sets (string) or removes (null) annotations. */
  readonly annotations: (
    annotations: Readonly<Record<string, string | null>>
  ) => Effect.Effect<void>
}

/**
 * Creates a builder and the effect that reads what it recorded.
 *
 * @example
 * ```ts
 * import { Patch } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const { builder, get } = yield* Patch.makeBuilder
 *   yield* builder.status({ phase: "Ready" })
 *   return yield* get // { status: { phase: "Ready" } }
 * })
 * ```
 *
 * @since 0.1.0
 * @category builder
 */
export const makeBuilder: Effect.Effect<{
  readonly builder: Builder
  readonly get: Effect.Effect<MergePatch>
}> = Effect.map(Ref.make<MergePatch>(empty), (ref) => {
  const merge = (patch: MergePatch) => Ref.update(ref, (acc) => combine(acc, patch))
  return {
    builder: {
      merge,
      status: (fields) => merge({ status: fields }),
      labels: (labels) => merge({ metadata: { labels } }),
      annotations: (annotations) => merge({ metadata: { annotations } })
    },
    get: Ref.get(ref)
  }
})
