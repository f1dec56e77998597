/**
 * Resolution: which resource of the API server a handler's selector means, from the server's
 * discovery documents, and whether it has a `status` subresource.
 *
 * A selector with group and version is looked up there; one without is searched in the core
 * group first, then in every group's preferred version (or the version asked for), and the
 * first match wins (by plural, singular, short name or kind). {@link resolveAll} waits for an
 * API server that is down, restarting or refusing for a moment (its caches are cold after a
 * start), logging why; a selector that matches nothing on a ready server fails with the
 * closest resources it does serve.
 *
 * @since 0.1.0
 */

import { Registry, Resource, Selector, Suggest } from "@kubefx/core"
import { Data, Effect, Predicate, Schedule } from "effect"
import * as Format from "./internal/format.ts"
import type { KubeService } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import * as Paths from "./Paths.ts"

/**
 * A resource the operator serves: the core's view (what handlers select), the API's view, and
 * whether it has a `status` subresource.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly resource: Resource.Resource<unknown>
  readonly api: Resource.ApiResource
  readonly statusSubresource: boolean
}

/**
 * A selector matches no resource that the (ready) API server serves. The message names the
 * closest ones it does serve and how to install a missing CRD.
 *
 * @example
 * ```ts
 * import { Discovery } from "@kubefx/runtime"
 *
 * const e = new Discovery.NotServed({ selector: "widgets", message: "no resource matches widgets" })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NotServed extends Data.TaggedError("NotServed")<{
  readonly selector: string
  readonly message: string
}> {}

type Doc = Record<string, unknown>

const records = (value: unknown): ReadonlyArray<Doc> =>
  Array.isArray(value) ? value.filter((v): v is Doc => Predicate.isObject(v)) : []

const field = (doc: unknown, name: string): unknown =>
  Predicate.isObject(doc) ? (doc as Doc)[name] : undefined

interface GroupVersion {
  readonly group: string
  readonly version: string
}

/** The group versions to search for a selector, in order. */
const groupVersions = (
  kube: KubeService,
  selector: Selector.Selector
): Effect.Effect<ReadonlyArray<GroupVersion>, KubeError.KubeError> =>
  Effect.gen(function* () {
    if (selector.group !== undefined && selector.version !== undefined)
      return [{ group: selector.group, version: selector.version }]
    const out: Array<GroupVersion> = []
    if (
      (selector.group === undefined || selector.group === "") &&
      (selector.version === undefined || selector.version === "v1")
    )
      out.push({ group: "", version: "v1" })
    if (selector.group === "") return out
    const apis = yield* kube.request({ method: "GET", path: "/apis" })
    for (const g of records(field(apis, "groups"))) {
      const name = field(g, "name")
      if (typeof name !== "string") continue
      if (selector.group !== undefined && selector.group !== name) continue
      const versions = records(field(g, "versions")).map((v) => field(v, "version"))
      const preferred = field(field(g, "preferredVersion"), "version")
      const version = selector.version ?? preferred
      if (typeof version === "string" && versions.includes(version))
        out.push({ group: name, version })
    }
    return out
  })

/** Discovery documents by client and group version path; an entry goes when a lookup misses. */
const documents = new WeakMap<KubeService, Map<string, ReadonlyArray<Doc>>>()

/** The resources of one group version (cached); `[]` when a lenient read fails. */
const resourcesOf = (kube: KubeService, gv: GroupVersion, strict: boolean) => {
  const path = Paths.groupVersionPath(gv)
  let cache = documents.get(kube)
  if (cache === undefined) {
    cache = new Map()
    documents.set(kube, cache)
  }
  const cached = cache.get(path)
  if (cached !== undefined) return Effect.succeed(cached)
  const request = Effect.map(kube.request({ method: "GET", path }), (doc) => {
    const resources = records(field(doc, "resources"))
    cache.set(path, resources)
    return resources
  })
  return strict
    ? request
    : request.pipe(
        Effect.catch((e) =>
          Effect.logDebug(`discovery of ${gv.group}/${gv.version} failed: ${e._tag}`).pipe(
            Effect.as([] as ReadonlyArray<Doc>)
          )
        )
      )
}

/** The target of a selector in one group version's resources, if it is there. */
const lookup = (
  selector: Selector.Selector,
  gv: GroupVersion,
  resources: ReadonlyArray<Doc>
): Target | undefined => {
  const found = resources.find((r) => matches(selector, r))
  if (found === undefined) return undefined
  const api: Resource.ApiResource = {
    group: gv.group,
    version: gv.version,
    plural: String(found.name),
    kind: String(found.kind),
    namespaced: found.namespaced === true
  }
  return {
    api,
    resource: Resource.make(api),
    statusSubresource: resources.some((r) => r.name === `${api.plural}/status`)
  }
}

/** Forgets what is cached for these group versions: a miss may be a resource just installed. */
const forget = (kube: KubeService, gvs: ReadonlyArray<GroupVersion>) => {
  for (const gv of gvs) documents.get(kube)?.delete(Paths.groupVersionPath(gv))
}

const matches = (selector: Selector.Selector, r: Doc): boolean => {
  const name = r.name
  if (typeof name !== "string" || name.includes("/")) return false
  const plural = selector.plural
  if (
    plural !== undefined &&
    name !== plural &&
    r.singularName !== plural &&
    !(Array.isArray(r.shortNames) && r.shortNames.includes(plural))
  )
    return false
  return selector.kind === undefined || r.kind === selector.kind
}

/** The served resources closest to a selector, as `plural.group`, at most three. */
const closest = (
  kube: KubeService,
  selector: Selector.Selector
): Effect.Effect<ReadonlyArray<string>, KubeError.KubeError> =>
  Effect.gen(function* () {
    const { group: _, version: __, ...anywhere } = selector
    const served: Array<{ readonly name: string; readonly spellings: ReadonlyArray<string> }> = []
    for (const gv of yield* groupVersions(kube, anywhere)) {
      for (const r of yield* resourcesOf(kube, gv, false)) {
        const plural = r.name
        if (typeof plural !== "string" || plural.includes("/")) continue
        const name = gv.group === "" ? plural : `${plural}.${gv.group}`
        const own = [plural, String(r.singularName ?? ""), String(r.kind ?? "").toLowerCase()]
        served.push({ name, spellings: selector.group === undefined ? own : [name] })
      }
    }
    const word =
      selector.group === undefined
        ? (selector.plural ?? selector.kind?.toLowerCase() ?? "")
        : `${selector.plural ?? selector.kind?.toLowerCase() ?? ""}.${selector.group}`
    return Suggest.closest(word, served, { spellings: (s) => s.spellings }).map((s) => s.name)
  })

/**
 * Whether the API server says it is ready (its `/readyz`, open to every user by default). A
 * server that refuses to say is taken as ready: then a missing resource is reported at once.
 */
const serverReady = (kube: KubeService): Effect.Effect<boolean> =>
  kube.request({ method: "GET", path: "/readyz" }).pipe(
    Effect.as(true),
    Effect.catch((e) => Effect.succeed(e._tag === "Forbidden" || e._tag === "Unauthorized"))
  )

const notServed = (kube: KubeService, selector: Selector.Selector) =>
  Effect.gen(function* () {
    const format = Selector.format(selector)
    const near = yield* closest(kube, selector).pipe(Effect.orElseSucceed(() => []))
    return new NotServed({
      selector: format,
      message: `no resource served by the API server matches ${format}${near.length === 0 ? "" : ` (closest served: ${near.join(", ")})`}; if it is a custom resource, install its CRD first (e.g. kubectl apply -f <its CRD manifest>; Crd.make builds the manifest from the resource's Schema)`
    })
  })

/**
 * Finds the resource a selector means, and whether it has a `status` subresource. Fails with
 * {@link NotServed} when no resource matches (also while a restarting server does not serve
 * the group yet: {@link resolveAll} waits for that), or with the error of a discovery request.
 *
 * @example
 * ```ts
 * import { Selector } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Discovery, Kube } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   const target = yield* Discovery.resolve(kube, Selector.make("widgets.example.com"))
 *   return target.statusSubresource
 * })
 * ```
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolve = (
  kube: KubeService,
  selector: Selector.Selector
): Effect.Effect<Target, KubeError.KubeError | NotServed> =>
  Effect.gen(function* () {
    const explicit = selector.group !== undefined && selector.version !== undefined
    const gvs = yield* groupVersions(kube, selector)
    for (const gv of gvs) {
      const resources = yield* resourcesOf(kube, gv, explicit).pipe(
        // An explicit group version the server does not serve is "no match", not a failure.
        Effect.catchTag("NotFound", () => Effect.succeed([]))
      )
      const target = lookup(selector, gv, resources)
      if (target !== undefined) return target
    }
    forget(kube, gvs)
    return yield* Effect.flatMap(notServed(kube, selector), Effect.fail)
  })

/**
 * What {@link find} looks up: a group version and a kind or a plural (or short name).
 *
 * @since 0.1.0
 * @category models
 */
export type Query =
  | { readonly group: string; readonly version: string; readonly kind: string }
  | { readonly group: string; readonly version: string; readonly plural: string }

/**
 * Finds a resource in one group version's discovery document (cached per client until a
 * lookup misses), without {@link resolve}'s search and suggestions: for manifests, whose
 * `apiVersion` and `kind` say exactly what they are.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Discovery, Kube } from "@kubefx/runtime"
 *
 * const deployments = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   return yield* Discovery.find(kube, { group: "apps", version: "v1", kind: "Deployment" })
 * })
 * ```
 *
 * @since 0.1.0
 * @category resolution
 */
export const find = (
  kube: KubeService,
  query: Query
): Effect.Effect<Target, KubeError.KubeError | NotServed> =>
  Effect.gen(function* () {
    const gv = { group: query.group, version: query.version }
    const resources = yield* resourcesOf(kube, gv, true).pipe(
      Effect.catchTag("NotFound", () => Effect.succeed([]))
    )
    const selector = "kind" in query ? { ...gv, kind: query.kind } : { ...gv, plural: query.plural }
    const target = lookup(selector, gv, resources)
    if (target !== undefined) return target
    forget(kube, [gv])
    const what = "kind" in query ? `kind ${query.kind}` : `resource ${query.plural}`
    return yield* new NotServed({
      selector: Selector.format(selector),
      message: `${what} is not served in ${Resource.apiVersion(gv)}`
    })
  })

/**
 * How long {@link resolveAll} waits between attempts: 500 ms doubling, at most 30 s, jittered.
 *
 * @example
 * ```ts
 * import { Discovery } from "@kubefx/runtime"
 *
 * const schedule = Discovery.defaultBackoff
 * ```
 *
 * @since 0.1.0
 * @category retries
 */
export const defaultBackoff: Schedule.Schedule<unknown, unknown> = Schedule.min([
  Schedule.exponential("500 millis"),
  Schedule.spaced("30 seconds")
]).pipe(Schedule.jittered)

const waitReason = (e: KubeError.KubeError | NotServed): string => {
  switch (e._tag) {
    case "NotServed":
      return "the API server is not ready and does not serve it yet"
    case "TransportError":
      return `the API server is unreachable (${e.code}: ${e.message})`
    case "Forbidden":
    case "Unauthorized":
      return `the API server refused discovery (${e.status}: ${e.message}); a restarted server does so for a moment, a lasting refusal means the credentials are wrong`
    default:
      return `discovery failed (${e._tag}: ${e.message})`
  }
}

/** How long a resource missing from a ready server's discovery is waited for. */
const notServedGraceMillis = 10_000

/**
 * Resolves every selector of a registry (see {@link resolve}), without duplicates. Waits, with
 * `backoff` and a log line per attempt, while the API server is unreachable, refusing,
 * failing (5xx, 429) or not ready; fails with {@link NotServed} once a ready server serves no
 * match (after 10 s: a CRD created a moment ago may not be in discovery yet), and at once on a
 * malformed request (400).
 *
 * @example
 * ```ts
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Discovery, Kube } from "@kubefx/runtime"
 *
 * const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   return yield* Discovery.resolveAll(kube, registry)
 * })
 * ```
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolveAll = (
  kube: KubeService,
  registry: Registry.Registry<unknown>,
  backoff: Schedule.Schedule<unknown, unknown> = defaultBackoff
): Effect.Effect<ReadonlyArray<Target>, KubeError.KubeError | NotServed> =>
  Effect.map(resolveEach(kube, Registry.selectors(registry), backoff), (targets) => [
    ...new Map(targets.map((t) => [Resource.format(t.resource), t])).values()
  ])

/**
 * Resolves selectors (see {@link resolve}): one target per selector, in their order, waiting
 * as {@link resolveAll} does.
 *
 * @example
 * ```ts
 * import { Selector } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Discovery, Kube } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   return yield* Discovery.resolveEach(kube, [Selector.make("pods")])
 * })
 * ```
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolveEach = (
  kube: KubeService,
  selectors: ReadonlyArray<Selector.Selector>,
  backoff: Schedule.Schedule<unknown, unknown> = defaultBackoff
): Effect.Effect<ReadonlyArray<Target>, KubeError.KubeError | NotServed> => {
  const once = Effect.forEach(selectors, (selector) => resolve(kube, selector))
  // A resource not served is waited for while the server is not ready, and for a short grace
  // after the first try: a CRD created a moment ago may not be in discovery yet.
  const worthWaiting = (e: KubeError.KubeError | NotServed, elapsedMillis: number) =>
    e._tag === "NotServed"
      ? elapsedMillis < notServedGraceMillis
        ? Effect.succeed(true)
        : Effect.map(serverReady(kube), (ready) => !ready)
      : Effect.succeed(e._tag !== "BadRequest" && e._tag !== "NotFound")
  return once.pipe(
    Effect.retry(
      backoff.pipe(
        Schedule.setInputType<KubeError.KubeError | NotServed>(),
        Schedule.while(({ input, elapsed }) => worthWaiting(input, elapsed)),
        Schedule.tap(({ input, duration }) =>
          Effect.logWarning(
            `waiting for the API server at ${kube.server}: ${waitReason(input)}; trying again in ${Format.duration(duration)}`
          )
        )
      )
    )
  )
}
