/**
 * How a handler names the resource it serves, as Kopf accepts it: by plural alone
 * (`"ephemeralvolumeclaims"`), `plural.group` (`"ephemeralvolumeclaims.kopf.dev"`), by kind
 * (`"EphemeralVolumeClaim"`, recognized by its capital letter), by group + version + plural, or
 * by a full `Resource` value (which may also carry the spec's Schema).
 *
 * @since 0.1.0
 */
import { Predicate } from "effect"
import type * as Resource from "./Resource.ts"

/**
 * A normalized selector: every given field must match; absent fields match anything.
 *
 * @example
 * ```ts
 * import type { Selector } from "@kubefx/core"
 *
 * const s: Selector.Selector = { plural: "ephemeralvolumeclaims", group: "kopf.dev" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Selector {
  readonly group?: string
  readonly version?: string
  readonly plural?: string
  readonly kind?: string
}

/**
 * What handlers accept as a selector: a string (plural, `plural.group`, or Kind), a partial
 * `{ group, version, plural, kind }`, or a `Resource`.
 *
 * @example
 * ```ts
 * import type { Selector } from "@kubefx/core"
 *
 * const byPlural: Selector.Input = "ephemeralvolumeclaims"
 * const byGvp: Selector.Input = { group: "kopf.dev", version: "v1", plural: "ephemeralvolumeclaims" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Input<Spec = unknown> = string | Selector | Resource.Resource<Spec>

/**
 * Normalizes a selector input.
 *
 * @example
 * ```ts
 * import { Selector } from "@kubefx/core"
 *
 * Selector.make("ephemeralvolumeclaims.kopf.dev") // { plural: "ephemeralvolumeclaims", group: "kopf.dev" }
 * Selector.make("EphemeralVolumeClaim") // { kind: "EphemeralVolumeClaim" }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Input): Selector => {
  if (Predicate.isString(input)) {
    const dot = input.indexOf(".")
    if (dot > 0) return { plural: input.slice(0, dot), group: input.slice(dot + 1) }
    if (/^[A-Z]/.test(input)) return { kind: input }
    return { plural: input }
  }
  const out: { group?: string; version?: string; plural?: string; kind?: string } = {}
  if (input.group !== undefined) out.group = input.group
  if (input.version !== undefined) out.version = input.version
  if (input.plural !== undefined) out.plural = input.plural
  if (input.kind !== undefined) out.kind = input.kind
  return out
}

/**
 * Whether a selector selects a resource.
 *
 * @example
 * ```ts
 * import { Resource, Selector } from "@kubefx/core"
 *
 * const evc = Resource.make({ group: "kopf.dev", version: "v1", plural: "ephemeralvolumeclaims", kind: "EphemeralVolumeClaim" })
 * Selector.matches(Selector.make("ephemeralvolumeclaims"), evc) // true
 * Selector.matches(Selector.make("pods"), evc) // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const matches = (selector: Selector, resource: Resource.Resource<unknown>): boolean =>
  (selector.group === undefined || selector.group === resource.group) &&
  (selector.version === undefined || selector.version === resource.version) &&
  (selector.plural === undefined || selector.plural === resource.plural) &&
  (selector.kind === undefined || selector.kind === resource.kind)

/**
 * Formats a selector for messages.
 *
 * @example
 * ```ts
 * import { Selector } from "@kubefx/core"
 *
 * Selector.format({ plural: "pods" }) // "pods"
 * Selector.format({ kind: "Widget", plural: "widgets", group: "example.com", version: "v1" })
 * // "widgets.example.com/v1"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (selector: Selector): string =>
  [
    selector.plural ?? selector.kind,
    selector.group === undefined ? undefined : `.${selector.group}`,
    selector.version === undefined ? undefined : `/${selector.version}`
  ]
    .filter((x) => x !== undefined)
    .join("")
