/**
 * The incremental handoff on the simulated cluster, with the sharded watch (the API server's
 * `ShardedListAndWatch` gate on) and without it (filtering on the client): a replica joins a
 * group of two while every object has a daemon. The daemons of the objects that stay with
 * their replica are never stopped; those of the objects that move stop on the old owner before
 * they start on the new one; no create handler runs again. A leave hands the objects back the
 * same way. Below it, a watcher of a live shard: a narrowing forgets the objects that left
 * without an event and without a list; a widening lists once and sends only the new objects.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins, Handler, Index, Registry, Shard } from "@kubefx/core"
import { Kube, Operator, Watcher, type WatchState } from "@kubefx/runtime"
import { Clock, Effect, Fiber, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Runner, SimCluster } from "../src/index.ts"
import { simWidgetClusterWith, simWidgets } from "./fixtures.ts"
import { makeTracker, ns, type Tracker, widget } from "./replicas.ts"

/** Every daemon start and stop, in order, with the replica and the time. */
const makeJournal = () => {
  const entries: Array<{
    readonly at: number
    readonly what: "start" | "stop"
    readonly object: string
    readonly replica: string
  }> = []
  const created: Array<string> = []
  const note = (what: "start" | "stop", object: string, replica: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) =>
      Effect.sync(() => void entries.push({ at, what, object, replica }))
    )
  const of = (object: string) => entries.filter((e) => e.object === object)
  return { entries, created, note, of }
}

type Journal = ReturnType<typeof makeJournal>

/** An index of the Widgets: their watcher then sees every Widget, and hands its processor
 * those of the buckets the replica gains. */
const byName = Index.make("by-name", simWidgets, (w) => ({ [w.name]: w.name }))

/** A create handler and a daemon per Widget that notes its starts and stops (asked to stop,
 * it takes a second to finish), and the index when `indexed`. */
const registry = (replica: string, journal: Journal, indexed: boolean) => {
  const made = Handler.onCreate(simWidgets, { id: "made" }, (ctx) =>
    Effect.sync(() => void journal.created.push(`${replica}:${ctx.name}`))
  )
  const watch = Handler.daemon(
    simWidgets,
    { id: "watch", cancellationTimeout: "3 seconds" },
    (ctx) =>
      Effect.acquireUseRelease(
        journal.note("start", ctx.name, replica),
        () => Effect.andThen(ctx.stopped, Effect.sleep("1 second")),
        () => journal.note("stop", ctx.name, replica)
      )
  )
  return indexed ? Registry.make(made, watch, byName) : Registry.make(made, watch)
}

const replica = (identity: string, journal: Journal, indexed: boolean) =>
  Runner.make(registry(identity, journal, indexed), {
    namespaces: [ns],
    sharding: { group: "widgets", namespace: ns, identity }
  })

/** Who runs each object's daemon now, from the journal. */
const runningNow = (journal: Journal) => {
  const running = new Map<string, Set<string>>()
  for (const e of journal.entries) {
    const set = running.get(e.object) ?? new Set<string>()
    if (e.what === "start") set.add(e.replica)
    else set.delete(e.replica)
    running.set(e.object, set)
  }
  return running
}

/** Fails until every object's daemon runs on its owner among `members`, and only there. */
const placed = (
  journal: Journal,
  uids: ReadonlyMap<string, string>,
  members: ReadonlyArray<string>
) =>
  Effect.suspend(() => {
    const owners = Shard.split(members)
    const running = runningNow(journal)
    const wrong = [...uids].filter(([name, uid]) => {
      const on = [...(running.get(name) ?? [])]
      return on.length !== 1 || on[0] !== owners[Shard.bucketOf(uid)]
    })
    return wrong.length === 0 ? Effect.void : Effect.fail(`${wrong.length} misplaced`)
  })

/** What a membership change did to the daemons: the objects that stayed and were restarted
 * anyway, and the objects that moved but started on the new owner before stopping on the old. */
const judge = (
  journal: Journal,
  uids: ReadonlyMap<string, string>,
  before: ReadonlyArray<string>,
  after: ReadonlyArray<string>,
  since: number
) => {
  const ownerBefore = Shard.split(before)
  const ownerAfter = Shard.split(after)
  const stayed: Array<string> = []
  const moved: Array<string> = []
  for (const [name, uid] of uids)
    (ownerBefore[Shard.bucketOf(uid)] === ownerAfter[Shard.bucketOf(uid)] ? stayed : moved).push(
      name
    )
  const later = (name: string) => journal.of(name).filter((e) => e.at >= since)
  const restarted = stayed.filter((name) => later(name).length > 0)
  const outOfOrder = moved.filter((name) => {
    const [first, second, ...rest] = later(name)
    const uid = uids.get(name) ?? ""
    return !(
      rest.length === 0 &&
      first?.what === "stop" &&
      first.replica === ownerBefore[Shard.bucketOf(uid)] &&
      second?.what === "start" &&
      second.replica === ownerAfter[Shard.bucketOf(uid)] &&
      first.at <= second.at
    )
  })
  return { stayed, moved, restarted, outOfOrder }
}

const scenario = (indexed: boolean) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    const journal = makeJournal()
    const a = yield* replica("a", journal, indexed)
    const b = yield* replica("b", journal, indexed)
    const uids = new Map<string, string>()
    for (let i = 0; i < 32; i++) {
      const made = yield* sim.admin.create(simWidgets, widget(`w${i}`))
      uids.set(`w${i}`, made.metadata?.uid ?? "")
    }
    yield* Runner.eventually(placed(journal, uids, ["a", "b"]))
    yield* Runner.advance("10 seconds")

    const joined = yield* Clock.currentTimeMillis
    const c = yield* replica("c", journal, indexed)
    yield* Runner.eventually(placed(journal, uids, ["a", "b", "c"]))
    yield* Runner.advance("10 seconds")
    const join = judge(journal, uids, ["a", "b"], ["a", "b", "c"], joined)

    const left = yield* Clock.currentTimeMillis
    yield* c.stop
    yield* Runner.eventually(placed(journal, uids, ["a", "b"]))
    yield* Runner.advance("10 seconds")
    const leave = judge(journal, uids, ["a", "b", "c"], ["a", "b"], left)

    assert.isAbove(join.moved.length, 0, "the join moves some objects")
    assert.isAbove(join.stayed.length, 0, "and keeps others")
    assert.deepStrictEqual(join.restarted, [], "join: no daemon of an object that stayed restarted")
    assert.deepStrictEqual(join.outOfOrder, [], "join: each moved daemon stopped, then started")
    assert.deepStrictEqual(
      leave.restarted,
      [],
      "leave: no daemon of an object that stayed restarted"
    )
    assert.deepStrictEqual(leave.outOfOrder, [], "leave: each moved daemon stopped, then started")
    assert.strictEqual(journal.created.length, uids.size, "no create handler ran twice")
    yield* a.stop
    yield* b.stop
  })

/** A watcher of config maps on a live shard: its events, and the lists it sent. */
const watchShard = (gate: boolean) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    const uids = new Map<string, string>()
    for (let i = 0; i < 32; i++) {
      const made = yield* sim.admin.create(Builtins.configMaps, {
        metadata: { name: `c${i}`, namespace: ns }
      })
      uids.set(`c${i}`, made.metadata?.uid ?? "")
    }
    const buckets = (from: number, to: number) =>
      Shard.ranges(Array.from({ length: to - from }, (_, i) => from + i))
    const shard = Watcher.liveShard({ key: "uid", ranges: buckets(0, 128) })
    const events = yield* Queue.unbounded<WatchState.WatchEvent>()
    const fiber = yield* Watcher.watch(Builtins.configMaps, {
      scope: Watcher.namespaces([ns]),
      shard
    }).pipe(
      Stream.runForEach((e) => Queue.offer(events, e)),
      Effect.forkChild
    )
    const lists = Effect.map(
      sim.requests,
      (r) =>
        r.filter((line) => line.startsWith("GET /api/v1/namespaces/default/configmaps ")).length
    )
    const step = Effect.gen(function* () {
      for (let i = 0; i < 20; i++) {
        yield* TestClock.adjust("100 millis")
        for (let j = 0; j < 20; j++) yield* Effect.yieldNow
      }
      const taken = yield* Queue.clear(events)
      return {
        applied: taken
          .filter((e) => e._tag === "Applied")
          .map((e) => e.object.metadata?.name)
          .sort(),
        deleted: taken.filter((e) => e._tag === "Deleted").length,
        synced: taken.filter((e) => e._tag === "Synced").length
      }
    })
    const inBuckets = (from: number, to: number) =>
      [...uids]
        .filter(([, uid]) => Shard.bucketOf(uid) >= from && Shard.bucketOf(uid) < to)
        .map(([name]) => name)
        .sort()
    const first = yield* step
    assert.deepStrictEqual(first.applied, inBuckets(0, 128))
    const listed = yield* lists
    // Narrowing: nothing sent, nothing listed.
    shard.move(buckets(0, 64))
    const narrowed = yield* step
    assert.deepStrictEqual(narrowed, { applied: [], deleted: 0, synced: 0 }, `gate ${gate}`)
    assert.strictEqual(yield* lists, listed, "no list for a narrowing")
    assert.isTrue(shard.listed())
    // Widening: one list; only the objects new to the watcher, and none called deleted.
    shard.move(buckets(0, 192))
    const widened = yield* step
    assert.deepStrictEqual(widened, { applied: inBuckets(64, 192), deleted: 0, synced: 1 })
    assert.strictEqual(yield* lists, listed + 1)
    assert.isTrue(shard.listed())
    // From now on, only the objects of the shard.
    for (let i = 32; i < 64; i++) {
      const made = yield* sim.admin.create(Builtins.configMaps, {
        metadata: { name: `c${i}`, namespace: ns }
      })
      uids.set(`c${i}`, made.metadata?.uid ?? "")
    }
    const later = yield* step
    assert.deepStrictEqual(
      later.applied,
      inBuckets(0, 192).filter((n) => Number(n.slice(1)) >= 32)
    )
    yield* Fiber.interrupt(fiber)
  })

/** The registry of a replica whose daemons take 40 s to stop once asked (their
 * cancellationTimeout is a minute), reporting to `tracker`. */
const slowToStop = (identity: string, tracker: Tracker) =>
  Registry.make(
    Handler.daemon(simWidgets, { id: "slow", cancellationTimeout: "1 minute" }, (ctx) =>
      Effect.acquireUseRelease(
        tracker.enter(ctx.name, identity),
        () => Effect.andThen(ctx.stopped, Effect.sleep("40 seconds")),
        () => tracker.leave(ctx.name, identity)
      )
    )
  )
const sharded = (identity: string) => ({
  namespaces: [ns],
  sharding: { group: "widgets", namespace: ns, identity }
})

/** A replica cut off while it drains the buckets it gives up stops every handler at its fence,
 * without waiting for the drain: the others take its buckets once its lease expires, and no
 * daemon runs on two replicas at once. */
const fenceDuringDrain = Effect.gen(function* () {
  const sim = yield* SimCluster.SimCluster
  const tracker = makeTracker()
  const a = yield* Runner.make(slowToStop("a", tracker), sharded("a"))
  const b = yield* Runner.make(slowToStop("b", tracker), sharded("b"))
  for (let i = 0; i < 16; i++) yield* sim.admin.create(simWidgets, widget(`w${i}`))
  yield* Runner.eventually(
    Effect.suspend(() =>
      tracker.running.size === 16 ? Effect.void : Effect.fail(`${tracker.running.size} run`)
    )
  )
  // c joins (it is ready once a and b have drained what goes to it: 40 s); a is cut off
  // meanwhile.
  const c = yield* Operator.start(slowToStop("c", tracker), sharded("c")).pipe(
    Effect.provideService(Kube, (yield* sim.connect).kube)
  )
  // Their daemons take 40 s to stop: the clock moves on while they do, whatever happened.
  const stopAll = Effect.gen(function* () {
    const stopped = yield* Effect.forkChild(
      Effect.all([b.stop, c.stop, a.crash], { concurrency: "unbounded" })
    )
    yield* Runner.advance("2 minutes")
    yield* Fiber.join(stopped)
  })
  yield* Effect.gen(function* () {
    yield* Runner.advance("3 seconds")
    yield* a.stall("2 minutes")
    yield* Runner.advance("90 seconds")
    assert.deepStrictEqual(tracker.overlaps, [])
    assert.notInclude([...tracker.running.values()], "a", "a stopped everything at its fence")
    yield* Runner.eventually(
      Effect.suspend(() =>
        tracker.running.size === 16 ? Effect.void : Effect.fail(`${tracker.running.size} run`)
      ),
      { timeout: "3 minutes" }
    )
    assert.deepStrictEqual(tracker.overlaps, [])
  }).pipe(Effect.ensuring(stopAll))
})

describe("incremental handoff", () => {
  it.effect("a replica cut off during a long drain stops at its fence", () =>
    fenceDuringDrain.pipe(Effect.scoped, Effect.provide(simWidgetClusterWith()))
  )

  for (const gate of [true, false])
    it.effect(`a watcher of a live shard follows it without false deletions (gate ${gate})`, () =>
      watchShard(gate).pipe(Effect.provide(SimCluster.layer({ shardedListAndWatch: gate })))
    )

  it.effect("a join and a leave move only the objects that change owner (sharded watch)", () =>
    scenario(false).pipe(Effect.provide(simWidgetClusterWith()))
  )
  it.effect("a join and a leave move only the objects that change owner (client-side filter)", () =>
    scenario(false).pipe(Effect.provide(simWidgetClusterWith({ shardedListAndWatch: false })))
  )
  it.effect(
    "a join and a leave move only the objects that change owner (a watcher an index shares)",
    () => scenario(true).pipe(Effect.provide(simWidgetClusterWith()))
  )
})
