/**
 * The namespace controller: a terminating namespace's objects are deleted (as a client
 * deletes them: finalizers hold them), and once none is left the namespace goes.
 */
import { keys } from "../store/defs.ts"
import { clone, metaOf } from "../store/object.ts"
import { type Context, type Controller, deleteOnce } from "./controller.ts"

/** The namespace controller. */
export const make =
  (ctx: Context): Controller =>
  (d, o, now) => {
    const m = metaOf(o)
    if (d.key !== keys.namespaces || m.deletionTimestamp === undefined) return false
    const inside = ctx.objects
      .everything()
      .filter(([dd, x]) => dd.namespaced && metaOf(x).namespace === m.name)
    let changed = false
    for (const [dd, x] of inside) changed = deleteOnce(ctx, dd, x, now) || changed
    if (changed) return true
    if (inside.length > 0) return false
    ctx.objects.commit(d, "DELETED", clone(o), o)
    return true
  }
