/**
 * The incremental handoff on the simulated cluster, with the sharded watch (the API server's
 * `ShardedListAndWatch` gate on) and without it (filtering on the client): a replica joins a
 * group of two while every object has a daemon. The daemons of the objects that stay with
 * their replica are never stopped; those of the objects that move stop on the old owner before
 * they start on the new one; no create handler runs again. A leave hands the objects back the
 * same way.
 */
import { assert, describe, it } from "@effect/vitest"
import { Handler, Registry, Shard } from "@kubefx/core"
import { Clock, Effect } from "effect"
import { Runner, SimCluster } from "../src/index.ts"
import { simWidgetClusterWith, simWidgets } from "./fixtures.ts"
import { ns, widget } from "./replicas.ts"

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

/** A create handler and a daemon per Widget that notes its starts and stops; asked to stop, the
 * daemon takes a second to finish. */
const registry = (replica: string, journal: Journal) =>
  Registry.make(
    Handler.onCreate(simWidgets, { id: "made" }, (ctx) =>
      Effect.sync(() => void journal.created.push(`${replica}:${ctx.name}`))
    ),
    Handler.daemon(simWidgets, { id: "watch", cancellationTimeout: "3 seconds" }, (ctx) =>
      Effect.acquireUseRelease(
        journal.note("start", ctx.name, replica),
        () => Effect.andThen(ctx.stopped, Effect.sleep("1 second")),
        () => journal.note("stop", ctx.name, replica)
      )
    )
  )

const replica = (identity: string, journal: Journal) =>
  Runner.make(registry(identity, journal), {
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

const scenario = Effect.gen(function* () {
  const sim = yield* SimCluster.SimCluster
  const journal = makeJournal()
  const a = yield* replica("a", journal)
  const b = yield* replica("b", journal)
  const uids = new Map<string, string>()
  for (let i = 0; i < 32; i++) {
    const made = yield* sim.admin.create(simWidgets, widget(`w${i}`))
    uids.set(`w${i}`, made.metadata?.uid ?? "")
  }
  yield* Runner.eventually(placed(journal, uids, ["a", "b"]))
  yield* Runner.advance("10 seconds")

  const joined = yield* Clock.currentTimeMillis
  const c = yield* replica("c", journal)
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
  assert.deepStrictEqual(leave.restarted, [], "leave: no daemon of an object that stayed restarted")
  assert.deepStrictEqual(leave.outOfOrder, [], "leave: each moved daemon stopped, then started")
  assert.strictEqual(journal.created.length, uids.size, "no create handler ran twice")
  yield* a.stop
  yield* b.stop
})

describe("incremental handoff", () => {
  it.effect("a join and a leave move only the objects that change owner (sharded watch)", () =>
    scenario.pipe(Effect.provide(simWidgetClusterWith()))
  )
  it.effect("a join and a leave move only the objects that change owner (client-side filter)", () =>
    scenario.pipe(Effect.provide(simWidgetClusterWith({ shardedListAndWatch: false })))
  )
})
