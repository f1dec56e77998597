/**
 * Resource types and unstructured objects: what the Kube client and the watcher address.
 *
 * An {@link ApiResource} is a fully known resource type: group, version, plural, kind and
 * whether it lives in namespaces. Build one directly when you know it, or ask the server with
 * `Kube.discover`. Objects are unstructured JSON ({@link KubeObject}); only the metadata the
 * runtime needs is typed.
 *
 * @since 0.1.0
 */

/**
 * A resource type as the API server serves it.
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
 * Object metadata: the fields the runtime reads. Everything else stays untyped.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectMeta {
  readonly name?: string
  readonly generateName?: string
  readonly namespace?: string
  readonly uid?: string
  readonly resourceVersion?: string
  readonly generation?: number
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
  readonly finalizers?: ReadonlyArray<string>
  readonly deletionTimestamp?: string
  readonly creationTimestamp?: string
  readonly [key: string]: unknown
}

/**
 * An unstructured Kubernetes object.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeObject {
  readonly apiVersion?: string
  readonly kind?: string
  readonly metadata?: ObjectMeta
  readonly [key: string]: unknown
}

/**
 * A list answer: items and the list's `metadata.resourceVersion` / `continue` token.
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectList {
  readonly items: ReadonlyArray<KubeObject>
  /** The resourceVersion of the list, an opaque string. */
  readonly resourceVersion: string
  /** Token for the next page; `undefined` on the last page. */
  readonly continue: string | undefined
}

/**
 * A resource of the core group (`/api/v1`).
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/runtime"
 *
 * const configMaps = Resource.core("v1", "configmaps", "ConfigMap")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const core = (
  version: string,
  plural: string,
  kind: string,
  namespaced = true
): ApiResource => ({ group: "", version, plural, kind, namespaced })

/**
 * A resource of a named group (`/apis/{group}/{version}`).
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/runtime"
 *
 * const deployments = Resource.make("apps", "v1", "deployments", "Deployment")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced = true
): ApiResource => ({ group, version, plural, kind, namespaced })

/**
 * `apiVersion` as written in objects: `v1` or `group/version`.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/runtime"
 *
 * Resource.apiVersion(Resource.make("apps", "v1", "deployments", "Deployment")) // => "apps/v1"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const apiVersion = (resource: Pick<ApiResource, "group" | "version">): string =>
  resource.group === "" ? resource.version : `${resource.group}/${resource.version}`

/**
 * URL prefix of a group version: `/api/v1` or `/apis/{group}/{version}`.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/runtime"
 *
 * Resource.groupVersionPath({ group: "", version: "v1" }) // => "/api/v1"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const groupVersionPath = (resource: Pick<ApiResource, "group" | "version">): string =>
  resource.group === ""
    ? `/api/${resource.version}`
    : `/apis/${encodeURIComponent(resource.group)}/${resource.version}`

/**
 * Path of a collection or of one object (with an optional subresource). A namespace is used
 * only for namespaced resources; omitting it lists across all namespaces.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/runtime"
 *
 * const cm = Resource.core("v1", "configmaps", "ConfigMap")
 * Resource.path(cm, { namespace: "default", name: "x" }) // => "/api/v1/namespaces/default/configmaps/x"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const path = (
  resource: ApiResource,
  at: {
    readonly namespace?: string | undefined
    readonly name?: string
    readonly subresource?: string
  }
): string => {
  let p = groupVersionPath(resource)
  if (resource.namespaced && at.namespace !== undefined) {
    p += `/namespaces/${encodeURIComponent(at.namespace)}`
  }
  p += `/${resource.plural}`
  if (at.name !== undefined) p += `/${encodeURIComponent(at.name)}`
  if (at.subresource !== undefined) p += `/${at.subresource}`
  return p
}

/**
 * The identity of an object within one resource type: `namespace/name`, or `name` for
 * cluster-scoped objects. Stable across deletions and re-creations (unlike the uid).
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/runtime"
 *
 * Resource.key({ metadata: { namespace: "ns", name: "a" } }) // => "ns/a"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const key = (object: KubeObject): string => {
  const namespace = object.metadata?.namespace
  const name = object.metadata?.name ?? ""
  return namespace === undefined || namespace === "" ? name : `${namespace}/${name}`
}

/**
 * The identity of one incarnation of an object: `namespace/name/uid` (`name/uid` when
 * cluster-scoped). A deleted and re-created object gets a new identity; use it to key work.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/runtime"
 *
 * Resource.identity({ metadata: { namespace: "ns", name: "a", uid: "u1" } }) // => "ns/a/u1"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const identity = (object: KubeObject): string => `${key(object)}/${uid(object)}`

/**
 * The object's `metadata.resourceVersion` (opaque: compare with `===` only), or `""`.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/runtime"
 *
 * Resource.resourceVersion({ metadata: { resourceVersion: "42" } }) // => "42"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const resourceVersion = (object: KubeObject): string =>
  object.metadata?.resourceVersion ?? ""

/**
 * The object's `metadata.uid`, or `""`.
 *
 * @example
 * ```ts
 * import { Resource } from "@kubefx/runtime"
 *
 * Resource.uid({ metadata: { uid: "1234" } }) // => "1234"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const uid = (object: KubeObject): string => object.metadata?.uid ?? ""
