/**
 * Sharding on the simulated cluster under the test clock, with the API server's sharded watch
 * (the `ShardedListAndWatch` gate) and without it (the replicas filter on the client). Three
 * replicas split the objects by the split of their ids;
 * a crashed replica's objects move to the others once its lease expires, a stopped one's at
 * once; a replica cut off from the API server stops before its lease can be ended, and rejoins
 * as a new member; Leases edited into nonsense are reported and repaired. Throughout, a daemon
 * per object notes which replica runs it: two never run at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins, type KubeObject, Shard } from "@kubefx/core"
import { Kube, Operator } from "@kubefx/runtime"
import { Clock, Effect, Option } from "effect"
import { Runner, SimCluster } from "../src/index.ts"
import { simWidgetClusterWith, simWidgets } from "./fixtures.ts"
import {
  capture,
  replica as makeReplica,
  makeTracker,
  ns,
  registry,
  runningNowhere,
  type Tracker,
  widget
} from "./replicas.ts"

const replica = (identity: string, tracker: Tracker) =>
  makeReplica(identity, tracker, { sharding: { group: "widgets", namespace: ns, identity } })

const seconds = (millis: number) => millis / 1000

/** Creates `n` Widgets; answers their uids by name. */
const create = (n: number, prefix = "w") =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    const uids = new Map<string, string>()
    for (let i = 0; i < n; i++) {
      const made = yield* sim.admin.create(simWidgets, widget(`${prefix}${i}`))
      uids.set(`${prefix}${i}`, made.metadata?.uid ?? "")
    }
    return uids
  })

/** Fails until every object's daemon runs on the replica of the member the split of
 * `members` gives it to (a member id is the replica's identity, then `#n` after a rejoin). */
const placed = (
  tracker: Tracker,
  uids: ReadonlyMap<string, string>,
  members: ReadonlyArray<string>
) =>
  Effect.suspend(() => {
    const owners = Shard.split(members)
    const replicaOf = (uid: string) => owners[Shard.bucketOf(uid)]?.split("#")[0]
    const wrong = [...uids].filter(([name, uid]) => tracker.running.get(name) !== replicaOf(uid))
    return wrong.length === 0
      ? Effect.void
      : Effect.fail(
          `${wrong.length} misplaced: ${wrong
            .slice(0, 3)
            .map(([n, uid]) => `${n} on ${tracker.running.get(n)}, owner ${replicaOf(uid)}`)
            .join("; ")}`
        )
  })

const table = Effect.flatMap(SimCluster.SimCluster, (sim) =>
  Effect.map(sim.find(Builtins.leases, "widgets", ns), Option.getOrUndefined)
)

for (const gate of [true, false])
  describe(`sharding (${gate ? "sharded watch" : "client-side filter"})`, () => {
    const simWidgetCluster = simWidgetClusterWith({ shardedListAndWatch: gate })

    it.effect("three replicas split the objects: each handled once, by its owner", () =>
      Effect.gen(function* () {
        const tracker = makeTracker()
        const a = yield* replica("a", tracker)
        const b = yield* replica("b", tracker)
        const c = yield* replica("c", tracker)
        const uids = yield* create(24)
        yield* Runner.eventually(placed(tracker, uids, ["a", "b", "c"]))
        yield* Runner.advance("1 minute")
        const owners = Shard.split(["a", "b", "c"])
        assert.sameMembers(
          tracker.created,
          [...uids].map(([name, uid]) => `${owners[Shard.bucketOf(uid)]}:${name}`)
        )
        assert.sameMembers([...new Set(tracker.running.values())], ["a", "b", "c"])
        assert.deepStrictEqual(tracker.overlaps, [])
        yield* Effect.all([a.stop, b.stop, c.stop])
      }).pipe(Effect.provide(simWidgetCluster))
    )

    it.effect(
      "a crashed replica's objects move once its lease expires, a stopped one's at once",
      () =>
        Effect.gen(function* () {
          const tracker = makeTracker()
          const a = yield* replica("a", tracker)
          const b = yield* replica("b", tracker)
          const c = yield* replica("c", tracker)
          const uids = yield* create(24)
          yield* Runner.eventually(placed(tracker, uids, ["a", "b", "c"]))
          const crashed = yield* Clock.currentTimeMillis
          yield* a.crash
          yield* Runner.eventually(placed(tracker, uids, ["b", "c"]), { step: "100 millis" })
          const moved = seconds((yield* Clock.currentTimeMillis) - crashed)
          // Its lease ends once unchanged for 15 s (counted from a read at most 2 s after its
          // last renewal), at the others' next round (every 2 s).
          assert.isAtLeast(moved, 15 - 2)
          assert.isAtMost(moved, 15 + 2 + 2 + 1)
          yield* b.stop
          const stopped = yield* Clock.currentTimeMillis
          yield* Runner.eventually(placed(tracker, uids, ["c"]), { step: "100 millis" })
          assert.isAtMost(seconds((yield* Clock.currentTimeMillis) - stopped), 1)
          assert.strictEqual(tracker.created.length, uids.size, "no create handler ran twice")
          assert.deepStrictEqual(tracker.overlaps, [])
          yield* c.stop
        }).pipe(Effect.provide(simWidgetCluster))
    )

    it.effect(
      "a replica cut off stops before its lease can be ended, and rejoins as a new member",
      () => {
        const logs = capture()
        return Effect.gen(function* () {
          const tracker = makeTracker()
          const a = yield* replica("a", tracker)
          const b = yield* replica("b", tracker)
          const uids = yield* create(16)
          yield* Runner.eventually(placed(tracker, uids, ["a", "b"]))
          const ofA = [...uids.keys()].filter((n) => tracker.running.get(n) === "a")
          const cut = yield* Clock.currentTimeMillis
          yield* a.stall("40 seconds")
          yield* Runner.eventually(
            Effect.forEach(ofA, (n) => runningNowhere(tracker, n), { discard: true }),
            { step: "100 millis", timeout: "20 seconds" }
          )
          assert.isAtMost(seconds((yield* Clock.currentTimeMillis) - cut), 10 + 1 + 0.2)
          yield* Runner.eventually(placed(tracker, uids, ["b"]), { timeout: "1 minute" })
          // Back, a finds its lease ended and joins again as a#1: the objects split again.
          yield* Runner.eventually(placed(tracker, uids, ["a#1", "b"]), { timeout: "2 minutes" })
          assert.isTrue(
            logs.lines.some((l) =>
              l.message.startsWith(
                "sharding: a is out of the group: its lease was ended by another member"
              )
            )
          )
          assert.strictEqual(tracker.created.length, uids.size)
          assert.deepStrictEqual(tracker.overlaps, [])
          yield* a.stop
          yield* b.stop
        }).pipe(Effect.provide(simWidgetCluster), Effect.provide(logs.layer))
      }
    )

    it.effect("Leases edited into nonsense are reported and repaired; nothing runs twice", () => {
      const logs = capture()
      return Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        const tracker = makeTracker()
        const a = yield* replica("a", tracker)
        const b = yield* replica("b", tracker)
        const uids = yield* create(16)
        yield* Runner.eventually(placed(tracker, uids, ["a", "b"]))
        const edit = (
          lease: KubeObject.KubeObject | undefined,
          annotations: Record<string, string>
        ) =>
          sim.admin.replace(Builtins.leases, lease?.metadata?.name ?? "", {
            ...lease,
            metadata: {
              ...lease?.metadata,
              annotations: { ...lease?.metadata?.annotations, ...annotations }
            }
          })
        // The table: garbage. Every member writes back what it holds.
        yield* edit(yield* table, { "kubefx.dev/shards": "{ nonsense" })
        yield* Runner.advance("10 seconds")
        const repaired = yield* table
        const decoded = Shard.decodeTable(
          repaired?.metadata?.annotations?.["kubefx.dev/shards"] ?? "",
          256,
          "uid"
        )
        assert.strictEqual(decoded._tag, "Table", JSON.stringify(decoded))
        // The table gives a's buckets to b: a gives them up, b (which did not claim them) frees
        // them, and they are handed out again.
        const holders = decoded._tag === "Table" ? decoded.holders : []
        yield* edit(yield* table, {
          "kubefx.dev/shards": Shard.encodeTable(
            holders.map((h) => (h === "a" ? "b" : h)),
            "uid"
          )
        })
        // A member's list of buckets: garbage. It counts as holding everything until rewritten.
        const members = yield* sim.objects(Builtins.leases, ns)
        const ofB = members.find((l) => l.metadata?.name === `widgets-${Shard.hash("b")}`)
        yield* edit(ofB, { "kubefx.dev/holds": "all of them" })
        yield* Runner.advance("30 seconds")
        yield* Runner.eventually(placed(tracker, uids, ["a", "b"]))
        const warned = logs.lines.filter((l) => l.level === "warn").map((l) => l.message)
        for (const expected of [
          "sharding: the table default/widgets does not read (it is not JSON)",
          "that a holds to other members (edited by hand?); giving them up",
          "was changed by someone else (edited by hand?); rewriting it"
        ])
          assert.isTrue(
            warned.some((m) => m.includes(expected)),
            `${expected}:\n${warned.join("\n")}`
          )
        assert.strictEqual(tracker.created.length, uids.size)
        assert.deepStrictEqual(tracker.overlaps, [])
        yield* a.stop
        yield* b.stop
      }).pipe(Effect.provide(simWidgetCluster), Effect.provide(logs.layer))
    })

    it.effect(
      "a member set that changes every second converges and never runs an object twice",
      () =>
        Effect.gen(function* () {
          const sim = yield* SimCluster.SimCluster
          const tracker = makeTracker()
          const a = yield* replica("a", tracker)
          const b = yield* replica("b", tracker)
          const uids = yield* create(16)
          // A replica that joins without waiting to be ready, on a connection of its own.
          const join = (identity: string) =>
            Effect.gen(function* () {
              const conn = yield* sim.connect
              const operator = yield* Operator.start(registry(identity, tracker), {
                namespaces: [ns],
                sharding: { group: "widgets", namespace: ns, identity }
              }).pipe(Effect.provideService(Kube, conn.kube))
              return { stop: operator.stop, crash: Effect.andThen(conn.close, operator.stop) }
            })
          // Every second, one replica joins and another leaves (gracefully or crashing).
          let previous:
            | { readonly stop: Effect.Effect<void>; readonly crash: Effect.Effect<void> }
            | undefined
          for (let i = 0; i < 40; i++) {
            const next = yield* join(`flap-${i}`)
            yield* Runner.advance("1 second")
            if (previous !== undefined)
              yield* Effect.forkChild(i % 2 === 0 ? previous.stop : previous.crash)
            previous = next
          }
          if (previous !== undefined) yield* Effect.forkChild(previous.stop)
          yield* Runner.eventually(placed(tracker, uids, ["a", "b"]), { timeout: "3 minutes" })
          assert.deepStrictEqual(tracker.overlaps, [])
          yield* a.stop
          yield* b.stop
        }).pipe(Effect.scoped, Effect.provide(simWidgetCluster))
    )
  })
