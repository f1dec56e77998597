/**
 * Kubernetes resources: group, version, plural and kind, namespaced or cluster-scoped
 * ({@link ApiResource}: what the API server serves and the client addresses), with an optional
 * Effect Schema for the spec ({@link Resource}: what handlers select, so that they get a typed
 * `ctx.spec`).
 *
 * @since 0.1.0
 */
import type { Schema } from "effect"
import type * as Json from "./Json.ts"

/**
 * A resource type as the API server serves it.
 *
 * @example
 * ```ts
 * import type { Resource } from "@kubefx/core"
 *
 * const pods: Resource.ApiResource = { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiResource {
  /** API group, `""` for the core group (`v1` pods, configmaps, ...). */
  readonly group: string
  readonly version: string
  /** Lower-case plural used in URLs, e.g. `configmaps`. */
  readonly plural: string
  /** CamelCase kind, e.g. `ConfigMap`. */
  readonly kind: string
  readonly namespaced: boolean
}

/**
 * A resource with, optionally, the Schema that decodes its objects' `spec` for its handlers.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/core"
 *
 * const pods: Resource.Resource = Resource.make({ group: "", version: "v1", plural: "pods", kind: "Pod" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Resource<Spec = Json.JsonObject> extends ApiResource {
  readonly spec: Schema.Decoder<Spec> | undefined
}

/**
 * Builds a resource. `namespaced` defaults to `true`.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/core"
 * import { Schema } from "effect"
 *
 * const evc = Resource.make({
 *   group: "kopf.dev",
 *   version: "v1",
 *   plural: "ephemeralvolumeclaims",
 *   kind: "EphemeralVolumeClaim",
 *   spec: Schema.Struct({ size: Schema.String })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Spec = Json.JsonObject>(options: {
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly kind: string
  readonly namespaced?: boolean | undefined
  readonly spec?: Schema.Decoder<Spec> | undefined
}): Resource<Spec> => ({
  group: options.group,
  version: options.version,
  plural: options.plural,
  kind: options.kind,
  namespaced: options.namespaced ?? true,
  spec: options.spec
})

/**
 * A resource of the core group (`/api/v1`), without a spec Schema.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/core"
 *
 * const configMaps = Resource.core("v1", "configmaps", "ConfigMap")
 * const namespaces = Resource.core("v1", "namespaces", "Namespace", false)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const core = (version: string, plural: string, kind: string, namespaced = true): Resource =>
  make({ group: "", version, plural, kind, namespaced })

/**
 * The `apiVersion` of objects of this resource: `group/version`, or `version` for the core group.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/core"
 *
 * Resource.apiVersion(Resource.core("v1", "pods", "Pod")) // "v1"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const apiVersion = (resource: Pick<ApiResource, "group" | "version">): string =>
  resource.group === "" ? resource.version : `${resource.group}/${resource.version}`

/**
 * A short human-readable name: `plural.group/version`.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/core"
 *
 * Resource.format(Resource.make({ group: "kopf.dev", version: "v1", plural: "evcs", kind: "Evc" }))
 * // "evcs.kopf.dev/v1"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const format = (resource: ApiResource): string =>
  `${resource.plural}${resource.group === "" ? "" : `.${resource.group}`}/${resource.version}`

/**
 * The resource a selector input declares, when it is a `Resource` (not a string or a partial
 * selector).
 *
 * @example
 * ```ts
 * import { Builtins, Resource } from "@kubefx/core"
 *
 * Resource.declaredBy(Builtins.pods)?.kind // "Pod"
 * Resource.declaredBy("pods") // undefined
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const declaredBy = (selector: unknown): Resource<unknown> | undefined =>
  typeof selector === "object" &&
  selector !== null &&
  "spec" in selector &&
  "namespaced" in selector
    ? (selector as Resource<unknown>)
    : undefined

/**
 * The API parts of a resource only (without its Schema): what tools that cannot ask an API
 * server (RBAC generation) know of it.
 *
 * @example
 * ```ts
 * import { Builtins, Resource } from "@kubefx/core"
 *
 * Resource.apiOf(Builtins.pods) // { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true }
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const apiOf = (resource: ApiResource): ApiResource => ({
  group: resource.group,
  version: resource.version,
  plural: resource.plural,
  kind: resource.kind,
  namespaced: resource.namespaced
})
