/**
 * `kubectl apply -f` for the example's YAML files, with server-side apply: used by the demo and
 * the end-to-end tests to install the CRD, the StorageClass, the RBAC role and sample EVCs.
 */
import { readFileSync } from "node:fs"
import { Kube, Patch, type Resource } from "@kubefx/runtime"
import { Effect, Schedule } from "effect"
import { parseAllDocuments } from "yaml"

/** The documents of a YAML file in `deploy/`. */
export const read = (file: string): ReadonlyArray<Resource.KubeObject> =>
  parseAllDocuments(readFileSync(new URL(`../deploy/${file}`, import.meta.url), "utf8"))
    .map((document) => document.toJSON() as Resource.KubeObject | null)
    .filter((object): object is Resource.KubeObject => object !== null)

const groupVersion = (apiVersion: string) => {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion]
  return { group: group ?? "", version: version ?? "" }
}

/**
 * Applies objects in order (server-side apply, forcing ownership for `fieldManager`); retries
 * while a just-created CRD is not served yet.
 */
export const apply = (
  objects: ReadonlyArray<Resource.KubeObject>,
  options: { readonly namespace?: string; readonly fieldManager?: string } = {}
) =>
  Effect.forEach(objects, (object) =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const resource = yield* kube.discover({
        ...groupVersion(object.apiVersion ?? ""),
        kind: object.kind ?? ""
      })
      const namespace = resource.namespaced
        ? (object.metadata?.namespace ?? options.namespace ?? "default")
        : undefined
      const body =
        namespace === undefined
          ? object
          : { ...object, metadata: { ...object.metadata, namespace } }
      return yield* kube.patch(
        resource,
        object.metadata?.name ?? "",
        Patch.apply(body, { fieldManager: options.fieldManager ?? "kubefx-example", force: true }),
        { namespace }
      )
    }).pipe(
      Effect.retry({
        while: (error) => error._tag === "NotFound",
        schedule: Schedule.spaced("250 millis"),
        times: 40
      })
    )
  )

/** Waits until the CRD `name` is Established. */
export const awaitEstablished = (name: string) =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const crds = yield* kube.discover({
      group: "apiextensions.k8s.io",
      version: "v1",
      kind: "CustomResourceDefinition"
    })
    const crd = yield* kube.get(crds, name)
    const conditions = (crd.status as { conditions?: Array<{ type: string; status: string }> })
      ?.conditions
    if (!conditions?.some((c) => c.type === "Established" && c.status === "True")) {
      return yield* Effect.fail({ _tag: "NotEstablished" as const })
    }
  }).pipe(
    Effect.retry({
      while: (error) => error._tag === "NotEstablished",
      schedule: Schedule.spaced("200 millis"),
      times: 100
    })
  )
