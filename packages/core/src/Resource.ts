/**
 * Kubernetes resources: group, version, plural and kind, namespaced or cluster-scoped, with an
 * optional Effect Schema for the spec so that handlers get a typed `ctx.spec`.
 *
 * @since 0.1.0
 */
import type { Schema } from "effect"
import type * as Json from "./Json.ts"

/**
 * A resource kind served by the API server. `group` is `""` for the core group (`v1` pods).
 * `spec`, when present, decodes the object's `spec` for the handlers of this resource.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/core"
 *
 * const pods: Resource.Resource = Resource.make({ group: "", version: "v1", plural: "pods", kind: "Pod" })
 * ```
 *
 * @since 0.1.0
 */
export interface Resource<Spec = Json.JsonObject> {
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly kind: string
  readonly namespaced: boolean
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
 * The `apiVersion` of objects of this resource: `group/version`, or `version` for the core group.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/core"
 *
 * Resource.apiVersion(Resource.make({ group: "", version: "v1", plural: "pods", kind: "Pod" })) // "v1"
 * ```
 *
 * @since 0.1.0
 */
export const apiVersion = (resource: Resource<unknown>): string =>
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
 */
export const format = (resource: Resource<unknown>): string =>
  `${resource.plural}${resource.group === "" ? "" : `.${resource.group}`}/${resource.version}`
