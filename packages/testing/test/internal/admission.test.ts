/**
 * Admission: what the simulated API server checks and sets on a write before storing it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins } from "@kubefx/core"
import { ApiPatch } from "@kubefx/runtime"
import * as Admission from "../../src/internal/store/admission.ts"
import { builtins } from "../../src/internal/store/defs.ts"
import { add, configMap, now, refused, req, store, widgetCrd, widgets } from "./fixtures.ts"

const cms = Builtins.configMaps
const configMaps = builtins.find((d) => d.key === "/configmaps")!

describe("admission", () => {
  it("the namespace: the body's must agree with the request's, one must be given", () => {
    const s = store()
    const other = refused(() =>
      s.create(req, cms, configMap("a", { namespace: "other" }), "default", now)
    )
    assert.strictEqual(other._tag, "BadRequest")
    const none = refused(() => add(s, { metadata: { name: "a" } }))
    assert.strictEqual(none._tag, "NotFound")
    assert.strictEqual(
      s.create(req, cms, { metadata: { name: "a" } }, "default", now).metadata?.namespace,
      "default"
    )
  })

  it("the namespace must exist and not be terminating", () => {
    const s = store({})
    assert.strictEqual(
      refused(() => add(s, configMap("a", { namespace: "nope" })))._tag,
      "NotFound"
    )
    add(s, { metadata: { name: "going" } }, Builtins.namespaces)
    s.remove(req, Builtins.namespaces, "going", undefined, {}, now)
    const e = refused(() => add(s, configMap("a", { namespace: "going" })))
    assert.strictEqual(e._tag, "Forbidden")
    assert.include(e.message, "because it is being terminated")
  })

  it("names: generated from generateName, required, RFC 1123, free", () => {
    const s = store()
    const generated = add(s, configMap("", { generateName: "gen-" }))
    assert.match(generated.metadata?.name ?? "", /^gen-[a-z0-9]{5}$/)
    const missing = refused(() => add(s, configMap("")))
    assert.strictEqual(missing._tag, "Invalid")
    assert.strictEqual(refused(() => add(s, configMap("Not_Valid")))._tag, "Invalid")
    add(s, configMap("a.b"))
    assert.strictEqual(refused(() => add(s, configMap("a.b")))._tag, "AlreadyExists")
    // a namespace's name is a label: no dots
    const dotted = refused(() => add(s, { metadata: { name: "a.b" } }, Builtins.namespaces))
    assert.strictEqual(dotted._tag, "Invalid")
  })

  it("a new object's server-managed metadata is the server's", () => {
    const s = store()
    const o = add(
      s,
      configMap("a", { uid: "mine", resourceVersion: "7", deletionTimestamp: "x", generation: 9 })
    )
    assert.notStrictEqual(o.metadata?.uid, "mine")
    assert.notStrictEqual(o.metadata?.resourceVersion, "7")
    assert.isUndefined(o.metadata?.deletionTimestamp)
    assert.isUndefined(o.metadata?.generation, "built-ins keep no generation")
    assert.strictEqual(o.metadata?.creationTimestamp, "2024-01-01T00:00:00Z")
  })

  it("the defaults of namespaces, claims, CRDs and Events", () => {
    const s = store()
    const ns = add(s, { metadata: { name: "x" } }, Builtins.namespaces)
    assert.deepStrictEqual(ns.metadata?.labels, { "kubernetes.io/metadata.name": "x" })
    assert.deepStrictEqual(
      [ns.spec, ns.status],
      [{ finalizers: ["kubernetes"] }, { phase: "Active" }]
    )
    const claim = add(
      s,
      { metadata: { name: "c", namespace: "default" }, spec: {} },
      Builtins.persistentVolumeClaims
    )
    assert.deepStrictEqual(claim.status, { phase: "Pending" })
    const crd = add(s, widgetCrd(), Builtins.customResourceDefinitions)
    assert.deepStrictEqual((crd.status as { storedVersions: unknown }).storedVersions, ["v1"])
    const ev = add(s, { metadata: { name: "e", namespace: "default" } }, Builtins.events)
    assert.isNull(ev.eventTime)
  })

  it("update preconditions: custom PUT needs a version; a stale one, another name or uid are refused", () => {
    const s = store()
    add(s, widgetCrd(), Builtins.customResourceDefinitions)
    const w = add(s, { metadata: { name: "w", namespace: "default" }, spec: {} }, widgets)
    const bare = { metadata: { name: "w", namespace: "default" }, spec: {} }
    assert.strictEqual(
      refused(() => s.replace(req, widgets, "w", bare, "default", undefined))._tag,
      "Invalid"
    )
    const stale = {
      ...bare,
      metadata: { ...bare.metadata, resourceVersion: w.metadata?.resourceVersion ?? "" }
    }
    const replaced = s.replace(
      req,
      widgets,
      "w",
      { ...stale, spec: { size: 1 } },
      "default",
      undefined
    )
    assert.deepStrictEqual(replaced.spec, { size: 1 })
    assert.strictEqual(
      refused(() => s.replace(req, widgets, "w", stale, "default", undefined))._tag,
      "Conflict"
    )
    const renamed = ApiPatch.merge({ metadata: { name: "v" } })
    assert.strictEqual(
      refused(() => s.patch(req, widgets, "w", renamed, "default", undefined, now))._tag,
      "BadRequest"
    )
    const otherUid = ApiPatch.merge({ metadata: { uid: "someone-else" } })
    assert.strictEqual(
      refused(() => s.patch(req, widgets, "w", otherUid, "default", undefined, now))._tag,
      "Conflict"
    )
  })

  it("a write keeps the metadata it cannot change, and the status of a type with /status", () => {
    const current = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "a", uid: "u", resourceVersion: "5", creationTimestamp: "t" },
      data: { x: "1" }
    }
    const next = {
      metadata: { name: "b", uid: "v", resourceVersion: "1", labels: { l: "1" } },
      data: { x: "2" }
    }
    Admission.keepServerFields(configMaps, next, current)
    assert.deepStrictEqual(next, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "a",
        uid: "u",
        resourceVersion: "5",
        creationTimestamp: "t",
        labels: { l: "1" }
      },
      data: { x: "2" }
    } as typeof next)
  })

  it("no finalizer may be added while deleting: reported once, twice for custom resources", () => {
    const current = { metadata: { name: "a", deletionTimestamp: "t", finalizers: ["x/a"] } }
    const next = { metadata: { name: "a", finalizers: ["x/a", "x/b"] } }
    const builtin = refused(() => Admission.noNewFinalizers(req, configMaps, "a", next, current))
    assert.deepStrictEqual(builtin._tag === "Invalid" && builtin.causes.map((c) => c.field), [
      "metadata.finalizers"
    ])
    const custom = refused(() =>
      Admission.noNewFinalizers(req, { ...configMaps, custom: true }, "a", next, current)
    )
    assert.strictEqual(custom._tag === "Invalid" && custom.causes.length, 2)
    Admission.noNewFinalizers(req, configMaps, "a", { metadata: { finalizers: [] } }, current)
    Admission.noNewFinalizers(req, configMaps, "a", next, { metadata: {} })
  })

  it("generation grows when anything but metadata and (a subresource's) status changes", () => {
    const def = { ...configMaps, generation: true, status: true }
    const current = { metadata: { generation: 3 }, spec: { a: 1 }, status: { s: 1 } }
    const statusOnly = { metadata: { generation: 3, labels: {} }, spec: { a: 1 }, status: { s: 2 } }
    Admission.nextGeneration(def, statusOnly, current)
    assert.strictEqual(statusOnly.metadata.generation, 3)
    const spec = { metadata: { generation: 3 }, spec: { a: 2 }, status: { s: 1 } }
    Admission.nextGeneration(def, spec, current)
    assert.strictEqual(spec.metadata.generation, 4)
    const noStatusResource = { metadata: { generation: 3 }, spec: { a: 1 }, status: { s: 2 } }
    Admission.nextGeneration({ ...def, status: false }, noStatusResource, current)
    assert.strictEqual(noStatusResource.metadata.generation, 4)
  })

  it("delete preconditions: uid and resourceVersion", () => {
    const s = store()
    const a = add(s, configMap("a"))
    const wrongUid = refused(() =>
      s.remove(req, cms, "a", "default", { preconditions: { uid: "x" } }, now)
    )
    assert.strictEqual(wrongUid._tag, "Conflict")
    const wrongRv = refused(() =>
      s.remove(req, cms, "a", "default", { preconditions: { resourceVersion: "1" } }, now)
    )
    assert.strictEqual(wrongRv._tag, "Conflict")
    s.remove(req, cms, "a", "default", { preconditions: { uid: a.metadata?.uid ?? "" } }, now)
    assert.strictEqual(refused(() => s.get(req, cms, "a", "default"))._tag, "NotFound")
  })
})
