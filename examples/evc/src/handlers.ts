/**
 * The handlers of the EVC operator: the seeds' `create_fn` and `update_fn`, with their slips
 * corrected (the size is read from `spec.size`; the PVC is named after the EVC, so nothing is
 * read back from the wrong status key) and with what a real cluster needs:
 *
 * - the PVC is owned by its EVC (ownerReference), so the garbage collector deletes it with the
 *   EVC: no finalizer and no delete handler are needed;
 * - a PVC that already exists is adopted when it is ours (an operator restarted after creating
 *   it, the seeds' HTTP 409 note), and is a permanent error when it is not;
 * - the API server refuses to resize a PVC that is not bound, or whose StorageClass does not
 *   allow expansion: that is a temporary error, retried after `EVC_RESIZE_RETRY`.
 */
import { Handler, Json, Outcome, Registry } from "@kubefx/core"
import { Kube, type KubeError, Patch, Resource } from "@kubefx/runtime"
import { Effect } from "effect"
import { type EvcSpec, evc } from "./Evc.ts"
import { EvcSettings } from "./Settings.ts"
import * as Template from "./Template.ts"

const pvcs = Resource.core("v1", "persistentvolumeclaims", "PersistentVolumeClaim")

type Ctx = Handler.Context<EvcSpec>

const requireSize = (ctx: Ctx) =>
  ctx.spec.size === undefined
    ? Effect.fail(
        new Outcome.PermanentError({ message: `Size must be set. Got ${ctx.spec.size}.` })
      )
    : Effect.succeed(ctx.spec.size)

const isOurs = (pvc: Resource.KubeObject, ctx: Ctx): boolean => {
  const owners = Json.get(pvc as Json.Json, ["metadata", "ownerReferences"])
  return Array.isArray(owners) && owners.some((owner) => Json.get(owner, ["uid"]) === ctx.uid)
}

/** An error the API server may fix by itself later (or an operator may, by binding the PVC). */
const temporary =
  (what: string, retryAfter: EvcSettings["Service"]["resizeRetry"]) =>
  (error: KubeError.KubeError) =>
    Effect.fail(
      new Outcome.TemporaryError({ message: `${what}: ${error.message}`, delay: retryAfter })
    )

/** Whether the PVC is owned by an EVC of this name that is not this one (deleted, re-created). */
const ownedByPredecessor = (pvc: Resource.KubeObject, ctx: Ctx): boolean => {
  const owners = Json.get(pvc as Json.Json, ["metadata", "ownerReferences"])
  return (
    Array.isArray(owners) &&
    owners.some(
      (owner) =>
        Json.get(owner, ["kind"]) === evc.kind &&
        Json.get(owner, ["name"]) === ctx.name &&
        Json.get(owner, ["uid"]) !== ctx.uid
    )
  )
}

/**
 * Creates the PVC, or adopts it when it already exists and is ours. A PVC left by a deleted EVC
 * of the same name (the garbage collector has not removed it yet) is waited for; any other PVC of
 * that name is somebody else's: a permanent error.
 */
const createOrAdopt = (ctx: Ctx, size: string) =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const settings = yield* EvcSettings
    const body = {
      ...Template.render({ name: ctx.name, size, storageClass: settings.storageClass }),
      metadata: {
        name: ctx.name,
        ...(ctx.namespace === undefined ? {} : { namespace: ctx.namespace }),
        labels: { "app.kubernetes.io/managed-by": "kubefx-evc", "kopf.dev/evc": ctx.name },
        ownerReferences: [
          {
            apiVersion: "kopf.dev/v1",
            kind: evc.kind,
            name: ctx.name,
            uid: ctx.uid ?? "",
            controller: true,
            blockOwnerDeletion: true
          }
        ]
      }
    }
    return yield* kube.create(pvcs, body).pipe(
      Effect.catchTag("AlreadyExists", () =>
        kube.get(pvcs, ctx.name, { namespace: ctx.namespace }).pipe(
          Effect.flatMap(
            (
              existing
            ): Effect.Effect<
              Resource.KubeObject,
              Outcome.TemporaryError | Outcome.PermanentError
            > => {
              if (isOurs(existing, ctx)) return Effect.succeed(existing)
              if (ownedByPredecessor(existing, ctx) || existing.metadata?.deletionTimestamp) {
                return Effect.fail(
                  new Outcome.TemporaryError({
                    message: `PVC ${ctx.namespace}/${ctx.name} still belongs to a deleted EVC of the same name; waiting for the garbage collector to remove it`
                  })
                )
              }
              return Effect.fail(
                new Outcome.PermanentError({
                  message: `PVC ${ctx.namespace}/${ctx.name} already exists and is not owned by this EVC; delete or rename it`
                })
              )
            }
          )
        )
      )
    )
  })

/**
 * Patches the PVC's requested storage to `size` unless it already asks for it. The API server
 * refuses while the PVC is not bound (422) or its StorageClass cannot expand (403): both are
 * temporary errors, retried after `EVC_RESIZE_RETRY`. Shrinking a bound claim below its
 * capacity is refused for good (422 "can not be less than"): a permanent error.
 */
const resize = (ctx: Ctx, pvc: Resource.KubeObject, size: string) =>
  Effect.gen(function* () {
    if (Json.get(pvc as Json.Json, ["spec", "resources", "requests", "storage"]) === size) return
    const kube = yield* Kube
    const { resizeRetry } = yield* EvcSettings
    yield* kube
      .patch(
        pvcs,
        ctx.name,
        Patch.merge({ spec: { resources: { requests: { storage: size } } } }),
        { namespace: ctx.namespace }
      )
      .pipe(
        Effect.catchTags({
          Invalid: (error) =>
            // A bound claim never shrinks below its capacity: no retry can help.
            /can ?not be less than/.test(error.message)
              ? Effect.fail(
                  new Outcome.PermanentError({
                    message: `PVC ${ctx.name} cannot shrink to ${size}: ${error.message}`
                  })
                )
              : temporary(
                  `PVC ${ctx.name} cannot be resized yet (is it bound?)`,
                  resizeRetry
                )(error),
          Forbidden: temporary(
            `PVC ${ctx.name} cannot be resized (does its StorageClass allow expansion?)`,
            resizeRetry
          )
        })
      )
    yield* ctx.logger.info(`PVC child is updated: ${ctx.name} to ${size}`)
  })

/** On creation: make the PVC; its name lands in `status.create_fn.pvcName`. */
export const create_fn = Handler.onCreate(evc, { id: "create_fn" }, (ctx) =>
  Effect.gen(function* () {
    const size = yield* requireSize(ctx)
    const pvc = yield* createOrAdopt(ctx, size)
    yield* ctx.logger.info(`PVC child is created: ${pvc.metadata?.name} (${size})`)
    // An adopted PVC (made by an earlier attempt, maybe for an older size) gets the size too.
    yield* resize(ctx, pvc, size)
    return { pvcName: pvc.metadata?.name ?? ctx.name }
  })
)

/** On a change of `spec.size`: resize the PVC (making it first if creation had failed). */
export const update_fn = Handler.onUpdate(evc, { id: "update_fn", field: "spec.size" }, (ctx) =>
  Effect.gen(function* () {
    const size = yield* requireSize(ctx)
    const kube = yield* Kube
    const existing = yield* kube
      .get(pvcs, ctx.name, { namespace: ctx.namespace })
      .pipe(Effect.catchTag("NotFound", () => createOrAdopt(ctx, size)))
    if (!isOurs(existing, ctx)) {
      return yield* new Outcome.PermanentError({
        message: `PVC ${ctx.namespace}/${ctx.name} is not owned by this EVC; not resizing it`
      })
    }
    yield* resize(ctx, existing, size)
    return { pvcName: ctx.name, size }
  })
)

/** The operator's handlers, as an immutable registry. */
export const registry = Registry.make(create_fn, update_fn)
