import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { Crd } from "../src/index.ts"

const Spec = Schema.Struct({
  size: Schema.String.annotate({ description: "Requested storage" }),
  count: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  ratio: Schema.optional(Schema.Finite),
  mode: Schema.Literals(["a", "b"]),
  tags: Schema.Array(Schema.String),
  labels: Schema.Record(Schema.String, Schema.String),
  nested: Schema.Struct({ x: Schema.Boolean }),
  maybe: Schema.NullOr(Schema.String),
  anything: Schema.Unknown
})

/** Every node of a structural schema has a type, or preserves unknown fields; no $ref, anyOf, null types. */
const assertStructural = (schema: unknown, path = "<root>"): void => {
  assert.isObject(schema, path)
  const node = schema as Record<string, unknown>
  for (const banned of ["$ref", "anyOf", "oneOf", "allOf", "$defs", "examples", "const"]) {
    assert.notProperty(node, banned, `${path} has ${banned}`)
  }
  assert.notStrictEqual(node.type, "null", path)
  if (node["x-kubernetes-preserve-unknown-fields"] !== true)
    assert.isString(node.type, `${path} has no type`)
  if (node.properties !== undefined) {
    assert.notProperty(node, "additionalProperties", `${path}: properties and additionalProperties`)
    for (const [k, v] of Object.entries(node.properties as object))
      assertStructural(v, `${path}.${k}`)
  }
  if (typeof node.additionalProperties === "object")
    assertStructural(node.additionalProperties, `${path}.*`)
  if (node.items !== undefined) assertStructural(node.items, `${path}[]`)
}

describe("Crd", () => {
  it("lowers an Effect Schema to a structural OpenAPI 3.0 schema", () => {
    const schema = Crd.fromSchema(Spec)
    assertStructural(schema)
    const properties = schema.properties as Record<string, Record<string, unknown>>
    assert.deepStrictEqual(properties.size, { type: "string", description: "Requested storage" })
    assert.deepStrictEqual(properties.ratio, { type: "number", nullable: true })
    assert.deepStrictEqual(properties.maybe, { type: "string", nullable: true })
    assert.deepStrictEqual(properties.mode, { type: "string", enum: ["a", "b"] })
    assert.deepStrictEqual(properties.labels, {
      type: "object",
      additionalProperties: { type: "string" }
    })
    assert.deepStrictEqual(properties.anything, { "x-kubernetes-preserve-unknown-fields": true })
    assert.strictEqual(properties.count?.type, "integer")
    assert.strictEqual(properties.count?.minimum, 0)
    assert.sameMembers(schema.required as Array<string>, [
      "size",
      "mode",
      "tags",
      "labels",
      "nested",
      "maybe",
      "anything"
    ])
  })

  it("writes exclusive bounds as OpenAPI 3.0 does: the bound and a boolean", () => {
    const schema = Crd.fromSchema(
      Schema.Struct({
        above: Schema.Finite.check(Schema.isGreaterThan(0)),
        below: Schema.Int.check(Schema.isLessThan(10)),
        between: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1), Schema.isLessThan(2))
      })
    )
    const properties = schema.properties as Record<string, Record<string, unknown>>
    assert.deepInclude(properties.above, { minimum: 0, exclusiveMinimum: true })
    assert.deepInclude(properties.below, { maximum: 10, exclusiveMaximum: true })
    assert.deepInclude(properties.between, { minimum: 1, maximum: 2, exclusiveMaximum: true })
    assert.notProperty(properties.between, "exclusiveMinimum")
    assert.deepStrictEqual(
      Crd.structural({ type: "number", minimum: 5, exclusiveMinimum: 3 }),
      { type: "number", minimum: 5 },
      "the stricter of two lower bounds"
    )
  })

  it("inlines definitions and refuses recursion, unions of types and tuples with the path", () => {
    const Named = Schema.Struct({ a: Schema.String }).annotate({ identifier: "Named" })
    const withRef = Crd.fromSchema(Schema.Struct({ one: Named, two: Named }))
    assertStructural(withRef)
    assert.deepStrictEqual((withRef.properties as Record<string, unknown>).two, {
      type: "object",
      properties: { a: { type: "string" } },
      required: ["a"]
    })
    assert.throws(
      () => Crd.fromSchema(Schema.Struct({ either: Schema.Union([Schema.String, Schema.Finite]) })),
      /either/
    )
    assert.throws(
      () => Crd.fromSchema(Schema.Struct({ pair: Schema.Tuple([Schema.String, Schema.String]) })),
      /tuples/
    )
    interface Tree {
      readonly children: ReadonlyArray<Tree>
    }
    const Tree: Schema.Codec<Tree> = Schema.Struct({
      children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => Tree))
    }).annotate({ identifier: "Tree" })
    assert.throws(() => Crd.fromSchema(Tree), /recursive/)
  })

  it("carries x-kubernetes annotations through", () => {
    const schema = Crd.fromSchema(
      Schema.Struct({
        port: Schema.Union([Schema.String, Schema.Int]).annotate({
          "x-kubernetes-int-or-string": true
        })
      })
    )
    const port = (schema.properties as Record<string, Record<string, unknown>>).port
    assert.deepStrictEqual(port, { "x-kubernetes-int-or-string": true })
  })

  it("keeps a union marked free-form as it is, without a type", () => {
    const schema = Crd.fromSchema(
      Schema.Struct({
        free: Schema.Union([Schema.String, Schema.Struct({ a: Schema.Finite })]).annotate({
          "x-kubernetes-preserve-unknown-fields": true
        })
      })
    )
    assertStructural(schema)
    const free = (schema.properties as Record<string, Record<string, unknown>>).free
    assert.deepStrictEqual(free, { "x-kubernetes-preserve-unknown-fields": true })
  })

  it("makes a CRD manifest with the status subresource and a status that keeps kubefx's fields", () => {
    const crd = Crd.make({
      group: "kopf.dev",
      kind: "EphemeralVolumeClaim",
      plural: "ephemeralvolumeclaims",
      shortNames: ["evc"],
      versions: [
        {
          name: "v1",
          spec: Schema.Struct({ size: Schema.optionalKey(Schema.String) }),
          status: Schema.Struct({ phase: Schema.optionalKey(Schema.String) }),
          printerColumns: [{ name: "Size", type: "string", jsonPath: ".spec.size" }]
        }
      ]
    })
    assert.strictEqual(crd.metadata.name, "ephemeralvolumeclaims.kopf.dev")
    assert.deepStrictEqual(crd.spec.names, {
      kind: "EphemeralVolumeClaim",
      plural: "ephemeralvolumeclaims",
      singular: "ephemeralvolumeclaim",
      shortNames: ["evc"]
    })
    const version = crd.spec.versions[0]!
    assert.isTrue(version.storage)
    assert.deepStrictEqual(version.subresources, { status: {} })
    const root = version.schema.openAPIV3Schema
    assertStructural(root)
    assert.strictEqual(root.properties.status["x-kubernetes-preserve-unknown-fields"], true)
    assert.deepStrictEqual(root.properties.spec, {
      type: "object",
      properties: { size: { type: "string" } }
    })
  })
})
