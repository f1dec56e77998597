/**
 * Filters decide whether a handler applies to an object and change, as Kopf's: by labels and
 * annotations (a value, present, absent, or a predicate), by a field's value, by the old / new
 * values of an update, or by any predicate; combinable with `and`, `or`, `not`. Filters are data;
 * {@link matches} evaluates them. A predicate that throws does not match.
 *
 * @since 0.1.0
 */

import type * as Diff from "./Diff.ts"
import * as Json from "./Json.ts"

/**
 * Matches a value that is present, whatever it is.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.labels({ app: Filter.present })
 * ```
 *
 * @since 0.1.0
 * @category value matchers
 */
export const present: unique symbol = Symbol.for("@kubefx/core/Filter/present")

/**
 * Matches a value that is absent.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.annotations({ "example.com/paused": Filter.absent })
 * ```
 *
 * @since 0.1.0
 * @category value matchers
 */
export const absent: unique symbol = Symbol.for("@kubefx/core/Filter/absent")

/**
 * How a single value is matched: equal to a JSON value, `present`, `absent`, or a predicate.
 *
 * @example
 * ```ts
 * import type { Filter } from "@kubefx/core"
 *
 * const m: Filter.ValueMatcher = (v) => typeof v === "string" && v.startsWith("v1")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ValueMatcher =
  | Json.Json
  | typeof present
  | typeof absent
  | ((value: Json.Json | undefined) => boolean)

/**
 * What filters see: the body, the reason, and the handler's old / new / diff (relative to its
 * field when it has one).
 *
 * @example
 * ```ts
 * import type { Filter } from "@kubefx/core"
 *
 * const isBig = (ctx: Filter.Context) => ctx.body !== null
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  readonly body: Json.JsonObject
  readonly reason: string
  readonly old: Json.Json | undefined
  readonly new: Json.Json | undefined
  readonly diff: Diff.Diff
}

/**
 * A filter.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * const f: Filter.Filter = Filter.and(Filter.labels({ app: "db" }), Filter.field("spec.size", Filter.present))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Filter =
  | { readonly _tag: "All" }
  | { readonly _tag: "Labels"; readonly matchers: Readonly<Record<string, ValueMatcher>> }
  | { readonly _tag: "Annotations"; readonly matchers: Readonly<Record<string, ValueMatcher>> }
  | { readonly _tag: "Field"; readonly path: Json.Path; readonly value: ValueMatcher }
  | { readonly _tag: "Old"; readonly value: ValueMatcher }
  | { readonly _tag: "New"; readonly value: ValueMatcher }
  | { readonly _tag: "When"; readonly predicate: (ctx: Context) => boolean }
  | { readonly _tag: "And"; readonly filters: ReadonlyArray<Filter> }
  | { readonly _tag: "Or"; readonly filters: ReadonlyArray<Filter> }
  | { readonly _tag: "Not"; readonly filter: Filter }

/**
 * The filter that matches everything.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.matches(Filter.all, { body: {}, reason: "create", old: undefined, new: {}, diff: [] }) // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const all: Filter = { _tag: "All" }

/**
 * Matches objects whose labels match every matcher.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.labels({ app: "db", tier: Filter.present, legacy: Filter.absent })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const labels = (matchers: Readonly<Record<string, ValueMatcher>>): Filter => ({
  _tag: "Labels",
  matchers
})

/**
 * Matches objects whose annotations match every matcher.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.annotations({ "example.com/managed": "true" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const annotations = (matchers: Readonly<Record<string, ValueMatcher>>): Filter => ({
  _tag: "Annotations",
  matchers
})

/**
 * Matches objects whose field (in the current body) matches a value. The path may index arrays
 * (`"spec.items.0.mode"`); a malformed path (`"/spec/mode"`, `"spec..mode"`) throws, naming
 * the fix (see `Json.pathProblem`).
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.field("spec.mode", "fast")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const field = (path: Json.PathInput, value: ValueMatcher): Filter => {
  const problem = Json.pathProblem(path)
  if (problem !== undefined) throw new Error(`kubefx: Filter.field: ${problem}`)
  return { _tag: "Field", path: Json.path(path), value }
}

/**
 * Matches changes whose old value (of the handler's field, or the old essence) matches.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.oldValue("1G")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const oldValue = (value: ValueMatcher): Filter => ({ _tag: "Old", value })

/**
 * Matches changes whose new value (of the handler's field, or the new essence) matches.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.newValue(Filter.present)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const newValue = (value: ValueMatcher): Filter => ({ _tag: "New", value })

/**
 * Matches when a predicate holds.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.when((ctx) => ctx.diff.length > 1)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const when = (predicate: (ctx: Context) => boolean): Filter => ({ _tag: "When", predicate })

/**
 * Matches when all filters match.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.and(Filter.labels({ a: "1" }), Filter.labels({ b: "2" }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const and = (...filters: ReadonlyArray<Filter>): Filter => ({ _tag: "And", filters })

/**
 * Matches when any filter matches.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.or(Filter.labels({ a: "1" }), Filter.labels({ a: "2" }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const or = (...filters: ReadonlyArray<Filter>): Filter => ({ _tag: "Or", filters })

/**
 * Matches when the filter does not.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.not(Filter.labels({ paused: "true" }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const not = (filter: Filter): Filter => ({ _tag: "Not", filter })

/**
 * Whether a value matches a matcher.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * Filter.matchValue(Filter.present, "x") // true
 * Filter.matchValue({ a: 1 }, { a: 1 }) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const matchValue = (matcher: ValueMatcher, value: Json.Json | undefined): boolean => {
  if (matcher === present) return value !== undefined
  if (matcher === absent) return value === undefined
  if (typeof matcher === "function") {
    try {
      return matcher(value) === true
    } catch {
      return false
    }
  }
  return Json.equals(matcher, value)
}

const matchMap = (
  matchers: Readonly<Record<string, ValueMatcher>>,
  values: Json.JsonObject
): boolean =>
  Object.entries(matchers).every(([k, m]) =>
    matchValue(m, Object.hasOwn(values, k) ? values[k] : undefined)
  )

/**
 * Evaluates a filter.
 *
 * @example
 * ```ts
 * import { Filter } from "@kubefx/core"
 *
 * const ctx = { body: { metadata: { labels: { app: "db" } } }, reason: "create", old: undefined, new: {}, diff: [] }
 * Filter.matches(Filter.labels({ app: "db" }), ctx) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const matches = (filter: Filter, ctx: Context): boolean => {
  switch (filter._tag) {
    case "All":
      return true
    case "Labels":
      return matchMap(filter.matchers, Json.asObject(Json.get(ctx.body, ["metadata", "labels"])))
    case "Annotations":
      return matchMap(
        filter.matchers,
        Json.asObject(Json.get(ctx.body, ["metadata", "annotations"]))
      )
    case "Field":
      return matchValue(filter.value, Json.get(ctx.body, filter.path))
    case "Old":
      return matchValue(filter.value, ctx.old)
    case "New":
      return matchValue(filter.value, ctx.new)
    case "When":
      try {
        return filter.predicate(ctx) === true
      } catch {
        return false
      }
    case "And":
      return filter.filters.every((f) => matches(f, ctx))
    case "Or":
      return filter.filters.some((f) => matches(f, ctx))
    case "Not":
      return !matches(filter.filter, ctx)
  }
}
