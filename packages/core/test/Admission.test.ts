import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, JsonPatch, Result, Schema } from "effect"
import { Base64 } from "effect/encoding"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { Admission, Handler, Json, Patch, Registry, Resource } from "../src/index.ts"
import { jsonObject } from "./arbitraries.ts"
import { property } from "./support.ts"

const Spec = Schema.Struct({ size: Schema.Int })

const widgets = Resource.make({
  group: "example.com",
  version: "v1",
  plural: "widgets",
  kind: "Widget",
  spec: Spec
})

const untyped = Resource.make({
  group: "example.com",
  version: "v1",
  plural: "widgets",
  kind: "Widget"
})

const object = (spec: Json.JsonObject, labels: Json.JsonObject = {}): Json.JsonObject => ({
  apiVersion: "example.com/v1",
  kind: "Widget",
  metadata: { name: "w", namespace: "default", labels },
  spec
})

const request = (
  operation: Admission.Operation,
  next: Json.JsonObject | undefined,
  old?: Json.JsonObject,
  extra: Partial<Admission.Request> = {}
): Admission.Request => ({
  uid: "req-1",
  kind: { group: "example.com", version: "v1", kind: "Widget" },
  resource: { group: "example.com", version: "v1", resource: "widgets" },
  name: "w",
  namespace: "default",
  operation,
  userInfo: { username: "alice", groups: ["team"] },
  ...(next === undefined ? {} : { object: next }),
  ...(old === undefined ? {} : { oldObject: old }),
  ...extra
})

const sizeLimit = (limit: number, code?: number) =>
  Handler.validate(widgets, { id: "size-limit" }, (ctx) =>
    ctx.spec.size > limit
      ? Effect.fail(
          new Admission.AdmissionError({ message: `size ${ctx.spec.size} > ${limit}`, code })
        )
      : Effect.void
  )

describe("Admission.decide", () => {
  property(
    "a validating handler allows what it accepts and denies the rest with its message and code",
    fc.record({
      size: fc.integer({ min: 0, max: 20 }),
      limit: fc.integer({ min: 0, max: 20 }),
      code: fc.option(fc.integer({ min: 400, max: 599 }), { nil: undefined })
    }),
    ({ size, limit, code }) =>
      Effect.gen(function* () {
        const decision = yield* Admission.decide(
          [sizeLimit(limit, code)],
          request("CREATE", object({ size }))
        )
        assert.strictEqual(decision.uid, "req-1")
        assert.deepStrictEqual(decision.patch, [])
        if (size <= limit) {
          assert.isTrue(decision.allowed)
          assert.isUndefined(decision.status)
        } else {
          assert.isFalse(decision.allowed)
          assert.deepStrictEqual(decision.status, {
            code: code ?? 403,
            message: `size ${size} > ${limit}`
          })
        }
      })
  )

  property(
    "a mutation's JSON patch turns the request's object into the object with its merge patches applied",
    fc.record({
      spec: jsonObject,
      labels: fc.dictionary(fc.constantFrom("a", "b/c", "d~e"), fc.string()),
      merges: fc.array(jsonObject, { maxLength: 3 })
    }),
    ({ spec, labels, merges }) =>
      Effect.gen(function* () {
        const before = object(spec, labels)
        const webhook = Handler.mutate(untyped, { id: "m" }, (ctx) =>
          Effect.forEach(merges, (m) => ctx.patch.merge({ spec: m }), { discard: true })
        )
        const decision = yield* Admission.decide([webhook], request("UPDATE", before, before))
        const expected = merges.reduce<Json.Json>((o, m) => Patch.apply(o, { spec: m }), before)
        assert.isTrue(decision.allowed)
        assert.deepStrictEqual(JsonPatch.apply(decision.patch, before), expected)
        if (Json.equals(expected, before)) assert.deepStrictEqual(decision.patch, [])
        const answered = Json.asObject(Admission.response(decision).response)
        if (decision.patch.length > 0) {
          assert.strictEqual(answered.patchType, "JSONPatch")
          const decoded = Result.getOrThrow(Base64.decodeString(String(answered.patch)))
          assert.deepStrictEqual(JSON.parse(decoded), decision.patch)
        } else assert.isUndefined(answered.patch)
      })
  )

  property(
    "a request a webhook does not serve is allowed without running it",
    fc.record({
      operation: fc.constantFrom(...Admission.operations),
      served: fc.subarray([...Admission.operations], { minLength: 1 }),
      subresource: fc.constantFrom(undefined, "status", "scale"),
      wanted: fc.constantFrom(undefined, "status", "*")
    }),
    ({ operation, served, subresource, wanted }) =>
      Effect.gen(function* () {
        let ran = false
        const webhook = Handler.validate(widgets, { operations: served, subresource: wanted }, () =>
          Effect.sync(() => (ran = true)).pipe(Effect.andThen(Effect.die("boom")))
        )
        const req = request(
          operation,
          object({ size: 1 }),
          undefined,
          subresource === undefined ? {} : { subResource: subresource }
        )
        const decision = yield* Admission.decide([webhook], req)
        const serves =
          served.includes(operation) && (wanted === "*" || (wanted ?? "") === (subresource ?? ""))
        assert.strictEqual(ran, serves)
        assert.strictEqual(decision.allowed, !serves)
        assert.strictEqual(Admission.serves(webhook, req), serves)
      })
  )

  it.effect(
    "a defect denies with 500 naming the handler, or admits with a warning under ignoreFailure",
    () =>
      Effect.gen(function* () {
        const broken = (ignoreFailure: boolean) =>
          Handler.validate(widgets, { id: "broken", ignoreFailure }, () =>
            Effect.die(new Error("boom"))
          )
        const strict = yield* Admission.decide(
          [broken(false)],
          request("CREATE", object({ size: 1 }))
        )
        assert.deepStrictEqual(strict.status, {
          code: 500,
          message: 'validating handler "broken" failed: boom'
        })
        assert.isFalse(strict.allowed)
        const lenient = yield* Admission.decide(
          [broken(true)],
          request("CREATE", object({ size: 1 }))
        )
        assert.isTrue(lenient.allowed)
        assert.deepStrictEqual(lenient.warnings, [
          'validating handler "broken" failed: boom; admitted (ignoreFailure)'
        ])
      })
  )

  it.effect(
    "an AdmissionError denies also under ignoreFailure: it is an answer, not a failure",
    () =>
      Effect.gen(function* () {
        const no = Handler.validate(widgets, { ignoreFailure: true }, () =>
          Effect.fail(new Admission.AdmissionError({ message: "no" }))
        )
        const decision = yield* Admission.decide([no], request("CREATE", object({ size: 1 })))
        assert.deepStrictEqual(decision.status, { code: 403, message: "no" })
      })
  )

  it.effect("a spec the Schema does not decode is a failure naming the handler", () =>
    Effect.gen(function* () {
      const decision = yield* Admission.decide(
        [sizeLimit(3)],
        request("CREATE", object({ size: "big" }))
      )
      assert.isFalse(decision.allowed)
      assert.strictEqual(decision.status?.code, 500)
      assert.match(
        decision.status?.message ?? "",
        /^validating handler "size-limit": invalid spec: /
      )
    })
  )

  it.effect("a slow handler is answered for when its time is up", () =>
    Effect.gen(function* () {
      const slow = Handler.validate(
        widgets,
        { id: "slow", timeout: "5 seconds" },
        () => Effect.never
      )
      const fiber = yield* Effect.forkChild(
        Admission.decide([slow], request("CREATE", object({ size: 1 })), { timeout: "2 seconds" })
      )
      yield* TestClock.adjust("2 seconds")
      const decision = yield* Fiber.join(fiber)
      assert.deepStrictEqual(decision.status, {
        code: 500,
        message: 'validating handler "slow" did not answer within 2s'
      })
    })
  )

  it.effect(
    "handlers run in order: a mutation sees the ones before it, the first denial ends it",
    () =>
      Effect.gen(function* () {
        const seen: Array<Json.Json | undefined> = []
        const first = Handler.mutate(untyped, { id: "first" }, (ctx) =>
          ctx.patch.labels({ a: "1" })
        )
        const second = Handler.mutate(untyped, { id: "second" }, (ctx) =>
          Effect.sync(() => seen.push(ctx.labels.a)).pipe(Effect.andThen(ctx.warn("second ran")))
        )
        const deny = Handler.validate(untyped, { id: "deny" }, () =>
          Effect.fail(new Admission.AdmissionError({ message: "stop", code: 422 }))
        )
        const after = Handler.validate(untyped, { id: "after" }, () => Effect.die("not reached"))
        const ok = yield* Admission.decide([first, second], request("CREATE", object({})))
        assert.deepStrictEqual(seen, ["1"])
        assert.deepStrictEqual(ok.patch, [{ op: "add", path: "/metadata/labels/a", value: "1" }])
        assert.deepStrictEqual(ok.warnings, ["second ran"])
        const denied = yield* Admission.decide([first, deny, after], request("CREATE", object({})))
        assert.deepStrictEqual(denied, {
          uid: "req-1",
          allowed: false,
          status: { code: 422, message: "stop" },
          patch: [],
          warnings: []
        })
      })
  )

  it.effect("the context has the operation, the old object, dryRun and the user", () =>
    Effect.gen(function* () {
      const seen: Array<unknown> = []
      const spy = Handler.validate(widgets, (ctx) =>
        Effect.sync(() =>
          seen.push([
            ctx.operation,
            ctx.dryRun,
            ctx.userInfo.username,
            ctx.old?.spec,
            ctx.new?.spec,
            ctx.body.spec,
            ctx.spec
          ])
        )
      )
      yield* Admission.decide(
        [spy],
        request("UPDATE", object({ size: 2 }), object({ size: 1 }), { dryRun: true })
      )
      yield* Admission.decide([spy], request("DELETE", undefined, object({ size: 1 })))
      assert.deepStrictEqual(seen, [
        ["UPDATE", true, "alice", { size: 1 }, { size: 2 }, { size: 2 }, { size: 2 }],
        ["DELETE", false, "alice", { size: 1 }, undefined, { size: 1 }, { size: 1 }]
      ])
    })
  )

  it.effect("filters: a request they rule out is allowed without running the handler", () =>
    Effect.gen(function* () {
      const onlyChecked = Handler.validate(widgets, { labels: { checked: "yes" } }, () =>
        Effect.fail(new Admission.AdmissionError({ message: "checked" }))
      )
      const plain = yield* Admission.decide([onlyChecked], request("CREATE", object({ size: 1 })))
      assert.isTrue(plain.allowed)
      const checked = yield* Admission.decide(
        [onlyChecked],
        request("CREATE", object({ size: 1 }, { checked: "yes" }))
      )
      assert.isFalse(checked.allowed)
    })
  )
})

describe("Admission.decodeReview", () => {
  it("decodes an AdmissionReview and says what is wrong with anything else", () => {
    const review = {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      request: request("CREATE", object({ size: 1 }))
    }
    assert.isTrue(Result.isSuccess(Admission.decodeReview(review)))
    const bad = Admission.decodeReview({
      ...review,
      request: { ...review.request, operation: "PATCH" }
    })
    assert.isTrue(Result.isFailure(bad))
    assert.match(
      Result.isFailure(bad) ? bad.failure : "",
      /^not an AdmissionReview \(admission.k8s.io\/v1\): .*operation/s
    )
    assert.isTrue(Result.isFailure(Admission.decodeReview("[]")))
  })
})

describe("Handler.validate, Handler.mutate, Registry", () => {
  it("a mistake in the options throws naming the handler", () => {
    assert.throws(
      () => Handler.validate(widgets, { id: "t", timeout: "1 minute" }, () => Effect.void),
      /validate handler "t": timeout "1 minute" must be 1 to 30 seconds/
    )
    assert.throws(
      () => Handler.mutate(widgets, { id: "o", operations: [] }, () => Effect.void),
      /mutate handler "o": operations is empty/
    )
    assert.throws(
      () =>
        Handler.mutate(
          widgets,
          { id: "o", operations: ["PATCH" as Admission.Operation] },
          () => Effect.void
        ),
      /unknown operation "PATCH"/
    )
    assert.throws(
      () => Handler.validate(widgets, { id: "a b" }, () => Effect.void),
      /validate handler "a b": an id may hold/
    )
  })

  it("webhook ids are unique: derived ones get a suffix, explicit ones given twice throw naming both", () => {
    const registry = Registry.make(
      Handler.validate(widgets, function check() {
        return Effect.void
      }),
      Handler.mutate(widgets, function check() {
        return Effect.void
      })
    )
    assert.deepStrictEqual(
      registry.webhooks.map((w) => [w.kind, w.id]),
      [
        ["validate", "check"],
        ["mutate", "check-2"]
      ]
    )
    assert.deepStrictEqual(registry.handlers, [])
    assert.throws(
      () =>
        Registry.make(
          Handler.validate(widgets, { id: "same" }, () => Effect.void),
          Handler.mutate(untyped, { id: "same" }, () => Effect.void)
        ),
      /duplicate webhook id "same": the mutate handler of widgets and the validate handler of widgets both have it/
    )
  })

  it("webhookName makes a qualified webhook name of an id", () => {
    assert.strictEqual(
      Admission.webhookName("Size_Limit", "widgets.example.com"),
      "size-limit.widgets.example.com"
    )
  })
})
