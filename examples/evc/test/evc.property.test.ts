/**
 * The EVC operator against the simulated cluster: random sequences of user actions (create,
 * edit and delete EVCs, restart or crash the operator, inject faults, let time pass), then the
 * faults stop, time advances, and the cluster must converge:
 *
 * - every live EVC with a size has exactly one PVC owned by it, of that size (or larger, when
 *   the EVC shrank: Kubernetes cannot shrink a bound volume);
 * - every live EVC without a size carries a permanent error (`status.kubefx.errors`);
 * - no PVC outlives its EVC.
 *
 * Everything runs under the test clock: hundreds of sequences, each spanning simulated minutes,
 * run in seconds. A failure prints fast-check's seed, path and shrunk sequence; replay it with
 * `EVC_SEED=<seed> EVC_PATH=<path>`.
 */
import { describe, it } from "@effect/vitest"
import { Builtins, Json } from "@kubefx/core"
import type { Kube } from "@kubefx/runtime"
import { Arbitraries, Faults, Property, Quantity, Runner, SimCluster } from "@kubefx/testing"
import { Duration, Effect } from "effect"
import type * as Scope from "effect/Scope"
import * as fc from "fast-check"
import * as Deploy from "../src/Deploy.ts"
import { crd, evc } from "../src/Evc.ts"
import { registry } from "../src/handlers.ts"
import * as Settings from "../src/Settings.ts"

const pvcs = Builtins.persistentVolumeClaims
const namespace = "default"

type Spec = { readonly size?: string }

/** A few sizes, so that edits grow and shrink claims. */
const sizes = ["1Gi", "2Gi", "3Gi"] as const
const spec: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...sizes).map((size) => ({ size })) },
  { weight: 1, arbitrary: fc.constant({}) }
)

const scenario = fc.record({
  actions: Arbitraries.actions({ names: ["a", "b", "c"], spec, maxLength: 16 }),
  faults: Faults.arbitrary(0.2)
})

const at = (o: unknown, path: Json.PathInput) => Json.get(o as Json.Json | undefined, path)

/** What the cluster must look like once it has converged; fails with what is wrong. */
const converged = (shrunk: ReadonlySet<string>) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    const live = (yield* sim.objects(evc, namespace)).filter(
      (o) => o.metadata?.deletionTimestamp === undefined
    )
    const claims = yield* sim.objects(pvcs, namespace)
    const problems: Array<string> = []
    const owned = (uid: string) =>
      claims.filter((c) =>
        (c.metadata?.ownerReferences as Array<{ uid: string }> | undefined)?.some(
          (r) => r.uid === uid
        )
      )
    for (const e of live) {
      const name = e.metadata?.name
      const size = at(e, "spec.size")
      const errors = at(e, "status.kubefx.errors")
      const mine = owned(e.metadata?.uid ?? "")
      if (size === undefined) {
        if (!Json.isObject(errors) || Object.keys(errors).length === 0)
          problems.push(`${name} has no size but no permanent error`)
      } else {
        if (mine.length !== 1) problems.push(`${name} (${size}) owns ${mine.length} PVCs`)
        const got = mine.map((c) => at(c, "spec.resources.requests.storage"))
        // A bound claim cannot shrink below its capacity: the API server refuses it (422) for
        // good, and the operator keeps retrying. So a claim may stay larger than its EVC.
        if (mine.length === 1 && Quantity.compare(got[0], size) < 0)
          problems.push(`${name} is ${size}, its PVC only ${got[0]}`)
        if (mine.length === 1 && Quantity.compare(got[0], size) > 0 && !shrunk.has(String(name)))
          problems.push(`${name} is ${size}, its PVC ${got[0]}, yet it never shrank`)
      }
    }
    const liveUids = new Set(live.map((e) => e.metadata?.uid))
    for (const c of claims) {
      const owners = (c.metadata?.ownerReferences as Array<{ uid: string }> | undefined) ?? []
      if (!owners.some((r) => liveUids.has(r.uid)))
        problems.push(`PVC ${c.metadata?.name} outlives its EVC`)
    }
    if (problems.length > 0) {
      const detail = live.map(
        (e) =>
          `${e.metadata?.name}: status ${JSON.stringify(e.status ?? {})}, annotations ${JSON.stringify(e.metadata?.annotations ?? {})}`
      )
      return yield* Effect.fail(`${problems.join("; ")}\n  statuses: ${detail.join("\n  ")}`)
    }
  })

const body = (input: {
  readonly actions: ReadonlyArray<Arbitraries.Action<Spec>>
  readonly faults: Faults.Faults
}) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    const runner = yield* Runner.make(registry, {
      namespaces: [namespace],
      reportingComponent: "kubefx-evc"
    })
    const target = { resource: evc, namespace, kube: sim.admin, runner, sim }
    const shrunk = new Set<string>()
    const last = new Map<string, string | undefined>()
    for (const action of input.actions) {
      const outcome = yield* Arbitraries.perform(action, target)
      if (outcome === "ok" && (action._tag === "Create" || action._tag === "Edit")) {
        const before = last.get(action.name)
        if (
          action._tag === "Edit" &&
          before !== undefined &&
          action.spec.size !== undefined &&
          Quantity.compare(action.spec.size, before) < 0
        )
          shrunk.add(action.name)
        if (action._tag === "Create") shrunk.delete(action.name)
        if (action.spec.size !== undefined) last.set(action.name, action.spec.size)
      }
      yield* Runner.advance("200 millis")
    }
    yield* sim.setFaults(Faults.none)
    yield* runner.start
    yield* Runner.eventually(converged(shrunk), {
      timeout: "10 minutes",
      step: "5 seconds"
    })
  })

const simOptions = (faults: Faults.Faults): SimCluster.Options => ({
  faults,
  objects: [crd, ...Deploy.read("storageclass.yaml")],
  controllers: { provisioner: true },
  // The garbage collector and the provisioner react a second after a change, as in a cluster.
  controllerDelay: "1 second"
})

const provide =
  <A, E>(faults: Faults.Faults) =>
  (
    effect: Effect.Effect<A, E, SimCluster.SimCluster | Kube | Settings.EvcSettings | Scope.Scope>
  ) =>
    effect.pipe(
      Effect.provide(
        Settings.layer({ storageClass: "kubefx-expandable", resizeRetry: Duration.seconds(30) })
      ),
      Effect.provide(SimCluster.layer(simOptions(faults)))
    )

const run = (input: {
  readonly actions: ReadonlyArray<Arbitraries.Action<Spec>>
  readonly faults: Faults.Faults
}) => body(input).pipe(provide(input.faults))

describe("the EVC operator on the simulated cluster", () => {
  it("converges after random actions, faults and restarts", { timeout: 120_000 }, async () => {
    const seed = process.env.EVC_SEED === undefined ? undefined : Number(process.env.EVC_SEED)
    await Property.check(scenario, run, {
      numRuns: Number(process.env.EVC_RUNS ?? 300),
      ...(seed === undefined ? {} : { seed }),
      ...(process.env.EVC_PATH === undefined ? {} : { path: process.env.EVC_PATH })
    })
  })
})

describe("regressions the property found in the EVC example (fixed in handlers.ts)", () => {
  // Shrunk counterexample: fast-check seed -408240217, path "150:2:0:2:4:4:5:7:7:7:7". The new
  // EVC met the old EVC's PVC before the garbage collector removed it, and failed for good.
  it("an EVC re-created before the old PVC is collected gets its own PVC", async () => {
    const actions: ReadonlyArray<Arbitraries.Action<Spec>> = [
      { _tag: "Create", name: "b", spec: { size: "1Gi" } },
      { _tag: "Delete", name: "b" },
      { _tag: "Create", name: "b", spec: { size: "1Gi" } }
    ]
    const exit = await Property.runCase(
      Effect.gen(function* () {
        yield* body({ actions, faults: Faults.none })
        const sim = yield* SimCluster.SimCluster
        const claims = yield* sim.objects(pvcs, namespace)
        if (claims.length !== 1) return yield* Effect.fail(`${claims.length} PVCs`)
      }).pipe(provide(Faults.none))
    )
    if (exit._tag === "Failure") throw new Error(String(exit.cause))
  })

  // Found with fast-check seed -1907004700, path
  // "596:5:7:7:9:8:14:13:13:13:13:13:5:13:14:16:16:16:17:8:7:5:5:6:6:6" (2000 runs): after a 409
  // create_fn ran again on the newer 3Gi copy and adopted the 1Gi PVC without resizing it.
  it("create_fn re-run on a newer size resizes the PVC it adopts", async () => {
    const faults: Faults.Faults = { seed: 0, conflict: 0.1, tooManyRequests: 0.01, slow: 0.01 }
    const actions: ReadonlyArray<Arbitraries.Action<Spec>> = [
      { _tag: "Create", name: "b", spec: { size: "1Gi" } },
      { _tag: "Edit", name: "b", spec: { size: "3Gi" } }
    ]
    const exit = await Property.runCase(
      Effect.gen(function* () {
        yield* body({ actions, faults })
        const sim = yield* SimCluster.SimCluster
        const claims = yield* sim.objects(pvcs, namespace)
        const size = at(claims[0], "spec.resources.requests.storage")
        if (size !== "3Gi") return yield* Effect.fail(`the PVC is ${size}`)
      }).pipe(provide(faults))
    )
    if (exit._tag === "Failure") throw new Error(String(exit.cause))
  })
})
