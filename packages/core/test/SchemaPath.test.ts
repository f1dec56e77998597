import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as fc from "fast-check"
import { Handler, Json, Registry, Resource, SchemaPath } from "../src/index.ts"
import { property } from "./support.ts"

interface Tree {
  readonly name: string
  readonly children: ReadonlyArray<Tree>
}
const Tree: Schema.Codec<Tree> = Schema.Struct({
  name: Schema.String,
  children: Schema.Array(Schema.suspend((): Schema.Codec<Tree> => Tree))
})

const Spec = Schema.Struct({
  field: Schema.String,
  size: Schema.optionalKey(Schema.String),
  replicas: Schema.optional(Schema.NumberFromString),
  items: Schema.Array(Schema.Struct({ size: Schema.Number, name: Schema.String })),
  pair: Schema.Tuple([Schema.String, Schema.Struct({ port: Schema.Number })]),
  labels: Schema.Record(Schema.String, Schema.String),
  volumes: Schema.Record(Schema.String, Schema.Struct({ path: Schema.String })),
  source: Schema.Union([
    Schema.Struct({ git: Schema.Struct({ url: Schema.String }) }),
    Schema.Struct({ image: Schema.String })
  ]),
  extra: Schema.Unknown,
  free: Schema.Struct({}),
  tree: Tree,
  userName: Schema.String
}).pipe(Schema.encodeKeys({ userName: "user_name" }))

const check = (path: string) => SchemaPath.check(Spec, Json.path(path))
const suggestions = (path: string) => {
  const r = check(path)
  return r._tag === "Missing" ? r.suggestions.map(Json.formatPath) : []
}

describe("SchemaPath.check", () => {
  it("finds fields, optional keys, array elements, tuple elements, record keys, union members", () => {
    for (const path of [
      "",
      "field",
      "size",
      "replicas",
      "items",
      "items.0.size",
      "items.7.name",
      "pair.0",
      "pair.1.port",
      "labels.app",
      "volumes.data.path",
      "source.git.url",
      "source.image",
      "extra.anything.at.all",
      "free.whatever",
      "tree.children.0.children.3.name",
      "user_name"
    ])
      assert.deepStrictEqual(check(path), { _tag: "Found" }, path)
  })

  it("misses what the encoded form does not have, and suggests the closest", () => {
    assert.deepStrictEqual(suggestions("feild"), ["field"])
    assert.deepStrictEqual(suggestions("items.0.szie"), ["items.0.size"])
    assert.deepStrictEqual(suggestions("items.size"), ["items.0.size"])
    assert.deepStrictEqual(suggestions("pair.2"), ["pair"])
    assert.deepStrictEqual(suggestions("volumes.data.pth"), ["volumes.data.path"])
    assert.deepStrictEqual(suggestions("source.gti.url"), ["source.git.url"])
    assert.deepStrictEqual(suggestions("field.x"), ["field"])
    assert.deepStrictEqual(suggestions("userName"), ["user_name"])
    assert.deepStrictEqual(suggestions("tree.children.0.nmae"), ["tree.children.0.name"])
  })

  property(
    "every path of a value the Schema encodes is found",
    fc.record({
      field: fc.string(),
      items: fc.array(fc.record({ size: fc.integer(), name: fc.string() }), { maxLength: 3 }),
      labels: fc.dictionary(fc.string({ minLength: 1 }), fc.string(), { maxKeys: 3 })
    }),
    (value) =>
      Effect.sync(() => {
        const go = (v: Json.Json, p: Json.Path): void => {
          assert.deepStrictEqual(SchemaPath.check(Spec, p), { _tag: "Found" }, Json.formatPath(p))
          if (Array.isArray(v)) for (const [i, x] of v.entries()) go(x, [...p, String(i)])
          else if (Json.isObject(v)) for (const [k, x] of Object.entries(v)) go(x, [...p, k])
        }
        go(value, [])
      })
  )
})

describe("Registry.fieldWarnings", () => {
  const evc = Resource.make({
    group: "kopf.dev",
    version: "v1",
    plural: "ephemeralvolumeclaims",
    kind: "EphemeralVolumeClaim",
    spec: Schema.Struct({ field: Schema.String, size: Schema.String })
  })

  it("warns once per handler watching a spec path the schema does not have", () => {
    const registry = Registry.make(
      Handler.onUpdate(evc, { id: "update_fn", field: "spec.feild" }, () => Effect.void),
      Handler.onField(evc, "spec.size", { id: "ok" }, () => Effect.void),
      Handler.onField(evc, "metadata.labels.app", { id: "meta" }, () => Effect.void),
      Handler.onField("pods", "spec.nodeNmae", { id: "untyped" }, () => Effect.void),
      Handler.onField(
        "widgets",
        "spec.colour",
        { id: "typed-by-option", spec: Schema.Struct({ color: Schema.String }) },
        () => Effect.void
      )
    )
    assert.deepStrictEqual(Registry.fieldWarnings(registry), [
      "handler 'update_fn' watches spec.feild, which the spec schema of ephemeralvolumeclaims.kopf.dev does not have; did you mean spec.field?",
      "handler 'typed-by-option' watches spec.colour, which the spec schema of widgets does not have; did you mean spec.color?"
    ])
  })

  it("names every closest path when several are as close", () => {
    const registry = Registry.make(
      Handler.onField(evc, "spec.siel", { id: "x" }, () => Effect.void)
    )
    assert.deepStrictEqual(Registry.fieldWarnings(registry), [
      "handler 'x' watches spec.siel, which the spec schema of ephemeralvolumeclaims.kopf.dev does not have; did you mean spec.field or spec.size?"
    ])
  })
})
