/**
 * The PVC-protection controller: a deleted claim loses its `kubernetes.io/pvc-protection`
 * finalizer (no pod ever uses a claim in the simulation), which lets the deletion finish.
 */

import * as Claims from "../store/claims.ts"
import { keys } from "../store/defs.ts"
import { finalizersOf, metaOf } from "../store/object.ts"
import { type Context, type Controller, withoutFinalizer } from "./controller.ts"

/** The PVC-protection controller. */
export const make =
  (ctx: Context): Controller =>
  (d, o) => {
    const m = metaOf(o)
    if (d.key !== keys.claims || m.deletionTimestamp === undefined) return false
    if (!finalizersOf(m).includes(Claims.PROTECTION)) return false
    withoutFinalizer(ctx, d, o, Claims.PROTECTION)
    return true
  }
