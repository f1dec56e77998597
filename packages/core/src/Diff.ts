/**
 * Diffs of JSON values as lists of `(op, path, old, new)`, as Kopf's: objects are compared key by
 * key, recursively; arrays and scalars are compared as whole values. Applying a diff to the old
 * value yields the new one.
 *
 * @since 0.1.0
 */
import * as Json from "./Json.ts"

/**
 * One change: a key added, changed or removed at a path. `old` is `undefined` for `add` (and for
 * a change whose old value is unknown, see `Essence`), `new` is `undefined` for `remove`.
 *
 * @example
 * ```ts
 * import type { Diff } from "@kubefx/core"
 *
 * const item: Diff.DiffItem = { op: "change", path: ["spec", "size"], old: "1G", new: "2G" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DiffItem {
  readonly op: "add" | "change" | "remove"
  readonly path: Json.Path
  readonly old: Json.Json | undefined
  readonly new: Json.Json | undefined
}

/**
 * A diff: the changes from an old value to a new one, keys in sorted order.
 *
 * @example
 * ```ts
 * import type { Diff } from "@kubefx/core"
 *
 * const none: Diff.Diff = []
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Diff = ReadonlyArray<DiffItem>

/**
 * Computes the diff from `old` to `next` (`undefined` means absent).
 *
 * @example
 * ```ts
 * import { Diff } from "@kubefx/core"
 *
 * Diff.make({ size: "1G" }, { size: "2G" })
 * // [{ op: "change", path: ["size"], old: "1G", new: "2G" }]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (old: Json.Json | undefined, next: Json.Json | undefined): Diff => {
  const out: Array<DiffItem> = []
  const go = (p: Json.Path, a: Json.Json | undefined, b: Json.Json | undefined): void => {
    if (a === undefined && b === undefined) return
    if (a === undefined) {
      out.push({ op: "add", path: p, old: undefined, new: b })
      return
    }
    if (b === undefined) {
      out.push({ op: "remove", path: p, old: a, new: undefined })
      return
    }
    if (Json.isObject(a) && Json.isObject(b)) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
      for (const k of keys) go([...p, k], Json.own(a, k), Json.own(b, k))
      return
    }
    if (!Json.equals(a, b)) out.push({ op: "change", path: p, old: a, new: b })
  }
  go([], old, next)
  return out
}

/**
 * Applies a diff to a value: sets the new value of each `add`/`change`, removes each `remove`
 * (the removal of a field that is not there changes nothing).
 * `apply(old, make(old, next))` equals `next`.
 *
 * @example
 * ```ts
 * import { Diff } from "@kubefx/core"
 *
 * Diff.apply({ size: "1G" }, Diff.make({ size: "1G" }, { size: "2G" })) // { size: "2G" }
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const apply = (old: Json.Json | undefined, diff: Diff): Json.Json | undefined =>
  diff.reduce<Json.Json | undefined>((acc, item) => {
    if (item.op !== "remove") return Json.set(acc, item.path, item.new)
    if (item.path.length === 0) return undefined
    // A field that is not there is not removed (its parent may be gone, or replaced by the diff
    // with a value of another type): setting it would make its parent an object again.
    return Json.get(acc, item.path) === undefined ? acc : Json.set(acc, item.path, undefined)
  }, old)

/**
 * The part of a diff at or under a field, with paths made relative to that field. A change of
 * an enclosing value is narrowed to the field's own old and new values; the field may index
 * arrays (`"spec.items.0.size"`), so a change of a whole array is narrowed to one element's
 * part. `scope(make(a, b), f)` equals `make(Json.get(a, f), Json.get(b, f))`. An enclosing
 * change whose old value is unknown (`op: "change"` with `old: undefined`, see `Essence`) is
 * narrowed to a change with unknown old of the field when the field has a new value, and to
 * nothing when it has none (a removal cannot be told from a field that was never there).
 *
 * @example
 * ```ts
 * import { Diff } from "@kubefx/core"
 *
 * const d = Diff.make({ spec: { size: "1G", x: 1 } }, { spec: { size: "2G", x: 2 } })
 * Diff.scope(d, ["spec", "size"]) // [{ op: "change", path: [], old: "1G", new: "2G" }]
 * const items = Diff.make({ items: [{ size: 1 }, { size: 1 }] }, { items: [{ size: 1 }, { size: 2 }] })
 * Diff.scope(items, "items.1.size") // [{ op: "change", path: [], old: 1, new: 2 }]
 * Diff.scope(items, "items.0.size") // []
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const scope = (diff: Diff, field: Json.PathInput): Diff => {
  const f = Json.path(field)
  const out: Array<DiffItem> = []
  for (const item of diff) {
    const under = item.path.length >= f.length && f.every((k, i) => item.path[i] === k)
    if (under) {
      out.push({ ...item, path: item.path.slice(f.length) })
      continue
    }
    const above = f.length > item.path.length && item.path.every((k, i) => f[i] === k)
    if (!above) continue
    const rest = f.slice(item.path.length)
    const next = Json.get(item.new, rest)
    if (item.op === "change" && item.old === undefined) {
      if (next !== undefined) out.push({ op: "change", path: [], old: undefined, new: next })
      continue
    }
    for (const sub of make(Json.get(item.old, rest), next)) out.push(sub)
  }
  return out
}
