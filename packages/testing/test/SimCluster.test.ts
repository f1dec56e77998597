import { assert, describe, it } from "@effect/vitest"
import {
  Builtins,
  Handler,
  type Json,
  type KubeObject,
  Registry,
  Resource,
  Shard
} from "@kubefx/core"
import { ApiPatch, Discovery, Kube, type RawWatchEvent } from "@kubefx/runtime"
import { Effect, Fiber, Option, Queue, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { Arbitraries, Faults, Normalize, Property, Runner, SimCluster } from "../src/index.ts"

const cms = Builtins.configMaps
const ns = "default"
const cm = (name: string, data: Record<string, string> = {}, extra: Record<string, unknown> = {}) =>
  ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: ns, ...extra },
    data
  }) as KubeObject.KubeObject

const widgets = Resource.make({
  group: "sim.kubefx.dev",
  version: "v1",
  plural: "widgets",
  kind: "Widget"
})
const widgetCrd = (
  status: boolean,
  statusSchema: Json.JsonObject = { type: "object", "x-kubernetes-preserve-unknown-fields": true }
): KubeObject.KubeObject => ({
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.sim.kubefx.dev" },
  spec: {
    group: "sim.kubefx.dev",
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget", shortNames: ["wd"] },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        ...(status ? { subresources: { status: {} } } : {}),
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: { type: "object", properties: { size: { type: "integer", minimum: 0 } } },
              status: statusSchema
            }
          }
        }
      }
    ]
  }
})

describe("SimCluster", () => {
  it.effect("versions, conflicts, no-op writes", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const a = yield* sim.admin.create(cms, cm("a", { x: "1" }))
      assert.match(a.metadata?.uid ?? "", /^[0-9a-f-]{36}$/)
      assert.strictEqual(a.metadata?.creationTimestamp, "1970-01-01T00:00:00Z")
      const again = yield* Effect.flip(sim.admin.create(cms, cm("a")))
      assert.strictEqual(again._tag, "AlreadyExists")
      const b = yield* sim.admin.patch(cms, "a", ApiPatch.merge({ data: { y: "2" } }), {
        namespace: ns
      })
      assert.notStrictEqual(b.metadata?.resourceVersion, a.metadata?.resourceVersion)
      const same = yield* sim.admin.patch(cms, "a", ApiPatch.merge({ data: { y: "2" } }), {
        namespace: ns
      })
      assert.strictEqual(same.metadata?.resourceVersion, b.metadata?.resourceVersion)
      const stale = yield* Effect.flip(
        sim.admin.patch(
          cms,
          "a",
          ApiPatch.merge({ metadata: { resourceVersion: a.metadata?.resourceVersion } }),
          { namespace: ns }
        )
      )
      assert.strictEqual(stale._tag, "Conflict")
      const replaced = yield* Effect.flip(sim.admin.replace(cms, "a", a, { namespace: ns }))
      assert.strictEqual(replaced._tag, "Conflict")
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("CRDs: served on creation, status subresource, generation, validation", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      yield* sim.apply([widgetCrd(true)])
      const found = yield* Discovery.find(sim.admin, {
        group: "sim.kubefx.dev",
        version: "v1",
        plural: "wd"
      })
      assert.deepStrictEqual(found.resource, widgets)
      const w = yield* sim.admin.create(widgets, {
        metadata: { name: "w", namespace: ns },
        spec: { size: 1, unknown: 1 },
        status: { ignored: true }
      })
      assert.deepStrictEqual(w.spec, { size: 1 })
      assert.isUndefined(w.status)
      assert.strictEqual(w.metadata?.generation, 1)
      const s = yield* sim.admin.patchStatus(
        widgets,
        "w",
        ApiPatch.merge({ status: { phase: "Ready" }, spec: { size: 5 } }),
        { namespace: ns }
      )
      assert.deepStrictEqual(
        [s.spec, s.status, s.metadata?.generation],
        [{ size: 1 }, { phase: "Ready" }, 1]
      )
      const m = yield* sim.admin.patch(
        widgets,
        "w",
        ApiPatch.merge({ spec: { size: 2 }, status: { phase: "Lost" } }),
        { namespace: ns }
      )
      assert.deepStrictEqual(
        [m.spec, m.status, m.metadata?.generation],
        [{ size: 2 }, { phase: "Ready" }, 2]
      )
      const bad = yield* Effect.flip(
        sim.admin.patch(widgets, "w", ApiPatch.merge({ spec: { size: -1 } }), { namespace: ns })
      )
      assert.strictEqual(bad._tag, "Invalid")
      if (bad._tag === "Invalid")
        assert.deepStrictEqual(
          bad.causes.map((c) => c.field),
          ["spec.size"]
        )
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("finalizers, deletionTimestamp, garbage collection", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const owner = yield* sim.admin.create(cms, cm("owner", {}, { finalizers: ["x/y"] }))
      yield* sim.admin.create(
        cms,
        cm(
          "dep",
          {},
          {
            ownerReferences: [
              { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata?.uid }
            ]
          }
        )
      )
      const marked = yield* sim.admin.delete(cms, "owner", { namespace: ns })
      assert.isString(marked.metadata?.deletionTimestamp)
      const added = yield* Effect.flip(
        sim.admin.patch(
          cms,
          "owner",
          ApiPatch.merge({ metadata: { finalizers: ["x/y", "x/z"] } }),
          {
            namespace: ns
          }
        )
      )
      assert.strictEqual(added._tag, "Invalid")
      yield* sim.admin.patch(cms, "owner", ApiPatch.merge({ metadata: { finalizers: null } }), {
        namespace: ns
      })
      assert.isTrue(Option.isNone(yield* sim.find(cms, "owner", ns)))
      yield* sim.settle
      assert.deepStrictEqual(yield* sim.objects(cms, ns), [])
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("PVC resizing: 422 unbound, 403 without expansion, ok when bound and expandable", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const pvcs = Builtins.persistentVolumeClaims
      yield* sim.apply([
        {
          apiVersion: "storage.k8s.io/v1",
          kind: "StorageClass",
          metadata: { name: "grow" },
          provisioner: "x",
          allowVolumeExpansion: true
        },
        {
          apiVersion: "storage.k8s.io/v1",
          kind: "StorageClass",
          metadata: { name: "fixed" },
          provisioner: "x"
        }
      ])
      const claim = (name: string, cls: string) => ({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name, namespace: ns },
        spec: {
          storageClassName: cls,
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: "1Gi" } }
        }
      })
      const grow = (name: string) =>
        sim.admin.patch(
          pvcs,
          name,
          ApiPatch.merge({ spec: { resources: { requests: { storage: "2Gi" } } } }),
          { namespace: ns }
        )
      const a = yield* sim.admin.create(pvcs, claim("a", "grow"))
      assert.deepStrictEqual(a.status, { phase: "Pending" })
      assert.deepStrictEqual(a.metadata?.finalizers, ["kubernetes.io/pvc-protection"])
      assert.strictEqual((yield* Effect.flip(grow("a")))._tag, "Invalid")
      yield* sim.bind(ns, "a")
      yield* grow("a")
      yield* sim.admin.create(pvcs, claim("b", "fixed"))
      yield* sim.bind(ns, "b")
      assert.strictEqual((yield* Effect.flip(grow("b")))._tag, "Forbidden")
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("watch: from a version, bookmarks, 410 after compaction, timeout", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      const list = yield* sim.admin.list(cms, { namespace: ns })
      const queue = yield* Queue.unbounded<RawWatchEvent>()
      const fiber = yield* sim.admin
        .watch(cms, { namespace: ns, resourceVersion: list.resourceVersion, timeoutSeconds: 120 })
        .pipe(
          Stream.runForEach((e) => Queue.offer(queue, e)),
          Effect.forkChild
        )
      yield* sim.admin.create(cms, cm("a"))
      yield* sim.admin.delete(cms, "a", { namespace: ns })
      yield* TestClock.adjust("61 seconds")
      const events = (yield* Queue.takeAll(queue)).map((e) => e.type)
      assert.deepStrictEqual(events, ["ADDED", "DELETED", "BOOKMARK"])
      yield* TestClock.adjust("60 seconds")
      assert.isTrue(fiber.pollUnsafe() !== undefined, "the server ended the watch")
      yield* sim.compact
      const expired = yield* sim.admin
        .watch(cms, { namespace: ns, resourceVersion: list.resourceVersion })
        .pipe(Stream.take(1), Stream.runCollect)
      assert.deepStrictEqual(
        [...expired].map((e) => [e.type, e.object.code]),
        [["ERROR", 410]]
      )
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("sharded list and watch: filtered and echoed with the gate, ignored without", () =>
    Effect.gen(function* () {
      const half = [{ start: "0x0000000000000000", end: "0x8000000000000000" }]
      const selector = Option.getOrThrow(Shard.selector(half, "uid"))
      const inHalf = (o: KubeObject.KubeObject) => Shard.contains(half, o.metadata?.uid ?? "")
      for (const gate of [true, false]) {
        const sim = yield* SimCluster.make({ shardedListAndWatch: gate })
        for (let i = 0; i < 12; i++) yield* sim.admin.create(cms, cm(`c${i}`))
        const all = (yield* sim.admin.list(cms, { namespace: ns })).items
        const listed = yield* sim.admin.list(cms, { namespace: ns, shardSelector: selector })
        const queue = yield* Queue.unbounded<RawWatchEvent>()
        const fiber = yield* sim.admin
          .watch(cms, { namespace: ns, resourceVersion: "1", shardSelector: selector })
          .pipe(
            Stream.runForEach((e) => Queue.offer(queue, e)),
            Effect.forkChild
          )
        yield* TestClock.adjust("1 second")
        const watched = (yield* Queue.clear(queue)).filter((e) => e.type === "ADDED").length
        yield* Fiber.interrupt(fiber)
        const bad = yield* sim.admin
          .list(cms, { namespace: ns, shardSelector: "shardRange(" })
          .pipe(Effect.result)
        const inside = all.filter(inHalf).length
        assert.isTrue(inside > 0 && inside < all.length, "both halves have objects")
        if (gate) {
          assert.deepStrictEqual(listed.items, all.filter(inHalf))
          assert.strictEqual(listed.shard, selector)
          assert.strictEqual(watched, inside, "the watch sends only the half's objects")
          assert.strictEqual(bad._tag === "Failure" ? bad.failure._tag : "", "ServerError")
        } else {
          assert.deepStrictEqual(listed.items, all)
          assert.isUndefined(listed.shard)
          assert.strictEqual(watched, all.length)
          assert.strictEqual(bad._tag, "Success")
        }
      }
    }).pipe(Effect.scoped)
  )

  it.effect("faults: the same seed gives the same faults", () =>
    Effect.gen(function* () {
      const outcomes = (seed: number) =>
        Effect.gen(function* () {
          const sim = yield* SimCluster.SimCluster
          const conn = yield* sim.connect
          yield* sim.setFaults({ seed, conflict: 0.3, tooManyRequests: 0.2, serverError: 0.2 })
          yield* sim.admin.create(cms, cm("a"))
          const out: Array<string> = []
          for (let i = 0; i < 20; i++)
            out.push(
              yield* conn.kube
                .patch(cms, "a", ApiPatch.merge({ data: { i: String(i) } }), { namespace: ns })
                .pipe(
                  Effect.as("ok"),
                  Effect.catch((e) => Effect.succeed(e._tag))
                )
            )
          return out
        }).pipe(Effect.scoped, Effect.provide(SimCluster.layer({ retry: undefined })))
      const a = yield* Runner.drive(outcomes(7))
      const b = yield* Runner.drive(outcomes(7))
      assert.deepStrictEqual(a, b)
      assert.isTrue(a.includes("Conflict") && a.includes("ok"))
    })
  )
})

describe("Runner", () => {
  it.effect("runs an operator on the simulation, through a crash and a restart", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      let runs = 0
      const registry = Registry.make(
        Handler.onCreate("configmaps", { id: "seen" }, (ctx) =>
          Effect.sync(() => {
            runs++
            return { name: ctx.name }
          })
        )
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns], postEvents: "all" })
      yield* sim.admin.create(cms, cm("a"))
      const done = Effect.flatMap(sim.find(cms, "a", ns), (o) =>
        Option.isSome(o) && o.value.status !== undefined ? Effect.void : Effect.fail("not yet")
      )
      yield* Runner.eventually(done)
      yield* runner.restart({ crash: true })
      yield* sim.admin.create(cms, cm("b"))
      yield* Runner.eventually(
        Effect.flatMap(sim.find(cms, "b", ns), (o) =>
          Option.isSome(o) && o.value.status !== undefined ? Effect.void : Effect.fail("not yet")
        )
      )
      assert.strictEqual(runs, 2, "each object handled once, across the restart")
      assert.strictEqual(yield* runner.starts, 2)
      assert.isTrue((yield* sim.events({ name: "a" })).length > 0, "events were posted")
      yield* runner.stop
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect(
    "a CRD whose status schema prunes status.kubefx: like the real server, no re-runs",
    () =>
      Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        const pruning = widgetCrd(true, {
          type: "object",
          properties: { phase: { type: "string" } }
        })
        yield* sim.apply([pruning])
        let runs = 0
        const registry = Registry.make(
          Handler.onCreate("widgets.sim.kubefx.dev", { id: "create" }, () =>
            Effect.sync(() => void runs++)
          )
        )
        const runner = yield* Runner.make(registry, { namespaces: [ns] })
        yield* sim.admin.create(widgets, {
          apiVersion: "sim.kubefx.dev/v1",
          kind: "Widget",
          metadata: { name: "w", namespace: ns },
          spec: { size: 1 }
        })
        yield* Runner.eventually(
          Effect.flatMap(sim.find(widgets, "w", ns), (o) =>
            Option.isSome(o) && o.value.metadata?.annotations?.["kubefx.dev/last-handled"]
              ? Effect.void
              : Effect.fail("not yet")
          )
        )
        const w = Option.getOrThrow(yield* sim.find(widgets, "w", ns))
        assert.isUndefined(
          (w.status as Record<string, unknown> | undefined)?.kubefx,
          "pruned by the simulated server too"
        )
        yield* runner.restart({ crash: true })
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(runs, 1, "handled once, across a restart")
        yield* runner.stop
      }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("the Kube layer of the simulation serves the runtime directly", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* kube.create(cms, cm("a"))
      const list = yield* kube.list(cms, { namespace: ns })
      assert.deepStrictEqual(
        list.items.map((o) => o.metadata?.name),
        ["a"]
      )
    }).pipe(Effect.provide(SimCluster.layer()))
  )
})

describe("Arbitraries and Normalize", () => {
  it("specs from a structural schema are valid", () => {
    const arb = Arbitraries.fromJsonSchema({
      type: "object",
      required: ["size"],
      properties: {
        size: { type: "integer", minimum: 0, maximum: 5 },
        name: { type: "string", pattern: "^[a-z]+$" },
        mode: { type: "string", enum: ["a", "b"] }
      }
    })
    fc.assert(
      fc.property(arb, (v) => {
        const o = v as { size: number; name?: string; mode?: string }
        return (
          o.size >= 0 &&
          o.size <= 5 &&
          (o.name === undefined || /^[a-z]+$/.test(o.name)) &&
          (o.mode === undefined || ["a", "b"].includes(o.mode))
        )
      })
    )
  })

  it("normalises what differs between runs", () => {
    const n = Normalize.make("t-1")
    n.learn({ kind: "Widget", metadata: { name: "w", uid: "u-1" } })
    assert.deepStrictEqual(
      n.normalize({
        metadata: {
          name: "x",
          namespace: "t-1",
          uid: "u-2",
          resourceVersion: "9",
          creationTimestamp: "2024-01-01T00:00:00Z",
          ownerReferences: [{ kind: "Widget", name: "w", uid: "u-1" }]
        }
      }),
      {
        metadata: {
          name: "x",
          namespace: "<ns>",
          ownerReferences: [{ kind: "Widget", name: "w", uid: "uid:Widget/w" }]
        }
      }
    )
  })

  it("Property.check replays: a failing property reports its seed", async () => {
    const failure = await Property.check(fc.nat(), (n) =>
      n < 50 ? Effect.void : Effect.fail(`too big: ${n}`)
    ).then(
      () => undefined,
      (e: unknown) => String(e)
    )
    assert.match(failure ?? "", /seed: -?\d+, path: "[\d:]+"/)
    assert.match(failure ?? "", /Counterexample: \[50\]/)
  })

  it("actions can be performed", async () => {
    await Property.check(
      Arbitraries.actions({
        names: ["a", "b"],
        spec: fc.record({ x: fc.constantFrom("1", "2") }),
        restarts: false,
        maxLength: 6
      }),
      (actions) =>
        Effect.gen(function* () {
          const sim = yield* SimCluster.SimCluster
          for (const a of actions)
            yield* Arbitraries.perform(a, { resource: cms, namespace: ns, kube: sim.admin, sim })
          yield* sim.setFaults(Faults.none)
        }).pipe(Effect.provide(SimCluster.layer())),
      { numRuns: 30 }
    )
  })
})
