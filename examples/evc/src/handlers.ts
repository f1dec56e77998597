/**
 * The handlers of the EVC operator: the walkthrough's `create_fn` and `update_fn`, with their slips
 * corrected (the size is read from `spec.size`; the PVC is named after the EVC, so nothing is
 * read back from the wrong status key) and with what a real cluster needs:
 *
 * - the PVC is owned by its EVC (`Owner.adopt`: ownerReference, namespace, labels), so the
 *   garbage collector deletes it with the EVC: no finalizer and no delete handler are needed;
 * - a PVC that already exists is adopted when it is ours (an operator restarted after creating
 *   it, the walkthrough's HTTP 409 note), waited for when a deleted EVC of the same name still owns it,
 *   and a permanent error when it is somebody else's;
 * - the API server refuses to resize a PVC that is not bound (422), whose StorageClass does
 *   not allow expansion (403), or when the operator's role lacks `patch` on PVCs (403): a
 *   temporary error that says which, retried after `EVC_RESIZE_RETRY`. Shrinking a bound PVC
 *   below its capacity is refused for good: a permanent error (`Resize.ts`).
 */
import { Builtins, Handler, Json, Outcome, Owner, Registry } from "@kubefx/core"
import { ApiPatch, Kube } from "@kubefx/runtime"
import { Effect } from "effect"
import { type EvcSpec, evc } from "./Evc.ts"
import * as Resize from "./Resize.ts"
import { EvcSettings } from "./Settings.ts"
import * as Template from "./Template.ts"

const pvcs = Builtins.persistentVolumeClaims

/** The EVC's PVC, asking for `spec.size`: created, or adopted (and resized) when it exists. */
const ensurePvc = (ctx: Handler.Context<EvcSpec>) =>
  Effect.gen(function* () {
    const { name, namespace, spec } = ctx
    if (spec.size === undefined) {
      return yield* new Outcome.PermanentError({ message: `Size must be set. Got ${spec.size}.` })
    }
    const size = spec.size
    const kube = yield* Kube
    const { storageClass, resizeRetry } = yield* EvcSettings
    const create = kube
      .create(pvcs, Owner.adopt(Template.render({ name, size, storageClass }), ctx.body))
      .pipe(Effect.tap(() => ctx.logger.info(`PVC child is created: ${name} (${size})`)))
    const read = kube.get(pvcs, name, { namespace })
    // The likely call first: a new EVC has no PVC yet, a changed one has.
    const pvc = yield* ctx.reason === "create"
      ? create.pipe(Effect.catchTag("AlreadyExists", () => read))
      : read.pipe(Effect.catchTag("NotFound", () => create))
    if (!Owner.isOwnedBy(pvc, ctx.body)) {
      const owner = Owner.controllerOf(pvc)
      const predecessor = owner?.kind === evc.kind && owner.name === name // deleted, re-created
      return yield* predecessor || pvc.metadata?.deletionTimestamp
        ? new Outcome.TemporaryError({
            message: `PVC ${namespace}/${name} still belongs to a deleted EVC of the same name; waiting for the garbage collector to remove it`
          })
        : new Outcome.PermanentError({
            message: `PVC ${namespace}/${name} already exists and is not owned by this EVC; delete or rename it`
          })
    }
    if (Json.get(pvc, "spec.resources.requests.storage") === size) return pvc
    yield* kube
      .patch(pvcs, name, ApiPatch.merge({ spec: { resources: { requests: { storage: size } } } }), {
        namespace
      })
      .pipe(Effect.catchTags(Resize.refused(pvc, size, resizeRetry)))
    yield* ctx.logger.info(`PVC child is updated: ${name} to ${size}`)
    return pvc
  })

/** On creation: make the PVC; its name lands in `status.create_fn.pvcName`. */
export const create_fn = Handler.onCreate(evc, { id: "create_fn" }, (ctx) =>
  Effect.map(ensurePvc(ctx), (pvc) => ({ pvcName: pvc.metadata?.name ?? ctx.name }))
)

/** On a change of `spec.size`: resize the PVC (making it first if creation had failed). */
export const update_fn = Handler.onUpdate(evc, { id: "update_fn", field: "spec.size" }, (ctx) =>
  Effect.map(ensurePvc(ctx), () => ({ pvcName: ctx.name, size: ctx.spec.size ?? "" }))
)

/** The operator's handlers, as an immutable registry, with the PVC calls they make (for RBAC). */
export const registry = Registry.make(create_fn, update_fn).pipe(
  Registry.uses(pvcs, ["get", "create", "patch"])
)
