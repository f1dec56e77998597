/**
 * `kubectl apply` for objects in hand (from YAML files, generated CRDs, test fixtures): each is
 * server-side applied in order, its resource found by discovery from `apiVersion` and `kind`,
 * and namespaced objects without a namespace land in the one given (else `default`). Then
 * {@link awaitEstablished} waits until a CRD serves its objects.
 *
 * @since 0.1.0
 */
import { type KubeObject, Resource } from "@kubefx/core"
import { Effect, Schedule } from "effect"
import * as ApiPatch from "./ApiPatch.ts"
import * as Discovery from "./Discovery.ts"
import { Kube } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"

/**
 * Options of {@link apply}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApplyOptions {
  /** The namespace of namespaced objects that name none (default `default`). */
  readonly namespace?: string | undefined
  /** The field manager of the apply, which takes ownership of conflicting fields (default `kubefx`). */
  readonly fieldManager?: string | undefined
}

const groupVersion = (apiVersion: string) => {
  const i = apiVersion.indexOf("/")
  return i < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) }
}

const crds = Resource.make({
  group: "apiextensions.k8s.io",
  version: "v1",
  plural: "customresourcedefinitions",
  kind: "CustomResourceDefinition",
  namespaced: false
})

const isCrd = (object: KubeObject.KubeObject) =>
  object.kind === "CustomResourceDefinition" &&
  (object.apiVersion ?? "").startsWith("apiextensions.k8s.io/")

/**
 * Applies the objects in order (server-side apply, forcing ownership for `fieldManager`). When
 * the batch holds a CRD, an object whose kind is not served yet (the CRD just created) is
 * tried again for up to 10 s; otherwise an unknown kind fails at once with `NotFound`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Kube, Manifests } from "@kubefx/runtime"
 *
 * const install = Manifests.apply(
 *   [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { mode: "fast" } }],
 *   { namespace: "team-a" }
 * ).pipe(Effect.provide(Kube.layerDefault()))
 * ```
 *
 * @since 0.1.0
 * @category apply
 */
export const apply = (
  objects: ReadonlyArray<KubeObject.KubeObject>,
  options: ApplyOptions = {}
): Effect.Effect<
  ReadonlyArray<KubeObject.KubeObject>,
  KubeError.KubeError | Discovery.NotServed,
  Kube
> => {
  const waitForKinds = objects.some(isCrd)
  return Effect.forEach(objects, (object) =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const { api: resource } = yield* Discovery.find(kube, {
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
        ApiPatch.apply(body, { fieldManager: options.fieldManager ?? "kubefx", force: true }),
        { namespace }
      )
    }).pipe(
      Effect.retry({
        while: (error) => waitForKinds && error._tag === "NotServed",
        schedule: Schedule.spaced("250 millis"),
        times: 40
      })
    )
  )
}

/**
 * Waits until the CRD `name` (`plural.group`) is Established (up to 20 s).
 *
 * @example
 * ```ts
 * import { Manifests } from "@kubefx/runtime"
 *
 * const ready = Manifests.awaitEstablished("ephemeralvolumeclaims.kopf.dev")
 * ```
 *
 * @since 0.1.0
 * @category apply
 */
export const awaitEstablished = (
  name: string
): Effect.Effect<void, KubeError.KubeError | { readonly _tag: "NotEstablished" }, Kube> =>
  Effect.gen(function* () {
    const kube = yield* Kube
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
