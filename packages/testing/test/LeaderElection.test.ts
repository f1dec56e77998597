/**
 * Leader election on the simulated cluster under the test clock: one replica handles, the
 * others stand by (ready); a crashed leader is replaced once its lease expires; a graceful stop
 * hands over at the standby's next try; a leader whose API calls stall stops before its lease
 * can expire; a skewed clock changes nothing; a Lease edited by hand is reported and repaired.
 * Throughout, a daemon per object notes which replica runs it: two never run at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins, Handler, type KubeObject, Lease, Registry } from "@kubefx/core"
import { Logging } from "@kubefx/runtime"
import { Clock, Effect, Logger, Option } from "effect"
import { Runner, SimCluster } from "../src/index.ts"
import { simWidgetCluster, simWidgets } from "./fixtures.ts"

const ns = "default"
const widget = (name: string): KubeObject.KubeObject => ({
  apiVersion: "sim.kubefx.dev/v1",
  kind: "Widget",
  metadata: { name, namespace: ns },
  spec: {}
})

/** Who runs each object's daemon now, and every time two replicas did at once. */
const makeTracker = () => {
  const running = new Map<string, string>()
  const overlaps: Array<string> = []
  const created: Array<string> = []
  return {
    running,
    overlaps,
    created,
    enter: (object: string, replica: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const other = running.get(object)
          if (other !== undefined) overlaps.push(`${object}: ${other} and ${replica} at ${now}`)
          running.set(object, replica)
        })
      ),
    leave: (object: string, replica: string) =>
      Effect.sync(() => {
        if (running.get(object) === replica) running.delete(object)
      })
  }
}

type Tracker = ReturnType<typeof makeTracker>

/** A replica: a create handler and a daemon per Widget, both noting the replica. */
const replica = (identity: string, tracker: Tracker, clock?: Clock.Clock) => {
  const registry = Registry.make(
    Handler.onCreate(simWidgets, { id: "made" }, (ctx) =>
      Effect.sync(() => {
        tracker.created.push(`${identity}:${ctx.name}`)
        return { by: identity }
      })
    ),
    Handler.daemon(simWidgets, { id: "watch", cancellationTimeout: "1 second" }, (ctx) =>
      Effect.acquireUseRelease(
        tracker.enter(ctx.name, identity),
        () => ctx.stopped,
        () => tracker.leave(ctx.name, identity)
      )
    )
  )
  const runner = Runner.make(registry, {
    namespaces: [ns],
    leaderElection: { leaseName: "widgets", namespace: ns, identity }
  })
  return clock === undefined ? runner : Effect.provideService(runner, Clock.Clock, clock)
}

const lease = Effect.flatMap(SimCluster.SimCluster, (sim) =>
  Effect.map(sim.find(Builtins.leases, "widgets", ns), Option.getOrUndefined)
)

const holderIs = (expected: string) =>
  Effect.flatMap(lease, (l) => {
    const holder = l === undefined ? undefined : Lease.read(l).holder
    return holder === expected ? Effect.void : Effect.fail(`held by ${holder}`)
  })

const running = (tracker: Tracker, object: string, identity: string) =>
  Effect.suspend(() =>
    tracker.running.get(object) === identity
      ? Effect.void
      : Effect.fail(`${object}: run by ${tracker.running.get(object)}`)
  )

const seconds = (millis: number) => millis / 1000

/** Log lines of the test, as JSON objects. */
const capture = () => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const layer = Logger.layer([Logger.map(Logging.json, (line) => lines.push(JSON.parse(line)))])
  return { lines, layer }
}

describe("leader election", () => {
  it.effect("one replica handles; a crashed leader is replaced once its lease expires", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const tracker = makeTracker()
      const a = yield* replica("a", tracker)
      yield* Runner.eventually(holderIs("a"))
      const b = yield* replica("b", tracker)
      yield* sim.admin.create(simWidgets, widget("w1"))
      yield* Runner.eventually(running(tracker, "w1", "a"))
      yield* Runner.advance("30 seconds")
      assert.deepStrictEqual(tracker.created, ["a:w1"], "only the leader handles")
      const crashed = yield* Clock.currentTimeMillis
      yield* a.crash
      yield* sim.admin.create(simWidgets, widget("w2"))
      yield* Runner.eventually(running(tracker, "w2", "b"), { timeout: "1 minute" })
      const took = (yield* Clock.currentTimeMillis) - crashed
      // The standby takes over once the record stayed unchanged for the lease duration (15 s),
      // counted from its first read of the last renewal (at most 2 s old at the crash), at its
      // next try (every 2 to 4.4 s).
      assert.isAtLeast(seconds(took), 15 - 2)
      assert.isAtMost(seconds(took), 15 + 2 * 4.4 + 2)
      yield* Runner.eventually(running(tracker, "w1", "b"))
      assert.deepStrictEqual(tracker.created, ["a:w1", "b:w2"])
      assert.deepStrictEqual(tracker.overlaps, [])
      yield* b.stop
    }).pipe(Effect.provide(simWidgetCluster))
  )

  it.effect(
    "a graceful stop drains, releases the lease, and the standby takes over at its next try",
    () => {
      const logs = capture()
      return Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        const tracker = makeTracker()
        const a = yield* replica("a", tracker)
        yield* Runner.eventually(holderIs("a"))
        const b = yield* replica("b", tracker)
        yield* sim.admin.create(simWidgets, widget("w1"))
        yield* Runner.eventually(running(tracker, "w1", "a"))
        yield* a.stop
        const stopped = yield* Clock.currentTimeMillis
        // Released (or already taken by b, whose try may fall within the stop).
        const after = yield* lease
        assert.notStrictEqual(after === undefined ? "gone" : Lease.read(after).holder, "a")
        assert.isTrue(
          logs.lines.some(
            (l) => l.message === "leader election: released the lease default/widgets"
          )
        )
        yield* Runner.eventually(running(tracker, "w1", "b"), { step: "100 millis" })
        assert.isAtMost(seconds((yield* Clock.currentTimeMillis) - stopped), 4.4 + 1)
        assert.deepStrictEqual(tracker.overlaps, [])
        assert.deepStrictEqual(
          tracker.created,
          ["a:w1"],
          "b resumes w1, it does not create it again"
        )
        yield* b.stop
      }).pipe(Effect.provide(simWidgetCluster), Effect.provide(logs.layer))
    }
  )

  it.effect("a leader whose API calls stall stops its handlers before its lease can expire", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const tracker = makeTracker()
      const a = yield* replica("a", tracker)
      yield* Runner.eventually(holderIs("a"))
      const b = yield* replica("b", tracker)
      yield* sim.admin.create(simWidgets, widget("w1"))
      yield* Runner.eventually(running(tracker, "w1", "a"))
      const stalled = yield* Clock.currentTimeMillis
      yield* sim.blackhole("60 seconds")
      // Nothing a replica sends is answered; the leader stops within the renew deadline (10 s
      // from its last renewal), before anyone could take the lease over (15 s).
      yield* Runner.eventually(
        Effect.suspend(() =>
          tracker.running.has("w1") ? Effect.fail("still running") : Effect.void
        ),
        { step: "100 millis", timeout: "20 seconds" }
      )
      assert.isAtMost(seconds((yield* Clock.currentTimeMillis) - stalled), 10 + 1 + 0.2)
      yield* Runner.advance("60 seconds")
      yield* Runner.eventually(
        Effect.suspend(() =>
          tracker.running.has("w1") ? Effect.void : Effect.fail("w1 runs nowhere")
        ),
        { timeout: "1 minute" }
      )
      assert.deepStrictEqual(tracker.overlaps, [])
      yield* a.stop
      yield* b.stop
    }).pipe(Effect.provide(simWidgetCluster))
  )

  it.effect("skewed clocks change nothing: expiry is judged from local observation", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const tracker = makeTracker()
      const a = yield* replica("a", tracker)
      yield* Runner.eventually(holderIs("a"))
      // b's clock is an hour ahead: the renewTime a writes looks an hour old to it.
      const base = yield* Clock.Clock
      const hour = 3_600_000
      const ahead: Clock.Clock = {
        ...base,
        currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe() + hour,
        currentTimeMillis: Effect.sync(() => base.currentTimeMillisUnsafe() + hour),
        currentTimeNanosUnsafe: () => base.currentTimeNanosUnsafe() + BigInt(hour) * 1_000_000n,
        currentTimeNanos: Effect.sync(
          () => base.currentTimeNanosUnsafe() + BigInt(hour) * 1_000_000n
        ),
        monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe() + BigInt(hour) * 1_000_000n,
        monotonicTimeNanos: Effect.sync(
          () => base.monotonicTimeNanosUnsafe() + BigInt(hour) * 1_000_000n
        )
      }
      const b = yield* replica("b", tracker, ahead)
      yield* sim.admin.create(simWidgets, widget("w1"))
      yield* Runner.eventually(running(tracker, "w1", "a"))
      yield* Runner.advance("2 minutes")
      yield* holderIs("a")
      const crashed = yield* Clock.currentTimeMillis
      yield* a.crash
      yield* Runner.eventually(running(tracker, "w1", "b"), { timeout: "1 minute" })
      assert.isAtLeast(seconds((yield* Clock.currentTimeMillis) - crashed), 15 - 2)
      assert.deepStrictEqual(tracker.overlaps, [])
      yield* b.stop
    }).pipe(Effect.provide(simWidgetCluster))
  )

  it.effect("a Lease edited into nonsense is reported and repaired", () => {
    const logs = capture()
    return Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const tracker = makeTracker()
      const a = yield* replica("a", tracker)
      yield* Runner.eventually(holderIs("a"))
      const b = yield* replica("b", tracker)
      yield* sim.admin.create(simWidgets, widget("w1"))
      yield* Runner.eventually(running(tracker, "w1", "a"))
      const current = yield* lease
      yield* sim.admin.replace(Builtins.leases, "widgets", {
        ...current,
        spec: {
          holderIdentity: "nobody-at-all",
          leaseDurationSeconds: 99999,
          renewTime: "2099-01-01T00:00:00.000000Z",
          leaseTransitions: 41
        }
      })
      // The leader finds another holder at its next renewal and stops at once.
      yield* Runner.eventually(
        Effect.suspend(() =>
          tracker.running.has("w1") ? Effect.fail("still running") : Effect.void
        ),
        { step: "100 millis", timeout: "5 seconds" }
      )
      // Unchanged for 15 s (not 99999 s), it is taken over and rewritten.
      yield* Runner.eventually(
        Effect.flatMap(lease, (l) => {
          const record = l === undefined ? undefined : Lease.read(l)
          return record?.holder === "a" || record?.holder === "b"
            ? Effect.succeed(record)
            : Effect.fail(`held by ${record?.holder}`)
        }),
        { timeout: "30 seconds" }
      ).pipe(
        Effect.tap((record) =>
          Effect.sync(() => {
            assert.strictEqual(record.durationSeconds, 15)
            assert.strictEqual(record.transitions, 42)
          })
        )
      )
      yield* Runner.eventually(
        Effect.suspend(() => (tracker.running.has("w1") ? Effect.void : Effect.fail("not resumed")))
      )
      const warned = logs.lines.filter((l) => l.level === "warn").map((l) => l.message)
      assert.isTrue(
        warned.some((m) =>
          m.includes("leaseDurationSeconds is 99999, this replica's lease duration is 15s")
        ),
        warned.join("\n")
      )
      assert.isTrue(
        warned.some((m) =>
          m.includes("lost the lease default/widgets (the lease is held by nobody-at-all now)")
        ),
        warned.join("\n")
      )
      assert.deepStrictEqual(tracker.overlaps, [])
      yield* a.stop
      yield* b.stop
    }).pipe(Effect.provide(simWidgetCluster), Effect.provide(logs.layer))
  })
})
