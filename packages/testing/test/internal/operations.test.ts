/**
 * The requests over the store: what a delete does (mark, remove, answer), the paths of a
 * patch, status separation, and lists.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins } from "@kubefx/core"
import { ApiPatch } from "@kubefx/runtime"
import { add, configMap, names, now, refused, req, store, widgetCrd, widgets } from "./fixtures.ts"

const cms = Builtins.configMaps
const widget = (name: string, metadata: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: "default", ...metadata },
  spec: { size: 1 }
})
/** A store serving widgets (custom, with `/status`). */
const withWidgets = () => {
  const s = store()
  add(s, widgetCrd(), Builtins.customResourceDefinitions)
  return s
}

describe("delete", () => {
  it("a built-in object without finalizers goes at once; the answer is a Status", () => {
    const s = store()
    const a = add(s, configMap("a"))
    const answer = s.remove(req, cms, "a", "default", {}, now)
    assert.strictEqual(answer.kind, "Status")
    assert.deepStrictEqual((answer as { details?: unknown }).details, {
      name: "a",
      group: "",
      kind: "configmaps",
      uid: a.metadata?.uid
    })
    assert.deepStrictEqual(names(s), [])
  })

  it("a custom object goes at once and is answered in full", () => {
    const s = withWidgets()
    add(s, widget("w"), widgets)
    const answer = s.remove(req, widgets, "w", "default", {}, now)
    assert.strictEqual(answer.kind, "Widget")
    assert.strictEqual(refused(() => s.get(req, widgets, "w", "default"))._tag, "NotFound")
  })

  it("finalizers hold it: marked once (generation bumped), a second delete changes nothing", () => {
    const s = withWidgets()
    add(s, widget("w", { finalizers: ["x/hold"] }), widgets)
    const marked = s.remove(req, widgets, "w", "default", {}, now)
    assert.strictEqual(marked.metadata?.deletionTimestamp, "2024-01-01T00:00:00Z")
    assert.strictEqual(marked.metadata?.generation, 2)
    const again = s.remove(req, widgets, "w", "default", {}, now)
    assert.strictEqual(again.metadata?.resourceVersion, marked.metadata?.resourceVersion)
    const released = s.patch(
      req,
      widgets,
      "w",
      ApiPatch.merge({ metadata: { finalizers: null } }),
      "default",
      undefined,
      now
    )
    assert.isString(released.metadata?.deletionTimestamp, "answered as it was last")
    assert.strictEqual(refused(() => s.get(req, widgets, "w", "default"))._tag, "NotFound")
  })

  it("propagation policies add their finalizer; a dry run changes nothing", () => {
    const s = store()
    for (const name of ["fg", "or", "dry"]) add(s, configMap(name))
    const fg = s.remove(req, cms, "fg", "default", { propagationPolicy: "Foreground" }, now)
    const or = s.remove(req, cms, "or", "default", { propagationPolicy: "Orphan" }, now)
    assert.deepStrictEqual(
      [fg.metadata?.finalizers, or.metadata?.finalizers],
      [["foregroundDeletion"], ["orphan"]]
    )
    s.remove(req, cms, "dry", "default", { dryRun: true }, now)
    assert.deepStrictEqual(names(s), ["dry", "fg", "or"])
  })

  it("a namespace is marked Terminating, once", () => {
    const s = store()
    const ns = s.remove(req, Builtins.namespaces, "default", undefined, {}, now)
    assert.deepStrictEqual(ns.status, { phase: "Terminating" })
    const again = s.remove(req, Builtins.namespaces, "default", undefined, {}, now)
    assert.strictEqual(again.metadata?.resourceVersion, ns.metadata?.resourceVersion)
  })
})

describe("writes", () => {
  it("the main resource keeps the stored status, /status keeps all but the status", () => {
    const s = withWidgets()
    add(s, widget("w"), widgets)
    const status = ApiPatch.merge({ status: { phase: "Ready" }, spec: { size: 9 } })
    const s1 = s.patch(req, widgets, "w", status, "default", "status", now)
    assert.deepStrictEqual([s1.spec, s1.status], [{ size: 1 }, { phase: "Ready" }])
    const main = ApiPatch.merge({ status: { phase: "Lost" }, spec: { size: 2 } })
    const s2 = s.patch(req, widgets, "w", main, "default", undefined, now)
    assert.deepStrictEqual([s2.spec, s2.status], [{ size: 2 }, { phase: "Ready" }])
  })

  it("/status of a type without the subresource is 404", () => {
    const s = store()
    add(s, configMap("a"))
    const e = refused(() =>
      s.patch(req, cms, "a", ApiPatch.merge({ status: {} }), "default", "status", now)
    )
    assert.strictEqual(e._tag, "NotFound")
  })

  it("an apply patch creates a missing object; a strategic one on a custom resource is 415", () => {
    const s = withWidgets()
    const created = s.patch(
      req,
      cms,
      "new",
      ApiPatch.apply(
        { apiVersion: "v1", kind: "ConfigMap", data: { x: "1" } },
        { fieldManager: "test" }
      ),
      "default",
      undefined,
      now
    )
    assert.deepStrictEqual([created.metadata?.name, created.data], ["new", { x: "1" }])
    add(s, widget("w"), widgets)
    const e = refused(() =>
      s.patch(req, widgets, "w", ApiPatch.strategic({ spec: {} }), "default", undefined, now)
    )
    assert.deepStrictEqual([e._tag, e._tag === "BadRequest" && e.status], ["BadRequest", 415])
  })

  it("a failed JSON patch test is 422; a write that changes nothing keeps the version", () => {
    const s = store()
    const a = add(s, configMap("a", {}, { x: "1" }))
    const failed = refused(() =>
      s.patch(
        req,
        cms,
        "a",
        ApiPatch.json([{ op: "test", path: "/data/x", value: "2" }]),
        "default",
        undefined,
        now
      )
    )
    assert.strictEqual(failed._tag, "Invalid")
    const same = s.patch(
      req,
      cms,
      "a",
      ApiPatch.merge({ data: { x: "1" } }),
      "default",
      undefined,
      now
    )
    assert.strictEqual(same.metadata?.resourceVersion, a.metadata?.resourceVersion)
  })
})

describe("list", () => {
  it("built-in items come without apiVersion and kind, custom ones with them", () => {
    const s = withWidgets()
    add(s, configMap("a"))
    add(s, widget("w"), widgets)
    const [c] = s.list(req, cms, "default", () => true).items
    const [w] = s.list(req, widgets, "default", () => true).items
    assert.deepStrictEqual([c?.apiVersion, c?.kind], [undefined, undefined])
    assert.deepStrictEqual([w?.apiVersion, w?.kind], ["test.kubefx.dev/v1", "Widget"])
    const full = s.list(req, cms, "default", () => true, false).items[0]
    assert.deepStrictEqual([full?.apiVersion, full?.kind], ["v1", "ConfigMap"])
  })

  it("a type at a version it does not serve is 404", () => {
    const s = store()
    const e = refused(() => s.list(req, { ...cms, version: "v2" }, "default", () => true))
    assert.strictEqual(e._tag, "NotFound")
  })
})
