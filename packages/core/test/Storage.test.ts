import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import { Diff, Essence, Json, Patch, Progress, Storage } from "../src/index.ts"
import { essence, handlerId, handlerState, json, jsonObject } from "./arbitraries.ts"
import { property } from "./support.ts"

const storages: ReadonlyArray<[string, Storage.Storage]> = [
  ["default (progress in status, essence in annotations)", Storage.defaults],
  [
    "annotations for both",
    Storage.make({
      progress: Storage.annotations({ prefix: "kubefx.dev" }),
      lastHandled: Storage.annotations({ prefix: "kubefx.dev" })
    })
  ],
  [
    "status for both",
    Storage.make({
      progress: Storage.status({ field: "op.state" }),
      lastHandled: Storage.status({ field: "op.state" })
    })
  ]
]

/** An unrelated body: user annotations and status that storage must leave alone. */
const someBody = fc.record({
  metadata: fc.record({
    name: fc.constant("w"),
    annotations: fc.dictionary(
      fc.constantFrom("example.com/a", "b", "kubectl.kubernetes.io/last-applied-configuration"),
      fc.string()
    )
  }),
  spec: jsonObject,
  status: fc.dictionary(fc.constantFrom("phase", "count"), json)
})

const progressMap = fc
  .uniqueArray(fc.tuple(handlerId, handlerState), { selector: ([id]) => id, maxLength: 5 })
  .map((entries) => Object.fromEntries(entries) as Progress.Progress)

describe("Patch", () => {
  property(
    "Patch.make(old, next) turns old into next (for values without nulls)",
    fc.tuple(jsonObject, jsonObject),
    ([a, b]) =>
      Effect.sync(() => {
        fc.pre(!JSON.stringify(b).includes("null"))
        assert.deepStrictEqual(Patch.apply(a, Patch.make(a, b)), b)
      })
  )

  it("merge patches: objects merge, null deletes, arrays replace; __proto__ is a plain key", () => {
    assert.deepStrictEqual(
      Patch.apply({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { a: null, b: { c: 4 }, l: [3] }),
      { b: { c: 4, d: 3 }, l: [3] }
    )
    const patched = Patch.apply({}, JSON.parse('{"__proto__": {"x": 1}}'))
    assert.deepStrictEqual(Object.keys(Json.asObject(patched)), ["__proto__"])
    assert.deepStrictEqual(Patch.split({ status: { a: 1 }, metadata: { x: 1 } }), {
      main: { metadata: { x: 1 } },
      status: { status: { a: 1 } }
    })
  })
})

describe("Diff", () => {
  property("applying a diff to the old value gives the new one", fc.tuple(json, json), ([a, b]) =>
    Effect.sync(() => {
      assert.deepStrictEqual(Diff.apply(a, Diff.make(a, b)), b)
    })
  )

  property("a diff is empty exactly when the values are equal", fc.tuple(json, json), ([a, b]) =>
    Effect.sync(() => {
      assert.strictEqual(Diff.make(a, b).length === 0, Json.equals(a, b))
      assert.deepStrictEqual(Diff.make(a, a), [])
    })
  )

  property(
    "a diff scoped to a field is the diff of the field's values",
    fc.tuple(jsonObject, jsonObject, fc.constantFrom("a", "a.b", "size")),
    ([a, b, field]) =>
      Effect.sync(() => {
        assert.deepStrictEqual(
          Diff.apply(Json.get(a, field), Diff.scope(Diff.make(a, b), field)),
          Json.get(b, field)
        )
      })
  )

  it("items are (op, path, old, new)", () => {
    assert.deepStrictEqual(Diff.make({ a: 1, b: { c: [1] } }, { b: { c: [2] }, d: "x" }), [
      { op: "remove", path: ["a"], old: 1, new: undefined },
      { op: "change", path: ["b", "c"], old: [1], new: [2] },
      { op: "add", path: ["d"], old: undefined, new: "x" }
    ])
  })

  // Found by the elision property (seed 1079452458): an elided leaf's removal came after its
  // parent's change to a scalar, and made the parent an object again.
  it("the removal of a field that is not there changes nothing", () => {
    const diff: Diff.Diff = [
      { op: "change", path: ["spec", "size"], old: undefined, new: false },
      { op: "remove", path: ["spec", "size", "size"], old: undefined, new: undefined }
    ]
    assert.deepStrictEqual(Diff.apply({ spec: { size: { size: 1 } } }, diff), {
      spec: { size: false }
    })
  })
})

describe("Essence", () => {
  it("excludes status, apiVersion, kind, volatile metadata and kubefx's annotations", () => {
    const body = {
      apiVersion: "v1",
      kind: "X",
      metadata: {
        name: "n",
        uid: "u",
        resourceVersion: "5",
        generation: 2,
        creationTimestamp: "t",
        finalizers: ["f"],
        managedFields: [],
        labels: { a: "1" },
        annotations: {
          "kubectl.kubernetes.io/last-applied-configuration": "{}",
          "kubefx.dev/last-handled": "{}",
          "user.io/x": "y"
        }
      },
      spec: { s: 1 },
      data: { d: 2 },
      status: { phase: "P" }
    }
    assert.deepStrictEqual(Essence.make(body, Storage.ignoresAnnotation(Storage.defaults)), {
      metadata: { labels: { a: "1" }, annotations: { "user.io/x": "y" } },
      spec: { s: 1 },
      data: { d: 2 }
    })
  })

  property(
    "the stored record is bounded, whatever the size of the essence",
    fc.tuple(essence, fc.integer({ min: 128, max: 4096 })),
    ([e, max]) =>
      Effect.sync(() => {
        assert.isAtMost(Essence.size(Essence.record(e, max)), max)
      })
  )

  property(
    "with room to spare, the record keeps the whole essence and its diff is exact",
    fc.tuple(essence, essence),
    ([a, b]) =>
      Effect.sync(() => {
        const r = Essence.record(a, Number.MAX_SAFE_INTEGER)
        assert.deepStrictEqual(r.essence, a)
        assert.deepStrictEqual(Essence.diff(r, b), Diff.make(a, b))
      })
  )

  property(
    "with elision, change detection stays exact and the diff restores every known value",
    fc.tuple(essence, essence, fc.integer({ min: 128, max: 4096 })),
    ([a, b, max]) =>
      Effect.sync(() => {
        const r = Essence.record(a, max)
        const d = Essence.diff(r, b)
        assert.strictEqual(d.length === 0, Json.equals(a, b))
        if (r.essence === undefined) return
        // Applying the diff to what was kept gives the new essence, except at elided leaves
        // that did not change (they are known only by their digest).
        let expected: Json.Json | undefined = b
        for (const e of r.elided) {
          const now = Json.get(b, e.path)
          if (now !== undefined && Json.digest(now) === e.digest)
            expected = Json.set(expected, e.path, undefined)
        }
        assert.deepStrictEqual(Diff.apply(r.essence, d), expected)
      })
  )
})

describe("Storage", () => {
  for (const [name, storage] of storages) {
    property(
      `${name}: progress round-trips through the object, over any previous progress`,
      fc.tuple(someBody, progressMap, progressMap),
      ([body, before, progress]) =>
        Effect.sync(() => {
          const first = Patch.apply(body, Storage.writeProgress(storage, before))
          const written = Patch.apply(first, Storage.writeProgress(storage, progress))
          const expected: Record<string, Progress.HandlerState> = {}
          for (const [id, state] of [...Object.entries(before), ...Object.entries(progress)])
            Json.assign(expected, id, state)
          assert.deepStrictEqual(Storage.readProgress(storage, written), expected)
          const purged = Patch.apply(written, Storage.purgeProgress(storage, written))
          assert.deepStrictEqual(Storage.readProgress(storage, purged), {})
          assert.deepStrictEqual(
            Json.get(purged, "metadata.annotations"),
            Json.get(body, "metadata.annotations")
          )
        })
    )

    property(
      `${name}: the last-handled essence round-trips through the object, over any previous one`,
      fc.tuple(someBody, essence, essence, fc.integer({ min: 128, max: 20_000 })),
      ([body, previous, e, max]) =>
        Effect.sync(() => {
          const first = Patch.apply(
            body,
            Storage.writeLastHandled(storage, Essence.record(previous, max))
          )
          const record = Essence.record(e, max)
          const written = Patch.apply(first, Storage.writeLastHandled(storage, record))
          assert.deepStrictEqual(Storage.readLastHandled(storage, written), record)
          assert.deepStrictEqual(Json.get(written, "spec"), body.spec)
        })
    )
  }

  property(
    "annotation names are always valid, and distinct ids get distinct names",
    fc.uniqueArray(handlerId, { maxLength: 20 }),
    (ids) =>
      Effect.sync(() => {
        const names = ids.map(Storage.nameFor)
        for (const n of names) assert.isTrue(Storage.isValidName(n), n)
        assert.strictEqual(new Set(names).size, ids.length)
      })
  )

  property("progress states round-trip through their JSON form", handlerState, (state) =>
    Effect.sync(() => {
      assert.deepStrictEqual(
        Progress.fromJson(JSON.parse(JSON.stringify(Progress.toJson(state)))),
        state
      )
    })
  )

  it("names: valid ids are kept, others shortened deterministically", () => {
    assert.strictEqual(Storage.nameFor("create_fn"), "create_fn")
    const long = `handler/${"x".repeat(100)}`
    assert.strictEqual(Storage.nameFor(long), Storage.nameFor(long))
    assert.isAtMost(Storage.nameFor(long).length, 63)
    assert.notStrictEqual(Storage.nameFor("last-handled"), "last-handled")
    assert.throws(() => Storage.annotations({ prefix: "Not A Domain" }))
  })

  it("corrupted stored state is ignored rather than breaking the operator", () => {
    const body = {
      metadata: { annotations: { "kubefx.dev/last-handled": "{not json", "kubefx.dev/h": "[]" } },
      status: { kubefx: { progress: { h: { started: "yesterday" } } } }
    }
    assert.strictEqual(Storage.readLastHandled(Storage.defaults, body), undefined)
    assert.deepStrictEqual(Storage.readProgress(Storage.defaults, body), {})
  })
})
