/**
 * In-memory indexes of watched objects (Kopf's `@kopf.index`): an index function maps each
 * object to entries (`{ key: value }`), and the index collects, under each key, the values of
 * every object that has it. An index is a service: a handler reads it with `yield* MyIndex`, and
 * a registry that holds the index (`Registry.make(handler, MyIndex)`) provides it, so a handler
 * reading an index its registry does not hold does not type-check.
 *
 * The runtime watches each index's resource (also one no handler serves), keeps the index
 * current through changes, deletions and relists, and runs no handler before every index of
 * the registry has been filled from its first list. The {@link Store} here is that bookkeeping,
 * without I/O; the simulated cluster of `@kubefx/testing` keeps indexes with it too.
 *
 * An index function that throws (or returns something that is not an object) leaves the
 * object out of the index; the runtime logs it, naming the index and the object.
 *
 * @example
 * ```ts
 * import { Builtins, Handler, Index, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * // Pod names by the node they run on.
 * const podsByNode = Index.make("pods-by-node", Builtins.pods, (pod) => {
 *   const node = pod.body.spec?.nodeName
 *   return typeof node === "string" ? { [node]: pod.name } : {}
 * })
 *
 * const registry = Registry.make(
 *   Handler.onCreate("widgets.example.com", (ctx) =>
 *     Effect.map(podsByNode, (pods) => ({ onNode1: pods.get("node-1").length }))
 *   ),
 *   podsByNode
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Context, Predicate, Schema } from "effect"
import * as Filter from "./Filter.ts"
import { stringMap } from "./internal/metadata.ts"
import * as Json from "./Json.ts"
import * as Resource from "./Resource.ts"
import * as Selector from "./Selector.ts"

const TypeId: unique symbol = Symbol.for("@kubefx/core/Index")

/**
 * The service identifier of the index `Id` (what a handler reading it requires).
 *
 * @since 0.1.0
 * @category models
 */
export interface Identifier<Id extends string> {
  readonly [TypeId]: Id
}

/**
 * What a handler reads: the values under a key (of every object that has the key, in no
 * particular order), whether a key is there, the keys and their number. It is live: each call
 * answers from the index as it is at that moment.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lookup<K extends string, V> {
  readonly get: (key: K) => ReadonlyArray<V>
  readonly has: (key: K) => boolean
  readonly keys: () => ReadonlyArray<K>
  readonly size: () => number
}

/**
 * What an index function is given: the object and its usual parts.
 *
 * @since 0.1.0
 * @category models
 */
export interface IndexContext<Spec> {
  readonly body: Json.JsonObject & { readonly spec?: Json.JsonObject }
  /** The spec, decoded with the resource's Schema when it has one. */
  readonly spec: Spec
  readonly meta: Json.JsonObject
  readonly status: Json.JsonObject
  readonly name: string
  readonly namespace: string | undefined
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
}

/**
 * The parts of an index the runtime works with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Definition {
  readonly id: string
  readonly selector: Selector.Selector
  /** The resource, when declared with a `Resource` (what RBAC generation knows of it). */
  readonly resource: Resource.ApiResource | undefined
  readonly filter: Filter.Filter
  /** The object's entries; throws when the index function throws or answers a non-object. */
  readonly entries: (body: Json.JsonObject) => ReadonlyArray<readonly [string, unknown]>
}

/**
 * A declared index: the service key handlers yield (`yield* index`) and its {@link Definition}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Index<Id extends string, K extends string, V>
  extends Context.Service<Identifier<Id>, Lookup<K, V>> {
  readonly [TypeId]: Definition
}

/**
 * Any index.
 *
 * @since 0.1.0
 * @category models
 */
export interface Any extends Context.Key<Identifier<string>, unknown> {
  readonly [TypeId]: Definition
}

/**
 * The service identifier of an index type.
 *
 * @since 0.1.0
 * @category models
 */
export type IdentifierOf<I> = I extends Any & Context.Key<infer Id, unknown> ? Id : never

/**
 * Options of an index: its filters (as handlers have them); objects that do not match are not
 * in the index.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly labels?: Readonly<Record<string, Filter.ValueMatcher>> | undefined
  readonly annotations?: Readonly<Record<string, Filter.ValueMatcher>> | undefined
  readonly when?: ((ctx: Filter.Context) => boolean) | undefined
}

const contextOf = <Spec>(
  body: Json.JsonObject,
  decode: ((u: unknown) => unknown) | undefined
): IndexContext<Spec> => {
  const meta = Json.asObject(body.metadata)
  return {
    body: body as IndexContext<Spec>["body"],
    spec: (decode === undefined ? Json.asObject(body.spec) : decode(body.spec)) as Spec,
    meta,
    status: Json.asObject(body.status),
    name: typeof meta.name === "string" ? meta.name : "",
    namespace: typeof meta.namespace === "string" ? meta.namespace : undefined,
    labels: stringMap(meta.labels),
    annotations: stringMap(meta.annotations)
  }
}

const filterOf = (options: Options): Filter.Filter => {
  const filters: Array<Filter.Filter> = []
  if (options.labels !== undefined) filters.push(Filter.labels(options.labels))
  if (options.annotations !== undefined) filters.push(Filter.annotations(options.annotations))
  if (options.when !== undefined) filters.push(Filter.when(options.when))
  return filters.length === 0 ? Filter.all : Filter.and(...filters)
}

/**
 * Declares an index: its id (unique in a registry; the service's key is `kubefx/index/<id>`),
 * the objects it indexes (a selector, as handlers take it), optional filters, and the index
 * function, which answers the object's entries as a record (`{}`: none). The id must be given
 * as a string literal for the service to be typed apart from other indexes.
 *
 * @example
 * ```ts
 * import { Builtins, Index } from "@kubefx/core"
 *
 * const claimsByVolume = Index.make(
 *   "claims-by-volume",
 *   Builtins.persistentVolumeClaims,
 *   { labels: { app: "evc" } },
 *   (pvc) => {
 *     const volume = pvc.body.spec?.volumeName
 *     return typeof volume === "string" ? { [volume]: `${pvc.namespace}/${pvc.name}` } : {}
 *   }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  <const Id extends string, Spec, K extends string, V>(
    id: Id,
    selector: Selector.Input<Spec>,
    fn: (object: IndexContext<Spec>) => Readonly<Partial<Record<K, V>>>
  ): Index<Id, K, V>
  <const Id extends string, Spec, K extends string, V>(
    id: Id,
    selector: Selector.Input<Spec>,
    options: Options,
    fn: (object: IndexContext<Spec>) => Readonly<Partial<Record<K, V>>>
  ): Index<Id, K, V>
} = (
  id: string,
  selector: Selector.Input<unknown>,
  optionsOrFn: Options | ((object: IndexContext<unknown>) => unknown),
  maybeFn?: (object: IndexContext<unknown>) => unknown
): never => {
  if (id === "" || id.includes("/"))
    throw new Error(
      `kubefx: index id ${JSON.stringify(id)}: an id may not be empty nor contain '/'`
    )
  const fn = typeof optionsOrFn === "function" ? optionsOrFn : maybeFn
  const options = typeof optionsOrFn === "function" ? {} : optionsOrFn
  if (typeof fn !== "function") throw new Error(`kubefx: index ${JSON.stringify(id)}: no function`)
  const declared = Resource.declaredBy(selector)
  const decode =
    declared?.spec === undefined
      ? undefined
      : Schema.decodeUnknownSync(declared.spec as Schema.Decoder<unknown>)
  const definition: Definition = {
    id,
    selector: Selector.make(selector as Selector.Input),
    resource: declared === undefined ? undefined : Resource.apiOf(declared),
    filter: filterOf(options),
    entries: (body) => {
      const answer = fn(contextOf(body, decode))
      if (!Predicate.isObject(answer) || Array.isArray(answer))
        throw new Error(
          `the index function answered ${Array.isArray(answer) ? "an array" : String(answer)}, not a record of entries`
        )
      return Object.entries(answer).filter(([, v]) => v !== undefined)
    }
  }
  const service = Context.Service<Identifier<string>, Lookup<string, unknown>>(`kubefx/index/${id}`)
  return Object.assign(service, { [TypeId]: definition }) as never
}

/**
 * Whether a value is an index.
 *
 * @example
 * ```ts
 * import { Builtins, Index } from "@kubefx/core"
 *
 * Index.isIndex(Index.make("by-node", Builtins.pods, () => ({}))) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isIndex = (u: unknown): u is Any =>
  (typeof u === "object" || typeof u === "function") && u !== null && TypeId in u

/**
 * The definition of an index.
 *
 * @example
 * ```ts
 * import { Builtins, Index } from "@kubefx/core"
 *
 * Index.definition(Index.make("by-node", Builtins.pods, () => ({}))).id // "by-node"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const definition = (index: Any): Definition => index[TypeId]

/** An object's key in a store: `namespace/name` (`name` for cluster-scoped objects). */
const objectKey = (body: Json.JsonObject): string => {
  const meta = Json.asObject(body.metadata)
  const name = typeof meta.name === "string" ? meta.name : ""
  return typeof meta.namespace === "string" ? `${meta.namespace}/${name}` : name
}

const namespaceOf = (body: Json.JsonObject): string | undefined => {
  const ns = Json.get(body, ["metadata", "namespace"])
  return typeof ns === "string" ? ns : undefined
}

/**
 * The contents of one index, kept from watch events: {@link Store.applied} (created or changed),
 * {@link Store.deleted}, {@link Store.synced} (a relist of a namespace, or of the whole
 * cluster: what it does not hold is gone). `applied` answers the index function's error, if it
 * threw: the object is then out of the index.
 *
 * @example
 * ```ts
 * import { Builtins, Index } from "@kubefx/core"
 *
 * const byNode = Index.make("by-node", Builtins.pods, (pod) => ({ [String(pod.body.spec?.nodeName)]: pod.name }))
 * const store = new Index.Store(Index.definition(byNode))
 * store.applied({ metadata: { name: "a", namespace: "ns" }, spec: { nodeName: "n1" } })
 * store.lookup.get("n1") // ["a"]
 * ```
 *
 * @since 0.1.0
 * @category store
 */
export class Store {
  readonly #byObject = new Map<string, ReadonlyArray<readonly [string, unknown]>>()
  readonly #byKey = new Map<string, Map<string, unknown>>()
  readonly #namespaces = new Map<string, string | undefined>()

  readonly definition: Definition

  constructor(definition: Definition) {
    this.definition = definition
  }

  /** The object was created or changed. Answers the index function's error, if it threw. */
  applied(body: Json.JsonObject): Error | undefined {
    const key = objectKey(body)
    this.#remove(key)
    if (
      !Filter.matches(this.definition.filter, {
        body,
        reason: "index",
        old: undefined,
        new: undefined,
        diff: []
      })
    )
      return undefined
    let entries: ReadonlyArray<readonly [string, unknown]>
    try {
      entries = this.definition.entries(body)
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e))
    }
    this.#byObject.set(key, entries)
    this.#namespaces.set(key, namespaceOf(body))
    for (const [k, v] of entries) {
      const values = this.#byKey.get(k) ?? new Map<string, unknown>()
      if (values.size === 0) this.#byKey.set(k, values)
      values.set(key, v)
    }
    return undefined
  }

  /** The object is gone. */
  deleted(body: Json.JsonObject): void {
    this.#remove(objectKey(body))
  }

  /**
   * A list of a namespace (`undefined`: the whole cluster) completed with these objects:
   * objects of that scope that it does not hold are gone. Answers the index function's errors.
   */
  synced(
    namespace: string | undefined,
    objects: ReadonlyArray<Json.JsonObject>
  ): ReadonlyArray<{ readonly body: Json.JsonObject; readonly error: Error }> {
    const listed = new Set(objects.map(objectKey))
    for (const [key, ns] of this.#namespaces)
      if ((namespace === undefined || ns === namespace) && !listed.has(key)) this.#remove(key)
    const errors: Array<{ readonly body: Json.JsonObject; readonly error: Error }> = []
    for (const body of objects) {
      const error = this.applied(body)
      if (error !== undefined) errors.push({ body, error })
    }
    return errors
  }

  /** The number of objects with entries. */
  get objects(): number {
    return this.#byObject.size
  }

  /** What handlers read (live). */
  readonly lookup: Lookup<string, unknown> = {
    get: (key) => Array.from(this.#byKey.get(key)?.values() ?? []),
    has: (key) => this.#byKey.has(key),
    keys: () => Array.from(this.#byKey.keys()),
    size: () => this.#byKey.size
  }

  #remove(key: string): void {
    const entries = this.#byObject.get(key)
    if (entries === undefined) return
    this.#byObject.delete(key)
    this.#namespaces.delete(key)
    for (const [k] of entries) {
      const values = this.#byKey.get(k)
      values?.delete(key)
      if (values?.size === 0) this.#byKey.delete(k)
    }
  }
}
