/**
 * PersistentVolumeClaims as the API server admits them: the defaults of a new claim
 * (`volumeMode`, `status.phase: Pending`, the `kubernetes.io/pvc-protection` finalizer), then
 * on update `ValidatePersistentVolumeClaimUpdate` (the spec is immutable but for the requested
 * storage of a bound claim, which may not shrink below its capacity) and the
 * `PersistentVolumeClaimResize` plugin (only bound claims whose StorageClass allows expansion
 * grow).
 */
import type { KubeError } from "@kubefx/runtime"
import * as Quantity from "../quantity.ts"
import type { Def } from "./defs.ts"
import { forbidden, invalidField } from "./failures.ts"
import {
  canonical,
  clone,
  finalizersOf,
  isRecord,
  metaOf,
  type Obj,
  recordAt,
  str
} from "./object.ts"

/** The finalizer the PVC-protection controller removes once no pod uses the claim. */
export const PROTECTION = "kubernetes.io/pvc-protection"

/** `spec.resources.requests.storage` of a claim's spec. */
export const requested = (spec: Obj): unknown =>
  isRecord(spec.resources) && isRecord(spec.resources.requests)
    ? spec.resources.requests.storage
    : undefined

/** `status.capacity.storage` of a claim. */
export const capacity = (claim: Obj): unknown =>
  recordAt(recordAt(claim, "status"), "capacity").storage

export const isBound = (claim: Obj) => recordAt(claim, "status").phase === "Bound"

/** The defaults of a new claim, in place. */
export const defaults = (claim: Obj) => {
  const m = metaOf(claim)
  const spec = recordAt(claim, "spec")
  if (spec.volumeMode === undefined) spec.volumeMode = "Filesystem"
  claim.spec = spec
  claim.status = { phase: "Pending" }
  const fins = finalizersOf(m)
  if (!fins.includes(PROTECTION)) m.finalizers = [...fins, PROTECTION]
}

/** Refuses (422) a change of the spec but for the requested storage of a bound claim. */
const immutableSpec = (req: KubeError.RequestInfo, d: Def, next: Obj, old: Obj) => {
  const a = clone(recordAt(next, "spec"))
  const b = clone(recordAt(old, "spec"))
  if (str(b.volumeName) === undefined || b.volumeName === "") b.volumeName = a.volumeName
  if (isBound(old) && isRecord(a.resources) && isRecord(a.resources.requests))
    a.resources.requests.storage = requested(recordAt(old, "spec"))
  if (canonical(a) !== canonical(b))
    invalidField(
      req,
      d,
      String(metaOf(next).name),
      "FieldValueForbidden",
      "spec",
      "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
    )
}

/** `ValidatePersistentVolumeClaimUpdate`, then the `PersistentVolumeClaimResize` plugin. */
export const admitUpdate = (
  req: KubeError.RequestInfo,
  d: Def,
  next: Obj,
  old: Obj,
  storageClass: (name: string) => Obj | undefined
) => {
  const name = String(metaOf(next).name)
  const spec = recordAt(next, "spec")
  const oldSpec = recordAt(old, "spec")
  immutableSpec(req, d, next, old)
  const newSize = requested(spec)
  const oldSize = requested(oldSpec)
  if (Quantity.compare(newSize, oldSize) < 0 && Quantity.compare(newSize, capacity(old)) <= 0)
    invalidField(
      req,
      d,
      name,
      "FieldValueForbidden",
      "spec.resources.requests.storage",
      "Forbidden: field can not be less than status.capacity"
    )
  if (Quantity.compare(newSize, oldSize) <= 0) return
  if (!isBound(old))
    forbidden(
      req,
      `persistentvolumeclaims "${name}" is forbidden: Only bound persistent volume claims can be expanded`
    )
  const cls = str(spec.storageClassName)
  const sc = cls === undefined ? undefined : storageClass(cls)
  if (cls !== str(oldSpec.storageClassName) || sc === undefined || sc.allowVolumeExpansion !== true)
    forbidden(
      req,
      `persistentvolumeclaims "${name}" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`
    )
}
