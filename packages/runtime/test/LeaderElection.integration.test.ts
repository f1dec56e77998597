/**
 * Leader election against the real API server: two replicas in one process, each with its own
 * client and field manager. The leader handles and writes; the standby is ready and writes
 * nothing; the Lease reads as client-go writes it; a graceful stop releases the Lease and the
 * standby takes over and handles the next object. (Killing a leader's process, and three
 * replicas, are in examples/evc/test/replicas.)
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, Handler, Lease, Registry } from "@kubefx/core"
import { Effect } from "effect"
import { Kube, type KubeService, Operator } from "../src/index.ts"
import { ClusterLayer, configMap, configMaps, eventually, freshNamespace } from "./support.ts"

/** A second admin client: a replica of its own. */
const client = Effect.gen(function* () {
  const cp = yield* ControlPlane.ControlPlane
  return yield* Kube.make(yield* Kube.loadFile(cp.kubeconfig))
}).pipe(Effect.orDie)

const get = (url: string) =>
  Effect.promise(() =>
    fetch(url)
      .then(async (res) => ({ status: res.status, body: await res.text() }))
      .catch(() => ({ status: 0, body: "no answer" }))
  )

layer(ClusterLayer, { excludeTestServices: true, timeout: "5 minutes" })("LeaderElection", (it) => {
  it.effect(
    "the leader handles, the standby is ready and idle; a graceful stop releases and hands over",
    () =>
      Effect.gen(function* () {
        const admin = yield* Kube
        const ns = yield* freshNamespace
        const handled: Array<string> = []
        const registry = (identity: string) =>
          Registry.make(
            Handler.onCreate("configmaps", { id: "seen" }, (ctx) =>
              Effect.sync(() => {
                handled.push(`${identity}:${ctx.name}`)
              })
            )
          )
        const replica = (identity: string, kube: KubeService) =>
          Operator.start(registry(identity), {
            namespaces: [ns],
            health: { port: 0, host: "127.0.0.1" },
            leaderElection: { leaseName: "configmaps-leader", namespace: ns, identity }
          }).pipe(Effect.provideService(Kube, kube))
        const a = yield* replica("a", yield* client)
        yield* a.ready
        const lease = admin
          .get(Builtins.leases, "configmaps-leader", { namespace: ns })
          .pipe(Effect.map(Lease.read))
        const held = yield* eventually(
          Effect.flatMap(lease, (l) => (l.holder === "a" ? Effect.succeed(l) : Effect.fail(l)))
        )
        assert.deepStrictEqual([held.durationSeconds, held.transitions], [15, 0])
        assert.match(held.renewTime ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
        const b = yield* replica("b", yield* client)
        yield* b.ready
        const standby = yield* get(`${b.healthUrl}/readyz`)
        assert.deepStrictEqual(standby, { status: 200, body: "ok\n" }, "a standby is ready")

        const handledOnCluster = (name: string) =>
          eventually(
            Effect.flatMap(admin.get(configMaps, name, { namespace: ns }), (cm) =>
              cm.metadata?.annotations?.["kubefx.dev/last-handled"] === undefined
                ? Effect.fail(`${name} not handled yet`)
                : Effect.void
            )
          )
        yield* admin.create(configMaps, configMap(ns, "first"))
        yield* handledOnCluster("first")
        assert.deepStrictEqual(handled, ["a:first"], "the standby handled nothing")

        yield* a.stop
        const after = yield* lease
        assert.notStrictEqual(after.holder, "a", "released on a graceful stop")
        yield* admin.create(configMaps, configMap(ns, "second"))
        yield* handledOnCluster("second")
        assert.deepStrictEqual(
          handled,
          ["a:first", "b:second"],
          "b resumed first (handled already), and handled second"
        )
        const taken = yield* lease
        assert.deepStrictEqual([taken.holder, taken.transitions], ["b", 1])
        yield* b.stop
      }).pipe(Effect.scoped)
  )
})
