/**
 * The simulated controllers, each on its own over a store: the garbage collector, the
 * namespace controller, PVC protection and the provisioner.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins, Json, type KubeObject } from "@kubefx/core"
import * as Controllers from "../../src/internal/controllers/controller.ts"
import * as GarbageCollector from "../../src/internal/controllers/garbageCollector.ts"
import * as NamespaceController from "../../src/internal/controllers/namespaceController.ts"
import * as Provisioner from "../../src/internal/controllers/provisioner.ts"
import * as PvcProtection from "../../src/internal/controllers/pvcProtection.ts"
import * as Objects from "../../src/internal/store/objects.ts"
import * as Operations from "../../src/internal/store/operations.ts"
import { add, configMap, now, ownerRef, refused, req } from "./fixtures.ts"

const cms = Builtins.configMaps
const pvcs = Builtins.persistentVolumeClaims

/** A store with the namespace `default`, and one controller to run until nothing changes. */
const cluster = (controller: (ctx: Controllers.Context) => Controllers.Controller) => {
  const objects = Objects.make({ historySize: 100, seed: 1 })
  const ops = Operations.make(objects)
  add(ops, { metadata: { name: "default" } }, Builtins.namespaces)
  const step = controller({ objects, remove: ops.remove })
  return { ops, reconcile: () => Controllers.reconcile(objects, [step], now) }
}

const find = (ops: Operations.Operations, name: string, resource = cms) => {
  try {
    return ops.get(req, resource, name, "default")
  } catch {
    return undefined
  }
}

const at = (o: KubeObject.KubeObject | undefined, path: string) =>
  Json.get(o as Json.Json | undefined, path)

const dependent = (name: string, ...owners: ReadonlyArray<KubeObject.KubeObject>) =>
  configMap(name, { ownerReferences: owners.map(ownerRef) })

const claim = (name: string, storageClassName: string, storage = "1Gi"): KubeObject.KubeObject => ({
  metadata: { name, namespace: "default" },
  spec: { storageClassName, accessModes: ["ReadWriteOnce"], resources: { requests: { storage } } }
})

describe("garbage collector", () => {
  it("deletes a dependent whose owners are all gone (background)", () => {
    const { ops, reconcile } = cluster(GarbageCollector.make)
    const owner = add(ops, configMap("owner"))
    add(ops, dependent("dep", owner))
    add(ops, configMap("other"))
    reconcile()
    assert.isDefined(find(ops, "dep"), "its owner lives")
    ops.remove(req, cms, "owner", "default", {}, now)
    reconcile()
    assert.isUndefined(find(ops, "dep"))
    assert.isDefined(find(ops, "other"))
  })

  it("drops the references to gone owners while one owner lives", () => {
    const { ops, reconcile } = cluster(GarbageCollector.make)
    const alive = add(ops, configMap("alive"))
    const ghost = { ...alive, metadata: { ...alive.metadata, name: "ghost", uid: "gone" } }
    add(ops, dependent("dep", alive, ghost))
    reconcile()
    assert.deepStrictEqual(at(find(ops, "dep"), "metadata.ownerReferences"), [ownerRef(alive)])
  })

  it("an owner of another kind or name with the uid is no owner", () => {
    const { ops, reconcile } = cluster(GarbageCollector.make)
    const owner = add(ops, configMap("owner"))
    add(ops, configMap("dep", { ownerReferences: [{ ...ownerRef(owner), kind: "Secret" }] }))
    reconcile()
    assert.isUndefined(find(ops, "dep"))
  })

  it("orphan propagation: dependents lose the reference, the owner its finalizer", () => {
    const { ops, reconcile } = cluster(GarbageCollector.make)
    const owner = add(ops, configMap("owner"))
    add(ops, dependent("dep", owner))
    const marked = ops.remove(req, cms, "owner", "default", { propagationPolicy: "Orphan" }, now)
    assert.deepStrictEqual(marked.metadata?.finalizers, ["orphan"])
    reconcile()
    assert.isUndefined(find(ops, "owner"))
    assert.isUndefined(find(ops, "dep")?.metadata?.ownerReferences)
  })

  it("foreground propagation: dependents go first, then the owner", () => {
    const { ops, reconcile } = cluster(GarbageCollector.make)
    const owner = add(ops, configMap("owner"))
    add(ops, configMap("dep", { ownerReferences: [ownerRef(owner)], finalizers: ["x/hold"] }))
    ops.remove(req, cms, "owner", "default", { propagationPolicy: "Foreground" }, now)
    reconcile()
    assert.isString(
      find(ops, "dep")?.metadata?.deletionTimestamp,
      "the dependent's deletion started"
    )
    assert.isDefined(find(ops, "owner"), "held while a dependent exists")
    ops.patch(
      req,
      cms,
      "dep",
      { _tag: "Merge", body: { metadata: { finalizers: null } } },
      "default",
      undefined,
      now
    )
    reconcile()
    assert.isUndefined(find(ops, "owner"))
  })
})

describe("namespace controller", () => {
  it("deletes a terminating namespace's objects, then the namespace", () => {
    const { ops, reconcile } = cluster(NamespaceController.make)
    add(ops, configMap("held", { finalizers: ["x/hold"] }))
    add(ops, configMap("free"))
    ops.remove(req, Builtins.namespaces, "default", undefined, {}, now)
    reconcile()
    assert.isUndefined(find(ops, "free"))
    assert.isString(find(ops, "held")?.metadata?.deletionTimestamp)
    assert.isDefined(
      ops.get(req, Builtins.namespaces, "default", undefined),
      "waits for its content"
    )
    ops.patch(
      req,
      cms,
      "held",
      { _tag: "Merge", body: { metadata: { finalizers: null } } },
      "default",
      undefined,
      now
    )
    reconcile()
    assert.strictEqual(
      refused(() => ops.get(req, Builtins.namespaces, "default", undefined))._tag,
      "NotFound"
    )
  })

  it("leaves namespaces that are not terminating alone", () => {
    const { ops, reconcile } = cluster(NamespaceController.make)
    add(ops, configMap("a"))
    reconcile()
    assert.isDefined(find(ops, "a"))
  })
})

describe("PVC protection", () => {
  it("lets a deleted claim go; a claim in use stays protected", () => {
    const { ops, reconcile } = cluster(PvcProtection.make)
    add(ops, claim("gone", "none"), pvcs)
    add(ops, claim("kept", "none"), pvcs)
    ops.remove(req, pvcs, "gone", "default", {}, now)
    assert.isDefined(find(ops, "gone", pvcs), "the finalizer holds it")
    reconcile()
    assert.isUndefined(find(ops, "gone", pvcs))
    assert.include(
      find(ops, "kept", pvcs)?.metadata?.finalizers ?? [],
      "kubernetes.io/pvc-protection"
    )
  })
})

describe("provisioner", () => {
  it("binds a claim whose StorageClass exists, and grows a bound one's capacity", () => {
    const { ops, reconcile } = cluster(Provisioner.make)
    add(
      ops,
      { metadata: { name: "grow" }, provisioner: "x", allowVolumeExpansion: true },
      Builtins.storageClasses
    )
    const c = add(ops, claim("c", "grow"), pvcs)
    add(ops, claim("orphan", "missing"), pvcs)
    reconcile()
    const bound = find(ops, "c", pvcs)
    assert.deepStrictEqual(bound?.status, {
      phase: "Bound",
      accessModes: ["ReadWriteOnce"],
      capacity: { storage: "1Gi" }
    })
    assert.strictEqual(at(bound, "spec.volumeName"), `pvc-${c.metadata?.uid}`)
    assert.deepStrictEqual(find(ops, "orphan", pvcs)?.status, { phase: "Pending" })
    ops.patch(
      req,
      pvcs,
      "c",
      { _tag: "Merge", body: { spec: { resources: { requests: { storage: "2Gi" } } } } },
      "default",
      undefined,
      now
    )
    reconcile()
    assert.deepStrictEqual(at(find(ops, "c", pvcs), "status.capacity"), {
      storage: "2Gi"
    })
  })
})

describe("controllers together", () => {
  it("each object meets the controllers in order; the loop runs until nothing changes", () => {
    const objects = Objects.make({ historySize: 100, seed: 1 })
    const ops = Operations.make(objects)
    add(ops, { metadata: { name: "default" } }, Builtins.namespaces)
    add(ops, configMap("a"))
    const seen: Array<string> = []
    let budget = 3
    const first: Controllers.Controller = (d, o) => {
      seen.push(`first ${d.plural}/${String(o.metadata && (o.metadata as { name: string }).name)}`)
      return false
    }
    const second: Controllers.Controller = (d) => {
      seen.push(`second ${d.plural}`)
      return d.plural === "configmaps" && budget-- > 0
    }
    Controllers.reconcile(objects, [first, second], now)
    assert.deepStrictEqual(seen.slice(0, 4), [
      "first namespaces/default",
      "second namespaces",
      "first configmaps/a",
      "second configmaps"
    ])
    assert.strictEqual(budget, -1, "three changes, then a pass without one")
  })
})
