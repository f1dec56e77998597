import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import {
  Diff,
  Essence,
  Filter,
  Handler,
  Json,
  Patch,
  Reconcile,
  Registry,
  Storage
} from "../src/index.ts"
import { scalar } from "./arbitraries.ts"
import { property, widget, widgets } from "./support.ts"

/** Values over few keys, "0" among them (an object key that looks like an index), and arrays. */
const segment = fc.constantFrom("a", "b", "0", "1")
const value: fc.Arbitrary<Json.Json> = fc.letrec<{ v: Json.Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("v"), { maxLength: 3 }),
    fc.dictionary(segment, tie("v"), { maxKeys: 3 })
  )
})).v
const somePath = fc.array(fc.constantFrom("a", "b", "0", "1", "2", "01"), { maxLength: 4 })

/** An existing path of a value, by walking it with the choices (object keys, array indexes). */
const walk = (v: Json.Json, choices: ReadonlyArray<number>): Json.Path => {
  const out: Array<string> = []
  let current = v
  for (const c of choices) {
    if (Array.isArray(current) && current.length > 0) {
      const i = c % current.length
      out.push(String(i))
      current = current[i]!
    } else if (Json.isObject(current) && Object.keys(current).length > 0) {
      const keys = Object.keys(current)
      const k = keys[c % keys.length]!
      out.push(k)
      current = current[k]!
    } else break
  }
  return out
}
const valueAndPath = fc
  .tuple(value, fc.array(fc.nat(), { maxLength: 4 }))
  .map(([v, choices]) => [v, walk(v, choices)] as const)

describe("Json paths", () => {
  it("a number segment indexes an array; on an object it is a plain key", () => {
    const pod = { metadata: { ownerReferences: [{ uid: "u0" }, { uid: "u1" }] } }
    assert.strictEqual(Json.get(pod, "metadata.ownerReferences.0.uid"), "u0")
    assert.strictEqual(Json.get(pod, "metadata.ownerReferences.1.uid"), "u1")
    assert.strictEqual(Json.get(pod, "metadata.ownerReferences.2.uid"), undefined)
    assert.strictEqual(Json.get(pod, "metadata.ownerReferences.01.uid"), undefined)
    assert.strictEqual(Json.get(pod, "metadata.ownerReferences.uid"), undefined)
    assert.strictEqual(Json.get({ data: { "0": "zero" } }, "data.0"), "zero")
    assert.deepStrictEqual(
      ["0", "12", "01", "-1", "1.5", "", "1e3", "99999999999999999"].map(Json.isIndex),
      [true, true, false, false, false, false, false, false]
    )
  })

  property(
    "get follows the path it is given: the value reached by walking keys and indexes",
    fc.tuple(value, fc.array(fc.nat(), { maxLength: 4 })),
    ([v, choices]) =>
      Effect.sync(() => {
        let reached = v
        for (const k of walk(v, choices))
          reached = Array.isArray(reached) ? reached[Number(k)]! : Json.asObject(reached)[k]!
        assert.deepStrictEqual(Json.get(v, walk(v, choices)), reached)
      })
  )

  property("get of a joined path is get of get", fc.tuple(value, somePath, somePath), ([v, p, q]) =>
    Effect.sync(() => {
      assert.deepStrictEqual(Json.get(v, [...p, ...q]), Json.get(Json.get(v, p), q))
    })
  )

  property(
    "set then get gives the value set; setting what is there changes nothing",
    fc.tuple(valueAndPath, value),
    ([[v, p], x]) =>
      Effect.sync(() => {
        assert.deepStrictEqual(Json.get(Json.set(v, p, x), p), x)
        assert.isTrue(Json.equals(Json.set(v, p, Json.get(v, p)), v))
      })
  )

  it("set in an array replaces, appends one past the end, removes with undefined", () => {
    const v = { items: [1, 2, 3] }
    assert.deepStrictEqual(Json.set(v, "items.1", 9), { items: [1, 9, 3] })
    assert.deepStrictEqual(Json.set(v, "items.3", 4), { items: [1, 2, 3, 4] })
    assert.deepStrictEqual(Json.set(v, "items.0", undefined), { items: [2, 3] })
    assert.deepStrictEqual(v, { items: [1, 2, 3] }, "the input is not mutated")
    assert.throws(() => Json.set(v, "items.5", 1), /items\.5 is past the end of the array/)
  })

  it("pathProblem: JSON pointers and empty keys are refused with the dotted fix", () => {
    assert.strictEqual(Json.pathProblem("spec.size"), undefined)
    assert.strictEqual(Json.pathProblem(""), undefined)
    assert.strictEqual(
      Json.pathProblem(["metadata", "labels", "app.kubernetes.io/name"]),
      undefined
    )
    for (const [input, fix] of [
      ["/spec/field", '"spec.field"'],
      ["spec..size", '"spec.size"'],
      [".spec", '"spec"'],
      ["spec.", '"spec"']
    ] as const) {
      const problem = Json.pathProblem(input)
      assert.include(problem, JSON.stringify(input))
      assert.include(problem, `write it as ${fix}: keys separated by dots, or an array of keys`)
    }
    assert.include(Json.pathProblem(["spec", ""]), 'leave it out: ["spec"]')
  })
})

describe("paths in diffs, patches, filters and handlers", () => {
  property(
    "a diff scoped to a field, through arrays too, is the diff of the field's values",
    fc.tuple(value, value, fc.array(fc.constantFrom("a", "b", "0", "1"), { maxLength: 3 })),
    ([a, b, f]) =>
      Effect.sync(() => {
        assert.deepStrictEqual(
          Diff.scope(Diff.make(a, b), f),
          Diff.make(Json.get(a, f), Json.get(b, f))
        )
      })
  )

  it("a change with unknown old is narrowed to an unknown-old change of the field, if present", () => {
    const d: Diff.Diff = [
      { op: "change", path: ["spec", "items"], old: undefined, new: [{ size: 2 }] }
    ]
    assert.deepStrictEqual(Diff.scope(d, "spec.items.0.size"), [
      { op: "change", path: [], old: undefined, new: 2 }
    ])
    assert.deepStrictEqual(Diff.scope(d, "spec.items.1.size"), [])
  })

  it("an elided leaf under a key that looks like an index is not looked up in a new array", () => {
    const record = Essence.record({ spec: { x: { "0": "y".repeat(3000) } } }, 300)
    assert.deepStrictEqual(
      record.elided.map((e) => e.path),
      [["spec", "x", "0"]]
    )
    const d = Essence.diff(record, { spec: { x: [1, 2] } })
    assert.deepInclude(d, { op: "change", path: ["spec", "x"], old: {}, new: [1, 2] })
    assert.deepInclude(d, {
      op: "remove",
      path: ["spec", "x", "0"],
      old: undefined,
      new: undefined
    })
  })

  it("Patch.at refuses an array element, naming the path and the fix", () => {
    assert.deepStrictEqual(Patch.at("spec.items", [1]), { spec: { items: [1] } })
    assert.throws(
      () => Patch.at("spec.items.0.size", 1),
      /Patch\.at\("spec\.items\.0\.size"\): segment "0" indexes an array.*Patch\.at\("spec\.items", items\)/
    )
  })

  it.effect("a handler that writes through an array index fails for good with that message", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "resize" }, (ctx) =>
          ctx.patch.merge(Patch.at("spec.items.0.size", 2))
        )
      )
      const d = yield* Reconcile.reconcile(registry, { resource: widgets, body: widget(), now: 0 })
      const outcome = d.runs[0]?.outcome
      assert.strictEqual(outcome?._tag, "Failure")
      assert.include(outcome?._tag === "Failure" ? outcome.error.message : "", "indexes an array")
      assert.isTrue(d.done, "not retried")
    })
  )

  it("Filter.field reads through arrays and refuses malformed paths", () => {
    const ctx = {
      body: { spec: { items: [{ mode: "fast" }] } },
      reason: "create",
      old: undefined,
      new: {},
      diff: []
    }
    assert.isTrue(Filter.matches(Filter.field("spec.items.0.mode", "fast"), ctx))
    assert.throws(() => Filter.field("/spec/mode", "fast"), /Filter\.field: .*"spec\.mode"/)
  })

  it("a malformed field path throws when the handler is built, naming the handler and the fix", () => {
    const fn = () => Effect.void
    for (const bad of ["/spec/field", "spec..size", ".spec", "spec."]) {
      assert.throws(
        () => Handler.onField(widgets, bad, { id: "resize" }, fn),
        `kubefx: handler "resize": the field path ${JSON.stringify(bad)}`
      )
      assert.throws(
        () =>
          Handler.onUpdate(widgets, { field: bad }, function update_fn() {
            return Effect.void
          }),
        /kubefx: handler "update_fn\/.*": .*keys separated by dots, or an array of keys/
      )
    }
    assert.throws(() => Handler.onField(widgets, ["spec", ""], fn), /empty key/)
  })

  it("storage fields refuse malformed paths and keys that would index arrays", () => {
    assert.throws(() => Storage.status({ field: "kubefx..x" }), /Storage\.status field/)
    assert.throws(() => Storage.status({ field: "state.0" }), /is a number/)
    assert.throws(() => Storage.make({ errors: "/kubefx/errors" }), /Storage\.make errors/)
  })

  it.effect(
    "a field handler on an array element sees the element's change when the whole array changed",
    () =>
      Effect.gen(function* () {
        const seen: Array<[Json.Json | undefined, Json.Json | undefined, Diff.Diff]> = []
        const registry = Registry.make(
          Handler.onField(widgets, "spec.items.0.size", { id: "first" }, (ctx) =>
            Effect.sync(() => void seen.push([ctx.old, ctx.new, ctx.diff]))
          )
        )
        const step = (body: Json.JsonObject, now: number) =>
          Effect.map(
            Reconcile.reconcile(registry, { resource: widgets, body, now }),
            (d) => [d, Json.asObject(Patch.apply(body, d.patch))] as const
          )
        const withItems = (sizes: ReadonlyArray<number>, base: Json.JsonObject) => ({
          ...base,
          spec: { items: sizes.map((size) => ({ size })) }
        })
        const [, created] = yield* step(widget({ items: [{ size: 1 }, { size: 1 }] }), 0)
        assert.deepStrictEqual(seen, [
          [undefined, 1, [{ op: "add", path: [], old: undefined, new: 1 }]]
        ])
        const [other] = yield* step(withItems([1, 5], created), 1)
        assert.strictEqual(other.cause.reason, "update")
        assert.deepStrictEqual(other.runs, [], "another element changed: not this handler")
        const [first] = yield* step(withItems([2, 1], created), 2)
        assert.deepStrictEqual(
          first.runs.map((r) => r.outcome._tag),
          ["Success"]
        )
        assert.deepStrictEqual(seen[1], [1, 2, [{ op: "change", path: [], old: 1, new: 2 }]])
      })
  )
})
