/**
 * Blackholes in the simulated cluster: connections that stay open and silent. A silent request
 * is ended by the client's request timeout and retried; a silent watch by the watcher's idle
 * timeout; a blackhole window silences everything in flight for good and new connections
 * after it work. The operator must converge through all of them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins, Handler, type KubeObject, Registry } from "@kubefx/core"
import { ApiPatch, type RawWatchEvent } from "@kubefx/runtime"
import { Effect, Exit, Fiber, Option, Queue, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { Faults, Runner, SimCluster } from "../src/index.ts"

const cms = Builtins.configMaps
const ns = "default"
const cm = (name: string): KubeObject.KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns },
  data: {}
})

/** An operator that marks every ConfigMap it sees (its handler's result lands in `status`). */
const registry = Registry.make(
  Handler.onCreate("configmaps", { id: "seen" }, (ctx) => Effect.succeed({ name: ctx.name }))
)

const handled = (name: string) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    const o = yield* sim.find(cms, name, ns)
    return Option.isSome(o) && o.value.status !== undefined
  })

const allHandled = (names: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const missing: Array<string> = []
    for (const n of names) if (!(yield* handled(n))) missing.push(n)
    if (missing.length > 0) return yield* Effect.fail(`not handled yet: ${missing.join(", ")}`)
  })

/** Collects a watch's events in a queue, in the background. */
const collect = (events: Stream.Stream<RawWatchEvent, unknown>) =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<RawWatchEvent>()
    const fiber = yield* events.pipe(
      Stream.runForEach((e) => Queue.offer(queue, e)),
      Effect.forkChild
    )
    const seen = Effect.map(Queue.takeAll(queue), (es) =>
      es.map((e) => (e.type === "BOOKMARK" ? "BOOKMARK" : `${e.type} ${e.object.metadata?.name}`))
    )
    return { fiber, seen }
  })

describe("Faults: blackholes", () => {
  it("are part of some() and of the arbitrary, and count as faults", () => {
    assert.isFalse(Faults.isNone({ blackhole: 0.1 }))
    assert.isFalse(Faults.isNone({ blackholeWatch: 0.1 }))
    assert.isFalse(Faults.isNone({ blackholeWindow: { from: 0, for: "1 second" } }))
    assert.isTrue(Faults.isNone({ blackholeWindow: { from: "1 second", for: 0 } }))
    const some = Faults.some()
    assert.isTrue((some.blackhole ?? 0) > 0 && (some.blackholeWatch ?? 0) > 0)
    const drawn = fc.sample(Faults.arbitrary(), { numRuns: 300, seed: 1 })
    assert.isTrue(drawn.some((f) => (f.blackhole ?? 0) > 0))
    assert.isTrue(drawn.some((f) => (f.blackholeWatch ?? 0) > 0))
    assert.isTrue(drawn.some((f) => f.blackholeWindow !== undefined))
    assert.isTrue(drawn.every((f) => (f.blackhole ?? 0) <= 0.05 && (f.blackholeWatch ?? 0) <= 0.1))
  })

  it.effect("a blackholed request is ended by the request timeout (ETIMEDOUT), unseen", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const fiber = yield* Effect.forkChild(Effect.exit(sim.kube.create(cms, cm("a"))))
      yield* TestClock.adjust("29 seconds")
      assert.isUndefined(fiber.pollUnsafe(), "no answer, no error: the connection is silent")
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit)
        ? Option.getOrUndefined(Exit.findErrorOption(exit))
        : undefined
      assert.strictEqual(error?._tag, "TransportError")
      assert.strictEqual(error?._tag === "TransportError" ? error.code : "", "ETIMEDOUT")
      assert.isTrue(Option.isNone(yield* sim.find(cms, "a", ns)), "the server never saw it")
      assert.include(
        yield* sim.requests,
        `POST /api/v1/namespaces/${ns}/configmaps -> silent (injected blackhole)`
      )
    }).pipe(
      Effect.provide(
        SimCluster.layer({
          faults: { blackhole: 1 },
          retry: Schedule.recurs(0),
          requestTimeout: "30 seconds"
        })
      )
    )
  )

  it.effect("a request sent into a blackhole window times out and its retry succeeds", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      yield* sim.admin.create(cms, cm("a"))
      yield* sim.blackhole("10 seconds")
      const fiber = yield* Effect.forkChild(sim.kube.get(cms, "a", { namespace: ns }))
      yield* TestClock.adjust("29 seconds")
      assert.isUndefined(fiber.pollUnsafe(), "the first attempt waits for its deadline")
      yield* TestClock.adjust("2 seconds")
      const got = yield* Fiber.join(fiber)
      assert.strictEqual(got.metadata?.name, "a")
      const path = `GET /api/v1/namespaces/${ns}/configmaps/a`
      assert.deepStrictEqual((yield* sim.requests).slice(-2), [
        `${path} -> silent (blackhole window)`,
        `${path} -> ok`
      ])
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("requests blackholed at random all succeed by retries, the same for a seed", () =>
    Effect.gen(function* () {
      const run = Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        yield* sim.admin.create(cms, cm("a"))
        for (let i = 0; i < 20; i++)
          yield* sim.kube.patch(cms, "a", ApiPatch.merge({ data: { i: String(i) } }), {
            namespace: ns
          })
        const a = Option.getOrThrow(yield* sim.find(cms, "a", ns))
        assert.deepStrictEqual(a.data, { i: "19" })
        return yield* sim.requests
      }).pipe(Effect.provide(SimCluster.layer({ faults: { seed: 3, blackhole: 0.3 } })))
      const first = yield* Runner.drive(run)
      const silent = first.filter((line) => line.endsWith("silent (injected blackhole)"))
      assert.isTrue(silent.length > 0, "some requests were silent")
      assert.deepStrictEqual(yield* Runner.drive(run), first, "a seed replays the same faults")
    })
  )

  it.effect("a blackhole window silences what is in flight for good; new watches work", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const from = (yield* sim.admin.list(cms, { namespace: ns })).resourceVersion
      const old = yield* collect(sim.kube.watch(cms, { namespace: ns, resourceVersion: from }))
      yield* sim.setFaults({ blackholeWindow: { from: "5 seconds", for: "20 seconds" } })
      yield* sim.admin.create(cms, cm("before"))
      yield* TestClock.adjust("10 seconds")
      yield* sim.admin.create(cms, cm("during"))
      yield* TestClock.adjust("70 seconds")
      yield* sim.admin.create(cms, cm("after"))
      yield* sim.dropWatches
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* old.seen, ["ADDED before"], "no event, bookmark nor reset")
      assert.isUndefined(old.fiber.pollUnsafe(), "the silent watch is still open")
      const fresh = yield* collect(sim.kube.watch(cms, { namespace: ns, resourceVersion: from }))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* fresh.seen, ["ADDED before", "ADDED during", "ADDED after"])
      yield* Fiber.interrupt(old.fiber)
      yield* Fiber.interrupt(fresh.fiber)
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("a later setFaults ends the configuration's window", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      yield* sim.admin.create(cms, cm("a"))
      yield* sim.setFaults({ blackholeWindow: { from: 0, for: "1 hour" } })
      yield* sim.setFaults(Faults.none)
      const got = yield* Runner.drive(sim.kube.get(cms, "a", { namespace: ns }))
      assert.strictEqual(got.metadata?.name, "a")
      assert.deepStrictEqual((yield* sim.requests).slice(-1), [
        `GET /api/v1/namespaces/${ns}/configmaps/a -> ok`
      ])
    }).pipe(Effect.provide(SimCluster.layer()))
  )
})

describe("the operator through blackholes", () => {
  it.effect(
    "a silent watch is replaced after the idle timeout; what came meanwhile is handled",
    () =>
      Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        yield* Runner.make(registry, { namespaces: [ns], watcher: { idleTimeout: "90 seconds" } })
        yield* sim.setFaults({ blackholeWatch: 1 })
        yield* sim.dropWatches // the watcher reconnects, into a silent watch
        yield* TestClock.adjust("1 second")
        yield* sim.setFaults(Faults.none)
        assert.isTrue(
          (yield* sim.requests).some((l) => l.endsWith("-> silent (injected blackhole)")),
          "the new watch is silent"
        )
        yield* sim.admin.create(cms, cm("late"))
        yield* TestClock.adjust("60 seconds")
        assert.isFalse(yield* handled("late"), "nothing reached the operator yet")
        yield* Runner.eventually(allHandled(["late"]), { timeout: "1 minute" })
      }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("objects created during a 20 s blackhole window all converge after it", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(cms, cm("first"))
      yield* Runner.eventually(allHandled(["first"]))
      yield* sim.blackhole("20 seconds")
      const names = ["a", "b", "c", "d"]
      for (const n of names) {
        yield* sim.admin.create(cms, cm(n))
        yield* TestClock.adjust("5 seconds")
      }
      assert.deepStrictEqual(
        yield* Effect.forEach(names, handled),
        [false, false, false, false],
        "the operator's watch went silent with the window"
      )
      yield* Runner.eventually(allHandled(names), { stable: "1 minute" })
    }).pipe(Effect.provide(SimCluster.layer()))
  )
})
