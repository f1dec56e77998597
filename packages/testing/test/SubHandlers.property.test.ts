/**
 * Sub-handlers on the simulated cluster, under random user actions, injected API faults (409s,
 * 429s, 5xx, slow answers, dropped and silent watches) and operator restarts, graceful or by a
 * crash. A handler executes three sub-handlers, each failing temporarily a number of times its
 * object's spec says. Whatever happens:
 *
 * - no sub-handler runs once the object holds its result (a finished step is never run again),
 *   and the parent's code after `execute` never runs once the object holds the parent's result;
 * - once the faults stop, every live object holds every sub-handler's result and the parent's,
 *   and no progress is left on it.
 */
import { describe, it } from "@effect/vitest"
import { Handler, Json, type KubeObject, Outcome, Registry } from "@kubefx/core"
import { Effect } from "effect"
import * as fc from "fast-check"
import { Arbitraries, Faults, Property, Runner, SimCluster } from "../src/index.ts"
import { simWidgetCluster, simWidgets } from "./fixtures.ts"

const namespace = "default"
const steps = ["s0", "s1", "s2"] as const

/** How many times each step fails before it succeeds. */
type Spec = { readonly fails: ReadonlyArray<number> }

const scenario = fc.record({
  actions: Arbitraries.actions({
    names: ["a", "b"],
    spec: fc.record({ fails: fc.array(fc.nat({ max: 2 }), { minLength: 3, maxLength: 3 }) }),
    maxLength: 14
  }),
  faults: Faults.arbitrary(0.2)
})

const at = (o: KubeObject.KubeObject | undefined, path: Json.PathInput) =>
  Json.get(o as Json.Json | undefined, path)

const run = (input: {
  readonly actions: ReadonlyArray<Arbitraries.Action<Spec>>
  readonly faults: Faults.Faults
}) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    yield* sim.setFaults(input.faults)
    const violations: Array<string> = []
    const attempts = new Map<string, number>()
    /** The object as the cluster holds it now, if it is still the one of that uid. */
    const stored = (body: Json.JsonObject) =>
      Effect.map(
        sim.find(simWidgets, String(at(body as KubeObject.KubeObject, "metadata.name")), namespace),
        (o) =>
          o._tag === "Some" &&
          o.value.metadata?.uid === at(body as KubeObject.KubeObject, "metadata.uid")
            ? o.value
            : undefined
      )
    const step = (name: string, index: number) => (ctx: Handler.Context<unknown>) =>
      Effect.gen(function* () {
        const now = yield* stored(ctx.body)
        if (at(now, ["status", `p/${name}`]) !== undefined)
          violations.push(`${ctx.name}: ${name} ran again after its result was stored`)
        const key = `${ctx.uid}/${name}`
        const attempt = (attempts.get(key) ?? 0) + 1
        attempts.set(key, attempt)
        const fails = (ctx.spec as Spec | undefined)?.fails?.[index] ?? 0
        if (attempt <= fails)
          return yield* new Outcome.TemporaryError({ message: "not yet", delay: "2 seconds" })
        return index
      })
    const registry = Registry.make(
      Handler.onCreate(simWidgets, { id: "p" }, (ctx) =>
        Effect.gen(function* () {
          const results = yield* ctx.execute(
            Object.fromEntries(steps.map((name, i) => [name, step(name, i)]))
          )
          const now = yield* stored(ctx.body)
          if (at(now, ["status", "p"]) !== undefined)
            violations.push(`${ctx.name}: the parent's code after execute ran again`)
          return results
        })
      )
    )
    const runner = yield* Runner.make(registry, { namespaces: [namespace] })
    const target = { resource: simWidgets, namespace, kube: sim.admin, runner, sim }
    for (const action of input.actions) {
      yield* Arbitraries.perform(action, target)
      yield* Runner.advance("200 millis")
    }
    yield* sim.setFaults(Faults.none)
    yield* runner.start
    yield* Runner.eventually(
      Effect.gen(function* () {
        const problems = [...violations]
        for (const o of yield* sim.objects(simWidgets, namespace)) {
          if (o.metadata?.deletionTimestamp !== undefined) continue
          const name = o.metadata?.name
          steps.forEach((s, i) => {
            if (at(o, ["status", `p/${s}`]) !== i) problems.push(`${name}: no result of ${s}`)
          })
          const parent = at(o, ["status", "p"])
          if (JSON.stringify(parent) !== JSON.stringify({ s0: 0, s1: 1, s2: 2 }))
            problems.push(`${name}: the parent's result is ${JSON.stringify(parent)}`)
          const progress = at(o, ["status", "kubefx", "progress"])
          if (Json.isObject(progress) && Object.keys(progress).length > 0)
            problems.push(`${name}: progress left: ${JSON.stringify(progress)}`)
        }
        if (problems.length > 0) return yield* Effect.fail(problems.join("; "))
      }),
      { timeout: "10 minutes", step: "5 seconds" }
    )
  }).pipe(Effect.provide(simWidgetCluster))

describe("sub-handlers on the simulated cluster", () => {
  it("never run a finished step again, and converge, under faults and restarts", {
    timeout: 120_000
  }, async () => {
    const seed = process.env.SUB_SEED === undefined ? undefined : Number(process.env.SUB_SEED)
    await Property.check(scenario, run, {
      numRuns: Number(process.env.SUB_RUNS ?? 100),
      ...(seed === undefined ? {} : { seed }),
      ...(process.env.SUB_PATH === undefined ? {} : { path: process.env.SUB_PATH })
    })
  })
})
