/**
 * A registry is an immutable value holding handlers in declaration order. Adding returns a new
 * registry. Handler ids are made unique per selector at insertion: a derived id already taken
 * gets a `-2`, `-3`... suffix; an explicit id already taken is a programming error (thrown, as
 * Kopf's `DuplicateHandlerError`). A malformed field path is thrown by the handler constructors
 * (at the handler's declaration); a well-formed field the spec Schema does not have is not an
 * error but a warning, from {@link fieldWarnings}.
 *
 * A registry also says which other resources its handlers read or write through the client
 * ({@link uses}): the served resources the runtime addresses itself, these the handlers do, and
 * RBAC generation grants both.
 *
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import * as Pipeable from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import * as Activity from "./Activity.ts"
import * as Admission from "./Admission.ts"
import * as Conversion from "./Conversion.ts"
import * as Handler from "./Handler.ts"
import * as Json from "./Json.ts"
import * as Index from "./ObjectIndex.ts"
import type * as Resource from "./Resource.ts"
import * as SchemaPath from "./SchemaPath.ts"
import * as Selector from "./Selector.ts"

/**
 * A registry of handlers requiring the services `R`.
 *
 * @example
 * ```ts
 * import { Registry } from "@kubefx/core"
 *
 * const r: Registry.Registry<never> = Registry.empty
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Registry<out R> extends Pipeable.Pipeable {
  readonly _tag: "Registry"
  readonly handlers: ReadonlyArray<Handler.Handler<R>>
  /** The resources handlers address through the client, besides those they serve. */
  readonly uses: ReadonlyArray<Use>
  /** The indexes the registry keeps (and provides to its handlers). */
  readonly indexes: ReadonlyArray<Index.Any>
  /** The operator-wide activities: startup, cleanup, probes (see `Activity`). */
  readonly activities: ReadonlyArray<Activity.Activity<R>>
  /** The admission webhooks (`Handler.validate`, `Handler.mutate`), served by the runtime's
   * webhook server, not run in reconciliation steps. */
  readonly webhooks: ReadonlyArray<Admission.Webhook<R>>
  /** The versioned resources whose conversions the webhook server answers. */
  readonly conversions: ReadonlyArray<Conversion.Versioned>
}

/**
 * A Kubernetes API verb, as RBAC rules name them.
 *
 * @example
 * ```ts
 * import type { Registry } from "@kubefx/core"
 *
 * const verb: Registry.Verb = "create"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Verb =
  | "get"
  | "list"
  | "watch"
  | "create"
  | "update"
  | "patch"
  | "delete"
  | "deletecollection"

/**
 * The verbs in the order RBAC rules list them (kubectl's order).
 *
 * @example
 * ```ts
 * import { Registry } from "@kubefx/core"
 *
 * Registry.verbs[0] // "get"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const verbs: ReadonlyArray<Verb> = [
  "get",
  "list",
  "watch",
  "create",
  "update",
  "patch",
  "delete",
  "deletecollection"
]

/**
 * A resource the handlers address through the client, with the verbs they use on it.
 *
 * @example
 * ```ts
 * import { Builtins, type Registry } from "@kubefx/core"
 *
 * const use: Registry.Use = { resource: Builtins.persistentVolumeClaims, verbs: ["get", "create"] }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Use {
  readonly resource: Resource.ApiResource
  readonly verbs: ReadonlyArray<Verb>
}

type Parts<R> = Omit<Registry<R>, "_tag" | "pipe">

const fromParts = <R>(parts: Parts<R>): Registry<R> =>
  Object.assign(Object.create(Pipeable.Prototype), { _tag: "Registry", ...parts })

/**
 * The empty registry.
 *
 * @example
 * ```ts
 * import { Registry } from "@kubefx/core"
 *
 * Registry.empty.handlers.length // 0
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: Registry<never> = fromParts({
  handlers: [],
  uses: [],
  indexes: [],
  activities: [],
  webhooks: [],
  conversions: []
})

/**
 * Whether a value is a registry. The check is structural (a `_tag` of `"Registry"` with arrays
 * of handlers and uses), so it also recognises a registry built by another copy of this
 * package, as a module loaded by the `kubefx` command may be.
 *
 * @example
 * ```ts
 * import { Registry } from "@kubefx/core"
 *
 * Registry.isRegistry(Registry.empty) // true
 * Registry.isRegistry({ handlers: [] }) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isRegistry = (value: unknown): value is Registry<unknown> =>
  Predicate.hasProperty(value, "_tag") &&
  value._tag === "Registry" &&
  Predicate.hasProperty(value, "handlers") &&
  Array.isArray(value.handlers) &&
  Predicate.hasProperty(value, "uses") &&
  Array.isArray(value.uses)

const unique = <R>(
  existing: ReadonlyArray<Handler.Handler<R>>,
  handler: Handler.Handler<R>
): Handler.Handler<R> => {
  const key = Selector.format(handler.selector)
  const taken = new Set(
    existing.filter((h) => Selector.format(h.selector) === key).map((h) => h.id)
  )
  if (!taken.has(handler.id)) return handler
  if (handler.explicitId)
    throw new Error(`kubefx: duplicate handler id ${JSON.stringify(handler.id)} for ${key}`)
  let n = 2
  while (taken.has(`${handler.id}-${n}`)) n++
  return { ...handler, id: `${handler.id}-${n}` }
}

/**
 * Adds a handler (data-first or data-last).
 *
 * @example
 * ```ts
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const registry = Registry.empty.pipe(
 *   Registry.add(Handler.onCreate("pods", () => Effect.void)),
 *   Registry.add(Handler.onDelete("pods", () => Effect.void))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const add: {
  <R2>(handler: Handler.Handler<R2>): <R>(self: Registry<R>) => Registry<R | R2>
  <R, R2>(self: Registry<R>, handler: Handler.Handler<R2>): Registry<R | R2>
} = dual(
  2,
  <R, R2>(self: Registry<R>, handler: Handler.Handler<R2>): Registry<R | R2> =>
    fromParts<R | R2>({
      ...self,
      handlers: [...self.handlers, unique<R | R2>(self.handlers, handler)]
    })
)

/**
 * Declares that handlers address `resource` through the client with `verbs` (data-first or
 * data-last): children they create, objects they read. The runtime does not need it to run;
 * RBAC generation grants it (on top of what the runtime itself uses on the served resources).
 * Declaring a resource again adds verbs to it.
 *
 * @example
 * ```ts
 * import { Builtins, Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const registry = Registry.make(Handler.onCreate("widgets.example.com", () => Effect.void)).pipe(
 *   Registry.uses(Builtins.configMaps, ["get", "create", "patch"])
 * )
 * registry.uses.length // 1
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const uses: {
  (
    resource: Resource.ApiResource,
    verbs: ReadonlyArray<Verb>
  ): <R>(self: Registry<R>) => Registry<R>
  <R>(self: Registry<R>, resource: Resource.ApiResource, verbs: ReadonlyArray<Verb>): Registry<R>
} = dual(
  3,
  <R>(self: Registry<R>, resource: Resource.ApiResource, verbs: ReadonlyArray<Verb>): Registry<R> =>
    fromParts({ ...self, uses: [...self.uses, { resource, verbs }] })
)

/**
 * The services a registry built from these handlers and indexes requires: its handlers',
 * without the indexes it holds (which the runtime provides).
 *
 * @since 0.1.0
 * @category models
 */
export type Services<Item> = Exclude<
  Item extends Handler.Handler<infer R>
    ? R
    : Item extends Activity.Activity<infer R>
      ? R
      : Item extends Admission.Webhook<infer R>
        ? R
        : never,
  Index.IdentifierOf<Item>
>

/**
 * Builds a registry from handlers, in order, the indexes they read (see `Index`), the
 * operator's activities (see `Activity`) and its admission webhooks (`Handler.validate`,
 * `Handler.mutate`) and the versioned resources whose conversions it answers (`Conversion.make`).
 * An index or activity id given twice throws, as do the conversions of a resource given twice; so does a webhook id given twice
 * (derived webhook ids are made unique with `-2`, `-3`...).
 *
 * @example
 * ```ts
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const registry = Registry.make(
 *   Handler.onCreate("pods", () => Effect.void),
 *   Handler.onDelete("pods", () => Effect.void)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Items extends ReadonlyArray<
    | Handler.Handler<unknown>
    | Index.Any
    | Activity.Activity<unknown>
    | Admission.Webhook<unknown>
    | Conversion.Versioned
  >
>(
  ...items: Items
): Registry<Services<Items[number]>> => {
  let registry: Registry<unknown> = empty
  for (const item of items) {
    if (Activity.isActivity(item)) {
      const { kind, id } = item
      if (registry.activities.some((a) => a.kind === kind && a.id === id))
        throw new Error(`kubefx: duplicate ${kind} activity id ${JSON.stringify(id)}`)
      registry = fromParts({ ...registry, activities: [...registry.activities, item] })
    } else if (Admission.isWebhook(item)) {
      registry = fromParts({
        ...registry,
        webhooks: [...registry.webhooks, uniqueWebhook(registry.webhooks, item)]
      })
    } else if (Conversion.isVersioned(item)) {
      const key = `${item.plural}.${item.group}`
      if (registry.conversions.some((c) => `${c.plural}.${c.group}` === key))
        throw new Error(`kubefx: the conversions of ${key} are given twice`)
      registry = fromParts({ ...registry, conversions: [...registry.conversions, item] })
    } else if (Index.isIndex(item)) {
      const { id } = Index.definition(item)
      if (registry.indexes.some((i) => Index.definition(i).id === id))
        throw new Error(`kubefx: duplicate index id ${JSON.stringify(id)}`)
      registry = fromParts({ ...registry, indexes: [...registry.indexes, item] })
    } else registry = add(registry, item)
  }
  return registry as Registry<Services<Items[number]>>
}

/**
 * A webhook with an id no other webhook has: ids name the webhooks' URL paths and their names in
 * the webhook configurations, so they are unique across kinds and resources. A derived id already
 * taken gets `-2`, `-3`...; an explicit one is a mistake, thrown naming both handlers.
 */
const uniqueWebhook = <R>(
  existing: ReadonlyArray<Admission.Webhook<R>>,
  webhook: Admission.Webhook<R>
): Admission.Webhook<R> => {
  const taken = new Map(existing.map((w) => [w.id, w]))
  const other = taken.get(webhook.id)
  if (other === undefined) return webhook
  if (webhook.explicitId)
    throw new Error(
      `kubefx: duplicate webhook id ${JSON.stringify(webhook.id)}: the ${webhook.kind} handler of ${webhook.resource.plural} and the ${other.kind} handler of ${other.resource.plural} both have it; give one another id`
    )
  let n = 2
  while (taken.has(`${webhook.id}-${n}`)) n++
  return { ...webhook, id: `${webhook.id}-${n}` }
}

/**
 * The handlers for a resource, in declaration order.
 *
 * @example
 * ```ts
 * import { Handler, Registry, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const pods = Resource.make({ group: "", version: "v1", plural: "pods", kind: "Pod" })
 * Registry.forResource(Registry.make(Handler.onCreate("pods", () => Effect.void)), pods).length // 1
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const forResource = <R>(
  registry: Registry<R>,
  resource: Resource.Resource<unknown>
): ReadonlyArray<Handler.Handler<R>> =>
  registry.handlers.filter((h) => Selector.matches(h.selector, resource))

/**
 * Whether kubefx needs its finalizer on objects of the resource: a non-optional delete handler
 * exists for it.
 *
 * @example
 * ```ts
 * import { Handler, Registry, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const pods = Resource.make({ group: "", version: "v1", plural: "pods", kind: "Pod" })
 * Registry.needsFinalizer(Registry.make(Handler.onDelete("pods", () => Effect.void)), pods) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const needsFinalizer = (
  registry: Registry<unknown>,
  resource: Resource.Resource<unknown>
): boolean => forResource(registry, resource).some(Handler.needsFinalizer)

/**
 * The selectors the registry serves (what the runtime must watch), without duplicates.
 *
 * @example
 * ```ts
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * Registry.selectors(Registry.make(Handler.onCreate("pods", () => Effect.void))) // [{ plural: "pods" }]
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const selectors = (registry: Registry<unknown>): ReadonlyArray<Selector.Selector> => {
  const seen = new Map<string, Selector.Selector>()
  for (const h of registry.handlers) seen.set(Selector.format(h.selector), h.selector)
  return [...seen.values()]
}

const resourceName = (selector: Selector.Selector): string =>
  selector.plural === undefined
    ? (selector.kind ?? Selector.format(selector))
    : selector.group === undefined || selector.group === ""
      ? selector.plural
      : `${selector.plural}.${selector.group}`

const orList = (items: ReadonlyArray<string>): string =>
  items.length <= 1
    ? (items[0] ?? "")
    : `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`

/**
 * One warning per handler whose `field` (from `onField` or the `field` option) lies under
 * `spec` and names a path that the handler's spec Schema (from its resource,
 * `Resource.make({ ..., spec })`, or its `spec` option) does not have, with the closest
 * existing paths (see `SchemaPath.check`). Such a handler never runs for that field: the
 * warning is usually a typo. Handlers without a spec Schema, or with a field outside `spec`,
 * are not checked. Pure: an operator calls it once at start and logs each warning
 * (`Effect.forEach(Registry.fieldWarnings(registry), (w) => Effect.logWarning(w))`).
 *
 * @example
 * ```ts
 * import { Handler, Registry, Resource } from "@kubefx/core"
 * import { Effect, Schema } from "effect"
 *
 * const evc = Resource.make({
 *   group: "kopf.dev", version: "v1", plural: "ephemeralvolumeclaims", kind: "EphemeralVolumeClaim",
 *   spec: Schema.Struct({ field: Schema.String })
 * })
 * Registry.fieldWarnings(Registry.make(Handler.onUpdate(evc, { id: "update_fn", field: "spec.feild" }, () => Effect.void)))
 * // ["handler 'update_fn' watches spec.feild, which the spec schema of ephemeralvolumeclaims.kopf.dev does not have; did you mean spec.field?"]
 * ```
 *
 * @since 0.1.0
 * @category diagnostics
 */
export const fieldWarnings = (registry: Registry<unknown>): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const h of registry.handlers) {
    if (h.spec === undefined || h.field === undefined || h.field[0] !== "spec") continue
    const found = SchemaPath.check(h.spec, h.field.slice(1))
    if (found._tag === "Found") continue
    const suggestions = found.suggestions.map((p) => Json.formatPath(["spec", ...p]))
    out.push(
      `handler '${h.id}' watches ${Json.formatPath(h.field)}, which the spec schema of ${resourceName(h.selector)} does not have; did you mean ${orList(suggestions)}?`
    )
  }
  return out
}
