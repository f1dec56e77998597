import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Builtins, Handler, Registry, Resource } from "../src/index.ts"

const widgets = Resource.make({
  group: "example.com",
  version: "v1",
  plural: "widgets",
  kind: "Widget",
  namespaced: false
})

describe("Registry.uses", () => {
  it("keeps the declared resources and verbs, in order, across later additions", () => {
    const registry = Registry.make(Handler.onCreate(widgets, () => Effect.void)).pipe(
      Registry.uses(Builtins.configMaps, ["get", "create"]),
      Registry.add(Handler.onDelete(widgets, () => Effect.void)),
      Registry.uses(Builtins.secrets, ["get"])
    )
    assert.deepStrictEqual(registry.uses, [
      { resource: Builtins.configMaps, verbs: ["get", "create"] },
      { resource: Builtins.secrets, verbs: ["get"] }
    ])
    assert.strictEqual(registry.handlers.length, 2)
  })

  it("leaves the registry it was given as it was", () => {
    const registry = Registry.make(Handler.onCreate(widgets, () => Effect.void))
    Registry.uses(registry, Builtins.configMaps, ["get"])
    assert.deepStrictEqual(registry.uses, [])
  })
})

describe("Handler.resource", () => {
  it("is the declared resource's API view when a Resource is selected, else undefined", () => {
    assert.deepStrictEqual(Handler.onCreate(widgets, () => Effect.void).resource, {
      group: "example.com",
      version: "v1",
      plural: "widgets",
      kind: "Widget",
      namespaced: false
    })
    assert.strictEqual(
      Handler.onCreate("widgets.example.com", () => Effect.void).resource,
      undefined
    )
  })
})

describe("Registry.isRegistry", () => {
  it("recognises registries, also a structural copy from another instance of the package", () => {
    const registry = Registry.make(Handler.onCreate("pods", () => Effect.void))
    assert.isTrue(Registry.isRegistry(registry))
    assert.isTrue(Registry.isRegistry({ _tag: "Registry", handlers: [], uses: [] }))
  })

  it("refuses other values, even ones tagged Registry without handlers", () => {
    for (const value of [undefined, null, 1, "Registry", {}, { _tag: "Registry" }, [registryLike]])
      assert.isFalse(Registry.isRegistry(value))
  })
})

const registryLike = { _tag: "Registry", handlers: [], uses: [] }
