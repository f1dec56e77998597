import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  Filter,
  Handler,
  Json,
  Patch,
  Reconcile,
  Registry,
  Resource,
  Selector
} from "../src/index.ts"
import { widget, widgets } from "./support.ts"

const body: Json.JsonObject = {
  metadata: {
    name: "w",
    labels: { app: "db", tier: "gold" },
    annotations: { "example.com/owner": "team-a" }
  },
  spec: { mode: "fast", replicas: 3 }
}
const ctx = (over: Partial<Filter.Context> = {}): Filter.Context => ({
  body,
  reason: "update",
  old: "1G",
  new: "2G",
  diff: [],
  ...over
})

describe("Filter", () => {
  it("labels: value, present, absent, predicate", () => {
    assert.isTrue(Filter.matches(Filter.labels({ app: "db" }), ctx()))
    assert.isFalse(Filter.matches(Filter.labels({ app: "web" }), ctx()))
    assert.isTrue(Filter.matches(Filter.labels({ tier: Filter.present }), ctx()))
    assert.isFalse(Filter.matches(Filter.labels({ missing: Filter.present }), ctx()))
    assert.isTrue(Filter.matches(Filter.labels({ missing: Filter.absent }), ctx()))
    assert.isFalse(Filter.matches(Filter.labels({ app: Filter.absent }), ctx()))
    assert.isTrue(
      Filter.matches(Filter.labels({ tier: (v) => v === "gold" || v === "silver" }), ctx())
    )
    assert.isFalse(Filter.matches(Filter.labels({ tier: (v) => v === "bronze" }), ctx()))
  })

  it("annotations: value, present, absent, predicate", () => {
    assert.isTrue(Filter.matches(Filter.annotations({ "example.com/owner": "team-a" }), ctx()))
    assert.isFalse(Filter.matches(Filter.annotations({ "example.com/owner": "team-b" }), ctx()))
    assert.isTrue(
      Filter.matches(Filter.annotations({ "example.com/owner": Filter.present }), ctx())
    )
    assert.isTrue(
      Filter.matches(Filter.annotations({ "example.com/paused": Filter.absent }), ctx())
    )
    assert.isTrue(
      Filter.matches(
        Filter.annotations({ "example.com/owner": (v) => String(v).startsWith("team") }),
        ctx()
      )
    )
  })

  it("field + value", () => {
    assert.isTrue(Filter.matches(Filter.field("spec.mode", "fast"), ctx()))
    assert.isFalse(Filter.matches(Filter.field("spec.mode", "slow"), ctx()))
    assert.isTrue(
      Filter.matches(
        Filter.field(["spec", "replicas"], (v) => typeof v === "number" && v > 2),
        ctx()
      )
    )
    assert.isTrue(Filter.matches(Filter.field("spec.other", Filter.absent), ctx()))
  })

  it("old and new values of an update", () => {
    assert.isTrue(Filter.matches(Filter.oldValue("1G"), ctx()))
    assert.isFalse(Filter.matches(Filter.oldValue("2G"), ctx()))
    assert.isTrue(Filter.matches(Filter.newValue("2G"), ctx()))
    assert.isTrue(Filter.matches(Filter.oldValue(Filter.absent), ctx({ old: undefined })))
  })

  it("when: any predicate; a throwing predicate does not match", () => {
    assert.isTrue(
      Filter.matches(
        Filter.when((c) => c.reason === "update"),
        ctx()
      )
    )
    assert.isFalse(
      Filter.matches(
        Filter.when(() => {
          throw new Error("boom")
        }),
        ctx()
      )
    )
  })

  it("and, or, not combine", () => {
    const db = Filter.labels({ app: "db" })
    const web = Filter.labels({ app: "web" })
    assert.isTrue(Filter.matches(Filter.and(db, Filter.field("spec.mode", "fast")), ctx()))
    assert.isFalse(Filter.matches(Filter.and(db, web), ctx()))
    assert.isTrue(Filter.matches(Filter.or(web, db), ctx()))
    assert.isTrue(Filter.matches(Filter.not(web), ctx()))
    assert.isTrue(Filter.matches(Filter.all, ctx()))
  })

  it.effect("handler options combine filters with 'and' and select handlers in reconcile", () =>
    Effect.gen(function* () {
      const ran = (id: string, options: Handler.Options<Json.JsonObject>) =>
        Handler.onCreate(widgets, { ...options, id }, () => Effect.succeed(id))
      const registry = Registry.make(
        ran("labels", { labels: { app: "db" } }),
        ran("labels-miss", { labels: { app: "web" } }),
        ran("ann", { annotations: { "example.com/owner": Filter.present } }),
        ran("field", { field: "spec.size", value: "1G" }),
        ran("field-miss", { field: "spec.size", value: "2G" }),
        ran("when", { when: (c) => c.reason === "create" }),
        ran("both-miss", {
          labels: { app: "db" },
          annotations: { "example.com/owner": Filter.absent }
        }),
        ran("filter", {
          filter: Filter.or(Filter.labels({ app: "x" }), Filter.labels({ app: "db" }))
        })
      )
      const d = yield* Reconcile.reconcile(registry, {
        resource: widgets,
        body: widget(
          { size: "1G" },
          { metadata: { labels: { app: "db" }, annotations: { "example.com/owner": "a" } } }
        ),
        now: 0
      })
      assert.deepStrictEqual(
        d.runs.map((r) => r.id),
        ["labels", "ann", "field", "when", "filter"]
      )
    })
  )

  it.effect(
    "update handlers with a field run only when it changed; old/new/diff are relative to it",
    () =>
      Effect.gen(function* () {
        const seen: Array<unknown> = []
        const registry = Registry.make(
          Handler.onUpdate(widgets, { id: "size", field: "spec.size" }, (c) =>
            Effect.sync(() => void seen.push(["size", c.old, c.new, c.diff]))
          ),
          Handler.onUpdate(widgets, { id: "mode", field: "spec.mode" }, () =>
            Effect.sync(() => void seen.push(["mode"]))
          ),
          Handler.onUpdate(widgets, { id: "grow", field: "spec.size", old: "1G", new: "2G" }, () =>
            Effect.sync(() => void seen.push(["grow"]))
          ),
          Handler.onUpdate(
            widgets,
            { id: "shrink", field: "spec.size", old: "2G", new: "1G" },
            () => Effect.sync(() => void seen.push(["shrink"]))
          ),
          Handler.onField(widgets, "spec.size", { id: "onfield" }, (c) =>
            Effect.sync(() => void seen.push(["onfield", c.reason]))
          )
        )
        const step = (body: Json.JsonObject) =>
          Reconcile.reconcile(registry, { resource: widgets, body, now: 0 })
        const created = yield* step(widget({ size: "1G", mode: "a" }))
        assert.deepStrictEqual(seen, [["onfield", "create"]])
        seen.length = 0
        const base = Json.asObject(
          Patch.apply(Patch.apply(widget({ size: "1G", mode: "a" }), created.patch), {
            spec: { size: "2G" }
          })
        )
        yield* step(base)
        assert.deepStrictEqual(seen, [
          ["size", "1G", "2G", [{ op: "change", path: [], old: "1G", new: "2G" }]],
          ["grow"],
          ["onfield", "update"]
        ])
      })
  )
})

describe("Selector", () => {
  const evc = Resource.make({
    group: "kopf.dev",
    version: "v1",
    plural: "ephemeralvolumeclaims",
    kind: "EphemeralVolumeClaim"
  })
  const other = Resource.make({
    group: "zalando.org",
    version: "v1",
    plural: "ephemeralvolumeclaims",
    kind: "EphemeralVolumeClaim"
  })

  it("by plural alone, plural.group, group+version+plural, kind, or resource", () => {
    const m = (input: Selector.Input, r: Resource.Resource<unknown>) =>
      Selector.matches(Selector.make(input), r)
    assert.isTrue(m("ephemeralvolumeclaims", evc))
    assert.isTrue(m("ephemeralvolumeclaims", other))
    assert.isTrue(m("ephemeralvolumeclaims.kopf.dev", evc))
    assert.isFalse(m("ephemeralvolumeclaims.kopf.dev", other))
    assert.isTrue(m({ group: "kopf.dev", version: "v1", plural: "ephemeralvolumeclaims" }, evc))
    assert.isFalse(m({ group: "kopf.dev", version: "v2", plural: "ephemeralvolumeclaims" }, evc))
    assert.isTrue(m("EphemeralVolumeClaim", evc))
    assert.isFalse(m("PersistentVolumeClaim", evc))
    assert.isTrue(m(evc, evc))
    assert.isFalse(m(evc, other))
  })

  it("the registry serves handlers by selector", () => {
    const r = Registry.make(
      Handler.onCreate("ephemeralvolumeclaims.kopf.dev", () => Effect.void),
      Handler.onCreate("pods", () => Effect.void)
    )
    assert.strictEqual(Registry.forResource(r, evc).length, 1)
    assert.strictEqual(Registry.forResource(r, other).length, 0)
    assert.deepStrictEqual(Registry.selectors(r), [
      { plural: "ephemeralvolumeclaims", group: "kopf.dev" },
      { plural: "pods" }
    ])
  })
})
