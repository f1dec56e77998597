/** The discovery documents, made from the types served now. */
import { assert, describe, it } from "@effect/vitest"
import { Builtins } from "@kubefx/core"
import * as Discovery from "../../src/internal/sim/discovery.ts"
import { add, refused, store, widgetCrd } from "./fixtures.ts"

const get = (path: string) => ({ method: "GET", path })
type ResourceList = { readonly resources: ReadonlyArray<{ readonly name: string }> }
type GroupList = {
  readonly groups: ReadonlyArray<{ readonly name: string; readonly preferredVersion: unknown }>
}

describe("discovery", () => {
  it("the core group's resources, with /status subresources and short names", () => {
    const doc = Discovery.answer(store(), get("/api/v1")) as ResourceList
    const names = doc.resources.map((r) => r.name)
    assert.includeMembers(names, [
      "configmaps",
      "namespaces",
      "namespaces/status",
      "persistentvolumeclaims/status"
    ])
    assert.notInclude(names, "configmaps/status")
    const pvc = doc.resources.find((r) => r.name === "persistentvolumeclaims")
    assert.deepStrictEqual((pvc as { shortNames?: unknown }).shortNames, ["pvc"])
  })

  it("a CRD's group appears in /apis and is served at its version", () => {
    const s = store()
    assert.isUndefined(
      (Discovery.answer(s, get("/apis")) as GroupList).groups.find(
        (g) => g.name === "test.kubefx.dev"
      )
    )
    add(s, widgetCrd(), Builtins.customResourceDefinitions)
    const group = (Discovery.answer(s, get("/apis/")) as GroupList).groups.find(
      (g) => g.name === "test.kubefx.dev"
    )
    assert.deepStrictEqual(group?.preferredVersion, {
      groupVersion: "test.kubefx.dev/v1",
      version: "v1"
    })
    const doc = Discovery.answer(s, get("/apis/test.kubefx.dev/v1")) as ResourceList
    assert.deepStrictEqual(
      doc.resources.map((r) => r.name),
      ["widgets", "widgets/status"]
    )
  })

  it("the version, the API versions; 404 for anything else", () => {
    const s = store()
    assert.strictEqual((Discovery.answer(s, get("/version?x=1")) as { major: string }).major, "1")
    assert.deepStrictEqual(Discovery.answer(s, get("/api")), {
      kind: "APIVersions",
      versions: ["v1"]
    })
    assert.strictEqual(refused(() => Discovery.answer(s, get("/apis/nope/v1")))._tag, "NotFound")
    assert.strictEqual(refused(() => Discovery.answer(s, get("/healthz")))._tag, "NotFound")
    assert.strictEqual(
      refused(() => Discovery.answer(s, { method: "POST", path: "/api" }))._tag,
      "NotFound"
    )
  })
})
