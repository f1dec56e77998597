import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Schema, SchemaTransformation } from "effect"
import * as fc from "fast-check"
import { Conversion, Crd, Json, Registry } from "../src/index.ts"
import { property } from "./support.ts"

/** v1: a size as text; v2: the size as a number and a unit; v3: v2 with `replicas` renamed. */
const V1 = Schema.Struct({
  size: Schema.String.check(Schema.isPattern(/^(0|[1-9][0-9]{0,5})(Mi|Gi)$/u)),
  replicas: Schema.optionalKey(Schema.Int)
})
const Unit = Schema.Literals(["Mi", "Gi"])
const V2 = Schema.Struct({
  size: Schema.Struct({ amount: Schema.Int, unit: Unit }),
  replicas: Schema.optionalKey(Schema.Int)
})
const V3 = Schema.Struct({
  size: Schema.Struct({ amount: Schema.Int, unit: Unit }),
  count: Schema.optionalKey(Schema.Int)
})

const v1ToV2 = V1.pipe(
  Schema.decodeTo(
    V2,
    SchemaTransformation.transform({
      decode: ({ size, ...rest }) => {
        const [, amount, unit] = /^(\d+)(Mi|Gi)$/.exec(size) ?? []
        return { ...rest, size: { amount: Number(amount), unit: unit as "Mi" | "Gi" } }
      },
      encode: ({ size, ...rest }) => ({ ...rest, size: `${size.amount}${size.unit}` })
    })
  )
)

const v2ToV3 = V2.pipe(
  Schema.decodeTo(
    V3,
    SchemaTransformation.transform({
      decode: ({ replicas, ...rest }) => ({
        ...rest,
        ...(replicas === undefined ? {} : { count: replicas })
      }),
      encode: ({ count, ...rest }) => ({
        ...rest,
        ...(count === undefined ? {} : { replicas: count })
      })
    })
  )
)

const widgets = Conversion.make({
  group: "example.com",
  kind: "Widget",
  plural: "widgets",
  storage: "v2",
  versions: [
    { name: "v1", spec: V1 },
    { name: "v2", spec: V2 },
    { name: "v3", spec: V3 }
  ],
  conversions: [Conversion.between("v1", "v2", v1ToV2), Conversion.between("v2", "v3", v2ToV3)]
})

const object = (version: string, spec: Json.Json): Json.JsonObject => ({
  apiVersion: `example.com/${version}`,
  kind: "Widget",
  metadata: { name: "w", namespace: "default", labels: { a: "b" } },
  spec,
  status: { kubefx: { progress: {} }, phase: "Ready" }
})

const v1Spec = fc.record(
  {
    size: fc
      .tuple(fc.integer({ min: 0, max: 999_999 }), fc.constantFrom("Mi", "Gi"))
      .map(([n, u]) => `${n}${u}`),
    replicas: fc.integer({ min: -5, max: 5 })
  },
  { requiredKeys: ["size"] }
)

const convert = (o: Json.JsonObject, to: string) => Conversion.convert(widgets, o, to)

describe("Conversion", () => {
  property("v1 -> v2 -> v1 and v1 -> v3 -> v1 are the identity on valid objects", v1Spec, (spec) =>
    Effect.gen(function* () {
      const original = object("v1", spec)
      for (const via of ["v2", "v3"]) {
        const there = yield* convert(original, via)
        assert.strictEqual(there.apiVersion, `example.com/${via}`)
        assert.deepStrictEqual(there.metadata, original.metadata)
        assert.deepStrictEqual(there.status, original.status)
        assert.deepStrictEqual(yield* convert(there, "v1"), original)
      }
    })
  )

  it.effect("converts through the versions between, and names what fails", () =>
    Effect.gen(function* () {
      const v3 = yield* convert(object("v1", { size: "3Gi", replicas: 2 }), "v3")
      assert.deepStrictEqual(v3.spec, { size: { amount: 3, unit: "Gi" }, count: 2 })
      const bad = yield* Effect.exit(convert(object("v1", { size: "three" }), "v3"))
      assert.isTrue(Exit.isFailure(bad))
      const message = Exit.isFailure(bad) ? String(bad.cause) : ""
      assert.include(message, "cannot convert Widget default/w: from v1 to v3, at v1 -> v2:")
      const other = yield* Effect.exit(
        convert({ ...object("v1", {}), apiVersion: "other.com/v1" }, "v2")
      )
      assert.include(String(Exit.isFailure(other) ? other.cause : ""), "is not of example.com")
    })
  )

  it.effect(
    "answers a ConversionReview: every object in order, or a failure with the message",
    () =>
      Effect.gen(function* () {
        const review = (objects: ReadonlyArray<Json.JsonObject>) =>
          Result.getOrThrow(
            Conversion.decodeReview({
              apiVersion: "apiextensions.k8s.io/v1",
              kind: "ConversionReview",
              request: { uid: "u1", desiredAPIVersion: "example.com/v2", objects }
            })
          )
        const ok = yield* Conversion.review(
          widgets,
          review([object("v1", { size: "1Mi" }), object("v2", { size: { amount: 2, unit: "Gi" } })])
        )
        assert.deepStrictEqual(ok.response, {
          uid: "u1",
          convertedObjects: [
            object("v2", { size: { amount: 1, unit: "Mi" } }),
            object("v2", { size: { amount: 2, unit: "Gi" } })
          ],
          result: { status: "Success" }
        })
        const failed = Json.asObject(
          (yield* Conversion.review(widgets, review([object("v1", { size: 1 })]))).response
        )
        assert.deepStrictEqual(failed.convertedObjects, [])
        assert.strictEqual(Json.asObject(failed.result).status, "Failure")
        assert.match(
          String(Json.asObject(failed.result).message),
          /^cannot convert Widget default\/w: from v1 to v2/
        )
        assert.isTrue(Result.isFailure(Conversion.decodeReview({ kind: "ConversionReview" })))
      })
  )

  it("refuses a definition whose versions do not connect, naming them", () => {
    assert.throws(
      () =>
        Conversion.make({
          group: "example.com",
          kind: "Widget",
          plural: "widgets",
          storage: "v2",
          versions: [
            { name: "v1", spec: V1 },
            { name: "v2", spec: V2 },
            { name: "v3", spec: V3 }
          ],
          conversions: [Conversion.between("v1", "v2", v1ToV2)]
        }),
      /versioned resource widgets.example.com: no conversion reaches v3 from the storage version v2/
    )
    assert.throws(
      () =>
        Conversion.make({
          group: "g.com",
          kind: "K",
          plural: "ks",
          storage: "v9",
          versions: [{ name: "v1", spec: V1 }],
          conversions: []
        }),
      /the storage version "v9" is not one of its versions \(v1\)/
    )
    assert.throws(
      () => Registry.make(widgets, widgets),
      /the conversions of widgets.example.com are given twice/
    )
  })

  it("makes the CRD: every version, the storage one, the conversion webhook", () => {
    const crd = Conversion.crd(widgets, {
      url: "https://127.0.0.1:9443/convert/widgets.example.com"
    })
    assert.deepStrictEqual(
      crd.spec.versions.map((v) => [v.name, v.storage, v.schema.openAPIV3Schema.properties.spec]),
      [
        ["v1", false, Crd.fromSchema(V1)],
        ["v2", true, Crd.fromSchema(V2)],
        ["v3", false, Crd.fromSchema(V3)]
      ]
    )
    assert.deepStrictEqual((crd.spec as { conversion?: unknown }).conversion, {
      strategy: "Webhook",
      webhook: {
        conversionReviewVersions: ["v1"],
        clientConfig: { url: "https://127.0.0.1:9443/convert/widgets.example.com" }
      }
    })
    assert.isUndefined((Conversion.crd(widgets).spec as { conversion?: unknown }).conversion)
    assert.strictEqual(Conversion.resource(widgets, "v3").version, "v3")
  })
})
