/**
 * What the handlers make of the API server's refusals of a resize (`src/Resize.ts`): the RBAC
 * and admission messages are kube-apiserver v1.36's own (the integration test meets both on the
 * real one); the quota message has the quota admission plugin's form.
 */
import { assert, describe, it } from "@effect/vitest"
import { KubeError } from "@kubefx/runtime"
import { Duration } from "effect"
import * as Resize from "../src/Resize.ts"

const pvc = (storageClassName?: string) => ({
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: { name: "x", namespace: "ns" },
  spec: storageClassName === undefined ? {} : { storageClassName }
})

const forbidden = (message: string) =>
  new KubeError.Forbidden({
    method: "PATCH",
    path: "/api/v1/namespaces/ns/persistentvolumeclaims/x",
    status: 403,
    reason: "Forbidden",
    message
  })

const rbac = forbidden(
  'persistentvolumeclaims "x" is forbidden: User "system:serviceaccount:kubefx-system:kubefx-evc" cannot patch resource "persistentvolumeclaims" in API group "" in the namespace "ns"'
)
const admission = forbidden(
  'persistentvolumeclaims "x" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize'
)
const quota = forbidden(
  'persistentvolumeclaims "x" is forbidden: exceeded quota: q, requested: requests.storage=2G, used: requests.storage=1G, limited: requests.storage=1G'
)

describe("a 403 on a resize", () => {
  it("from RBAC names the user, the missing verb and resource, and the fix", () => {
    assert.strictEqual(
      Resize.forbiddenReason(pvc("fast"), rbac),
      'the operator\'s user "system:serviceaccount:kubefx-system:kubefx-evc" may not patch persistentvolumeclaims; add "patch" on persistentvolumeclaims to the operator\'s role (deploy/rbac.yaml)'
    )
  })

  it("from the resize admission plugin names the PVC's StorageClass, or its lack of one", () => {
    assert.include(
      Resize.forbiddenReason(pvc("fast"), admission),
      'its StorageClass "fast" does not allow volume expansion; set allowVolumeExpansion: true on it'
    )
    assert.include(Resize.forbiddenReason(pvc(), admission), "it has no StorageClass")
  })

  it("of any other kind keeps the API server's message as it is", () => {
    assert.isUndefined(Resize.forbiddenReason(pvc("fast"), quota))
    const outcome = Resize.refused(pvc("fast"), "2G", Duration.seconds(7)).Forbidden(quota)
    assert.strictEqual(outcome.message, `PVC x cannot be resized: ${quota.message}`)
  })

  it("is a temporary error retried after the resize delay, whichever it is", () => {
    for (const error of [rbac, admission, quota]) {
      const outcome = Resize.refused(pvc("fast"), "2G", Duration.seconds(7)).Forbidden(error)
      assert.strictEqual(outcome._tag, "TemporaryError")
      assert.deepStrictEqual(outcome.delay, Duration.seconds(7))
      assert.include(outcome.message, error.message)
    }
  })
})
