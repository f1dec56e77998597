/**
 * Ownership of child objects, as `kopf.adopt` does it: a child made by a handler is owned by
 * the handled object (an ownerReference, so the garbage collector deletes it with its owner),
 * lives in the owner's namespace, is named after the owner unless it has a name, and carries
 * the owner's labels under its own. Pure: inputs are never mutated.
 *
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import * as Json from "./Json.ts"
import type * as KubeObject from "./KubeObject.ts"

/**
 * A `metadata.ownerReferences` item.
 *
 * @example
 * ```ts
 * import type { Owner } from "@kubefx/core"
 *
 * const ref: Owner.Reference = { apiVersion: "kopf.dev/v1", kind: "EphemeralVolumeClaim", name: "a", uid: "u-1" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Reference {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly uid: string
  readonly controller?: boolean
  readonly blockOwnerDeletion?: boolean
}

const text = (value: KubeObject.KubeObject, at: Json.PathInput): string | undefined => {
  const found = Json.get(value, at)
  return typeof found === "string" ? found : undefined
}

/**
 * The reference to `owner` (its apiVersion, kind, name and uid). By default it is the
 * controller reference and blocks the owner's foreground deletion until the child is gone, as
 * `kopf.adopt` and controller-runtime's `SetControllerReference` make it.
 *
 * @example
 * ```ts
 * import { Owner } from "@kubefx/core"
 *
 * Owner.reference({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", uid: "u-1" } })
 * // { apiVersion: "v1", kind: "ConfigMap", name: "a", uid: "u-1", controller: true, blockOwnerDeletion: true }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const reference = (
  owner: KubeObject.KubeObject,
  options?: { readonly controller?: boolean; readonly blockOwnerDeletion?: boolean }
): Reference => {
  const field = (at: Json.PathInput, what: string): string => {
    const value = text(owner, at)
    if (value === undefined) {
      throw new Error(`Owner.reference: the owner has no ${what}; pass an object read from the API`)
    }
    return value
  }
  return {
    apiVersion: field("apiVersion", "apiVersion"),
    kind: field("kind", "kind"),
    name: field("metadata.name", "metadata.name"),
    uid: field("metadata.uid", "metadata.uid"),
    controller: options?.controller ?? true,
    blockOwnerDeletion: options?.blockOwnerDeletion ?? true
  }
}

/**
 * The object's owner references (well-formed ones only).
 *
 * @example
 * ```ts
 * import { Owner } from "@kubefx/core"
 *
 * Owner.references({ metadata: {} }) // []
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const references = (child: KubeObject.KubeObject): ReadonlyArray<Reference> => {
  const refs = Json.get(child, "metadata.ownerReferences")
  if (!Array.isArray(refs)) return []
  return refs.flatMap((ref) => {
    const [apiVersion, kind, name, uid] = ["apiVersion", "kind", "name", "uid"].map((key) =>
      text(ref, [key])
    )
    if (apiVersion === undefined || kind === undefined || name === undefined || uid === undefined) {
      return []
    }
    const flag = (key: string) => {
      const value = Json.get(ref, [key])
      return typeof value === "boolean" ? { [key]: value } : {}
    }
    return [{ apiVersion, kind, name, uid, ...flag("controller"), ...flag("blockOwnerDeletion") }]
  })
}

/**
 * The object's controller reference (the owner with `controller: true`), if any.
 *
 * @example
 * ```ts
 * import { Owner } from "@kubefx/core"
 *
 * Owner.controllerOf({
 *   metadata: { ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: "p", uid: "u", controller: true }] }
 * })?.name // "p"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const controllerOf = (child: KubeObject.KubeObject): Reference | undefined =>
  references(child).find((ref) => ref.controller === true)

/**
 * Whether `child` has an owner reference to `owner` (matched by uid, as the garbage collector
 * does: a re-created owner of the same name is another owner).
 *
 * @example
 * ```ts
 * import { Owner } from "@kubefx/core"
 *
 * const owner = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", uid: "u-1" } }
 * const child = Owner.adopt({ kind: "Secret", metadata: {} }, owner)
 * Owner.isOwnedBy(child, owner) // true
 * Owner.isOwnedBy(child, { metadata: { uid: "u-2" } }) // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isOwnedBy: {
  (owner: KubeObject.KubeObject): (child: KubeObject.KubeObject) => boolean
  (child: KubeObject.KubeObject, owner: KubeObject.KubeObject): boolean
} = dual(2, (child: KubeObject.KubeObject, owner: KubeObject.KubeObject): boolean => {
  const uid = text(owner, "metadata.uid")
  return uid !== undefined && references(child).some((ref) => ref.uid === uid)
})

/**
 * Options of {@link adopt}.
 *
 * @since 0.1.0
 * @category adoption
 */
export interface AdoptOptions {
  /** Copy the owner's labels to the child, under the child's own (default `true`, as Kopf). */
  readonly labels?: boolean
  /** Make the owner the child's controller (default `true`). */
  readonly controller?: boolean
}

/**
 * Makes `child` owned by `owner`, as `kopf.adopt`: appends the owner reference (once), puts the
 * child in the owner's namespace and names it after the owner when it has neither a name nor a
 * `generateName`, and adds the owner's labels under the child's own. What the child already
 * says wins; nothing is mutated.
 *
 * @example
 * ```ts
 * import { Owner } from "@kubefx/core"
 *
 * const evc = {
 *   apiVersion: "kopf.dev/v1",
 *   kind: "EphemeralVolumeClaim",
 *   metadata: { name: "my-claim", namespace: "default", uid: "u-1", labels: { team: "a" } }
 * }
 * const pvc = Owner.adopt({ apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: {} }, evc)
 * // metadata: { name: "my-claim", namespace: "default", labels: { team: "a" },
 * //   ownerReferences: [{ apiVersion: "kopf.dev/v1", kind: "EphemeralVolumeClaim", name: "my-claim",
 * //     uid: "u-1", controller: true, blockOwnerDeletion: true }] }
 * ```
 *
 * @since 0.1.0
 * @category adoption
 */
export const adopt = (
  child: KubeObject.KubeObject,
  owner: KubeObject.KubeObject,
  options?: AdoptOptions
): KubeObject.KubeObject => {
  const ref = reference(owner, { controller: options?.controller ?? true })
  const meta = child.metadata ?? {}
  const existing = references(child)
  const ownerLabels = options?.labels === false ? {} : (owner.metadata?.labels ?? {})
  const namespace = owner.metadata?.namespace
  const named = meta.name !== undefined || meta.generateName !== undefined
  return {
    ...child,
    metadata: {
      ...meta,
      ...(named ? {} : { name: ref.name }),
      ...(meta.namespace === undefined && namespace !== undefined ? { namespace } : {}),
      ...(Object.keys(ownerLabels).length === 0 && meta.labels === undefined
        ? {}
        : { labels: { ...ownerLabels, ...meta.labels } }),
      ownerReferences: existing.some((r) => r.uid === ref.uid)
        ? (meta.ownerReferences ?? [])
        : [...(Array.isArray(meta.ownerReferences) ? meta.ownerReferences : []), { ...ref }]
    }
  }
}
