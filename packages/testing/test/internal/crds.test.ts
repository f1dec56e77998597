/**
 * CRD serving: a CRD object makes its type served, deleting it deletes its objects; custom
 * resources are pruned and validated by the structural schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins } from "@kubefx/core"
import * as Crds from "../../src/internal/store/crds.ts"
import { add, now, refused, req, store, widgetCrd, widgets } from "./fixtures.ts"

const crds = Builtins.customResourceDefinitions
const served = (s: ReturnType<typeof store>) => [...s.served()].map((d) => d.key)

describe("CRDs", () => {
  it("a CRD declares its type: storage version first, unserved versions left out", () => {
    const d = Crds.defOf(
      widgetCrd({
        scope: "Cluster",
        names: { plural: "widgets", kind: "Widget", shortNames: ["wd"] },
        versions: [
          { name: "v1alpha1", served: false, storage: false },
          { name: "v1beta1", served: true, storage: false },
          { name: "v1", served: true, storage: true, subresources: { status: {} } }
        ]
      }) as never
    )
    assert.deepStrictEqual(
      d && [d.key, d.versions, d.namespaced, d.status, d.singular, d.shortNames, d.custom],
      ["test.kubefx.dev/widgets", ["v1", "v1beta1"], false, true, "widget", ["wd"], true]
    )
    const none = widgetCrd({ versions: [{ name: "v1", served: false, storage: true }] })
    assert.isUndefined(Crds.defOf(none as never))
  })

  it("creating a CRD serves its type; deleting it deletes its objects and stops serving", () => {
    const s = store()
    assert.notInclude(served(s), "test.kubefx.dev/widgets")
    const crd = add(s, widgetCrd(), crds)
    assert.include(served(s), "test.kubefx.dev/widgets")
    assert.deepStrictEqual(
      (crd.status as { conditions: Array<{ type: string }> }).conditions.map((c) => c.type),
      ["NamesAccepted", "Established"]
    )
    add(s, { metadata: { name: "w", namespace: "default" }, spec: {} }, widgets)
    const gone: Array<string> = []
    const opened = s.openWatch(
      req,
      widgets,
      {
        def: "test.kubefx.dev/widgets",
        namespace: undefined,
        match: () => true,
        deliver: (type) => gone.push(type)
      },
      String(Number(s.currentVersion()))
    )
    assert.strictEqual(opened._tag, "Open")
    s.remove(req, crds, "widgets.test.kubefx.dev", undefined, {}, now)
    assert.deepStrictEqual(gone, ["DELETED"])
    assert.notInclude(served(s), "test.kubefx.dev/widgets")
    assert.strictEqual(refused(() => s.get(req, widgets, "w", "default"))._tag, "NotFound")
  })

  it("prunes fields the schema does not know, unless it preserves them", () => {
    const s = store()
    add(s, widgetCrd(), crds)
    const w = add(
      s,
      { metadata: { name: "w", namespace: "default" }, spec: { size: 1, extra: true }, top: 1 },
      widgets
    )
    assert.deepStrictEqual(w.spec, { size: 1 })
    assert.isUndefined((w as Record<string, unknown>).top)
  })

  it("validates by the schema: types, minimum, required (422 with each field)", () => {
    const s = store()
    add(s, widgetCrd(), crds)
    const bad = refused(() =>
      add(s, { metadata: { name: "w", namespace: "default" }, spec: { size: -1 } }, widgets)
    )
    assert.deepStrictEqual(bad._tag === "Invalid" && bad.causes.map((c) => c.field), ["spec.size"])
    assert.include(bad.message, 'Widget.test.kubefx.dev "w" is invalid')
    const missing = refused(() =>
      add(s, { metadata: { name: "v", namespace: "default" } }, widgets)
    )
    assert.deepStrictEqual(missing._tag === "Invalid" && missing.causes.map((c) => c.field), [
      "spec"
    ])
  })
})
