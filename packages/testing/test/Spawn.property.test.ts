/**
 * Property tests of timers and daemons on the simulated cluster, under the test clock:
 *
 * - a timer of any interval, run length and cadence (`sharp` or not) starts exactly when its
 *   schedule says during a simulated span, and never after its object is deleted;
 * - daemons, under random creates, edits, deletes, operator restarts (graceful or by a crash)
 *   and API faults: never two of one object at a time, and once the faults stop, exactly one
 *   runs for each live object, none for a deleted one, and no deletion is held up.
 */
import { describe, it } from "@effect/vitest"
import { Handler, Registry } from "@kubefx/core"
import { Clock, Effect } from "effect"
import * as fc from "fast-check"
import { Arbitraries, Faults, Property, Runner, SimCluster } from "../src/index.ts"
import { simWidgetCluster, simWidgets } from "./fixtures.ts"

const namespace = "default"
const widget = (name: string) => ({
  apiVersion: "sim.kubefx.dev/v1",
  kind: "Widget",
  metadata: { name, namespace },
  spec: {}
})

/** The starts a timer's schedule gives within `span` ms of its first start. */
const expectedStarts = (interval: number, length: number, sharp: boolean, span: number) => {
  const out: Array<number> = []
  for (let t = 0; t <= span; t += sharp ? interval : interval + length) out.push(t)
  return out
}

const timerCase = fc.record({
  interval: fc.integer({ min: 1, max: 30 }),
  lengthShare: fc.double({ min: 0, max: 0.9, noNaN: true }),
  sharp: fc.boolean(),
  span: fc.integer({ min: 0, max: 180 })
})

type Value<A> = A extends fc.Arbitrary<infer T> ? T : never

const timer = ({ interval, lengthShare, sharp, span }: Value<typeof timerCase>) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    const intervalMs = interval * 1000
    const length = Math.floor(intervalMs * lengthShare)
    const starts: Array<number> = []
    const registry = Registry.make(
      Handler.timer(simWidgets, { id: "tick", interval: intervalMs, sharp }, () =>
        Effect.andThen(
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => starts.push(now))),
          Effect.sleep(length)
        )
      ),
      // Its finalizer makes the deletion wait for the step that stops the timer.
      Handler.onDelete(simWidgets, { id: "cleanup" }, () => Effect.void)
    )
    const runner = yield* Runner.make(registry, { namespaces: [namespace] })
    yield* sim.admin.create(simWidgets, widget("a"))
    yield* Runner.eventually(
      Effect.suspend(() => (starts.length > 0 ? Effect.void : Effect.fail("no run"))),
      { step: "10 millis" }
    )
    const first = starts[0]!
    yield* Runner.advance(span * 1000)
    const got = starts.map((t) => t - first)
    const want = expectedStarts(intervalMs, length, sharp, span * 1000)
    if (JSON.stringify(got) !== JSON.stringify(want))
      return yield* Effect.fail(`starts ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
    // Deleted while a run may be in flight: that run may end, no new one starts.
    yield* sim.admin.delete(simWidgets, "a", { namespace })
    yield* Runner.eventually(
      Effect.flatMap(sim.find(simWidgets, "a", namespace), (o) =>
        o._tag === "None" ? Effect.void : Effect.fail("still there")
      )
    )
    const before = starts.length
    yield* Runner.advance("5 minutes")
    if (starts.length !== before)
      return yield* Effect.fail(`${starts.length - before} runs after the deletion`)
    yield* runner.stop
  }).pipe(Effect.provide(simWidgetCluster))

const daemonCase = fc.record({
  actions: Arbitraries.actions({
    names: ["a", "b", "c"],
    spec: fc.record({ v: fc.constantFrom("1", "2") }),
    maxLength: 16
  }),
  faults: Faults.arbitrary(0.2),
  cancellation: fc.constantFrom(0, 5, 60)
})

const daemons = (input: Value<typeof daemonCase>) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    yield* sim.setFaults(input.faults)
    const running = new Map<string, number>()
    const overlaps: Array<string> = []
    const registry = Registry.make(
      Handler.daemon(
        simWidgets,
        { id: "watch", cancellationTimeout: input.cancellation * 1000 },
        (ctx) =>
          Effect.gen(function* () {
            const uid = ctx.uid ?? ""
            const n = (running.get(uid) ?? 0) + 1
            running.set(uid, n)
            if (n > 1) overlaps.push(`${ctx.name} (${uid}): ${n} daemons at once`)
            yield* ctx.stopped
            yield* Effect.sleep("1 second") // a graceful stop takes a moment
          }).pipe(
            Effect.ensuring(
              Effect.sync(() => {
                const left = (running.get(ctx.uid ?? "") ?? 1) - 1
                if (left === 0) running.delete(ctx.uid ?? "")
                else running.set(ctx.uid ?? "", left)
              })
            )
          )
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
        const objects = yield* sim.objects(simWidgets, namespace)
        const problems = [...overlaps]
        const deleting = objects.filter((o) => o.metadata?.deletionTimestamp !== undefined)
        if (deleting.length > 0)
          problems.push(`deletion held up: ${deleting.map((o) => o.metadata?.name).join(", ")}`)
        const live = new Set(objects.map((o) => o.metadata?.uid ?? ""))
        for (const uid of live)
          if (running.get(uid) !== 1) problems.push(`${running.get(uid) ?? 0} daemons for ${uid}`)
        for (const uid of running.keys())
          if (!live.has(uid)) problems.push(`a daemon runs for the deleted ${uid}`)
        if (problems.length > 0) return yield* Effect.fail(problems.join("; "))
      }),
      { timeout: "10 minutes", step: "5 seconds" }
    )
    yield* runner.stop
    if (running.size > 0) return yield* Effect.fail(`daemons left after the stop: ${running.size}`)
  }).pipe(Effect.provide(simWidgetCluster))

const runs = (name: string, fallback: number) => Number(process.env[name] ?? fallback)

describe("timers and daemons on the simulated cluster", () => {
  it(
    "a timer starts exactly on its schedule, and never after its object is deleted",
    {
      timeout: 120_000
    },
    () => Property.check(timerCase, timer, { numRuns: runs("SPAWN_RUNS", 60) })
  )

  it(
    "daemons: one per live object, never two at once, none after deletion, under faults",
    {
      timeout: 120_000
    },
    () => Property.check(daemonCase, daemons, { numRuns: runs("SPAWN_RUNS", 60) })
  )
})
