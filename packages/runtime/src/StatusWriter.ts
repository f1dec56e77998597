/**
 * The status writer: how a decision's merge patch reaches the API server, and where kubefx keeps
 * its state on the objects of one resource.
 *
 * - **Calls**: nothing for an empty patch; one merge patch without a `status` subresource; with
 *   one, the `status` part goes to `/status` first, then the rest (annotations, finalizers, the
 *   handlers' own patches) to the object: one call when only one part is non-empty, two
 *   otherwise. Status first, so that a crash in between re-runs handlers (at least once)
 *   rather than losing their results.
 * - **Preconditions**: every call carries the object's `metadata.uid` and the
 *   `metadata.resourceVersion` the decision was made on (the second call: the version the first
 *   one answered). So a decision about an object that was deleted and re-created under its
 *   name, one made on a stale copy, or one sent again after its answer was lost (a reset, a
 *   timeout) fails with 409, and the processor decides again on a fresh read: a handler's
 *   result is recorded once.
 * - **A status the API server prunes**: when the storage keeps the last-handled record in
 *   `status` (the default for custom resources) and the object the server answers lacks the
 *   record just written, the CRD's status schema drops unknown fields. The writer logs an error
 *   saying so, writes the record as the annotation `kubefx.dev/last-handled`, and keeps progress
 *   and records of this resource in annotations from then on. A restarted process switches as
 *   soon as it meets an object whose record is only in the annotation, before that object's
 *   step.
 *
 * @since 0.1.0
 */
import { Patch as CorePatch, Json, KubeObject, Storage } from "@kubefx/core"
import { Effect } from "effect"
import * as ApiPatch from "./ApiPatch.ts"
import type { Target } from "./Discovery.ts"
import type { KubeService } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import * as Settings from "./Settings.ts"

const meta = (object: KubeObject.KubeObject) => ({
  name: object.metadata?.name ?? "",
  namespace: object.metadata?.namespace
})

/** The raw last-handled record in status (not parsed: this runs on every step), if stored there. */
const recordInStatus = (storage: Storage.Storage, object: Json.Json): Json.Json | undefined =>
  storage.lastHandled._tag === "Status"
    ? Json.get(object, ["status", ...storage.lastHandled.field, "lastHandled"])
    : undefined

/** Whether the server dropped the last-handled record that `written` put in `status`. */
const prunesStatus = (
  storage: Storage.Storage,
  written: CorePatch.MergePatch,
  after: KubeObject.KubeObject
): boolean =>
  recordInStatus(storage, written) !== undefined && recordInStatus(storage, after) === undefined

const fallbackPrefix = "kubefx.dev"

/** The same storage with progress and the last-handled record in `kubefx.dev/` annotations. */
const annotationStorage = (storage: Storage.Storage): Storage.Storage => ({
  ...storage,
  progress: Storage.annotations({ prefix: fallbackPrefix }),
  lastHandled: Storage.annotations({ prefix: fallbackPrefix })
})

/**
 * Whether a merge patch changes nothing: no keys, or only (nested) empty objects.
 *
 * @example
 * ```ts
 * import { StatusWriter } from "@kubefx/runtime"
 *
 * StatusWriter.isNoop({ status: {} }) // true
 * StatusWriter.isNoop({ status: { a: null } }) // false
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const isNoop = (patch: Json.Json | undefined): boolean =>
  patch === undefined ||
  (Json.isObject(patch) && Object.values(patch).every((v) => Json.isObject(v) && isNoop(v)))

/**
 * The calls that carry a decision's merge patch out (see the module's documentation): answers
 * the object as the last call left it, or `undefined` when nothing was sent.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Resource } from "@kubefx/core"
 * import { Kube, StatusWriter } from "@kubefx/runtime"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   const target = { resource: { ...widgets, spec: undefined }, api: widgets, statusSubresource: true }
 *   return yield* StatusWriter.apply(kube, target, { metadata: { name: "a", namespace: "ns" } }, {
 *     status: { ready: true }
 *   }, "my-operator")
 * })
 * ```
 *
 * @since 0.1.0
 * @category applying
 */
export const apply = (
  kube: KubeService,
  target: Target,
  body: KubeObject.KubeObject,
  patch: CorePatch.MergePatch,
  fieldManager: string
): Effect.Effect<KubeObject.KubeObject | undefined, KubeError.KubeError> =>
  Effect.gen(function* () {
    if (isNoop(patch)) return undefined
    const { name, namespace } = meta(body)
    const options = { namespace, fieldManager }
    // Every write names the object: its uid (the name may belong to a newer object by now) and
    // the version it was decided on (a write repeated after a lost answer, or decided on a
    // stale copy, fails with 409 and is decided again on a fresh read).
    const uid = KubeObject.uid(body)
    const guarded = (p: CorePatch.MergePatch, resourceVersion: string): CorePatch.MergePatch =>
      CorePatch.combine(p, {
        metadata: {
          ...(uid === "" ? {} : { uid }),
          ...(resourceVersion === "" ? {} : { resourceVersion })
        }
      })
    const read = KubeObject.resourceVersion(body)
    if (!target.statusSubresource)
      return yield* kube.patch(target.api, name, ApiPatch.merge(guarded(patch, read)), options)
    const { main, status } = CorePatch.split(patch)
    let last: KubeObject.KubeObject | undefined
    if (!isNoop(status))
      last = yield* kube.patchStatus(
        target.api,
        name,
        ApiPatch.merge(guarded(status ?? {}, read)),
        options
      )
    if (main !== undefined && !isNoop(main)) {
      const after = last === undefined ? read : KubeObject.resourceVersion(last)
      last = yield* kube.patch(target.api, name, ApiPatch.merge(guarded(main, after)), options)
    }
    return last
  })

/**
 * The status writer of one resource.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatusWriter {
  /** The storage to use for a step on `body` (see the module's documentation). */
  readonly storageFor: (body: KubeObject.KubeObject) => Effect.Effect<Storage.Storage>
  /** Writes a decision's patch, made with `used`: answers the object as the server left it
   * (after the annotation fallback when the status was pruned), or `undefined` when nothing
   * was sent. */
  readonly write: (
    body: KubeObject.KubeObject,
    patch: CorePatch.MergePatch,
    used: Storage.Storage
  ) => Effect.Effect<KubeObject.KubeObject | undefined, KubeError.KubeError>
}

/**
 * Builds the status writer of one resource, starting with its storage from the settings.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Resource } from "@kubefx/core"
 * import { Kube, Settings, StatusWriter } from "@kubefx/runtime"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   const target = { resource: { ...widgets, spec: undefined }, api: widgets, statusSubresource: true }
 *   const writer = StatusWriter.make(kube, target, Settings.make())
 *   const body = { metadata: { name: "a", namespace: "ns", uid: "u" } }
 *   const storage = yield* writer.storageFor(body)
 *   return yield* writer.write(body, { status: { ready: true } }, storage)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  kube: KubeService,
  target: Target,
  settings: Settings.Settings
): StatusWriter => {
  const resourceName = `${target.api.plural}${target.api.group === "" ? "" : `.${target.api.group}`}`
  let storage = Settings.storageFor(settings, target.api)

  /** Switches this resource to annotations, once (steps may race here). */
  const useAnnotations = (used: Storage.Storage) =>
    Effect.suspend(() => {
      if (storage !== used) return Effect.void
      storage = annotationStorage(used)
      return Effect.logError(
        `the API server drops status.kubefx of ${resourceName} (its CRD's status schema does not preserve unknown fields): kubefx keeps its state in kubefx.dev/ annotations instead; add "x-kubernetes-preserve-unknown-fields: true" to the status schema (handler results in status are dropped too)`
      )
    })

  const storageFor = (body: KubeObject.KubeObject) =>
    Effect.gen(function* () {
      const used = storage
      if (
        used.lastHandled._tag === "Status" &&
        body.metadata?.annotations?.[`${fallbackPrefix}/${Storage.lastHandledName}`] !==
          undefined &&
        recordInStatus(used, body) === undefined
      )
        yield* useAnnotations(used)
      return storage
    })

  /** Writes the record the server pruned as an annotation; answers the object after it. */
  const keepStateInAnnotations = (
    after: KubeObject.KubeObject,
    written: CorePatch.MergePatch,
    used: Storage.Storage
  ) =>
    Effect.gen(function* () {
      yield* useAnnotations(used)
      const record = Storage.readLastHandled(used, written)
      if (record === undefined) return after
      const { name, namespace } = meta(after)
      const patch = CorePatch.combine(Storage.writeLastHandled(annotationStorage(used), record), {
        metadata: { uid: KubeObject.uid(after) }
      })
      return yield* kube
        .patch(target.api, name, ApiPatch.merge(patch), {
          namespace,
          fieldManager: settings.fieldManager
        })
        .pipe(
          Effect.catch((error) =>
            Effect.logWarning(`could not write the last-handled annotation: ${error._tag}`).pipe(
              Effect.as(after)
            )
          )
        )
    })

  const write: StatusWriter["write"] = (body, patch, used) =>
    Effect.flatMap(apply(kube, target, body, patch, settings.fieldManager), (written) =>
      written !== undefined && prunesStatus(used, patch, written)
        ? keepStateInAnnotations(written, patch, used)
        : Effect.succeed(written)
    )

  return { storageFor, write }
}
