/**
 * The simulated cluster's controllers (kube-controller-manager's that an operator meets): each
 * looks at one stored object at a time and makes at most one change; `reconcile` runs them
 * over every object until none changes anything. Each controller is a module of its own.
 */
import type { KubeError } from "@kubefx/runtime"
import { apiResourceOf, type Def } from "../store/defs.ts"
import { clone, finalizersOf, metaOf, type Obj, str } from "../store/object.ts"
import type { Objects } from "../store/objects.ts"
import type { Operations } from "../store/operations.ts"

/** Which controllers run. */
export interface ControllerOptions {
  /** Garbage collector (ownerReferences, background and foreground). */
  readonly gc: boolean
  /** Namespace controller: deletes a terminating namespace's content, then the namespace. */
  readonly namespaces: boolean
  /** Removes `kubernetes.io/pvc-protection` from deleted claims (no pods use them here). */
  readonly pvcProtection: boolean
  /** Binds pending claims whose StorageClass exists, and expands bound ones. */
  readonly provisioner: boolean
}

/** One controller: makes at most one change for an object; answers whether it did. */
export type Controller = (d: Def, o: Obj, now: number) => boolean

/** What controllers act on: the store, and deletion as a client asks for it. */
export interface Context {
  readonly objects: Objects
  readonly remove: Operations["remove"]
}

const internal: KubeError.RequestInfo = { method: "DELETE", path: "(controller)" }

/** Deletes an object as a client would (finalizers hold it), unless its deletion started. */
export const deleteOnce = (ctx: Context, d: Def, o: Obj, now: number): boolean => {
  const m = metaOf(o)
  if (m.deletionTimestamp !== undefined) return false
  ctx.remove(internal, apiResourceOf(d), String(m.name), str(m.namespace), {}, now)
  return true
}

/** Removes a finalizer; removing the last one of an object being deleted deletes it. */
export const withoutFinalizer = (ctx: Context, d: Def, o: Obj, finalizer: string) => {
  const next = clone(o)
  const m = metaOf(next)
  const fins = finalizersOf(m).filter((f) => f !== finalizer)
  if (fins.length === 0) delete m.finalizers
  else m.finalizers = fins
  if (m.deletionTimestamp !== undefined && fins.length === 0)
    ctx.objects.commit(d, "DELETED", next, o)
  else ctx.objects.commit(d, "MODIFIED", next, o)
}

/** One pass: the first change any controller makes to any object; answers whether one did. */
const once = (objects: Objects, controllers: ReadonlyArray<Controller>, now: number): boolean => {
  for (const [d, o] of objects.everything())
    for (const step of controllers) if (step(d, o, now)) return true
  return false
}

/** Runs the controllers until nothing changes (10,000 changes at the most). */
export const reconcile = (
  objects: Objects,
  controllers: ReadonlyArray<Controller>,
  now: number
) => {
  for (let i = 0; i < 10_000 && once(objects, controllers, now); i++) {
    /* until nothing changes */
  }
}
