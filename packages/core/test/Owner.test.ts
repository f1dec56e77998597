import { assert, describe, it } from "@effect/vitest"
import { Effect, pipe } from "effect"
import * as fc from "fast-check"
import { Json, Owner } from "../src/index.ts"
import { property } from "./support.ts"

const evc = {
  apiVersion: "kopf.dev/v1",
  kind: "EphemeralVolumeClaim",
  metadata: { name: "my-claim", namespace: "team-a", uid: "u-1", labels: { team: "a", tier: "x" } }
}
const evcRef: Owner.Reference = {
  apiVersion: "kopf.dev/v1",
  kind: "EphemeralVolumeClaim",
  name: "my-claim",
  uid: "u-1",
  controller: true,
  blockOwnerDeletion: true
}

describe("Owner", () => {
  it("adopt: reference, namespace, name and labels as kopf.adopt", () => {
    const pvc = Owner.adopt({ apiVersion: "v1", kind: "PersistentVolumeClaim", spec: {} }, evc)
    assert.deepStrictEqual(pvc, {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      spec: {},
      metadata: {
        name: "my-claim",
        namespace: "team-a",
        labels: { team: "a", tier: "x" },
        ownerReferences: [{ ...evcRef }]
      }
    })
  })

  it("adopt: what the child says wins, and other owners are kept", () => {
    const other = { apiVersion: "v1", kind: "Pod", name: "p", uid: "u-9" }
    const child = {
      metadata: {
        generateName: "data-",
        namespace: "elsewhere",
        labels: { tier: "child" },
        ownerReferences: [other]
      }
    }
    const adopted = Owner.adopt(child, evc)
    assert.deepStrictEqual(adopted.metadata, {
      generateName: "data-",
      namespace: "elsewhere",
      labels: { team: "a", tier: "child" },
      ownerReferences: [other, { ...evcRef }]
    })
    assert.deepStrictEqual(child.metadata.ownerReferences, [other], "the input is not mutated")
  })

  it("adopt: without the owner's labels, not as controller", () => {
    const adopted = Owner.adopt({ metadata: { name: "x" } }, evc, {
      labels: false,
      controller: false
    })
    assert.deepStrictEqual(adopted.metadata, {
      name: "x",
      namespace: "team-a",
      ownerReferences: [{ ...evcRef, controller: false }]
    })
  })

  it("a cluster-scoped owner leaves the namespace alone", () => {
    const node = { apiVersion: "v1", kind: "Node", metadata: { name: "n1", uid: "u-n" } }
    assert.isUndefined(Json.get(Owner.adopt({ metadata: {} }, node), "metadata.namespace"))
  })

  it("reference: refuses an owner without identity, naming the missing field", () => {
    assert.throws(() => Owner.reference({ kind: "X", metadata: { name: "a" } }), /apiVersion/)
    assert.throws(
      () => Owner.reference({ apiVersion: "v1", kind: "X", metadata: { name: "a" } }),
      /metadata\.uid/
    )
  })

  it("isOwnedBy matches the uid; controllerOf finds the controller", () => {
    const child = Owner.adopt({ metadata: {} }, evc)
    assert.isTrue(Owner.isOwnedBy(child, evc))
    assert.isTrue(pipe(child, Owner.isOwnedBy(evc)))
    const successor = { ...evc, metadata: { ...evc.metadata, uid: "u-2" } }
    assert.isFalse(Owner.isOwnedBy(child, successor), "a re-created owner is another owner")
    assert.isFalse(Owner.isOwnedBy({ metadata: {} }, evc))
    assert.deepStrictEqual(Owner.controllerOf(child), evcRef)
    const notController = Owner.adopt({ metadata: {} }, evc, { controller: false })
    assert.isUndefined(Owner.controllerOf(notController))
    assert.deepStrictEqual(
      Owner.references({ metadata: { ownerReferences: [{ kind: "broken" }, 3] } }),
      []
    )
  })

  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/)
  const labels = fc.dictionary(name, name, { maxKeys: 3 })
  const owner = fc.record({
    apiVersion: fc.constantFrom("v1", "kopf.dev/v1"),
    kind: fc.constantFrom("EphemeralVolumeClaim", "ConfigMap"),
    metadata: fc.record(
      { name, uid: fc.uuid(), namespace: name, labels },
      { requiredKeys: ["name", "uid"] }
    )
  })
  const child = fc.record({
    kind: fc.constant("PersistentVolumeClaim"),
    metadata: fc.record({ name, namespace: name, labels }, { requiredKeys: [] })
  })

  property(
    "adopt is idempotent, owns the child and keeps the child's own metadata",
    fc.tuple(owner, child),
    ([owner, child]) =>
      Effect.sync(() => {
        const once = Owner.adopt(child, owner)
        assert.deepStrictEqual(Owner.adopt(once, owner), once)
        assert.isTrue(Owner.isOwnedBy(once, owner))
        assert.strictEqual(Owner.references(once).length, 1)
        for (const key of ["name", "namespace"] as const) {
          const own = child.metadata[key]
          if (own !== undefined) assert.strictEqual(Json.get(once, ["metadata", key]), own)
        }
        const merged = Json.asObject(Json.get(once, "metadata.labels"))
        for (const [k, v] of Object.entries(child.metadata.labels ?? {})) {
          assert.strictEqual(merged[k], v)
        }
        for (const [k, v] of Object.entries(owner.metadata.labels ?? {})) {
          assert.strictEqual(merged[k], child.metadata.labels?.[k] ?? v)
        }
      })
  )
})
