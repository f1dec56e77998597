/**
 * Several replicas of the EVC operator, each its own process (the fault suite's `operator.ts`)
 * with a user of its own, against the real control plane (kube-apiserver v1.36.3 with the
 * `ShardedListAndWatch` gate), judged from the API server's audit log:
 *
 * - sharded, replicas split the EVCs and each EVC is handled once, by the replica the split
 *   gives it to; a third replica that joins two moves only the EVCs that change owner (their
 *   daemons stop on the old owner before they start on the new one; no other daemon restarts);
 *   the API server filters their watches; a replica killed with SIGKILL has its EVCs taken
 *   over once its lease expires; one stopped with SIGTERM hands over at once;
 * - with leader election, only the leader writes; when it is killed, a standby takes over;
 * - sharded, a replica whose API calls stall (the fault proxy holds its answers) stops before
 *   its lease can expire, the others take its EVCs, it rejoins when the stall ends; the table
 *   Lease edited into nonsense is reported and repaired.
 *
 * Every EVC converges, and every EVC's PVC is created once and its result written once.
 * The replicas run with a lease duration of 8 s (renew deadline 5 s, retry period 1 s).
 */
import { assert, layer } from "@effect/vitest"
import { Builtins } from "@kubefx/core"
import { Effect } from "effect"
import {
  daemonLog,
  elected,
  type Group,
  group,
  leader,
  metric,
  owners,
  print,
  Suite,
  SuiteLive,
  sharded,
  timing,
  userOf
} from "./harness.ts"

/** Convergence after a fault: the lease duration, then a minute of margin for a busy machine. */
const within = (timing.leaseDuration + 60) * 1000

const evcsLabel = 'resource="ephemeralvolumeclaims.kopf.dev"'

/** Waits (a minute at most) until `ok`; dies with the replicas' last lines otherwise. */
const eventually = (what: string, g: Group, ok: () => boolean) =>
  Effect.gen(function* () {
    const deadline = Date.now() + 60_000
    while (!ok()) {
      if (Date.now() > deadline)
        return yield* Effect.die(new Error(`${what}: not within a minute\n\n${g.logs()}`))
      yield* Effect.sleep("200 millis")
    }
  })

/** What a membership change did to the EVCs' daemons (`entries` from it on): the EVCs that
 * stayed with their replica and had their daemon restarted anyway, and those that moved but
 * did not stop on the old owner, then start on the new one. */
const daemonMoves = (
  entries: ReturnType<typeof daemonLog>,
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>
) => {
  const of = (name: string) => entries.filter((e) => e.evc === name)
  const names = [...before.keys()]
  const stayed = names.filter((n) => before.get(n) === after.get(n))
  const moved = names.filter((n) => before.get(n) !== after.get(n))
  return {
    stayed: stayed.length,
    moved: moved.length,
    restarted: stayed.filter((n) => of(n).length > 0),
    outOfOrder: moved.filter((n) => {
      const [stop, start, ...rest] = of(n)
      return !(
        rest.length === 0 &&
        stop?.what === "stop" &&
        stop.replica === before.get(n) &&
        start?.what === "start" &&
        start.replica === after.get(n) &&
        stop.at <= start.at
      )
    })
  }
}

/** Fails the test with the problems, and every replica's last lines. */
const verdict = (g: Group, problems: ReadonlyArray<string>) =>
  problems.length === 0
    ? Effect.void
    : Effect.die(new Error(`${problems.join("\n\n")}\n\n${g.logs()}`))

const converge = (g: Group, what: string) =>
  g.converged(within).pipe(
    Effect.tap((ms) =>
      print(`[replicas] ${what}: ${g.names().length} EVCs converged in ${(ms / 1000).toFixed(1)} s`)
    ),
    Effect.catch((why) => Effect.die(new Error(`${what}: ${why}\n\n${g.logs()}`)))
  )

layer(SuiteLive, { excludeTestServices: true, timeout: "5 minutes" })("replicas", (it) => {
  it.effect(
    "sharded: split by owner, server-side watches, a join moves only the EVCs that change owner, kill -9 moves a share, SIGTERM hands over at once",
    () =>
      Effect.gen(function* () {
        const g = yield* group("sharded", ["a", "b", "c"], sharded({ logFormat: "json" }), {
          KUBEFX_EVC_DAEMON: "1"
        })
        for (const identity of ["a", "b"]) yield* Effect.orDie(g.start(identity))
        const first = yield* g.create("first", 30)
        yield* converge(g, "two replicas")
        const daemonsOn = (members: ReadonlyArray<string>) =>
          eventually(`the daemons run on ${members.join(", ")}`, g, () => {
            const running = new Map<string, Set<string>>()
            for (const e of daemonLog(g)) {
              const on = running.get(e.evc) ?? new Set<string>()
              if (e.what === "start") on.add(e.replica)
              else on.delete(e.replica)
              running.set(e.evc, on)
            }
            const split = owners(first, members)
            return [...split].every(([name, owner]) => {
              const on = [...(running.get(name) ?? [])]
              return on.length === 1 && on[0] === owner
            })
          })
        yield* daemonsOn(["a", "b"])

        // c joins: the EVCs that stay with a or b keep their daemons; those that go to c stop
        // on their old owner before they start on c.
        const before = { a: 0, b: 0 }
        for (const id of ["a", "b"] as const)
          before[id] = yield* metric(g.replicas.get(id)!, "kubefx_watch_events_total", evcsLabel)
        const joined = Date.now()
        yield* Effect.orDie(g.start("c"))
        yield* daemonsOn(["a", "b", "c"])
        const moves = daemonMoves(
          daemonLog(g).filter((e) => e.at >= joined),
          owners(first, ["a", "b"]),
          owners(first, ["a", "b", "c"])
        )
        assert.isAbove(moves.moved, 0, "the join moves some EVCs")
        assert.deepStrictEqual(moves.restarted, [], "no daemon of an EVC that stayed restarted")
        assert.deepStrictEqual(moves.outOfOrder, [], "each moved daemon stopped, then started")
        const relisted: Array<string> = []
        for (const id of ["a", "b"] as const)
          relisted.push(
            `${id} ${(yield* metric(g.replicas.get(id)!, "kubefx_watch_events_total", evcsLabel)) - before[id]}`
          )
        yield* print(
          `[replicas] join of c: ${moves.moved} of ${first.size} EVCs moved (daemons stopped, then started on c), ${moves.stayed} stayed (no daemon restarted); EVCs received by the others during the join: ${relisted.join(", ")}`
        )

        const second = yield* g.create("second", 30)
        yield* converge(g, "three replicas")
        const writers = g.writers()
        const misplaced = [...owners(first, ["a", "b"]), ...owners(second, ["a", "b", "c"])].filter(
          ([name, owner]) => writers.get(name)?.join() !== userOf(owner)
        )
        assert.deepStrictEqual(misplaced, [], "each EVC written by its owner")
        assert.sameMembers([...new Set(owners(second, ["a", "b", "c"]).values())], ["a", "b", "c"])
        // The API server filtered the watches of the custom resource: each replica received
        // EVCs, and none of another's shard (it would have dropped them on the client).
        for (const r of g.replicas.values()) {
          assert.isAbove(yield* metric(r, "kubefx_watch_events_total", evcsLabel), 0)
          assert.strictEqual(
            yield* metric(r, "kubefx_shard_filtered_total", evcsLabel),
            0,
            `replica ${r.identity} dropped objects of other shards`
          )
        }

        const killed = Date.now()
        g.replicas.get("c")!.process.kill()
        yield* g.create("after-kill", 15)
        const afterKill = yield* converge(g, "kill -9 of c")
        yield* print(
          `[replicas] kill -9: c's EVCs handled by the others ${((Date.now() - killed) / 1000).toFixed(1)} s after the kill (lease duration ${timing.leaseDuration} s)`
        )
        assert.isAbove(afterKill, 0)

        const stopped = yield* g.replicas.get("b")!.process.terminate(30_000)
        assert.strictEqual(stopped?.ended.code, 0, "SIGTERM: exit code 0")
        const handed = Date.now()
        yield* g.create("after-stop", 10)
        yield* converge(g, "SIGTERM of b")
        yield* print(
          `[replicas] SIGTERM: b stopped in ${((stopped?.millis ?? 0) / 1000).toFixed(1)} s; its EVCs handled by a ${((Date.now() - handed) / 1000).toFixed(1)} s later`
        )
        yield* verdict(g, yield* g.exactlyOnce)
      }).pipe(Effect.scoped),
    240_000
  )

  it.effect(
    "leader election: only the leader writes; kill -9 of the leader, a standby takes over",
    () =>
      Effect.gen(function* () {
        const g = yield* group("elected", ["a", "b", "c"], elected)
        for (const identity of ["a", "b", "c"]) yield* Effect.orDie(g.start(identity))
        yield* g.create("first", 20)
        yield* converge(g, "leader election")
        const first = yield* leader(g.namespace)
        assert.isDefined(first)
        const { cluster } = yield* Suite
        const writers = new Set([...g.writers().values()].flat())
        assert.deepStrictEqual([...writers], [userOf(first!)], "only the leader wrote results")

        const killed = Date.now()
        g.replicas.get(first!)!.process.kill()
        yield* g.create("after-kill", 10)
        yield* converge(g, "kill -9 of the leader")
        const next = yield* leader(g.namespace)
        assert.notStrictEqual(next, first)
        yield* print(
          `[replicas] leader election: ${next} took over from ${first}; the EVCs created after the kill converged ${((Date.now() - killed) / 1000).toFixed(1)} s after it`
        )
        const all = [...g.writers().values()].flat()
        assert.sameMembers([...new Set(all)], [userOf(first!), userOf(next!)])
        assert.isDefined(cluster.auditLog)
        yield* verdict(g, yield* g.exactlyOnce)
      }).pipe(Effect.scoped),
    180_000
  )

  it.effect(
    "sharded: a replica whose calls stall stops and rejoins; the table edited into nonsense is repaired",
    () =>
      Effect.gen(function* () {
        const { proxy, admin } = yield* Suite
        const g = yield* group(
          "stall",
          ["a", "b", "c"],
          sharded({ watcher: { idleTimeout: "10 seconds" } })
        )
        yield* Effect.orDie(g.start("a"))
        yield* Effect.orDie(g.start("b"))
        const c = yield* Effect.orDie(g.start("c", { proxied: true }))
        yield* g.create("first", 15)
        yield* converge(g, "before the stall")

        yield* proxy.setMode("stall")
        const stalled = Date.now()
        yield* g.create("during-stall", 15)
        yield* converge(g, "c stalled")
        yield* print(
          `[replicas] stall: the EVCs created during c's stall converged ${((Date.now() - stalled) / 1000).toFixed(1)} s after it began`
        )
        yield* proxy.setMode("pass")
        // c rejoins (as c#1: its lease was ended while it was cut off).
        yield* Effect.orDie(
          Effect.gen(function* () {
            const deadline = Date.now() + 60_000
            while (!c.process.lines().some((l) => l.includes("holds") && l.includes("c#1"))) {
              if (Date.now() > deadline)
                return yield* Effect.fail(new Error(`c did not rejoin:\n${c.process.tail(30)}`))
              yield* Effect.sleep("500 millis")
            }
          })
        )
        assert.isTrue(
          c.process.lines().some((l) => l.includes("stopping the handlers")),
          `c stopped its handlers:\n${c.process.tail(40)}`
        )

        const table = yield* Effect.orDie(
          admin.get(Builtins.leases, "evcs", { namespace: g.namespace })
        )
        yield* Effect.orDie(
          admin.replace(Builtins.leases, "evcs", {
            ...table,
            metadata: {
              ...table.metadata,
              annotations: { ...table.metadata?.annotations, "kubefx.dev/shards": "not a table" }
            }
          })
        )
        yield* g.create("after-edit", 10)
        yield* converge(g, "table edited")
        const reported = [...g.replicas.values()].some((r) =>
          r.process.lines().some((l) => l.includes("does not read (it is not JSON)"))
        )
        assert.isTrue(reported, "the nonsense was reported")
        const repaired = yield* Effect.orDie(
          admin.get(Builtins.leases, "evcs", { namespace: g.namespace })
        )
        assert.match(
          repaired.metadata?.annotations?.["kubefx.dev/shards"] ?? "",
          /^\{"buckets":256,/
        )
        yield* verdict(g, yield* g.exactlyOnce)
      }).pipe(Effect.scoped),
    240_000
  )
})
