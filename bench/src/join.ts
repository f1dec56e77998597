/**
 * What a join costs a sharded operator: two replicas of kubefx's EVC operator serve a set of
 * EVCs, each with a daemon and a timer (`BENCH_SPAWNED=1`), then a third replica joins.
 *
 *   sh scripts/dev.sh --filter @kubefx/bench join [-- --evcs 1000]
 *
 * Per replica, from the join until every EVC's daemon runs on its owner again: the EVCs the
 * API server sent it (list items and watch events, `kubefx_watch_events_total`), the daemons
 * and timers it started, and among those the EVCs that did not change owner (restarted for
 * nothing); and how long the join took. The daemon starts come from the replicas' JSON logs.
 * Results: `bench/results/<timestamp>-join.md` and `.json`.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { ControlPlane } from "@kubefx/controlplane"
import { Shard } from "@kubefx/core"
import { Effect } from "effect"
import * as Client from "./Client.ts"
import * as Fleet from "./Fleet.ts"
import * as Report from "./Report.ts"
import * as Scenarios from "./Scenarios.ts"
import * as Tracker from "./Tracker.ts"

const { values: flags } = parseArgs({
  options: {
    evcs: { type: "string", default: "1000" },
    "timeout-seconds": { type: "string", default: "600" }
  },
  strict: true
})
const count = Number(flags.evcs)
const timeoutMs = Number(flags["timeout-seconds"]) * 1000

const results = Report.resultsDir
const stamp = Report.stampOf(new Date())
const logs = join(results, "logs", `${stamp}-join`)
const { NS, EVCS } = Fleet

const settings = (identity: string) => ({
  sharding: { group: "bench", namespace: NS, identity },
  logFormat: "json"
})

/** The daemon and timer starts in a replica's log: when, which, of which EVC. */
const starts = (identity: string) =>
  readFileSync(join(logs, `${identity}.log`), "utf8")
    .split("\n")
    .flatMap((line) => {
      if (!line.startsWith("{")) return []
      const e = JSON.parse(line) as { time?: string; message?: string; name?: string }
      const kind =
        e.message === "daemon sleeper started"
          ? "daemon"
          : e.message === "timer tick started"
            ? "timer"
            : undefined
      return kind === undefined ? [] : [{ at: Date.parse(e.time ?? ""), kind, evc: e.name ?? "" }]
    })

const owners = (uids: ReadonlyMap<string, string>, members: ReadonlyArray<string>) => {
  const split = Shard.split(members)
  return new Map([...uids].map(([name, uid]) => [name, split[Shard.bucketOf(uid)] ?? ""]))
}

/** Whether the newest daemon start of every EVC is on its owner. */
const placed = (identities: ReadonlyArray<string>, owner: ReadonlyMap<string, string>) => {
  const newest = new Map<string, { at: number; on: string }>()
  for (const identity of identities)
    for (const s of starts(identity))
      if (s.kind === "daemon" && (newest.get(s.evc)?.at ?? -1) <= s.at)
        newest.set(s.evc, { at: s.at, on: identity })
  return [...owner].every(([name, on]) => newest.get(name)?.on === on)
}

const program = Effect.scoped(
  Effect.gen(function* () {
    process.env.BENCH_SPAWNED = "1"
    console.log(`bench join: ${count} EVCs on two replicas, then a third joins`)
    const cluster = yield* ControlPlane.start()
    const harness = yield* cluster.userKubeconfig("bench-harness", ["system:masters"])
    const kube = yield* Effect.acquireRelease(
      Effect.sync(() => Client.make(harness, { maxSockets: 32 })),
      (k) => Effect.sync(() => k.close())
    )
    yield* Effect.promise(() => Scenarios.setup(kube, Scenarios.manifests))
    const two = yield* Fleet.start(cluster, ["r0", "r1"], settings, logs)
    yield* Effect.promise(() => two.ready(120_000))
    const tracker = yield* Effect.promise(() => Tracker.start(kube, NS))
    const names = Array.from({ length: count }, (_, i) => `j-${i}`)
    yield* Effect.promise(() => Fleet.createEvcs(kube, names))
    yield* Effect.promise(() =>
      Tracker.waitAll(names, (n) => tracker.handledAt.get(n), { timeoutMs, label: "EVCs" })
    )
    tracker.stop()
    const listed = yield* Effect.promise(() => kube.json("GET", EVCS))
    const uids = new Map(
      ((listed.items ?? []) as ReadonlyArray<{ metadata?: { name?: string; uid?: string } }>).map(
        (o) => [o.metadata?.name ?? "", o.metadata?.uid ?? ""] as const
      )
    )
    const ownerBefore = owners(uids, ["r0", "r1"])
    const ownerAfter = owners(uids, ["r0", "r1", "r2"])
    yield* Effect.promise(async () => {
      const deadline = Date.now() + timeoutMs
      while (!placed(["r0", "r1"], ownerBefore)) {
        if (Date.now() > deadline) throw new Error("the daemons did not start on two replicas")
        await Scenarios.sleep(500)
      }
    })
    yield* Effect.promise(() => Scenarios.sleep(3000))

    const before = yield* Effect.promise(() => two.sample())
    const joined = Date.now()
    const third = yield* Fleet.start(cluster, ["r2"], settings, logs)
    const settled = yield* Effect.promise(async () => {
      const deadline = Date.now() + timeoutMs
      await third.ready(timeoutMs)
      while (!placed(["r0", "r1", "r2"], ownerAfter)) {
        if (Date.now() > deadline) throw new Error("the daemons did not settle after the join")
        await Scenarios.sleep(250)
      }
      return Date.now()
    })
    yield* Effect.promise(() => Scenarios.sleep(3000))
    const after = [
      ...(yield* Effect.promise(() => two.sample())),
      ...(yield* Effect.promise(() => third.sample()))
    ]
    const moved = [...ownerAfter].filter(([n, o]) => ownerBefore.get(n) !== o).map(([n]) => n)
    const rows = ["r0", "r1", "r2"].map((identity) => {
      const later = starts(identity).filter((s) => s.at >= joined)
      const stayedHere = (s: { evc: string }) =>
        ownerBefore.get(s.evc) === identity && ownerAfter.get(s.evc) === identity
      const b = before.find((s) => s.identity === identity)
      const a = after.find((s) => s.identity === identity)
      return {
        identity,
        received: (a?.received ?? 0) - (b?.received ?? 0),
        daemons: later.filter((s) => s.kind === "daemon").length,
        timers: later.filter((s) => s.kind === "timer").length,
        restartedUnmoved: new Set(
          later.filter((s) => s.kind === "daemon" && stayedHere(s)).map((s) => s.evc)
        ).size,
        owned: [...ownerAfter.values()].filter((o) => o === identity).length
      }
    })
    const header = `# kubefx: what a join costs\n\n${new Date(joined).toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? "?"}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(
        " "
      )}; ${count} EVCs with a daemon and a timer each, two sharded replicas, a third joins (${moved.length} EVCs change owner); the join took ${((settled - joined) / 1000).toFixed(1)} s (from starting r2 until every daemon runs on its owner). Command: \`node bench/src/join.ts ${process.argv.slice(2).join(" ")}\``
    const md = [
      header,
      "",
      "| replica | EVCs it owns after | EVCs received during the join | daemons started | timers started | daemons restarted of EVCs that stayed with it |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      ...rows.map(
        (r) =>
          `| ${r.identity} | ${r.owned} | ${r.received} | ${r.daemons} | ${r.timers} | ${r.restartedUnmoved} |`
      ),
      ""
    ].join("\n")
    writeFileSync(
      join(results, `${stamp}-join.json`),
      `${JSON.stringify({ count, moved: moved.length, seconds: (settled - joined) / 1000, rows }, null, 2)}\n`
    )
    writeFileSync(join(results, `${stamp}-join.md`), md)
    console.log(`\n${md}`)
    console.log(`bench join: wrote ${join(results, `${stamp}-join.md`)} and .json`)
  })
)

NodeRuntime.runMain(program)
