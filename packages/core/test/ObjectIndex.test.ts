import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as fc from "fast-check"
import { Builtins, Handler, Index, type Json, Registry, Resource } from "../src/index.ts"
import { property } from "./support.ts"

const byNode = Index.make("by-node", Builtins.pods, (pod) => {
  const node = pod.body.spec?.nodeName
  return typeof node === "string" ? { [node]: pod.name } : {}
})

const pod = (name: string, node: string | undefined, namespace = "ns"): Json.JsonObject => ({
  metadata: { name, namespace },
  spec: node === undefined ? {} : { nodeName: node }
})

const sorted = (values: ReadonlyArray<unknown>) => [...values].map(String).sort()

describe("Index", () => {
  it("keeps the values of every object under each key, through changes and deletions", () => {
    const store = new Index.Store(Index.definition(byNode))
    store.applied(pod("a", "n1"))
    store.applied(pod("b", "n1"))
    store.applied(pod("c", "n2"))
    assert.deepStrictEqual(sorted(store.lookup.get("n1")), ["a", "b"])
    store.applied(pod("a", "n2"))
    assert.deepStrictEqual(sorted(store.lookup.get("n1")), ["b"])
    assert.deepStrictEqual(sorted(store.lookup.get("n2")), ["a", "c"])
    store.deleted(pod("b", "n1"))
    assert.isFalse(store.lookup.has("n1"))
    assert.deepStrictEqual(store.lookup.get("n1"), [])
    assert.deepStrictEqual(sorted(store.lookup.keys()), ["n2"])
  })

  it("a relist of a namespace drops what it no longer holds, and only in that namespace", () => {
    const store = new Index.Store(Index.definition(byNode))
    store.applied(pod("a", "n1", "x"))
    store.applied(pod("b", "n1", "y"))
    store.synced("x", [pod("c", "n1", "x")])
    assert.deepStrictEqual(sorted(store.lookup.get("n1")), ["b", "c"])
    store.synced(undefined, [])
    assert.strictEqual(store.lookup.size(), 0)
  })

  it("an index function that throws leaves the object out and says why", () => {
    const strict = Index.make("strict", Builtins.pods, (p) => {
      if (p.name === "bad") throw new Error("no node")
      return { n: p.name }
    })
    const store = new Index.Store(Index.definition(strict))
    assert.isUndefined(store.applied(pod("good", undefined)))
    assert.strictEqual(store.applied(pod("bad", undefined))?.message, "no node")
    assert.deepStrictEqual(store.lookup.get("n"), ["good"])
    const notRecord = Index.make("array", Builtins.pods, () => [] as never)
    assert.match(
      new Index.Store(Index.definition(notRecord)).applied(pod("a", "n"))?.message ?? "",
      /answered an array, not a record/
    )
  })

  it("filters leave non-matching objects out", () => {
    const labelled = Index.make("labelled", Builtins.pods, { labels: { app: "x" } }, (p) => ({
      all: p.name
    }))
    const store = new Index.Store(Index.definition(labelled))
    store.applied({ metadata: { name: "a", labels: { app: "x" } } })
    store.applied({ metadata: { name: "b", labels: { app: "y" } } })
    assert.deepStrictEqual(store.lookup.get("all"), ["a"])
  })

  it("a registry holds indexes, refuses an id twice, and provides them to its handlers", () => {
    const h = Handler.onCreate("widgets.example.com", () =>
      Effect.map(byNode, (pods) => pods.size())
    )
    const registry: Registry.Registry<never> = Registry.make(h, byNode)
    assert.strictEqual(registry.indexes.length, 1)
    // @ts-expect-error: the handler reads an index the registry does not hold
    const _missing: Registry.Registry<never> = Registry.make(h)
    assert.throws(() => Registry.make(byNode, byNode), /duplicate index id "by-node"/)
    assert.throws(
      () => Index.make("a/b", Builtins.pods, () => ({})),
      /may not be empty nor contain/
    )
  })

  it("decodes the spec with the resource's Schema; a spec that does not decode is left out", () => {
    const things = Resource.make({
      group: "g.dev",
      version: "v1",
      plural: "things",
      kind: "Thing",
      spec: Schema.Struct({ size: Schema.String })
    })
    const idx = Index.make("things", things, (t) => ({ [t.spec.size]: t.name }))
    const store = new Index.Store(Index.definition(idx))
    assert.isUndefined(store.applied({ metadata: { name: "a" }, spec: { size: "1G" } }))
    assert.isDefined(store.applied({ metadata: { name: "b" }, spec: { size: 1 } }))
    assert.deepStrictEqual(store.lookup.keys(), ["1G"])
  })

  property(
    "under random changes, deletions and relists, the index is the index function over what exists",
    fc.array(
      fc.oneof(
        fc.record({
          op: fc.constant("apply" as const),
          name: fc.constantFrom("a", "b", "c", "d"),
          ns: fc.constantFrom("x", "y"),
          node: fc.option(fc.constantFrom("n1", "n2", "n3"), { nil: undefined })
        }),
        fc.record({
          op: fc.constant("delete" as const),
          name: fc.constantFrom("a", "b", "c", "d"),
          ns: fc.constantFrom("x", "y")
        }),
        fc.record({ op: fc.constant("relist" as const), ns: fc.constantFrom("x", "y") })
      ),
      { maxLength: 40 }
    ),
    (actions) =>
      Effect.sync(() => {
        const store = new Index.Store(Index.definition(byNode))
        const world = new Map<string, Json.JsonObject>()
        for (const a of actions) {
          if (a.op === "apply") {
            const body = pod(a.name, a.node, a.ns)
            world.set(`${a.ns}/${a.name}`, body)
            // a watch may miss events: sometimes only the relist brings them
            if (a.name !== "d") store.applied(body)
          } else if (a.op === "delete") {
            const body = world.get(`${a.ns}/${a.name}`)
            world.delete(`${a.ns}/${a.name}`)
            if (body !== undefined && a.name !== "d") store.deleted(body)
          } else {
            const listed = [...world.entries()]
              .filter(([k]) => k.startsWith(`${a.ns}/`))
              .map(([, v]) => v)
            store.synced(a.ns, listed)
          }
        }
        store.synced(
          "x",
          [...world.entries()].filter(([k]) => k.startsWith("x/")).map(([, v]) => v)
        )
        store.synced(
          "y",
          [...world.entries()].filter(([k]) => k.startsWith("y/")).map(([, v]) => v)
        )
        const model = new Map<string, Array<string>>()
        for (const body of world.values()) {
          const node = (body.spec as { nodeName?: string }).nodeName
          const name = String((body.metadata as { name: string }).name)
          if (node !== undefined) model.set(node, [...(model.get(node) ?? []), name])
        }
        assert.deepStrictEqual(sorted(store.lookup.keys()), sorted([...model.keys()]))
        for (const [node, names] of model)
          assert.deepStrictEqual(sorted(store.lookup.get(node)), sorted(names))
      })
  )
})
