/**
 * The EphemeralVolumeClaim operator of Kopf's walkthrough (Kopf's walkthrough), written with the kubefx
 * DSL: fully typed, no casts. Kopf's version is about 45 lines of Python for the two handlers;
 * here they take about 25, with a typed spec, a typed PVC client service and the
 * "not bound yet / not expandable" case handled as a retry.
 */
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Context, Data, Duration, Effect, Option, Schema } from "effect"
import { Handler, Json, Outcome, Patch, Reconcile, Registry, Resource } from "../src/index.ts"

// --- A fake PVC client service, as the runtime would provide a real one. ---------------------

class PvcRejected extends Data.TaggedError("PvcRejected")<{ readonly message: string }> {}

class Pvcs extends Context.Service<
  Pvcs,
  {
    readonly create: (
      namespace: string,
      body: Json.JsonObject
    ) => Effect.Effect<string, PvcRejected>
    readonly resize: (
      namespace: string,
      name: string,
      size: string
    ) => Effect.Effect<void, PvcRejected>
  }
>()("test/Pvcs") {}

// --- The operator. ----------------------------------------------------------------------------

const EvcSpec = Schema.Struct({ size: Schema.String })

const evc = Resource.make({
  group: "kopf.dev",
  version: "v1",
  plural: "ephemeralvolumeclaims",
  kind: "EphemeralVolumeClaim",
  spec: EvcSpec
})

const pvcTemplate = (name: string, size: string): Json.JsonObject => ({
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: { name, annotations: { "volume.beta.kubernetes.io/storage-class": "standard" } },
  spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: size } } }
})

const create_fn = Handler.onCreate(evc, { id: "create_fn" }, (ctx) =>
  Effect.gen(function* () {
    const pvcs = yield* Pvcs
    const pvcName = yield* pvcs.create(
      ctx.namespace ?? "default",
      pvcTemplate(ctx.name, ctx.spec.size)
    )
    yield* ctx.logger.info(`PVC child is created: ${pvcName}`)
    return { pvcName }
  })
)

const update_fn = Handler.onUpdate(evc, { id: "update_fn", field: "spec.size" }, (ctx) =>
  Effect.gen(function* () {
    const pvcName = Json.get(ctx.status, ["create_fn", "pvcName"])
    if (typeof pvcName !== "string")
      return yield* new Outcome.TemporaryError({ message: "No PVC yet." })
    yield* (yield* Pvcs)
      .resize(ctx.namespace ?? "default", pvcName, ctx.spec.size)
      .pipe(
        Effect.catchTag("PvcRejected", (e) =>
          Effect.fail(new Outcome.TemporaryError({ message: e.message, delay: "30 seconds" }))
        )
      )
    yield* ctx.logger.info(`PVC child is updated: ${pvcName} to ${ctx.spec.size}`)
  })
)

const registry = Registry.make(create_fn, update_fn)

// --- The tests. -------------------------------------------------------------------------------

interface FakeState {
  readonly pvcs: Map<string, Json.JsonObject>
  bound: boolean
}

const fake = (state: FakeState) =>
  Pvcs.of({
    create: (namespace, body) =>
      Effect.sync(() => {
        const name = String(Json.get(body, "metadata.name"))
        state.pvcs.set(`${namespace}/${name}`, body)
        return name
      }),
    resize: (namespace, name, size) =>
      state.bound
        ? Effect.sync(() => {
            const key = `${namespace}/${name}`
            const pvc = state.pvcs.get(key)
            if (pvc !== undefined)
              state.pvcs.set(
                key,
                Json.asObject(
                  Patch.apply(pvc, { spec: { resources: { requests: { storage: size } } } })
                )
              )
          })
        : Effect.fail(
            new PvcRejected({
              message: "persistentvolumeclaims is forbidden: only bound claims can be resized"
            })
          )
  })

const claim = (spec: Json.JsonObject): Json.JsonObject => ({
  apiVersion: "kopf.dev/v1",
  kind: "EphemeralVolumeClaim",
  metadata: { name: "my-claim", namespace: "default", uid: "u-1", resourceVersion: "1" },
  spec
})

describe("EVC operator (Kopf's walkthrough)", () => {
  it("is fully typed: the spec is decoded, the registry requires the PVC service", () => {
    expectTypeOf(create_fn).toEqualTypeOf<Handler.Handler<Pvcs>>()
    expectTypeOf(registry).toEqualTypeOf<Registry.Registry<Pvcs>>()
    expectTypeOf(Reconcile.reconcile(registry, { resource: evc, body: {}, now: 0 })).toEqualTypeOf<
      Effect.Effect<Reconcile.Decision, never, Pvcs>
    >()
    Handler.onCreate(evc, (ctx) => {
      expectTypeOf(ctx.spec).toEqualTypeOf<{ readonly size: string }>()
      return Effect.void
    })
  })

  it.effect("creates the PVC with the size, stores its name, and resizes it on update", () =>
    Effect.gen(function* () {
      const state: FakeState = { pvcs: new Map(), bound: true }
      const step = (body: Json.JsonObject, now: number) =>
        Reconcile.reconcile(registry, { resource: evc, body, now }).pipe(
          Effect.provideService(Pvcs, fake(state))
        )

      const created = yield* step(claim({ size: "1G" }), 0)
      assert.strictEqual(created.cause.reason, "create")
      assert.deepStrictEqual(Json.get(created.patch, "status.create_fn"), { pvcName: "my-claim" })
      assert.strictEqual(
        Json.get(state.pvcs.get("default/my-claim"), ["spec", "resources", "requests", "storage"]),
        "1G"
      )
      assert.isTrue(created.done)

      const afterCreate = Json.asObject(Patch.apply(claim({ size: "1G" }), created.patch))
      const noop = yield* step(afterCreate, 1000)
      assert.strictEqual(noop.cause.reason, "noop")
      assert.deepStrictEqual(noop.patch, {})

      const edited = Json.asObject(Patch.apply(afterCreate, { spec: { size: "2G" } }))
      const updated = yield* step(edited, 2000)
      assert.strictEqual(updated.cause.reason, "update")
      assert.deepStrictEqual(
        updated.runs.map((r) => [r.id, r.outcome._tag]),
        [["update_fn", "Success"]]
      )
      assert.strictEqual(
        Json.get(state.pvcs.get("default/my-claim"), ["spec", "resources", "requests", "storage"]),
        "2G"
      )
    })
  )

  it.effect("a missing size is a permanent error with the Schema's message", () =>
    Effect.gen(function* () {
      const state: FakeState = { pvcs: new Map(), bound: true }
      const d = yield* Reconcile.reconcile(registry, {
        resource: evc,
        body: claim({}),
        now: 0
      }).pipe(Effect.provideService(Pvcs, fake(state)))
      const run = d.runs[0]
      assert.strictEqual(run?.outcome._tag, "Failure")
      if (run?.outcome._tag === "Failure") {
        assert.strictEqual(run.outcome.error._tag, "PermanentError")
        assert.include(run.outcome.error.message, "size")
      }
      assert.strictEqual(state.pvcs.size, 0)
      assert.strictEqual(
        Json.get(d.patch, ["status", "kubefx", "errors", "create_fn"]),
        run?.outcome._tag === "Failure" ? run.outcome.error.message : ""
      )
      assert.isTrue(d.events.some((e) => e.type === "Warning" && e.reason === "Failed"))
    })
  )

  it.effect("an unbound PVC makes the resize retry after the handler's own delay", () =>
    Effect.gen(function* () {
      const state: FakeState = { pvcs: new Map(), bound: false }
      const step = (body: Json.JsonObject, now: number) =>
        Reconcile.reconcile(registry, { resource: evc, body, now }).pipe(
          Effect.provideService(Pvcs, fake(state))
        )
      const created = yield* step(claim({ size: "1G" }), 0)
      const edited = Json.asObject(
        Patch.apply(Patch.apply(claim({ size: "1G" }), created.patch), { spec: { size: "2G" } })
      )
      const first = yield* step(edited, 1000)
      assert.deepStrictEqual(
        first.runs.map((r) => r.outcome._tag),
        ["Retry"]
      )
      assert.deepStrictEqual(Option.map(first.requeueAfter, Duration.toMillis), Option.some(30_000))
      state.bound = true
      const retried = Json.asObject(Patch.apply(edited, first.patch))
      const early = yield* step(retried, 2000)
      assert.deepStrictEqual(early.runs, [])
      const second = yield* step(retried, 31_000)
      assert.deepStrictEqual(
        second.runs.map((r) => r.outcome._tag),
        ["Success"]
      )
      assert.isTrue(second.done)
    })
  )
})
