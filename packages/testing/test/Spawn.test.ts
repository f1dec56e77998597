/**
 * Daemons and timers on the simulated cluster under the test clock: exact run counts, idle
 * and sharp schedules, stops on deletion with the finalizer held, restarts and permanent
 * failures, across operator restarts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Handler, type KubeObject, Outcome, Registry } from "@kubefx/core"
import { ApiPatch } from "@kubefx/runtime"
import { Clock, Effect, Option } from "effect"
import { Runner, SimCluster } from "../src/index.ts"
import { simWidgetCluster, simWidgets } from "./fixtures.ts"

const ns = "default"
const widgets = simWidgets
const cms = widgets
const cm = (name: string, data: Record<string, string> = {}) =>
  ({
    apiVersion: "sim.kubefx.dev/v1",
    kind: "Widget",
    metadata: { name, namespace: ns },
    spec: data
  }) as KubeObject.KubeObject

const cluster = simWidgetCluster

const finalizer = "kubefx.dev/finalizer"

/** The object, or a failure naming what is missing. */
const found = (name: string) =>
  Effect.flatMap(SimCluster.SimCluster, (sim) =>
    Effect.flatMap(sim.find(cms, name, ns), (o) =>
      Option.isSome(o) ? Effect.succeed(o.value) : Effect.fail(`${name} not found`)
    )
  )

const gone = (name: string) =>
  Effect.flatMap(SimCluster.SimCluster, (sim) =>
    Effect.flatMap(sim.find(cms, name, ns), (o) =>
      Option.isNone(o) ? Effect.void : Effect.fail(`${name} still there`)
    )
  )

const remove = (name: string) =>
  Effect.flatMap(SimCluster.SimCluster, (sim) => sim.admin.delete(cms, name, { namespace: ns }))

describe("timers", () => {
  it.effect("interval 10 s: exactly 6 runs in a simulated minute, none after deletion", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const runs: Array<number> = []
      // The delete handler's finalizer makes the deletion wait for the operator's step, which
      // stops the timer first.
      const registry = Registry.make(
        Handler.timer(cms, { id: "tick", interval: "10 seconds" }, () =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            runs.push(now)
          })
        ),
        Handler.onDelete(cms, { id: "cleanup" }, () => Effect.void)
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(cms, cm("a"))
      yield* Runner.eventually(
        Effect.suspend(() => (runs.length > 0 ? Effect.void : Effect.fail("no run"))),
        {
          step: "10 millis"
        }
      )
      const first = runs[0] ?? 0
      yield* Runner.advance("59 seconds")
      assert.deepStrictEqual(
        runs.map((t) => t - first),
        [0, 10_000, 20_000, 30_000, 40_000, 50_000]
      )
      yield* remove("a")
      yield* Runner.eventually(gone("a"))
      const before = runs.length
      yield* Runner.advance("2 minutes")
      assert.strictEqual(runs.length, before, "no run after the deletion")
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  it.effect("a timer alone writes nothing to the object: no finalizer, no state", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      let runs = 0
      const registry = Registry.make(
        Handler.timer(cms, { id: "quiet", interval: "10 seconds" }, () =>
          Effect.sync(() => {
            runs++
          })
        )
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      const created = yield* sim.admin.create(cms, cm("a"))
      yield* Runner.advance("1 minute")
      assert.isAtLeast(runs, 6)
      const object = yield* found("a")
      assert.strictEqual(object.metadata?.resourceVersion, created.metadata?.resourceVersion)
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  it.effect("idle: runs only once the spec has been unchanged that long", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      let runs = 0
      const registry = Registry.make(
        Handler.timer(cms, { id: "settled", interval: "5 seconds", idle: "30 seconds" }, () =>
          Effect.sync(() => {
            runs++
            return { runs }
          })
        )
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(cms, cm("a", { v: "0" }))
      for (let i = 1; i <= 6; i++) {
        yield* Runner.advance("10 seconds")
        yield* sim.admin.patch(cms, "a", ApiPatch.merge({ spec: { v: String(i) } }), {
          namespace: ns
        })
      }
      assert.strictEqual(runs, 0, "changed every 10 s: never idle for 30 s")
      yield* Runner.advance("29 seconds")
      assert.strictEqual(runs, 0)
      yield* Runner.advance("2 seconds")
      assert.strictEqual(runs, 1, "idle for 30 s: runs")
      yield* Runner.advance("10 seconds")
      assert.strictEqual(runs, 3, "then every 5 s, its own status writes do not count as changes")
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  it.effect("sharp: a fixed cadence from the runs' starts; a slow run skips missed beats", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const starts: Array<number> = []
      const registry = Registry.make(
        Handler.timer(cms, { id: "beat", interval: "10 seconds", sharp: true }, () =>
          Effect.gen(function* () {
            starts.push(yield* Clock.currentTimeMillis)
            yield* Effect.sleep(starts.length === 3 ? "25 seconds" : "3 seconds")
          })
        )
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(cms, cm("a"))
      yield* Runner.eventually(
        Effect.suspend(() => (starts.length > 0 ? Effect.void : Effect.fail("no run"))),
        { step: "10 millis" }
      )
      yield* Runner.advance("65 seconds")
      const first = starts[0] ?? 0
      assert.deepStrictEqual(
        starts.map((t) => t - first),
        [0, 10_000, 20_000, 50_000, 60_000]
      )
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  it.effect("a temporary error runs again after its delay; a permanent one stops the timer", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const runs: Array<number> = []
      const registry = Registry.make(
        Handler.timer(cms, { id: "flaky", interval: "1 minute" }, () =>
          Effect.gen(function* () {
            runs.push(yield* Clock.currentTimeMillis)
            if (runs.length === 1)
              return yield* new Outcome.TemporaryError({ message: "once", delay: "5 seconds" })
            if (runs.length === 3) return yield* new Outcome.PermanentError({ message: "broken" })
          })
        )
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(cms, cm("a"))
      yield* Runner.eventually(
        Effect.suspend(() => (runs.length > 0 ? Effect.void : Effect.fail("no run"))),
        { step: "10 millis" }
      )
      yield* Runner.advance("10 minutes")
      const first = runs[0] ?? 0
      assert.deepStrictEqual(
        runs.map((t) => t - first),
        [0, 5_000, 65_000],
        "retried after 5 s, then the interval, then stopped"
      )
      const object = yield* found("a")
      assert.deepInclude(
        (object as { status?: { kubefx?: { errors?: Record<string, string> } } }).status?.kubefx
          ?.errors ?? {},
        { flaky: "broken" }
      )
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )
})

describe("daemons", () => {
  it.effect("starts on create, stops on delete; the finalizer goes once it has stopped", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const log: Array<string> = []
      const registry = Registry.make(
        Handler.daemon(cms, { id: "watch", cancellationTimeout: "1 minute" }, (ctx) =>
          Effect.gen(function* () {
            log.push(`start ${ctx.name}`)
            yield* ctx.stopped
            log.push("asked to stop")
            yield* Effect.sleep("20 seconds")
            log.push("stopped")
          })
        )
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(cms, cm("a"))
      const held = yield* Runner.eventually(
        Effect.flatMap(found("a"), (o) =>
          (o.metadata?.finalizers ?? []).includes(finalizer) && log.length > 0
            ? Effect.succeed(o)
            : Effect.fail("no finalizer or not started")
        )
      )
      assert.deepStrictEqual(log, ["start a"])
      assert.isUndefined(held.metadata?.annotations, "a daemon-only operator keeps no state")
      yield* remove("a")
      yield* Runner.advance("10 seconds")
      assert.deepStrictEqual(log, ["start a", "asked to stop"])
      yield* found("a")
      yield* Runner.eventually(gone("a"), { timeout: "15 seconds" })
      assert.deepStrictEqual(log, ["start a", "asked to stop", "stopped"])
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  it.effect("a daemon that ignores the stop is interrupted after cancellationTimeout", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      let interrupted = false
      const registry = Registry.make(
        Handler.daemon(cms, { id: "stuck", cancellationTimeout: "5 seconds" }, () =>
          Effect.never.pipe(
            Effect.onInterrupt(() =>
              Effect.sync(() => {
                interrupted = true
              })
            )
          )
        )
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(cms, cm("a"))
      yield* Runner.eventually(
        Effect.flatMap(found("a"), (o) =>
          (o.metadata?.finalizers ?? []).includes(finalizer)
            ? Effect.void
            : Effect.fail("no finalizer")
        )
      )
      yield* remove("a")
      const deleted = yield* Clock.currentTimeMillis
      yield* Runner.eventually(gone("a"), { step: "100 millis" })
      const took = (yield* Clock.currentTimeMillis) - deleted
      assert.isTrue(interrupted)
      assert.isAtLeast(took, 5_000)
      assert.isAtMost(took, 6_000, `gone ${took} ms after the delete`)
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  it.effect("cancellationTimeout 0: no finalizer, interrupted at once", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      let started = 0
      const registry = Registry.make(
        Handler.daemon(cms, { id: "light", cancellationTimeout: 0 }, () =>
          Effect.andThen(
            Effect.sync(() => {
              started++
            }),
            Effect.never
          )
        )
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(cms, cm("a"))
      yield* Runner.eventually(
        Effect.suspend(() => (started === 1 ? Effect.void : Effect.fail("not started")))
      )
      const object = yield* found("a")
      assert.isUndefined(object.metadata?.finalizers)
      yield* remove("a")
      yield* Runner.eventually(gone("a"))
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  it.effect(
    "restarts after a temporary error; a permanent one stops it, also after a restart",
    () =>
      Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        const starts: Array<number> = []
        const registry = Registry.make(
          Handler.daemon(cms, { id: "worker" }, () =>
            Effect.gen(function* () {
              starts.push(yield* Clock.currentTimeMillis)
              yield* Effect.sleep("1 second")
              if (starts.length < 3)
                return yield* new Outcome.TemporaryError({ message: "again", delay: "10 seconds" })
              return yield* new Outcome.PermanentError({ message: "gave up" })
            })
          )
        )
        const runner = yield* Runner.make(registry, { namespaces: [ns] })
        yield* sim.admin.create(cms, cm("a"))
        yield* Runner.eventually(
          Effect.flatMap(found("a"), (o) =>
            (o as { status?: { kubefx?: { errors?: Record<string, string> } } }).status?.kubefx
              ?.errors?.worker === "gave up"
              ? Effect.void
              : Effect.fail("not failed yet")
          )
        )
        const first = starts[0] ?? 0
        assert.deepStrictEqual(
          starts.map((t) => t - first),
          [0, 11_000, 22_000]
        )
        yield* runner.restart()
        yield* Runner.advance("5 minutes")
        assert.strictEqual(starts.length, 3, "failed for good: not started by the next process")
        yield* runner.stop
      }).pipe(Effect.provide(cluster))
  )

  it.effect("a daemon that ends is not started again; the operator's stop stops the others", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      let once = 0
      let stops = 0
      const registry = Registry.make(
        Handler.daemon(cms, { id: "once", cancellationTimeout: 0 }, () =>
          Effect.sync(() => {
            once++
            return { done: true }
          })
        ),
        Handler.daemon(cms, { id: "forever" }, (ctx) =>
          Effect.andThen(
            ctx.stopped,
            Effect.sync(() => {
              stops++
            })
          )
        )
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(cms, cm("a"))
      yield* Runner.eventually(
        Effect.flatMap(found("a"), (o) =>
          (o as { status?: { once?: unknown } }).status?.once !== undefined
            ? Effect.void
            : Effect.fail("no result")
        )
      )
      yield* sim.admin.patch(cms, "a", ApiPatch.merge({ spec: { x: "1" } }), { namespace: ns })
      yield* Runner.advance("1 minute")
      assert.strictEqual(once, 1)
      yield* runner.stop
      assert.strictEqual(stops, 1, "asked to stop when the operator stopped")
    }).pipe(Effect.provide(cluster))
  )
})
