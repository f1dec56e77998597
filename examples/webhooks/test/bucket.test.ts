/**
 * The Bucket operator's rules without a cluster: its admission handlers on the simulated API
 * server (a bucket too large or of an unknown class is refused, a new one gets its defaults, a
 * protected one is not deleted), its conversions as a property (v1 -> v2 -> v1 is the identity on
 * every valid v1 spec, and v2 -> v1 -> v2 on every valid v2 spec), and a property test of random
 * creates, edits and deletes where no stored bucket ever breaks the rules.
 */
import { assert, describe, it } from "@effect/vitest"
import { Conversion, Json } from "@kubefx/core"
import { Arbitraries, Property, Runner, SimCluster } from "@kubefx/testing"
import { Effect, Schema } from "effect"
import * as fc from "fast-check"
import {
  BucketV1,
  buckets,
  bucketsV2,
  classes,
  crd,
  ownerLabel,
  protectedLabel,
  registry
} from "../src/operator.ts"

const at = { namespace: "default" }

const bucket = (name: string, spec: Json.JsonObject, labels: Record<string, string> = {}) => ({
  apiVersion: "buckets.kubefx.dev/v2",
  kind: "Bucket",
  metadata: { name, namespace: "default", labels },
  spec
})

const v1Spec = fc.record(
  {
    size: fc
      .tuple(fc.integer({ min: 0, max: 9_999_999 }), fc.constantFrom("Mi", "Gi"))
      .map(([n, u]) => `${n}${u}`),
    class: fc.constantFrom(...classes, "other")
  },
  { requiredKeys: ["size"] }
)

const v2Spec = fc.record(
  {
    size: fc.record({
      amount: fc.integer({ min: 0, max: 9_999_999 }),
      unit: fc.constantFrom("Mi" as const, "Gi" as const)
    }),
    storageClass: fc.constantFrom(...classes, "other")
  },
  { requiredKeys: ["size"] }
)

const object = (version: string, spec: Json.JsonObject): Json.JsonObject => ({
  apiVersion: `buckets.kubefx.dev/${version}`,
  kind: "Bucket",
  metadata: { name: "b", namespace: "default" },
  spec,
  status: { provision: { storageClass: "standard" } }
})

describe("the Bucket operator", () => {
  it("conversions: v1 -> v2 -> v1 and v2 -> v1 -> v2 are the identity on valid specs", () =>
    fc.assert(
      fc.asyncProperty(
        fc.oneof(
          v1Spec.map((s) => ["v1", "v2", s] as const),
          v2Spec.map((s) => ["v2", "v1", s] as const)
        ),
        ([from, to, spec]) =>
          Effect.runPromise(
            Effect.gen(function* () {
              const original = object(from, spec as Json.JsonObject)
              const there = yield* Conversion.convert(buckets, original, to)
              assert.strictEqual(there.apiVersion, `buckets.kubefx.dev/${to}`)
              assert.deepStrictEqual(yield* Conversion.convert(buckets, there, from), original)
            })
          )
      ),
      { numRuns: 500 }
    ))

  it("v1 texts that are not one size each are not valid v1 specs", () => {
    for (const size of ["010Gi", "10 Gi", "10Ti", ""])
      assert.isFalse(Schema.is(BucketV1)({ size }), size)
  })

  it.effect("admission: limits, defaults, protection, on the simulated API server", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      yield* Runner.make(registry, { namespaces: ["default"] })
      const big = yield* sim.admin
        .create(
          bucketsV2,
          bucket("big", { size: { amount: 2, unit: "Gi" }, storageClass: "gold" }),
          at
        )
        .pipe(Effect.flip)
      assert.include(
        big.message,
        'admission webhook "limits" denied the request: unknown storage class "gold"'
      )
      const huge = yield* sim.admin
        .create(bucketsV2, bucket("huge", { size: { amount: 2000, unit: "Gi" } }), at)
        .pipe(Effect.flip)
      assert.include(huge.message, "a bucket holds at most 1000Gi; this one asks for 2000Gi")
      const created = yield* sim.admin.create(
        bucketsV2,
        bucket("a", { size: { amount: 10, unit: "Gi" } }, { [protectedLabel]: "true" }),
        at
      )
      assert.strictEqual(Json.get(created, "spec.storageClass"), "standard")
      assert.strictEqual(created.metadata?.labels?.[ownerLabel], "kubefx-sim")
      const kept = yield* sim.admin.delete(bucketsV2, "a", at).pipe(Effect.flip)
      assert.include(kept.message, "bucket a is protected")
      yield* Runner.eventually(
        Effect.flatMap(sim.find(bucketsV2, "a", "default"), (b) =>
          b._tag === "Some" && Json.get(b.value, "status.provision") !== undefined
            ? Effect.void
            : Effect.fail("not provisioned")
        )
      )
    }).pipe(Effect.provide(SimCluster.layer({ objects: [crd] })))
  )

  it("no stored bucket ever breaks the rules, whatever is created, edited and deleted", () =>
    Property.check(
      Arbitraries.actions({
        names: ["a", "b", "c"],
        spec: fc.record(
          {
            size: fc.record({
              amount: fc.integer({ min: 0, max: 1500 }),
              unit: fc.constantFrom("Mi", "Gi")
            }),
            storageClass: fc.constantFrom(...classes, "gold")
          },
          { requiredKeys: ["size"] }
        )
      }),
      (actions) =>
        Effect.gen(function* () {
          const sim = yield* SimCluster.SimCluster
          const runner = yield* Runner.make(registry, { namespaces: ["default"] })
          const target = { resource: bucketsV2, namespace: "default", kube: sim.admin, runner, sim }
          for (const action of actions) yield* Arbitraries.perform(action, target)
          for (const b of yield* sim.objects(bucketsV2, "default")) {
            const size = Json.asObject(Json.get(b, "spec.size"))
            const gi = size.unit === "Gi" ? Number(size.amount) : Number(size.amount) / 1024
            assert.isAtMost(gi, 1000)
            const storageClass = Json.get(b, "spec.storageClass")
            assert.isTrue(
              storageClass === undefined ||
                (classes as ReadonlyArray<unknown>).includes(storageClass)
            )
          }
        }).pipe(Effect.provide(SimCluster.layer({ objects: [crd] }))),
      { numRuns: 100 }
    ))
})
