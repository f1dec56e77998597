import { assert, describe, it } from "@effect/vitest"
import { Causes, Essence, Json, Patch, Progress, Storage } from "../src/index.ts"
import { widget } from "./support.ts"

const handled = (body: Json.JsonObject, storage = Storage.defaults): Json.JsonObject =>
  Json.asObject(
    Patch.apply(
      body,
      Storage.writeLastHandled(
        storage,
        Essence.record(Essence.make(body, Storage.ignoresAnnotation(storage)))
      )
    )
  )

const withFinalizer = (body: Json.JsonObject): Json.JsonObject =>
  Json.asObject(
    Patch.apply(body, { metadata: { finalizers: ["other.io/keep", Storage.defaults.finalizer] } })
  )

const deleting = (body: Json.JsonObject): Json.JsonObject =>
  Json.asObject(Patch.apply(body, { metadata: { deletionTimestamp: "2024-01-01T00:00:00Z" } }))

describe("Causes.detect", () => {
  it("create: no last-handled essence", () => {
    const c = Causes.detect({ body: widget() })
    assert.strictEqual(c.reason, "create")
    assert.strictEqual(c.old, undefined)
    assert.deepStrictEqual(c.diff, [
      { op: "add", path: [], old: undefined, new: { spec: { size: "1G" } } }
    ])
  })

  it("update: the essence changed since last handled, with old, new and diff", () => {
    const body = Json.asObject(Patch.apply(handled(widget()), { spec: { size: "2G" } }))
    const c = Causes.detect({ body })
    assert.strictEqual(c.reason, "update")
    assert.deepStrictEqual(c.old, { spec: { size: "1G" } })
    assert.deepStrictEqual(c.new, { spec: { size: "2G" } })
    assert.deepStrictEqual(c.diff, [{ op: "change", path: ["spec", "size"], old: "1G", new: "2G" }])
  })

  it("noop: unchanged, whatever happens to status and volatile metadata", () => {
    const body = Json.asObject(
      Patch.apply(handled(widget()), {
        status: { phase: "Ready" },
        metadata: { resourceVersion: "99", generation: 3, managedFields: [{}] }
      })
    )
    assert.strictEqual(Causes.detect({ body }).reason, "noop")
  })

  it("resume: unchanged and seen for the first time by this process", () => {
    assert.strictEqual(
      Causes.detect({ body: handled(widget()), firstSight: true }).reason,
      "resume"
    )
  })

  it("resume continues while a resume handler is in progress, even after first sight", () => {
    const body = handled(widget())
    const key = Causes.detect({ body, firstSight: true }).key
    const inProgress = Json.asObject(
      Patch.apply(
        body,
        Storage.writeProgress(Storage.defaults, { r: { ...Progress.start(key, 0), delayed: 10 } })
      )
    )
    assert.strictEqual(Causes.detect({ body: inProgress }).reason, "resume")
  })

  it("an unchanged object seen for the first time is still a create when never handled", () => {
    assert.strictEqual(Causes.detect({ body: widget(), firstSight: true }).reason, "create")
  })

  it("an update wins over a resume (a restart in the middle of an update continues it)", () => {
    const body = Json.asObject(Patch.apply(handled(widget()), { spec: { size: "2G" } }))
    assert.strictEqual(Causes.detect({ body, firstSight: true }).reason, "update")
  })

  it("delete: deletionTimestamp set and our finalizer present", () => {
    const c = Causes.detect({
      body: deleting(withFinalizer(handled(widget()))),
      needsFinalizer: true
    })
    assert.strictEqual(c.reason, "delete")
    assert.strictEqual(c.finalizer, "remove")
  })

  it("gone: deletionTimestamp set and our finalizer absent", () => {
    const c = Causes.detect({ body: deleting(handled(widget())), needsFinalizer: true })
    assert.strictEqual(c.reason, "gone")
    assert.strictEqual(c.finalizer, "none")
  })

  it("gone: the watch reported the object deleted", () => {
    const c = Causes.detect({
      body: withFinalizer(handled(widget())),
      needsFinalizer: true,
      deleted: true
    })
    assert.strictEqual(c.reason, "gone")
    assert.strictEqual(c.finalizer, "none")
  })

  it("finalizer: add when needed and absent, remove when present and not needed, else none", () => {
    assert.strictEqual(Causes.detect({ body: widget(), needsFinalizer: true }).finalizer, "add")
    assert.strictEqual(
      Causes.detect({ body: withFinalizer(widget()), needsFinalizer: true }).finalizer,
      "none"
    )
    assert.strictEqual(
      Causes.detect({ body: withFinalizer(widget()), needsFinalizer: false }).finalizer,
      "remove"
    )
    assert.strictEqual(Causes.detect({ body: widget(), needsFinalizer: false }).finalizer, "none")
  })

  it("our own annotations are not part of the essence (storing state is not a change)", () => {
    const storage = Storage.make({ progress: Storage.annotations({ prefix: "kubefx.dev" }) })
    const body = handled(widget(), storage)
    const withProgress = Json.asObject(
      Patch.apply(body, Storage.writeProgress(storage, { h: Progress.start("update:x", 0) }))
    )
    assert.strictEqual(Causes.detect({ body: withProgress, storage }).reason, "noop")
  })

  it("a user's annotation or label is a change", () => {
    const body = Json.asObject(
      Patch.apply(handled(widget()), { metadata: { labels: { tier: "gold" } } })
    )
    const c = Causes.detect({ body })
    assert.strictEqual(c.reason, "update")
    // The old essence had no metadata at all (kubefx's own annotations are not part of it).
    assert.deepStrictEqual(c.diff, [
      { op: "add", path: ["metadata"], old: undefined, new: { labels: { tier: "gold" } } }
    ])
  })

  it("the key of a change stays the same while it is in progress, and differs between changes", () => {
    const base = handled(widget())
    const a = Causes.detect({ body: Json.asObject(Patch.apply(base, { spec: { size: "2G" } })) })
    const b = Causes.detect({ body: Json.asObject(Patch.apply(base, { spec: { size: "3G" } })) })
    assert.strictEqual(a.key, b.key)
    const rebased = handled(Json.asObject(Patch.apply(widget(), { spec: { size: "2G" } })))
    const c = Causes.detect({ body: Json.asObject(Patch.apply(rebased, { spec: { size: "3G" } })) })
    assert.notStrictEqual(a.key, c.key)
  })
})
