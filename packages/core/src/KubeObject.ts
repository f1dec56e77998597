/**
 * Kubernetes objects as plain JSON: the one object type that the core, the runtime and the
 * simulated cluster share. Only the metadata kubefx reads is typed; everything else is JSON.
 *
 * @since 0.1.0
 */
import type * as Json from "./Json.ts"

/**
 * Object metadata: the fields kubefx reads, typed; the rest stays JSON.
 *
 * @example
 * ```ts
 * import type { KubeObject } from "@kubefx/core"
 *
 * const meta: KubeObject.ObjectMeta = { name: "a", namespace: "default", labels: { app: "x" } }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ObjectMeta extends Json.JsonObject {
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
}

/**
 * An unstructured Kubernetes object.
 *
 * @example
 * ```ts
 * import type { KubeObject } from "@kubefx/core"
 *
 * const cm: KubeObject.KubeObject = {
 *   apiVersion: "v1",
 *   kind: "ConfigMap",
 *   metadata: { name: "settings", namespace: "default" },
 *   data: { mode: "fast" }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeObject extends Json.JsonObject {
  readonly apiVersion?: string
  readonly kind?: string
  readonly metadata?: ObjectMeta
}

/**
 * The identity of an object within one resource type: `namespace/name`, or `name` for
 * cluster-scoped objects. Stable across deletions and re-creations (unlike the uid).
 *
 * @example
 * ```ts
 * import { KubeObject } from "@kubefx/core"
 *
 * KubeObject.key({ metadata: { namespace: "ns", name: "a" } }) // "ns/a"
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
 * import { KubeObject } from "@kubefx/core"
 *
 * KubeObject.identity({ metadata: { namespace: "ns", name: "a", uid: "u1" } }) // "ns/a/u1"
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
 * import { KubeObject } from "@kubefx/core"
 *
 * KubeObject.resourceVersion({ metadata: { resourceVersion: "42" } }) // "42"
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
 * import { KubeObject } from "@kubefx/core"
 *
 * KubeObject.uid({ metadata: { uid: "1234" } }) // "1234"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const uid = (object: KubeObject): string => object.metadata?.uid ?? ""
