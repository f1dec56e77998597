/**
 * The garbage collector: owner references by uid. A dependent whose owners are all gone is
 * deleted, dangling references are dropped while one owner lives; an owner deleted with
 * `Orphan` propagation loses its `orphan` finalizer once its dependents lost their reference
 * to it, one deleted in the `Foreground` loses `foregroundDeletion` once its dependents are
 * gone (their deletion is started first).
 */
import type { Def } from "../store/defs.ts"
import { clone, finalizersOf, isRecord, metaOf, type Obj, str } from "../store/object.ts"
import { type Context, type Controller, deleteOnce, withoutFinalizer } from "./controller.ts"

const FOREGROUND = "foregroundDeletion"
const ORPHAN = "orphan"

/** Whether an owner reference's object exists (by uid, kind, name and namespace). */
const ownerExists = (ctx: Context, ref: Obj, namespace: string | undefined): boolean => {
  const uid = str(ref.uid)
  const found = uid === undefined ? undefined : ctx.objects.byUid(uid)
  if (found === undefined) return false
  const [d, o] = found
  if (d.kind !== ref.kind || metaOf(o).name !== ref.name) return false
  return !d.namespaced || metaOf(o).namespace === namespace
}

/** The objects with an owner reference to `uid`. */
const dependentsOf = (ctx: Context, uid: string) =>
  ctx.objects.everything().filter(([, x]) => {
    const refs = metaOf(x).ownerReferences
    return Array.isArray(refs) && refs.some((r) => isRecord(r) && r.uid === uid)
  })

/** Drops the references to the owner from its dependents, then its `orphan` finalizer. */
const orphan = (ctx: Context, d: Def, o: Obj, uid: string) => {
  for (const [dd, x] of dependentsOf(ctx, uid)) {
    const next = clone(x)
    const xm = metaOf(next)
    const refs = (xm.ownerReferences as Array<Obj>).filter((r) => r.uid !== uid)
    if (refs.length === 0) delete xm.ownerReferences
    else xm.ownerReferences = refs
    ctx.objects.commit(dd, "MODIFIED", next, x)
  }
  withoutFinalizer(ctx, d, o, ORPHAN)
  return true
}

/** Deletes the owner's dependents; once they are gone, drops `foregroundDeletion`. */
const foreground = (ctx: Context, d: Def, o: Obj, uid: string, now: number) => {
  const deps = dependentsOf(ctx, uid)
  let changed = false
  for (const [dd, x] of deps) changed = deleteOnce(ctx, dd, x, now) || changed
  if (changed) return true
  if (deps.length > 0) return false
  withoutFinalizer(ctx, d, o, FOREGROUND)
  return true
}

/** Deletes a dependent whose owners are all gone; drops the references to gone ones. */
const dangling = (ctx: Context, d: Def, o: Obj, now: number) => {
  const m = metaOf(o)
  if (!Array.isArray(m.ownerReferences) || m.ownerReferences.length === 0) return false
  const refs = m.ownerReferences.filter(isRecord)
  const solid = refs.filter((r) => ownerExists(ctx, r, d.namespaced ? str(m.namespace) : undefined))
  if (solid.length === 0) return deleteOnce(ctx, d, o, now)
  if (solid.length === refs.length) return false
  const next = clone(o)
  metaOf(next).ownerReferences = solid
  ctx.objects.commit(d, "MODIFIED", next, o)
  return true
}

/** The garbage collector. */
export const make =
  (ctx: Context): Controller =>
  (d, o, now) => {
    const m = metaOf(o)
    const uid = String(m.uid)
    const deleting = m.deletionTimestamp !== undefined
    const fins = finalizersOf(m)
    if (deleting && fins.includes(ORPHAN)) return orphan(ctx, d, o, uid)
    if (deleting && fins.includes(FOREGROUND) && foreground(ctx, d, o, uid, now)) return true
    return dangling(ctx, d, o, now)
  }
