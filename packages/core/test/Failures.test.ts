/**
 * Failures retrying cannot fix: values JSON cannot hold, errors that declare themselves
 * permanent, and event handlers (never retried), as the decision reports them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Option } from "effect"
import * as fc from "fast-check"
import { Handler, Json, Outcome, Reconcile, Registry } from "../src/index.ts"
import { json } from "./arbitraries.ts"
import { property, widget, widgets } from "./support.ts"

const run = <R>(registry: Registry.Registry<R>, extra: Partial<Reconcile.Input> = {}) =>
  Reconcile.reconcile(registry, { resource: widgets, body: widget(), now: 0, ...extra })

const failureOf = (d: Reconcile.Decision, id: string): string | undefined => {
  const outcome = d.runs.find((r) => r.id === id)?.outcome
  return outcome?._tag === "Failure" ? outcome.error.message : undefined
}

/** A failure retrying cannot fix: in the error summary, a Warning event, nothing pending. */
const assertFailedForGood = (d: Reconcile.Decision, id: string, message: string) => {
  assert.strictEqual(failureOf(d, id), message)
  assert.strictEqual(Json.get(d.patch, ["status", "kubefx", "errors", id]), message)
  assert.deepInclude(d.events, {
    type: "Warning",
    reason: "Failed",
    message: `Handler '${id}' failed permanently: ${message}`
  })
  assert.isTrue(d.done)
  assert.isTrue(Option.isNone(d.requeueAfter))
}

describe("Json.findInvalid", () => {
  class Point {
    readonly x: number
    constructor(x: number) {
      this.x = x
    }
  }
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic.self = { back: cyclic }
  const cases: ReadonlyArray<readonly [unknown, Json.Path, string]> = [
    [{ count: 1n }, ["count"], "a bigint (convert it to a number or a string)"],
    [{ f: () => 1 }, ["f"], "a function"],
    [{ s: Symbol("x") }, ["s"], "a symbol"],
    [{ items: [1, undefined] }, ["items", "1"], "undefined in an array"],
    // biome-ignore lint/suspicious/noSparseArray: a hole is an element JSON writes as null
    [{ items: [1, , 3] }, ["items", "1"], "undefined in an array"],
    [{ n: Number.NaN }, ["n"], "NaN"],
    [{ n: [Number.POSITIVE_INFINITY] }, ["n", "0"], "Infinity"],
    [{ at: new Date(0) }, ["at"], "a Date (convert it with toISOString())"],
    [{ m: new Map() }, ["m"], "a Map (convert it with Object.fromEntries(map))"],
    [{ s: new Set() }, ["s"], "a Set"],
    [{ p: new Point(1) }, ["p"], "an instance of Point (convert it to a plain object)"],
    [cyclic, ["self", "back"], "a cycle"],
    [{ o: Object.create({ inherited: 1 }) }, ["o"], "an object with a prototype"],
    [1n, [], "a bigint"]
  ]

  it("finds each value JSON cannot hold, with its path and a hint", () => {
    for (const [value, path, reason] of cases) {
      const found = Json.findInvalid(value)
      assert.deepStrictEqual(found?.path, path, reason)
      assert.include(found?.reason, reason)
    }
  })

  it("accepts plain JSON, undefined keys, null-prototype objects and shared (acyclic) values", () => {
    const shared = { x: 1 }
    assert.strictEqual(Json.findInvalid(undefined), undefined)
    assert.strictEqual(Json.findInvalid({ a: undefined, b: [shared, shared] }), undefined)
    assert.strictEqual(Json.findInvalid(Object.assign(Object.create(null), { a: 1 })), undefined)
  })

  property("plain JSON holds nothing invalid", json, (v) =>
    Effect.sync(() => assert.strictEqual(Json.findInvalid(v), undefined))
  )

  property(
    "a bad value put anywhere into JSON is found at its path",
    fc.tuple(
      fc.dictionary(fc.constantFrom("a", "b", "c"), json, { maxKeys: 3 }),
      fc.array(fc.constantFrom("a", "b", "c"), { minLength: 1, maxLength: 3 }),
      fc.constantFrom<unknown>(1n, new Date(0), Number.NaN, new Map(), () => 1)
    ),
    ([base, path, bad]) =>
      Effect.sync(() => {
        // Plain objects along the path, so that `bad` is the only invalid value.
        let into: Record<string, unknown> = structuredClone(base) as Record<string, unknown>
        const root = into
        for (const k of path.slice(0, -1)) {
          const next = {}
          into[k] = next
          into = next
        }
        into[path[path.length - 1]!] = bad
        assert.deepStrictEqual(Json.findInvalid(root)?.path, path)
      })
  )
})

describe("results and patches JSON cannot hold", () => {
  it.effect("a bigint result is a permanent failure naming the handler and the path", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "create_fn" }, () => Effect.succeed({ count: 1n } as never))
      )
      const d = yield* run(registry)
      assertFailedForGood(
        d,
        "create_fn",
        "Handler 'create_fn' returned a value JSON cannot hold at result.count: a bigint (convert it to a number or a string)"
      )
      assert.strictEqual(Json.get(d.patch, "status.create_fn"), undefined)
      assert.doesNotThrow(() => JSON.stringify(d.patch))
    })
  )

  it.effect(
    "so is a Date written through ctx.patch; that patch is dropped, errors mode or not",
    () =>
      Effect.gen(function* () {
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "stamp", errors: "ignored" }, (ctx) =>
            Effect.gen(function* () {
              yield* ctx.patch.labels({ stamped: "yes" })
              yield* ctx.patch.status({ at: new Date(0) as never })
            })
          )
        )
        const d = yield* run(registry)
        assertFailedForGood(
          d,
          "stamp",
          "Handler 'stamp' wrote through ctx.patch a value JSON cannot hold at patch.status.at: a Date (convert it with toISOString())"
        )
        assert.strictEqual(Json.get(d.patch, "metadata.labels.stamped"), undefined)
        assert.doesNotThrow(() => JSON.stringify(d.patch))
      })
  )
})

class QuotaRefused extends Data.TaggedError("QuotaRefused")<{ readonly message: string }> {
  get [Outcome.permanent](): string {
    return `quota refused: ${this.message}`
  }
}

class Refused extends Data.TaggedError("Refused")<{ readonly message: string }> {
  readonly [Outcome.permanent] = true
}

describe("errors that declare themselves permanent", () => {
  it("the guard reads the key, on the class or the instance", () => {
    assert.isTrue(Outcome.isPermanent(new QuotaRefused({ message: "x" })))
    assert.isTrue(Outcome.isPermanent(new Refused({ message: "x" })))
    assert.isFalse(Outcome.isPermanent(new Error("x")))
    assert.isFalse(Outcome.isPermanent({ [Outcome.permanent]: 1 }))
    assert.strictEqual(Outcome.permanent, Symbol.for("@kubefx/core/Outcome/permanent"))
  })

  it.effect("fail the handler for good with their message, whatever its errors mode", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "quota" }, () =>
          Effect.fail(new QuotaRefused({ message: "3 of 3 used" }))
        ),
        Handler.onCreate(widgets, { id: "ignored", errors: "ignored" }, () =>
          Effect.fail(new Refused({ message: "no" }))
        ),
        Handler.onCreate(widgets, { id: "dies" }, () =>
          Effect.die(new QuotaRefused({ message: "as a defect" }))
        )
      )
      const d = yield* run(registry)
      assertFailedForGood(d, "quota", "quota refused: 3 of 3 used")
      assertFailedForGood(d, "ignored", "no")
      assertFailedForGood(d, "dies", "quota refused: as a defect")
    })
  )

  it.effect("a handler that catches one chooses otherwise", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "retry" }, () =>
          Effect.fail(new QuotaRefused({ message: "3 of 3 used" })).pipe(
            Effect.catchTag("QuotaRefused", (e) =>
              Effect.fail(new Outcome.TemporaryError({ message: e.message, delay: "1 minute" }))
            )
          )
        )
      )
      const d = yield* run(registry)
      assert.deepStrictEqual(
        d.runs.map((r) => r.outcome._tag),
        ["Retry"]
      )
      assert.isFalse(d.done)
    })
  )

  it.effect("without the key, an error is unexpected and retried by default", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "plain" }, () => Effect.fail(new Error("boom")))
      )
      const d = yield* run(registry)
      assert.deepStrictEqual(
        d.runs.map((r) => r.outcome._tag),
        ["Retry"]
      )
    })
  )
})

describe("event handler runs", () => {
  it.effect("say they are event runs, and a failure is a Failure, never a Retry", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onEvent(widgets, { id: "audit" }, () => Effect.fail(new Error("boom"))),
        Handler.onEvent(widgets, { id: "seen", retries: 0 }, () => Effect.die("kaput")),
        Handler.onEvent(widgets, { id: "fine" }, () => Effect.void),
        Handler.onCreate(widgets, { id: "create_fn" }, () => Effect.void)
      )
      const d = yield* run(registry, { event: "ADDED" })
      assert.deepStrictEqual(
        d.runs.map((r) => [r.id, r.kind, r.outcome._tag]),
        [
          ["audit", "event", "Failure"],
          ["seen", "event", "Failure"],
          ["fine", "event", "Success"],
          ["create_fn", "create", "Success"]
        ]
      )
      assert.strictEqual(failureOf(d, "audit"), "boom")
      assert.strictEqual(failureOf(d, "seen"), "Unexpected defect: kaput")
      assert.strictEqual(Json.get(d.patch, "status.kubefx.errors"), undefined)
      assert.isTrue(d.done)
      assert.isTrue(Option.isNone(d.requeueAfter))
    })
  )

  it.effect("their patches are checked too; their results are not stored, so not checked", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onEvent(widgets, { id: "counts" }, () => Effect.succeed({ n: 1n } as never)),
        Handler.onEvent(widgets, { id: "stamps" }, (ctx) => ctx.patch.status({ n: 1n as never }))
      )
      const d = yield* run(registry, { event: "MODIFIED" })
      assert.deepStrictEqual(
        d.runs.map((r) => r.outcome._tag),
        ["Success", "Failure"]
      )
      assert.include(failureOf(d, "stamps"), "at patch.status.n: a bigint")
      assert.deepStrictEqual(d.patch, {})
    })
  )
})
