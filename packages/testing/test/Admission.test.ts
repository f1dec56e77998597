/**
 * Admission handlers in the simulated cluster: the operator's validating and mutating handlers
 * run on the simulated writes as the real API server runs them (denials are the client's error,
 * mutations are stored, dry runs are marked, a stopped operator's webhooks follow their failure
 * policy), and a property test of an operator includes its admission rules.
 */
import { assert, describe, it } from "@effect/vitest"
import { Admission, Crd, Filter, Handler, Json, Registry, Resource } from "@kubefx/core"
import { Effect, Schema } from "effect"
import * as fc from "fast-check"
import { Arbitraries, Property, Runner, SimCluster } from "../src/index.ts"

const Spec = Schema.Struct({ size: Schema.Int, colour: Schema.optionalKey(Schema.String) })
const group = "admission.kubefx.test"
const gadgets = Resource.make({
  group,
  version: "v1",
  plural: "gadgets",
  kind: "Gadget",
  spec: Spec
})
const crd = Crd.make({
  group,
  kind: "Gadget",
  plural: "gadgets",
  versions: [{ name: "v1", spec: Spec }]
})

const seen: Array<string> = []

const registry = Registry.make(
  Handler.validate(gadgets, { id: "size-limit", labels: { policy: Filter.absent } }, (ctx) =>
    Effect.gen(function* () {
      seen.push(`${ctx.operation} ${ctx.name} dryRun=${ctx.dryRun}`)
      if (ctx.operation !== "DELETE" && ctx.spec.size > 10)
        return yield* new Admission.AdmissionError({
          message: `size ${ctx.spec.size} is above 10`,
          code: 422
        })
      if (ctx.operation === "DELETE" && ctx.labels.keep === "yes")
        return yield* new Admission.AdmissionError({ message: "kept" })
    })
  ),
  Handler.mutate(
    gadgets,
    { id: "default-colour", operations: ["CREATE", "UPDATE"], labels: { policy: Filter.absent } },
    (ctx) =>
      ctx.spec.colour === undefined ? ctx.patch.merge({ spec: { colour: "blue" } }) : Effect.void
  ),
  Handler.validate(gadgets, { id: "strict", labels: { policy: "strict" } }, () => Effect.void),
  Handler.validate(
    gadgets,
    { id: "lenient", labels: { policy: "lenient" }, ignoreFailure: true },
    () => Effect.void
  )
)

const gadget = (name: string, spec: typeof Spec.Encoded, labels: Record<string, string> = {}) => ({
  apiVersion: `${group}/v1`,
  kind: "Gadget",
  metadata: { name, namespace: "default", labels },
  spec
})

const at = { namespace: "default" }

describe("admission in the simulated cluster", () => {
  it.effect(
    "denials, mutations, dry runs, updates, deletes, and a stopped operator's failure policy",
    () =>
      Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        const runner = yield* Runner.make(registry, { namespaces: ["default"] })
        const denied = yield* sim.admin
          .create(gadgets, gadget("big", { size: 11 }), at)
          .pipe(Effect.flip)
        assert.strictEqual(denied._tag, "Invalid")
        assert.include(
          denied.message,
          'admission webhook "size-limit" denied the request: size 11 is above 10'
        )

        const created = yield* sim.admin.create(gadgets, gadget("plain", { size: 3 }), at)
        assert.deepStrictEqual(created.spec, { size: 3, colour: "blue" })
        assert.isString(created.metadata?.uid)

        yield* sim.admin.create(gadgets, gadget("trial", { size: 1 }), { ...at, dryRun: true })
        assert.include(seen, "CREATE trial dryRun=true")
        assert.isTrue((yield* sim.find(gadgets, "trial", "default"))._tag === "None")

        const grown = yield* sim.admin
          .patch(gadgets, "plain", { _tag: "Merge", body: { spec: { size: 12 } } }, at)
          .pipe(Effect.flip)
        assert.include(grown.message, "size 12 is above 10")
        const kept = yield* sim.admin.create(
          gadgets,
          gadget("kept", { size: 1 }, { keep: "yes" }),
          at
        )
        assert.strictEqual(kept.metadata?.name, "kept")
        const refused = yield* sim.admin.delete(gadgets, "kept", at).pipe(Effect.flip)
        assert.include(refused.message, 'admission webhook "size-limit" denied the request: kept')

        yield* runner.stop
        const strict = yield* sim.admin
          .create(gadgets, gadget("strict", { size: 1 }, { policy: "strict" }), at)
          .pipe(Effect.flip)
        assert.include(strict.message, 'failed calling webhook "strict"')
        const lenient = yield* sim.admin.create(
          gadgets,
          gadget("lenient", { size: 1 }, { policy: "lenient" }),
          at
        )
        assert.strictEqual(lenient.metadata?.name, "lenient")
      }).pipe(Effect.provide(SimCluster.layer({ objects: [crd] })))
  )

  it("a property test of the operator includes its admission rules", () =>
    Property.check(
      Arbitraries.actions({
        names: ["a", "b", "c"],
        spec: fc.record({ size: fc.integer({ min: 0, max: 15 }) }),
        restarts: false
      }),
      (actions) =>
        Effect.gen(function* () {
          const sim = yield* SimCluster.SimCluster
          const runner = yield* Runner.make(registry, { namespaces: ["default"] })
          const target = { resource: gadgets, namespace: "default", kube: sim.admin, runner, sim }
          for (const action of actions) {
            const outcome = yield* Arbitraries.perform(action, target)
            if (action._tag === "Create" && (action.spec as { size: number }).size > 10)
              assert.notStrictEqual(outcome, "ok")
          }
          for (const o of yield* sim.objects(gadgets, "default")) {
            const spec = Json.asObject(o.spec)
            assert.isAtMost(Number(spec.size), 10)
            assert.strictEqual(spec.colour, "blue")
          }
        }).pipe(Effect.provide(SimCluster.layer({ objects: [crd] }))),
      { numRuns: 50 }
    ))
})
