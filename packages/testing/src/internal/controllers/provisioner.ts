/**
 * A dynamic provisioner (as a storage driver and the PV controller together): a pending claim
 * whose StorageClass exists is bound (`volumeName`, `status.phase: Bound`, capacity = the
 * request), and a bound claim whose request grew gets the larger capacity.
 */
import * as Quantity from "../quantity.ts"
import * as Claims from "../store/claims.ts"
import { keys } from "../store/defs.ts"
import { clone, metaOf, type Obj, recordAt, str } from "../store/object.ts"
import type { Context, Controller } from "./controller.ts"

/** The provisioner. */
export const make =
  (ctx: Context): Controller =>
  (d, o) => {
    if (d.key !== keys.claims || metaOf(o).deletionTimestamp !== undefined) return false
    const spec = recordAt(o, "spec")
    const status = recordAt(o, "status")
    const requested = Claims.requested(spec)
    const cls = str(spec.storageClassName)
    const classes = ctx.objects.table(ctx.objects.defs.get(keys.storageClasses)!)
    const sc = cls === undefined ? undefined : classes.get(cls)
    if (sc !== undefined && status.phase !== "Bound") {
      const next = clone(o)
      ;(next.spec as Obj).volumeName = `pvc-${String(metaOf(o).uid)}`
      next.status = {
        phase: "Bound",
        accessModes: spec.accessModes ?? ["ReadWriteOnce"],
        capacity: { storage: requested }
      }
      ctx.objects.commit(d, "MODIFIED", next, o)
      return true
    }
    if (status.phase !== "Bound" || Quantity.compare(requested, Claims.capacity(o)) <= 0)
      return false
    const next = clone(o)
    next.status = { ...status, capacity: { storage: requested } }
    ctx.objects.commit(d, "MODIFIED", next, o)
    return true
  }
