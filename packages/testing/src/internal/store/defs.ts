/**
 * The resource types the simulated API server serves: the built-in kinds it knows, and the
 * shape every served type has (custom ones come from CRDs, see `crds.ts`).
 */
import type { Resource } from "@kubefx/core"
import type * as OpenApi from "../openapi.ts"

/** A resource type the simulation serves. */
export interface Def {
  readonly key: string
  readonly group: string
  /** Served versions; the first is the storage version. */
  readonly versions: ReadonlyArray<string>
  readonly plural: string
  readonly singular: string
  readonly kind: string
  readonly namespaced: boolean
  readonly shortNames: ReadonlyArray<string>
  /** Has a `status` subresource. */
  readonly status: boolean
  /** Keeps `metadata.generation`. */
  readonly generation: boolean
  /** Custom resource (strategic merge patches refused with 415; pruning and validation). */
  readonly custom: boolean
  /** The structural schema of custom resources, per version. */
  readonly schemas: Readonly<Record<string, OpenApi.Schema | undefined>>
  /** Answers deleted objects in full (custom resources), else a Status. */
  readonly returnsDeleted: boolean
}

/** The keys (`group/plural`) of the built-in types the simulation gives rules of their own. */
export const keys = {
  namespaces: "/namespaces",
  events: "/events",
  claims: "/persistentvolumeclaims",
  storageClasses: "storage.k8s.io/storageclasses",
  crds: "apiextensions.k8s.io/customresourcedefinitions"
} as const

export const apiVersionOf = (group: string, version: string) =>
  group === "" ? version : `${group}/${version}`

/** `plural` or `plural.group`, as the server's messages name a type. */
export const qualified = (d: Def) => (d.group === "" ? d.plural : `${d.plural}.${d.group}`)

/** The type as a runtime resource, at its storage version. */
export const apiResourceOf = (d: Def): Resource.ApiResource => ({
  group: d.group,
  version: d.versions[0]!,
  plural: d.plural,
  kind: d.kind,
  namespaced: d.namespaced
})

const builtin = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  options: Partial<Pick<Def, "namespaced" | "status" | "generation" | "shortNames">> = {}
): Def => ({
  key: `${group}/${plural}`,
  group,
  versions: [version],
  plural,
  singular: kind.toLowerCase(),
  kind,
  namespaced: options.namespaced ?? true,
  shortNames: options.shortNames ?? [],
  status: options.status ?? false,
  generation: options.generation ?? false,
  custom: false,
  schemas: {},
  returnsDeleted: false
})

/** The built-in kinds the simulation serves. */
export const builtins: ReadonlyArray<Def> = [
  builtin("", "v1", "namespaces", "Namespace", {
    namespaced: false,
    status: true,
    shortNames: ["ns"]
  }),
  builtin("", "v1", "configmaps", "ConfigMap", { shortNames: ["cm"] }),
  builtin("", "v1", "secrets", "Secret"),
  builtin("", "v1", "events", "Event", { shortNames: ["ev"] }),
  builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", {
    status: true,
    shortNames: ["pvc"]
  }),
  builtin("storage.k8s.io", "v1", "storageclasses", "StorageClass", {
    namespaced: false,
    shortNames: ["sc"]
  }),
  builtin("coordination.k8s.io", "v1", "leases", "Lease"),
  builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", {
    namespaced: false,
    status: true,
    generation: true,
    shortNames: ["crd", "crds"]
  })
]
