/**
 * The Mirror operator on the simulated cluster, under the test clock: copies made by one
 * sub-handler each (a taken name fails only its own), a missing source waited for, drift
 * repaired by the daemon, the audit timer reading the index, and a deletion that stops the
 * daemon and lets the Mirror go.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins, Json, type KubeObject, Resource } from "@kubefx/core"
import { Runner, SimCluster } from "@kubefx/testing"
import { Effect, Layer, Option } from "effect"
import { copyOf, crd, mirrors, registry } from "../src/operator.ts"

const ns = "default"
const cms = Builtins.configMaps

const cluster = Layer.effectDiscard(
  Effect.flatMap(SimCluster.SimCluster, (sim) => sim.apply([crd as KubeObject.KubeObject]))
).pipe(Layer.provideMerge(SimCluster.layer()))

const configMap = (name: string, data: Record<string, string>): KubeObject.KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns },
  data
})

const mirror = (name: string, source: string, targets: ReadonlyArray<string>) => ({
  apiVersion: Resource.apiVersion(mirrors),
  kind: "Mirror",
  metadata: { name, namespace: ns },
  spec: { source, targets: [...targets] }
})

const find = (resource: typeof cms | typeof mirrors, name: string) =>
  Effect.flatMap(SimCluster.SimCluster, (sim) => sim.find(resource, name, ns))

/** Waits until the object exists and `check` holds of it. */
const until = (
  resource: typeof cms | typeof mirrors,
  name: string,
  check: (o: KubeObject.KubeObject) => boolean = () => true
) =>
  Runner.eventually(
    Effect.flatMap(find(resource, name), (o) =>
      Option.isSome(o) && check(o.value) ? Effect.succeed(o.value) : Effect.fail(`${name} not yet`)
    )
  )

const at = (o: KubeObject.KubeObject, path: Json.PathInput) => Json.get(o as Json.JsonObject, path)

describe("the Mirror operator", () => {
  it.effect("copies the source to every target, one sub-handler each, and audits them", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      yield* sim.admin.create(cms, configMap("settings", { level: "info" }))
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(mirrors, mirror("m", "settings", ["copy-a", "copy-b"]))
      for (const target of ["copy-a", "copy-b"]) {
        const copy = yield* until(cms, target)
        assert.deepStrictEqual(copy.data, { level: "info" })
        assert.strictEqual(copy.metadata?.labels?.[copyOf], "m")
        assert.strictEqual(at(copy, "metadata.ownerReferences.0.kind"), "Mirror")
      }
      const synced = yield* until(mirrors, "m", (o) => at(o, ["status", "sync"]) !== undefined)
      assert.deepStrictEqual(at(synced, ["status", "sync"]), { targets: 2 })
      // The daemon may have made the copy first: the sub-handler then found it in place.
      assert.include(["created", "unchanged"], at(synced, ["status", "sync/copy-a"]))
      yield* Runner.advance("45 seconds")
      const audited = yield* until(mirrors, "m", (o) => at(o, ["status", "audit"]) !== undefined)
      assert.deepStrictEqual(at(audited, ["status", "audit"]), { copies: 2, missing: [] })
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  it.effect("a taken target fails its own sub-handler; the other copy is made", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      yield* sim.admin.create(cms, configMap("settings", { level: "info" }))
      yield* sim.admin.create(cms, configMap("taken", { mine: "yes" }))
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* sim.admin.create(mirrors, mirror("m", "settings", ["taken", "free"]))
      const failed = yield* until(
        mirrors,
        "m",
        (o) => at(o, ["status", "kubefx", "errors", "sync"]) !== undefined
      )
      assert.match(
        String(at(failed, ["status", "kubefx", "errors", "sync"])),
        /Sub-handlers failed: 'sync\/taken' \(ConfigMap default\/taken exists and is not a copy of this Mirror/
      )
      assert.include(["created", "unchanged"], at(failed, ["status", "sync/free"]))
      const taken = yield* until(cms, "taken")
      assert.deepStrictEqual(taken.data, { mine: "yes" }, "left as it was")
      const events = yield* sim.events({ name: "m" })
      assert.isTrue(events.some((e) => e.type === "Warning" && e.reason === "Failed"))
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  it.effect(
    "waits for a missing source; the daemon repairs drift; a deletion lets the Mirror go",
    () =>
      Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        const runner = yield* Runner.make(registry, { namespaces: [ns] })
        yield* sim.admin.create(mirrors, mirror("m", "later", ["copy"]))
        yield* Runner.advance("12 seconds")
        assert.isTrue(Option.isNone(yield* find(cms, "copy")), "no copy without a source")
        yield* sim.admin.create(cms, configMap("later", { v: "1" }))
        yield* until(cms, "copy", (o) => at(o, ["data", "v"]) === "1")
        // The source changes, a copy is edited by hand: the daemon puts them right.
        yield* sim.admin.replace(cms, "later", configMap("later", { v: "2" }), { namespace: ns })
        yield* until(cms, "copy", (o) => at(o, ["data", "v"]) === "2")
        const copy = yield* until(cms, "copy")
        yield* sim.admin.replace(cms, "copy", { ...copy, data: { v: "hand" } }, { namespace: ns })
        yield* until(cms, "copy", (o) => at(o, ["data", "v"]) === "2")
        yield* sim.admin.delete(mirrors, "m", { namespace: ns })
        yield* Runner.eventually(
          Effect.flatMap(find(mirrors, "m"), (o) =>
            Option.isNone(o) ? Effect.void : Effect.fail("still there")
          )
        )
        yield* runner.stop
      }).pipe(Effect.provide(cluster))
  )
})
