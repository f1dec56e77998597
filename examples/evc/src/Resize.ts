/**
 * What the handlers make of the API server's refusal to resize a PVC, each with its cause and
 * its fix:
 *
 * - 422, shrinking a bound PVC below its capacity: a permanent error (it never succeeds);
 * - 422, any other (the PVC is not bound yet): temporary, tried again after the resize delay;
 * - 403 from RBAC (`User "u" cannot patch resource "persistentvolumeclaims" ...`): temporary,
 *   naming the missing verb and resource, and the role to add it to;
 * - 403 from the `PersistentVolumeClaimResize` admission plugin (`only dynamically provisioned
 *   pvc can be resized and the storageclass that provisions the pvc must support resize`):
 *   temporary, naming the PVC's StorageClass;
 * - any other 403 (a ResourceQuota, another admission plugin): temporary, with its message.
 *
 * An administrator can fix each temporary one, so the handler keeps trying.
 */

import type { KubeObject } from "@kubefx/core"
import { Json, Outcome } from "@kubefx/core"
import type { KubeError } from "@kubefx/runtime"
import type { Duration } from "effect"

const rbac = /User "([^"]*)" cannot (\S+) resource "([^"]+)"/
const storageClassRefusal = /storageclass that provisions the pvc must support resize/i

/**
 * Why a 403 on the resize of `pvc` happened, and what fixes it; `undefined` when the message is
 * neither RBAC's nor the resize admission plugin's (then the API server's message says it all).
 */
export const forbiddenReason = (
  pvc: KubeObject.KubeObject,
  error: KubeError.Forbidden
): string | undefined => {
  const denied = rbac.exec(error.message)
  if (denied !== null) {
    const [, user, verb, resource] = denied
    return `the operator's user "${user}" may not ${verb} ${resource}; add "${verb}" on ${resource} to the operator's role (deploy/rbac.yaml)`
  }
  if (!storageClassRefusal.test(error.message)) return undefined
  const storageClass = Json.get(pvc, "spec.storageClassName")
  return storageClass === undefined
    ? "it has no StorageClass; only a PVC of a StorageClass with allowVolumeExpansion: true can be resized"
    : `its StorageClass "${storageClass}" does not allow volume expansion; set allowVolumeExpansion: true on it, or give the PVCs a class that does (EVC_STORAGE_CLASS)`
}

/**
 * The `Effect.catchTags` cases for the resize patch of `pvc` to `size`: each refusal as the
 * handler's outcome, the temporary ones retried after `retry`.
 */
export const refused = (pvc: KubeObject.KubeObject, size: string, retry: Duration.Duration) => {
  const name = pvc.metadata?.name
  return {
    Invalid: (error: KubeError.Invalid) =>
      /can ?not be less than/.test(error.message) // a bound PVC never shrinks below its capacity
        ? new Outcome.PermanentError({
            message: `PVC ${name} cannot shrink to ${size}: ${error.message}`
          })
        : new Outcome.TemporaryError({
            message: `PVC ${name} cannot be resized yet (is it bound?): ${error.message}`,
            delay: retry
          }),
    Forbidden: (error: KubeError.Forbidden) => {
      const reason = forbiddenReason(pvc, error)
      return new Outcome.TemporaryError({
        message:
          reason === undefined
            ? `PVC ${name} cannot be resized: ${error.message}`
            : `PVC ${name} cannot be resized: ${reason} (the API server said: ${error.message})`,
        delay: retry
      })
    }
  }
}
