/**
 * Sharding against the real API server (kube-apiserver v1.36.3 with `ShardedListAndWatch`):
 * three replicas in one process, each with its own client. The API server filters their lists
 * and watches (it echoes the selector, and no replica drops an object of another's shard on the
 * client); each object is handled once, by the replica the split gives it to; a daemon per
 * object never runs on two replicas at once; a graceful stop hands its objects over at once.
 * (Killing a replica's process is in examples/evc/test/replicas.)
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, Handler, Registry, Shard } from "@kubefx/core"
import { Clock, Effect, Logger } from "effect"
import { Kube, Metrics, Operator } from "../src/index.ts"
import { ClusterLayer, configMap, configMaps, eventually, freshNamespace } from "./support.ts"

const client = Effect.gen(function* () {
  const cp = yield* ControlPlane.ControlPlane
  return yield* Kube.make(yield* Kube.loadFile(cp.kubeconfig))
}).pipe(Effect.orDie)

/** The sum of a metric's series whose labels include `label`. */
const total = (text: string, name: string, label: string): number =>
  text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) && l.includes(label))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0)

layer(ClusterLayer, { excludeTestServices: true, timeout: "5 minutes" })("Sharding", (it) => {
  it.effect(
    "three replicas: server-side shards, each object handled once by its owner, a graceful stop hands over",
    () =>
      Effect.gen(function* () {
        const admin = yield* Kube
        const cp = yield* ControlPlane.ControlPlane
        assert.include(cp.featureGates, "ShardedListAndWatch")
        const ns = yield* freshNamespace
        const handled: Array<string> = []
        const running = new Map<string, string>()
        const overlaps: Array<string> = []
        const lines = new Map<string, Array<string>>()
        const registry = (identity: string) =>
          Registry.make(
            Handler.onCreate("configmaps", { id: "seen" }, (ctx) =>
              Effect.sync(() => {
                handled.push(`${identity}:${ctx.name}`)
              })
            ),
            Handler.daemon("configmaps", { id: "watch", cancellationTimeout: "1 second" }, (ctx) =>
              Effect.acquireUseRelease(
                Effect.flatMap(Clock.currentTimeMillis, (now) =>
                  Effect.sync(() => {
                    const other = running.get(ctx.name)
                    if (other !== undefined)
                      overlaps.push(`${ctx.name}: ${other}, ${identity} at ${now}`)
                    running.set(ctx.name, identity)
                  })
                ),
                () => ctx.stopped,
                () =>
                  Effect.sync(() => {
                    if (running.get(ctx.name) === identity) running.delete(ctx.name)
                  })
              )
            )
          )
        const replica = (identity: string) =>
          Effect.gen(function* () {
            const logged: Array<string> = []
            lines.set(identity, logged)
            const capture = Logger.layer(
              [
                Logger.make(({ message }) =>
                  logged.push(Array.isArray(message) ? message.join(" ") : String(message))
                )
              ],
              { mergeWithExisting: true }
            )
            const operator = yield* Operator.start(registry(identity), {
              namespaces: [ns],
              sharding: { group: "configmaps", namespace: ns, identity }
            }).pipe(Effect.provideService(Kube, yield* client), Effect.provide(capture))
            yield* operator.ready
            return operator
          })
        const a = yield* replica("a")
        const b = yield* replica("b")
        const c = yield* replica("c")
        // Settled: each holds its share (ready waits for it).
        const names = Array.from({ length: 30 }, (_, i) => `cm-${i}`)
        const uids = new Map<string, string>()
        for (const name of names) {
          const made = yield* admin.create(configMaps, configMap(ns, name))
          uids.set(name, made.metadata?.uid ?? "")
        }
        yield* eventually(
          Effect.suspend(() =>
            running.size === names.length ? Effect.void : Effect.fail(`${running.size} daemons`)
          )
        )
        yield* eventually(
          Effect.suspend(() =>
            handled.length >= names.length ? Effect.void : Effect.fail(`${handled.length} handled`)
          )
        )
        const owners = Shard.split(["a", "b", "c"])
        const ownerOf = (name: string) => owners[Shard.bucketOf(uids.get(name) ?? "")]
        assert.deepStrictEqual(
          [...handled].sort(),
          names.map((n) => `${ownerOf(n)}:${n}`).sort(),
          "each handled once, by its owner"
        )
        assert.sameMembers(
          [...new Set(handled.map((h) => h.split(":")[0]))],
          ["a", "b", "c"],
          "all three handle some"
        )
        // The API server filtered: it echoed the selector on the lists of config maps, and
        // no replica had to drop another's object on the client.
        for (const [identity, logged] of lines)
          assert.isTrue(
            logged.some((l) => l.includes("the API server applied the shard selector")),
            `${identity}: ${logged.join("\n")}`
          )
        const metrics = yield* Metrics.text
        assert.strictEqual(
          total(metrics, "kubefx_shard_filtered_total", 'resource="configmaps"'),
          0
        )

        yield* c.stop
        const stopped = new Set(names.filter((n) => ownerOf(n) === "c"))
        yield* eventually(
          Effect.suspend(() => {
            const moved = [...stopped].every(
              (n) => running.get(n) === "a" || running.get(n) === "b"
            )
            return moved && running.size === names.length
              ? Effect.void
              : Effect.fail("not moved yet")
          })
        )
        const table = yield* admin.get(Builtins.leases, "configmaps", { namespace: ns })
        const holders = Shard.decodeTable(
          table.metadata?.annotations?.["kubefx.dev/shards"] ?? "",
          256,
          "uid"
        )
        assert.deepStrictEqual(
          holders._tag === "Table" ? [...new Set(holders.holders)].sort() : holders,
          ["a", "b"]
        )
        assert.deepStrictEqual(overlaps, [])
        assert.strictEqual(handled.length, names.length, "nothing handled twice")
        yield* a.stop
        yield* b.stop
      }).pipe(Effect.scoped)
  )
})
