/**
 * Test support: a simulated cluster ("apply the decision's merge patch to the body, feed it back")
 * and a bridge from fast-check properties to `@effect/vitest`.
 */
import { it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import { Json, Patch, Reconcile, type Registry, Resource, type Storage } from "../src/index.ts"

export const widgets = Resource.make({
  group: "example.com",
  version: "v1",
  plural: "widgets",
  kind: "Widget"
})

export const widget = (
  spec: Json.JsonObject = { size: "1G" },
  extra: Json.JsonObject = {}
): Json.JsonObject => ({
  apiVersion: "example.com/v1",
  kind: "Widget",
  metadata: {
    name: "w",
    namespace: "default",
    uid: "uid-1",
    resourceVersion: "1",
    ...Json.asObject(extra.metadata)
  },
  spec
})

/**
 * Registers a fast-check property as an `it.effect` test: each generated case runs as an Effect
 * in the test's own context (TestClock included).
 */
export const property = <T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => Effect.Effect<void, unknown>,
  params: fc.Parameters<[T]> = {}
) =>
  it.effect(name, () =>
    Effect.gen(function* () {
      const context = yield* Effect.context<never>()
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(arbitrary, (value) => Effect.runPromiseWith(context)(check(value))),
          { numRuns: 100, ...params }
        )
      )
    })
  )

/** The API server as far as the core cares: merge patches, finalizers, deletion. */
export interface World {
  /** `undefined` once the object is gone. */
  readonly body: Json.JsonObject | undefined
  readonly now: number
  readonly firstSight: boolean
}

export const applyPatch = (
  body: Json.JsonObject,
  patch: Patch.MergePatch
): Json.JsonObject | undefined => {
  const next = Json.asObject(Patch.apply(body, patch))
  const deleting = Json.get(next, ["metadata", "deletionTimestamp"]) !== undefined
  const finalizers = Json.get(next, ["metadata", "finalizers"])
  const hasFinalizers = Array.isArray(finalizers) && finalizers.length > 0
  return deleting && !hasFinalizers ? undefined : next
}

/** A user (or kubectl) deletes the object: marked if finalizers remain, else gone. */
export const markDeleted = (body: Json.JsonObject, at: number): Json.JsonObject | undefined =>
  applyPatch(body, { metadata: { deletionTimestamp: new Date(at).toISOString() } })

/** One reconciliation step in the simulated cluster. */
export const step = <R>(
  registry: Registry.Registry<R>,
  world: World,
  storage?: Storage.Storage
): Effect.Effect<
  { readonly world: World; readonly decision: Reconcile.Decision | undefined },
  never,
  R
> =>
  Effect.gen(function* () {
    if (world.body === undefined) return { world, decision: undefined }
    const decision = yield* Reconcile.reconcile(registry, {
      resource: widgets,
      body: world.body,
      now: world.now,
      firstSight: world.firstSight,
      storage
    })
    return {
      // A finalizer-only step does not count as the first sight (see `Reconcile.Input`).
      world: {
        ...world,
        body: applyPatch(world.body, decision.patch),
        firstSight: world.firstSight && decision.cause.finalizer === "add"
      },
      decision
    }
  })
