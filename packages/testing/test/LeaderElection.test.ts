/**
 * Leader election on the simulated cluster under the test clock: one replica handles, the
 * others stand by (ready); a crashed leader is replaced once its lease expires; a graceful stop
 * hands over at the standby's next try; a leader cut off from the API server stops before its
 * lease can expire, and a standby takes over; a skewed clock changes nothing; a Lease edited by
 * hand is reported and repaired. Throughout, a daemon per object notes which replica runs it:
 * two never run at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins, Lease } from "@kubefx/core"
import { Clock, Effect, Option } from "effect"
import { Runner, SimCluster } from "../src/index.ts"
import { simWidgetCluster, simWidgets } from "./fixtures.ts"
import {
  capture,
  replica as makeReplica,
  makeTracker,
  ns,
  runningNowhere,
  runningOn,
  skewed,
  type Tracker,
  widget
} from "./replicas.ts"

const replica = (identity: string, tracker: Tracker, clock?: Clock.Clock) =>
  makeReplica(
    identity,
    tracker,
    { leaderElection: { leaseName: "widgets", namespace: ns, identity } },
    clock
  )

const lease = Effect.flatMap(SimCluster.SimCluster, (sim) =>
  Effect.map(sim.find(Builtins.leases, "widgets", ns), Option.getOrUndefined)
)

const holderIs = (expected: string) =>
  Effect.flatMap(lease, (l) => {
    const holder = l === undefined ? undefined : Lease.read(l).holder
    return holder === expected ? Effect.void : Effect.fail(`held by ${holder}`)
  })

const seconds = (millis: number) => millis / 1000

/** a leads (and runs w1's daemon), b stands by. */
const twoReplicas = (tracker: Tracker, bClock?: Clock.Clock) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    const a = yield* replica("a", tracker)
    yield* Runner.eventually(holderIs("a"))
    const b = yield* replica("b", tracker, bClock)
    yield* sim.admin.create(simWidgets, widget("w1"))
    yield* Runner.eventually(runningOn(tracker, "w1", "a"))
    yield* Runner.eventually(
      Effect.suspend(() =>
        tracker.created.includes("a:w1") ? Effect.void : Effect.fail("not yet")
      )
    )
    return { a, b }
  })

describe("leader election", () => {
  it.effect("one replica handles; a crashed leader is replaced once its lease expires", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const tracker = makeTracker()
      const { a, b } = yield* twoReplicas(tracker)
      yield* Runner.advance("30 seconds")
      assert.deepStrictEqual(tracker.created, ["a:w1"], "only the leader handles")
      const crashed = yield* Clock.currentTimeMillis
      yield* a.crash
      yield* sim.admin.create(simWidgets, widget("w2"))
      yield* Runner.eventually(runningOn(tracker, "w2", "b"), { timeout: "1 minute" })
      const took = (yield* Clock.currentTimeMillis) - crashed
      // The standby takes over once the record stayed unchanged for the lease duration (15 s),
      // counted from its first read of the last renewal (at most 2 s old at the crash), at its
      // next try (every 2 to 4.4 s).
      assert.isAtLeast(seconds(took), 15 - 2)
      assert.isAtMost(seconds(took), 15 + 2 * 4.4 + 2)
      yield* Runner.eventually(runningOn(tracker, "w1", "b"))
      yield* Runner.eventually(
        Effect.suspend(() =>
          tracker.created.length === 2 ? Effect.void : Effect.fail(tracker.created.join())
        )
      )
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
        const tracker = makeTracker()
        const { a, b } = yield* twoReplicas(tracker)
        yield* a.stop
        const stopped = yield* Clock.currentTimeMillis
        assert.isTrue(
          logs.lines.some(
            (l) => l.message === "leader election: released the lease default/widgets"
          )
        )
        yield* Runner.eventually(runningOn(tracker, "w1", "b"), { step: "100 millis" })
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

  it.effect(
    "a leader cut off from the API server stops before its lease can expire; a standby takes over",
    () =>
      Effect.gen(function* () {
        const tracker = makeTracker()
        const { a, b } = yield* twoReplicas(tracker)
        const cut = yield* Clock.currentTimeMillis
        yield* a.stall("60 seconds")
        // Nothing a sends is answered: it stops within the renew deadline (10 s from its last
        // renewal), before b can find the lease unchanged for the lease duration (15 s).
        yield* Runner.eventually(runningNowhere(tracker, "w1"), {
          step: "100 millis",
          timeout: "20 seconds"
        })
        assert.isAtMost(seconds((yield* Clock.currentTimeMillis) - cut), 10 + 1 + 0.2)
        yield* Runner.eventually(runningOn(tracker, "w1", "b"), { timeout: "1 minute" })
        assert.isAtLeast(seconds((yield* Clock.currentTimeMillis) - cut), 15 - 2)
        // When a's connection comes back, it finds b's lease and stands by.
        yield* Runner.advance("90 seconds")
        yield* runningOn(tracker, "w1", "b")
        yield* holderIs("b")
        assert.deepStrictEqual(tracker.overlaps, [])
        yield* a.stop
        yield* b.stop
      }).pipe(Effect.provide(simWidgetCluster))
  )

  it.effect("skewed clocks change nothing: expiry is judged from local observation", () =>
    Effect.gen(function* () {
      const tracker = makeTracker()
      // b's clocks are an hour ahead: the renewTime a writes looks an hour old to it.
      const { a, b } = yield* twoReplicas(tracker, skewed(yield* Clock.Clock, 3_600_000))
      yield* Runner.advance("2 minutes")
      yield* holderIs("a")
      const crashed = yield* Clock.currentTimeMillis
      yield* a.crash
      yield* Runner.eventually(runningOn(tracker, "w1", "b"), { timeout: "1 minute" })
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
      const { a, b } = yield* twoReplicas(tracker)
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
      yield* Runner.eventually(runningNowhere(tracker, "w1"), {
        step: "100 millis",
        timeout: "5 seconds"
      })
      // Unchanged for 15 s (not 99999 s), it is taken over and rewritten.
      const record = yield* Runner.eventually(
        Effect.flatMap(lease, (l) => {
          const read = l === undefined ? undefined : Lease.read(l)
          return read?.holder === "a" || read?.holder === "b"
            ? Effect.succeed(read)
            : Effect.fail(`held by ${read?.holder}`)
        }),
        { timeout: "30 seconds" }
      )
      assert.deepStrictEqual([record.durationSeconds, record.transitions], [15, 42])
      yield* Runner.eventually(
        Effect.suspend(() => (tracker.running.has("w1") ? Effect.void : Effect.fail("not resumed")))
      )
      const warned = logs.lines.filter((l) => l.level === "warn").map((l) => l.message)
      for (const expected of [
        "leaseDurationSeconds is 99999, this replica's lease duration is 15s",
        "lost the lease default/widgets (the lease is held by nobody-at-all now)"
      ])
        assert.isTrue(
          warned.some((m) => m.includes(expected)),
          `${expected}:\n${warned.join("\n")}`
        )
      assert.deepStrictEqual(tracker.overlaps, [])
      yield* a.stop
      yield* b.stop
    }).pipe(Effect.provide(simWidgetCluster), Effect.provide(logs.layer))
  })
})
