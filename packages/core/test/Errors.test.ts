import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Handler, Json, Outcome, Patch, Reconcile, Registry, Resource } from "../src/index.ts"

const things = Resource.make({
  group: "test.kubefx.dev",
  version: "v1",
  plural: "things",
  kind: "Thing",
  spec: Schema.Struct({ size: Schema.optionalKey(Schema.String) })
})

const registry = Registry.make(
  Handler.onCreate(things, { id: "create" }, (ctx) =>
    ctx.spec.size === undefined
      ? Effect.fail(new Outcome.PermanentError({ message: "Size must be set" }))
      : Effect.succeed({ size: ctx.spec.size })
  ),
  Handler.onUpdate(things, { id: "update", field: "spec.size" }, (ctx) =>
    Effect.succeed({ size: ctx.spec.size ?? null })
  )
)

const step = (body: Json.JsonObject, now: number) =>
  Reconcile.reconcile(registry, { resource: things, body, now }).pipe(
    Effect.map((d) => ({ d, body: Json.asObject(Patch.apply(body, d.patch)) }))
  )

describe("the error summary", () => {
  it.effect("describes the last handled change: a fixed object loses an older change's error", () =>
    Effect.gen(function* () {
      const created = yield* step(
        {
          apiVersion: "test.kubefx.dev/v1",
          kind: "Thing",
          metadata: { name: "t", namespace: "default", uid: "u1" },
          spec: {}
        },
        0
      )
      assert.strictEqual(
        Json.get(created.body, ["status", "kubefx", "errors", "create"]),
        "Size must be set"
      )
      const fixed = yield* step(
        Json.asObject(Patch.apply(created.body, { spec: { size: "1G" } })),
        1000
      )
      assert.strictEqual(fixed.d.cause.reason, "update")
      assert.deepStrictEqual(Json.get(fixed.body, ["status", "update"]), { size: "1G" })
      assert.isUndefined(Json.get(fixed.body, ["status", "kubefx", "errors", "create"]))
    })
  )
})
