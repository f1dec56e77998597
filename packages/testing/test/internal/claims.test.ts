/**
 * PersistentVolumeClaims: the defaults of a new claim, then `ValidatePersistentVolumeClaimUpdate`
 * and the `PersistentVolumeClaimResize` plugin on its updates.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Claims from "../../src/internal/store/claims.ts"
import { builtins } from "../../src/internal/store/defs.ts"
import type { Obj } from "../../src/internal/store/object.ts"
import { refused, req } from "./fixtures.ts"

const claims = builtins.find((d) => d.key === "/persistentvolumeclaims")!
const classes: Record<string, Obj> = {
  grow: { metadata: { name: "grow" }, allowVolumeExpansion: true },
  fixed: { metadata: { name: "fixed" } }
}

const claim = (storage: string, cls = "grow", extra: Obj = {}): Obj => ({
  metadata: { name: "c" },
  spec: {
    storageClassName: cls,
    accessModes: ["ReadWriteOnce"],
    resources: { requests: { storage } },
    ...extra
  }
})
const bound = (storage: string, cls = "grow"): Obj => ({
  ...claim(storage, cls, { volumeName: "pv-1" }),
  status: { phase: "Bound", capacity: { storage } }
})
const update = (next: Obj, old: Obj) => () =>
  Claims.admitUpdate(req, claims, next, old, (name) => classes[name])

describe("claims", () => {
  it("a new claim gets volumeMode, phase Pending and the protection finalizer (once)", () => {
    const c = claim("1Gi", "grow")
    ;(c.metadata as Obj).finalizers = ["x/keep"]
    Claims.defaults(c)
    assert.strictEqual((c.spec as Obj).volumeMode, "Filesystem")
    assert.deepStrictEqual(c.status, { phase: "Pending" })
    assert.deepStrictEqual((c.metadata as Obj).finalizers, ["x/keep", Claims.PROTECTION])
    Claims.defaults(c)
    assert.deepStrictEqual((c.metadata as Obj).finalizers, ["x/keep", Claims.PROTECTION])
  })

  it("the spec is immutable but for a bound claim's requested storage (422)", () => {
    const e = refused(
      update(claim("1Gi", "grow", { accessModes: ["ReadWriteMany"] }), claim("1Gi"))
    )
    assert.deepStrictEqual(e._tag === "Invalid" && e.causes.map((c) => c.field), ["spec"])
    // the binder's volumeName may be filled in
    update(claim("1Gi", "grow", { volumeName: "pv-1" }), claim("1Gi"))()
  })

  it("an unbound claim's size is part of its immutable spec (422)", () => {
    const e = refused(update(claim("2Gi"), claim("1Gi")))
    assert.deepStrictEqual(e._tag === "Invalid" && e.causes.map((c) => c.field), ["spec"])
  })

  it("a bound claim grows when its StorageClass allows expansion, else 403", () => {
    update(claim("2Gi", "grow", { volumeName: "pv-1" }), bound("1Gi"))()
    const fixed = refused(
      update(claim("2Gi", "fixed", { volumeName: "pv-1" }), bound("1Gi", "fixed"))
    )
    assert.strictEqual(fixed._tag, "Forbidden")
    const missing = refused(
      update(claim("2Gi", "none", { volumeName: "pv-1" }), bound("1Gi", "none"))
    )
    assert.strictEqual(missing._tag, "Forbidden")
  })

  it("no claim shrinks to its capacity or below (422); above it, it may", () => {
    const below = refused(update(claim("1Gi", "grow", { volumeName: "pv-1" }), bound("2Gi")))
    assert.deepStrictEqual(below._tag === "Invalid" && below.causes.map((c) => c.field), [
      "spec.resources.requests.storage"
    ])
    const old = {
      ...claim("3Gi", "grow", { volumeName: "pv-1" }),
      status: { phase: "Bound", capacity: { storage: "1Gi" } }
    }
    update(claim("2Gi", "grow", { volumeName: "pv-1" }), old)()
  })

  it("reads the requested size and the capacity", () => {
    assert.strictEqual(Claims.requested(claim("5Gi").spec as Obj), "5Gi")
    assert.isUndefined(Claims.requested({}))
    assert.strictEqual(Claims.capacity(bound("4Gi")), "4Gi")
    assert.isTrue(Claims.isBound(bound("4Gi")))
    assert.isFalse(Claims.isBound(claim("4Gi")))
  })
})
