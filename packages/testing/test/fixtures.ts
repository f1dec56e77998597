/**
 * Set-ups shared by the testing package's suites: a client bound to one namespace, CRD and
 * StorageClass manifests.
 */
import { type Json, type KubeObject, Resource } from "@kubefx/core"
import type { KubeService } from "@kubefx/runtime"
import { Effect, Layer } from "effect"
import * as SimCluster from "../src/SimCluster.ts"

/**
 * `kube` with every namespaced request in `namespace` (unless the request names another): the
 * calls of a scenario that runs in a namespace of its own name it once.
 */
export const inNamespace = (kube: KubeService, namespace: string): KubeService => ({
  ...kube,
  list: (r, o) => kube.list(r, { namespace, ...o }),
  listAll: (r, o) => kube.listAll(r, { namespace, ...o }),
  watch: (r, o) => kube.watch(r, { namespace, ...o }),
  get: (r, name, o) => kube.get(r, name, { namespace, ...o }),
  getStatus: (r, name, o) => kube.getStatus(r, name, { namespace, ...o }),
  create: (r, body, o) => kube.create(r, body, { namespace, ...o }),
  replace: (r, name, body, o) => kube.replace(r, name, body, { namespace, ...o }),
  replaceStatus: (r, name, body, o) => kube.replaceStatus(r, name, body, { namespace, ...o }),
  patch: (r, name, p, o) => kube.patch(r, name, p, { namespace, ...o }),
  patchStatus: (r, name, p, o) => kube.patchStatus(r, name, p, { namespace, ...o }),
  delete: (r, name, o) => kube.delete(r, name, { namespace, ...o })
})

/** A CRD of one version (`v1`), namespaced, with the given structural schema. */
export const crdManifest = (options: {
  readonly group: string
  readonly plural: string
  readonly kind: string
  /** Has a `/status` subresource. */
  readonly status: boolean
  readonly schema: Json.JsonObject
}): KubeObject.KubeObject => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `${options.plural}.${options.group}` },
  spec: {
    group: options.group,
    scope: "Namespaced",
    names: { plural: options.plural, singular: options.kind.toLowerCase(), kind: options.kind },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        ...(options.status ? { subresources: { status: {} } } : {}),
        schema: { openAPIV3Schema: options.schema }
      }
    ]
  }
})

/** A StorageClass of no real provisioner, that allows expansion or not. */
export const storageClass = (
  name: string,
  allowVolumeExpansion: boolean
): KubeObject.KubeObject => ({
  apiVersion: "storage.k8s.io/v1",
  kind: "StorageClass",
  metadata: { name },
  provisioner: "kubefx.dev/none",
  allowVolumeExpansion
})

/** A namespaced Widget whose spec and status keep every field. */
export const simWidgets = Resource.make({
  group: "sim.kubefx.dev",
  version: "v1",
  plural: "widgets",
  kind: "Widget"
})

const keepAll = { type: "object", "x-kubernetes-preserve-unknown-fields": true }

/** The simulated cluster (with these options) with the Widget CRD installed. */
export const simWidgetClusterWith = (options: SimCluster.Options = {}) =>
  Layer.effectDiscard(
    Effect.flatMap(SimCluster.SimCluster, (sim) =>
      sim.apply([
        crdManifest({
          group: simWidgets.group,
          plural: simWidgets.plural,
          kind: simWidgets.kind,
          status: true,
          schema: { type: "object", properties: { spec: keepAll, status: keepAll } }
        })
      ])
    )
  ).pipe(Layer.provideMerge(SimCluster.layer(options)))

/** The simulated cluster with the Widget CRD installed. */
export const simWidgetCluster = simWidgetClusterWith()
