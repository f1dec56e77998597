/**
 * The operator against the real control plane: every "done when" item of issue 4, with
 * assertions on the cluster's state (status, Events, finalizers, existence) and on how often
 * each handler ran.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import {
  Builtins,
  Handler,
  Json,
  type KubeObject,
  Outcome,
  Registry,
  Resource,
  Storage
} from "@kubefx/core"
import { KubeConfig } from "@kubernetes/client-node"
import { Deferred, Duration, Effect, Option, Schedule, Stream } from "effect"
import { ApiPatch, Kube, type KubeService, Operator, type Settings } from "../src/index.ts"
import {
  awaitLine,
  ClusterLayer,
  captureLogs,
  clusterRoles,
  configMap,
  configMaps,
  crdManifest,
  crds,
  eventually,
  freshNamespace,
  roleBindings,
  tcpProxy
} from "./support.ts"

const group = "test.kubefx.dev"
const widgets = Resource.make({ group: group, version: "v1", plural: "widgets", kind: "Widget" })
const gadgets = Resource.make({ group: group, version: "v1", plural: "gadgets", kind: "Gadget" })
const events = Builtins.events
const FINALIZER = "kubefx.dev/finalizer"
const W = `widgets.${group}`
const G = `gadgets.${group}`

const crd = (plural: string, kind: string, status: boolean) =>
  crdManifest({ group, plural, kind, statusSubresource: status })

/** Widgets have a status subresource, gadgets do not. */
const ensureCrds = Effect.gen(function* () {
  const kube = yield* Kube
  for (const [r, status] of [
    [widgets, true],
    [gadgets, false]
  ] as const) {
    yield* kube
      .create(crds, crd(r.plural, r.kind, status))
      .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
    yield* eventually(kube.list(r, { namespace: "default", limit: 1 }))
  }
})

const object = (
  r: Resource.ApiResource,
  ns: string,
  name: string,
  spec: Json.JsonObject,
  labels: Record<string, string> = {}
): KubeObject.KubeObject => ({
  apiVersion: Resource.apiVersion(r),
  kind: r.kind,
  metadata: { name, namespace: ns, labels },
  spec
})

const at = (o: unknown, path: Json.PathInput): Json.Json | undefined =>
  Json.get(o as Json.Json | undefined, path)

/** The object, or `undefined` once it is gone. */
const read = (r: Resource.ApiResource, ns: string, name: string) =>
  Effect.gen(function* () {
    const kube = yield* Kube
    return yield* kube.get(r, name, { namespace: ns }).pipe(
      Effect.map((o): KubeObject.KubeObject | undefined => o),
      Effect.catchTag("NotFound", () => Effect.succeed(undefined))
    )
  })

/** Polls `get` until `ok` holds (30 s at most). */
const until = <A, E, R>(
  what: string,
  get: Effect.Effect<A, E, R>,
  ok: (a: A) => boolean,
  timeout: Duration.Input = "30 seconds"
): Effect.Effect<A, E, R> => {
  let last: A | undefined
  return get.pipe(
    Effect.flatMap((a) => {
      last = a
      return ok(a) ? Effect.succeed(Option.some(a)) : Effect.succeed(Option.none<A>())
    }),
    Effect.repeat({
      until: Option.isSome,
      schedule: Schedule.spaced("100 millis")
    }),
    Effect.map((o) => Option.getOrThrow(o)),
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.die(new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`))
    })
  )
}

const statusAt = (r: Resource.ApiResource, ns: string, name: string, path: string) =>
  until(`${name}: ${path}`, read(r, ns, name), (o) => at(o, path) !== undefined)

/** `type/reason` of the Events about an object. */
const eventsAbout = (ns: string, name: string) =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const list = yield* kube.list(events, {
      namespace: ns,
      fieldSelector: `involvedObject.name=${name}`
    })
    return list.items.map((e) => `${String(e.type)}/${String(e.reason)}`)
  })

/** Lets stale events arrive, so that a handler running twice would show. */
const settle = Effect.sleep("1500 millis")

interface Call {
  readonly id: string
  readonly name: string
  readonly old: Json.Json | undefined
  readonly new: Json.Json | undefined
  readonly diff: unknown
  readonly at: number
}

const recorder = () => {
  const calls: Array<Call> = []
  return {
    calls,
    record: (ctx: Handler.Context<unknown>) =>
      calls.push({
        id: ctx.id,
        name: ctx.name,
        old: ctx.old,
        new: ctx.new,
        diff: ctx.diff,
        at: Date.now()
      }),
    count: (id: string, name?: string) =>
      calls.filter((c) => c.id === id && (name === undefined || c.name === name)).length,
    of: (id: string, name?: string) =>
      calls.filter((c) => c.id === id && (name === undefined || c.name === name))
  }
}

const fast: Settings.Input = { batchWindow: "20 millis" }

/** A CRD whose status keeps only `phase`: the API server prunes `status.kubefx`. */
const sprockets = Resource.make({
  group: group,
  version: "v1",
  plural: "sprockets",
  kind: "Sprocket"
})
const ensureSprockets = Effect.gen(function* () {
  const kube = yield* Kube
  const strict = crdManifest({
    group,
    plural: "sprockets",
    kind: "Sprocket",
    statusSubresource: true,
    status: { type: "object", properties: { phase: { type: "string" } } }
  })
  yield* kube.create(crds, strict).pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
  yield* eventually(kube.list(sprockets, { namespace: "default", limit: 1 }))
})

layer(ClusterLayer, { excludeTestServices: true, timeout: "5 minutes" })("Operator", (it) => {
  it.effect("create, update, field and delete handlers fire once each, with old/new/diff", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const r = recorder()
      const registry = Registry.make(
        Handler.onCreate(W, { id: "create" }, (ctx) =>
          Effect.sync(() => {
            r.record(ctx)
            return { size: ctx.spec.size ?? null }
          })
        ),
        Handler.onUpdate(W, { id: "update" }, (ctx) =>
          Effect.sync(() => {
            r.record(ctx)
            return { size: ctx.spec.size ?? null }
          })
        ),
        Handler.onField(W, "spec.size", { id: "size" }, (ctx) =>
          Effect.sync(() => void r.record(ctx))
        ),
        Handler.onDelete(W, { id: "delete" }, (ctx) => Effect.sync(() => void r.record(ctx)))
      )
      // A lagging watch: every event comes 300 ms late, so the copies from between the
      // operator's own writes (status written, annotation not yet) arrive after it is done
      // with the object, and would run the create handler again if they were processed.
      // The last-handled record is in an annotation (two writes a step) to make such copies,
      // and every Event is posted.
      const lagging: KubeService = {
        ...kube,
        watch: (resource, options) =>
          kube.watch(resource, options).pipe(Stream.tap(() => Effect.sleep("300 millis")))
      }
      const op = yield* Operator.start(registry, {
        ...fast,
        namespaces: [ns],
        batchWindow: 0,
        storage: Storage.make({ lastHandled: Storage.annotations({ prefix: "kubefx.dev" }) }),
        postEvents: "all"
      }).pipe(Effect.provideService(Kube, lagging))
      assert.deepStrictEqual(
        op.targets.map((t) => [t.api.plural, t.statusSubresource]),
        [["widgets", true]]
      )
      yield* op.ready

      yield* kube.create(widgets, object(widgets, ns, "w", { size: 1 }))
      const created = yield* until(
        "created",
        read(widgets, ns, "w"),
        (o) =>
          at(o, "status.create.size") === 1 &&
          at(o, ["metadata", "annotations", "kubefx.dev/last-handled"]) !== undefined
      )
      assert.deepStrictEqual(created?.metadata?.finalizers, [FINALIZER])
      assert.isUndefined(at(created, "status.kubefx.progress"), "progress purged when done")

      yield* kube.patch(widgets, "w", ApiPatch.merge({ spec: { size: 2 } }), { namespace: ns })
      yield* until("updated", read(widgets, ns, "w"), (o) => at(o, "status.update.size") === 2)
      yield* settle
      const evs = yield* eventsAbout(ns, "w")
      assert.include(evs, "Normal/Succeeded")
      assert.include(evs, "Normal/Processed")

      yield* kube.delete(widgets, "w", { namespace: ns })
      yield* until("gone", read(widgets, ns, "w"), (o) => o === undefined)
      yield* settle

      assert.strictEqual(r.count("create"), 1)
      assert.strictEqual(r.count("update"), 1)
      assert.strictEqual(r.count("size"), 2, "on create and on the update")
      assert.strictEqual(r.count("delete"), 1)
      const [create] = r.of("create")
      assert.isUndefined(create?.old)
      assert.strictEqual(at(create?.new, "spec.size"), 1)
      const [update] = r.of("update")
      assert.strictEqual(at(update?.old, "spec.size"), 1)
      assert.strictEqual(at(update?.new, "spec.size"), 2)
      assert.deepStrictEqual(update?.diff, [
        { op: "change", path: ["spec", "size"], old: 1, new: 2 }
      ])
      const sizes = r.of("size").map((c) => [c.old ?? null, c.new ?? null])
      assert.deepStrictEqual(sizes, [
        [null, 1],
        [1, 2]
      ])
    })
  )

  it.effect("without a status subresource, status is written in the same patch", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const r = recorder()
      const registry = Registry.make(
        Handler.onCreate(G, { id: "create" }, (ctx) =>
          Effect.sync(() => {
            r.record(ctx)
            return { ok: true }
          })
        )
      )
      const op = yield* Operator.start(registry, { ...fast, namespaces: [ns], batchWindow: 0 })
      assert.deepStrictEqual(
        op.targets.map((t) => [t.api.plural, t.statusSubresource]),
        [["gadgets", false]]
      )
      yield* op.ready
      yield* kube.create(gadgets, object(gadgets, ns, "g", { size: 1 }))
      const done = yield* statusAt(gadgets, ns, "g", "status.create.ok")
      assert.isString(at(done, "status.kubefx.lastHandled"))
      yield* settle
      assert.strictEqual(r.count("create"), 1)
    })
  )

  it.effect(
    "a status schema that prunes status.kubefx: state moves to annotations, no re-runs",
    () =>
      Effect.gen(function* () {
        const kube = yield* Kube
        yield* ensureSprockets
        const ns = yield* freshNamespace
        const r = recorder()
        const S = `sprockets.${group}`
        const registry = Registry.make(
          Handler.onCreate(S, { id: "create" }, (ctx) => Effect.sync(() => void r.record(ctx))),
          Handler.onUpdate(S, { id: "update" }, (ctx) => Effect.sync(() => void r.record(ctx)))
        )
        const op = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
        yield* op.ready
        yield* kube.create(sprockets, object(sprockets, ns, "s", { size: 1 }))
        const handled = yield* until(
          "the record in an annotation",
          read(sprockets, ns, "s"),
          (o) => typeof at(o, ["metadata", "annotations", "kubefx.dev/last-handled"]) === "string"
        )
        assert.isUndefined(at(handled, "status.kubefx"), "the server pruned it")
        yield* settle
        assert.strictEqual(r.count("create"), 1, "not run again for the change it finished")
        yield* kube.patch(sprockets, "s", ApiPatch.merge({ spec: { size: 2 } }), { namespace: ns })
        yield* until(
          "updated",
          Effect.sync(() => r.count("update")),
          (n) => n === 1
        )
        yield* settle
        assert.strictEqual(r.count("create"), 1)
        assert.strictEqual(r.count("update"), 1)
        // A new process starts with status storage: the annotation tells it where the state is.
        yield* op.stop
        const again = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
        yield* again.ready
        yield* settle
        assert.strictEqual(r.count("create"), 1, "not run again after a restart")
        assert.strictEqual(r.count("update"), 1)
      })
  )

  it.effect("a temporary error retries after its delay, then succeeds", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const r = recorder()
      const registry = Registry.make(
        Handler.onCreate(W, { id: "flaky" }, (ctx) =>
          Effect.gen(function* () {
            r.record(ctx)
            if (ctx.retry === 0)
              return yield* new Outcome.TemporaryError({ message: "not yet", delay: "2 seconds" })
            return { ok: true }
          })
        )
      )
      const op = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
      yield* op.ready
      yield* kube.create(widgets, object(widgets, ns, "w", {}))
      const pending = yield* statusAt(widgets, ns, "w", "status.kubefx.progress.flaky")
      assert.strictEqual(at(pending, "status.kubefx.progress.flaky.retries"), 1)
      assert.strictEqual(at(pending, "status.kubefx.progress.flaky.message"), "not yet")
      const done = yield* statusAt(widgets, ns, "w", "status.flaky.ok")
      assert.isUndefined(at(done, "status.kubefx.progress"))
      yield* settle
      const [first, second] = r.of("flaky")
      assert.strictEqual(r.count("flaky"), 2)
      assert.isAtLeast((second?.at ?? 0) - (first?.at ?? 0), 1900, "after its delay")
      assert.include(yield* eventsAbout(ns, "w"), "Warning/Retrying")
    })
  )

  it.effect("on a built-in resource, progress lives in annotations and retries are counted", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      const r = recorder()
      const registry = Registry.make(
        Handler.onCreate("configmaps", { id: "never", retries: 2 }, (ctx) =>
          Effect.gen(function* () {
            r.record(ctx)
            return yield* new Outcome.TemporaryError({ message: "no", delay: "300 millis" })
          })
        )
      )
      const op = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
      yield* op.ready
      yield* kube.create(configMaps, configMap(ns, "cm"))
      // A ConfigMap keeps no unknown status fields: were progress kept in status, the retry
      // count would be lost and the handler would run forever.
      const pending = yield* eventually(
        kube
          .get(configMaps, "cm", { namespace: ns })
          .pipe(
            Effect.filterOrFail((o) =>
              Object.keys(o.metadata?.annotations ?? {}).some((k) => k === "kubefx.dev/never")
            )
          )
      )
      assert.isDefined(pending.metadata?.annotations?.["kubefx.dev/never"])
      yield* eventually(
        eventsAbout(ns, "cm").pipe(Effect.filterOrFail((evs) => evs.includes("Warning/Failed")))
      )
      yield* settle
      assert.strictEqual(r.count("never"), 3, "the first attempt and two retries, then no more")
      const done = yield* kube.get(configMaps, "cm", { namespace: ns })
      assert.isUndefined(done.metadata?.annotations?.["kubefx.dev/never"], "progress purged")
      assert.isDefined(done.metadata?.annotations?.["kubefx.dev/last-handled"])
    })
  )

  it.effect("a permanent error is recorded in status and as an Event; others are served", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const r = recorder()
      const registry = Registry.make(
        Handler.onCreate(W, { id: "strict" }, (ctx) =>
          Effect.gen(function* () {
            r.record(ctx)
            if (ctx.labels.bad === "yes")
              return yield* new Outcome.PermanentError({ message: "bad widget" })
            return { ok: true }
          })
        )
      )
      const op = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
      yield* op.ready
      yield* kube.create(widgets, object(widgets, ns, "bad", {}, { bad: "yes" }))
      yield* kube.create(widgets, object(widgets, ns, "good", {}))
      const bad = yield* statusAt(widgets, ns, "bad", "status.kubefx.errors.strict")
      assert.strictEqual(at(bad, "status.kubefx.errors.strict"), "bad widget")
      yield* statusAt(widgets, ns, "good", "status.strict.ok")
      yield* kube.create(widgets, object(widgets, ns, "later", {}))
      yield* statusAt(widgets, ns, "later", "status.strict.ok")
      yield* settle
      assert.strictEqual(r.count("strict", "bad"), 1, "never retried")
      const evs = yield* eventsAbout(ns, "bad")
      assert.include(evs, "Warning/Failed")
      assert.include(evs, "Warning/Processed")
    })
  )

  it.effect("a request the API server refuses (422) fails the handler for good, not retried", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const r = recorder()
      const registry = Registry.make(
        Handler.onCreate(W, { id: "make_cm" }, (ctx) =>
          Effect.gen(function* () {
            r.record(ctx)
            const api = yield* Kube
            yield* api.create(configMaps, configMap(ns, "Not_A_Valid_Name"))
          })
        )
      )
      const op = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
      yield* op.ready
      yield* kube.create(widgets, object(widgets, ns, "w", {}))
      const failed = yield* statusAt(widgets, ns, "w", "status.kubefx.errors.make_cm")
      const message = String(at(failed, "status.kubefx.errors.make_cm"))
      assert.include(message, 'ConfigMap "Not_A_Valid_Name" is invalid: metadata.name')
      assert.include(message, `(422 Invalid, POST /api/v1/namespaces/${ns}/configmaps)`)
      // The default backoff would retry after about a second: wait a few.
      yield* Effect.sleep("4 seconds")
      assert.strictEqual(r.count("make_cm", "w"), 1, "never retried")
      const after = yield* read(widgets, ns, "w")
      assert.isUndefined(at(after, "status.kubefx.progress"), "nothing pending")
      const evs = yield* eventsAbout(ns, "w")
      assert.include(evs, "Warning/Failed")
    })
  )

  it.effect("a finalizer blocks the deletion until the delete handler succeeded", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const r = recorder()
      const registry = Registry.make(
        Handler.onDelete(W, { id: "cleanup" }, (ctx) =>
          Effect.gen(function* () {
            r.record(ctx)
            if (ctx.retry < 2)
              return yield* new Outcome.TemporaryError({ message: "busy", delay: "1 second" })
          })
        )
      )
      const op = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
      yield* op.ready
      yield* kube.create(widgets, object(widgets, ns, "w", {}))
      yield* until("finalizer", read(widgets, ns, "w"), (o) =>
        (o?.metadata?.finalizers ?? []).includes(FINALIZER)
      )
      yield* kube.delete(widgets, "w", { namespace: ns })
      yield* until(
        "two attempts",
        Effect.sync(() => r.count("cleanup")),
        (n) => n >= 2
      )
      const held = yield* read(widgets, ns, "w")
      assert.isDefined(held, "still there while the handler fails")
      assert.isString(held?.metadata?.deletionTimestamp)
      assert.include(held?.metadata?.finalizers ?? [], FINALIZER)
      yield* until("gone", read(widgets, ns, "w"), (o) => o === undefined)
      yield* settle
      assert.strictEqual(r.count("cleanup"), 3)
    })
  )

  it.effect("an operator stopped mid-way resumes without re-running what succeeded", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const r = recorder()
      const registry = Registry.make(
        Handler.onCreate(W, { id: "first" }, (ctx) =>
          Effect.sync(() => {
            r.record(ctx)
            return { ok: true }
          })
        ),
        Handler.onCreate(W, { id: "second" }, (ctx) =>
          Effect.gen(function* () {
            r.record(ctx)
            if (ctx.retry === 0)
              return yield* new Outcome.TemporaryError({ message: "later", delay: "3 seconds" })
            return { ok: true }
          })
        )
      )
      const one = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
      yield* one.ready
      yield* kube.create(widgets, object(widgets, ns, "w", {}))
      const midway = yield* statusAt(widgets, ns, "w", "status.kubefx.progress.second")
      assert.strictEqual(at(midway, "status.first.ok"), true)
      assert.strictEqual(at(midway, "status.kubefx.progress.first.success"), true)
      yield* one.stop
      assert.strictEqual(r.count("second"), 1)

      const two = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
      yield* two.ready
      const done = yield* statusAt(widgets, ns, "w", "status.second.ok")
      assert.isUndefined(at(done, "status.kubefx.progress"))
      yield* settle
      assert.strictEqual(r.count("first"), 1, "not re-run after the restart")
      assert.strictEqual(r.count("second"), 2)
    })
  )

  it.effect("a graceful stop lets a running handler finish and write its result", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const started = yield* Deferred.make<void>()
      let finished = 0
      const registry = Registry.make(
        Handler.onCreate(W, { id: "slow" }, () =>
          Effect.gen(function* () {
            yield* Deferred.succeed(started, undefined)
            yield* Effect.sleep("2 seconds")
            finished++
            return { done: true }
          })
        )
      )
      const op = yield* Operator.start(registry, { ...fast, namespaces: [ns] })
      yield* op.ready
      yield* kube.create(widgets, object(widgets, ns, "w", {}))
      yield* Deferred.await(started)
      yield* op.stop
      assert.strictEqual(finished, 1)
      const after = yield* read(widgets, ns, "w")
      assert.strictEqual(at(after, "status.slow.done"), true, "the result landed in status")
      assert.isString(at(after, "status.kubefx.lastHandled"))
      yield* settle
      const still = yield* read(widgets, ns, "w")
      assert.strictEqual(
        still?.metadata?.resourceVersion,
        after?.metadata?.resourceVersion,
        "nothing written after the stop"
      )
    })
  )

  it.effect("a handler still running after the shutdown timeout is interrupted", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const started = yield* Deferred.make<void>()
      let finished = 0
      const registry = Registry.make(
        Handler.onCreate(W, { id: "endless" }, () =>
          Effect.gen(function* () {
            yield* Deferred.succeed(started, undefined)
            yield* Effect.sleep("1 minute")
            finished++
          })
        )
      )
      const op = yield* Operator.start(registry, {
        ...fast,
        namespaces: [ns],
        shutdownTimeout: "500 millis"
      })
      yield* op.ready
      yield* kube.create(widgets, object(widgets, ns, "w", {}))
      yield* Deferred.await(started)
      const t0 = Date.now()
      yield* op.stop
      assert.isBelow(Date.now() - t0, 10_000, "stopped soon after the timeout")
      assert.strictEqual(finished, 0)
      const after = yield* read(widgets, ns, "w")
      assert.isUndefined(at(after, "status.endless"))
    })
  )

  it.effect("a 410 Gone mid-run loses no change", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      const r = recorder()
      const registry = Registry.make(
        Handler.onCreate(W, { id: "create" }, (ctx) => Effect.sync(() => void r.record(ctx))),
        Handler.onUpdate(W, { id: "update" }, (ctx) =>
          Effect.sync(() => {
            r.record(ctx)
            return { size: ctx.spec.size ?? null }
          })
        ),
        Handler.onDelete(W, { id: "delete" }, (ctx) => Effect.sync(() => void r.record(ctx)))
      )
      // A client whose watches can be cut, held, then restarted from a compacted version.
      let phase: "normal" | "cut" = "normal"
      const release = yield* Deferred.make<void>()
      const cut = yield* Deferred.make<void>()
      let expired = 0
      const wrapped: KubeService = {
        ...kube,
        watch: (resource, options) =>
          Stream.unwrap(
            Effect.gen(function* () {
              if (phase === "normal")
                return kube.watch(resource, options).pipe(Stream.interruptWhen(Deferred.await(cut)))
              yield* Deferred.await(release)
              if (expired > 0) return kube.watch(resource, options)
              return kube.watch(resource, { ...options, resourceVersion: "1" }).pipe(
                Stream.tap((e) =>
                  Effect.sync(() => {
                    if (e.type === "ERROR" && e.object.code === 410) expired++
                  })
                ),
                Stream.tapError((e) =>
                  Effect.sync(() => {
                    if (e._tag === "Expired") expired++
                  })
                )
              )
            })
          )
      }
      const op = yield* Operator.start(registry, { ...fast, namespaces: [ns] }).pipe(
        Effect.provideService(Kube, wrapped)
      )
      yield* op.ready
      for (const n of ["kept", "changed", "removed"])
        yield* kube.create(widgets, object(widgets, ns, n, { size: 1 }))
      for (const n of ["kept", "changed", "removed"])
        yield* until(
          `${n} handled`,
          read(widgets, ns, n),
          (o) => Json.get(o as Json.Json, "status.kubefx.lastHandled") !== undefined
        )

      phase = "cut"
      yield* Deferred.succeed(cut, undefined)
      yield* Effect.sleep("300 millis")
      yield* kube.patch(widgets, "changed", ApiPatch.merge({ spec: { size: 2 } }), {
        namespace: ns
      })
      yield* kube.delete(widgets, "removed", { namespace: ns })
      yield* kube.create(widgets, object(widgets, ns, "added", { size: 1 }))
      yield* Deferred.succeed(release, undefined)

      yield* until(
        "changed updated",
        read(widgets, ns, "changed"),
        (o) => at(o, "status.update.size") === 2
      )
      yield* until("removed gone", read(widgets, ns, "removed"), (o) => o === undefined)
      yield* until(
        "added created",
        read(widgets, ns, "added"),
        (o) =>
          (o?.metadata?.finalizers ?? []).includes(FINALIZER) &&
          at(o, "status.kubefx.lastHandled") !== undefined
      )
      yield* settle
      assert.isAtLeast(expired, 1, "the watch was answered 410")
      assert.strictEqual(r.count("create"), 4)
      assert.strictEqual(r.count("create", "added"), 1)
      assert.strictEqual(r.count("update"), 1)
      assert.strictEqual(r.count("update", "changed"), 1)
      assert.strictEqual(r.count("delete"), 1)
      assert.strictEqual(r.count("delete", "removed"), 1)
    })
  )

  it.effect("a dropped connection loses no change", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const cp = yield* ControlPlane.ControlPlane
      yield* ensureCrds
      const ns = yield* freshNamespace
      const proxy = yield* tcpProxy(new URL(cp.server))
      const kc = yield* Kube.loadFile(cp.kubeconfig)
      const proxied = new KubeConfig()
      proxied.loadFromClusterAndUser(
        { ...kc.getCurrentCluster()!, server: proxy.url },
        kc.getCurrentUser()!
      )
      const viaProxy = yield* Kube.make(proxied)
      const r = recorder()
      const registry = Registry.make(
        Handler.onCreate(W, { id: "create" }, (ctx) => Effect.sync(() => void r.record(ctx))),
        Handler.onUpdate(W, { id: "update" }, (ctx) =>
          Effect.sync(() => {
            r.record(ctx)
            return { size: ctx.spec.size ?? null }
          })
        )
      )
      const op = yield* Operator.start(registry, {
        ...fast,
        namespaces: [ns],
        watcher: { backoff: Schedule.spaced("100 millis") }
      }).pipe(Effect.provideService(Kube, viaProxy))
      yield* op.ready
      yield* kube.create(widgets, object(widgets, ns, "one", { size: 1 }))
      yield* until(
        "one handled",
        read(widgets, ns, "one"),
        (o) => at(o, "status.kubefx.lastHandled") !== undefined
      )
      const before = proxy.connections()
      proxy.dropAll()
      yield* kube.patch(widgets, "one", ApiPatch.merge({ spec: { size: 2 } }), { namespace: ns })
      yield* kube.create(widgets, object(widgets, ns, "two", { size: 1 }))
      proxy.dropAll()
      yield* until(
        "one updated",
        read(widgets, ns, "one"),
        (o) => at(o, "status.update.size") === 2
      )
      yield* until(
        "two created",
        read(widgets, ns, "two"),
        (o) => at(o, "status.kubefx.lastHandled") !== undefined
      )
      yield* settle
      assert.isAbove(proxy.connections(), before, "it reconnected")
      assert.strictEqual(r.count("create", "one"), 1)
      assert.strictEqual(r.count("create", "two"), 1)
      assert.strictEqual(r.count("update", "one"), 1)
    })
  )

  it.effect("concurrent edits that cause 409s end in the right state", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureCrds
      const ns = yield* freshNamespace
      let conflicts = 0
      const counting: KubeService = {
        ...kube,
        patch: (resource, name, patch, options) =>
          kube.patch(resource, name, patch, options).pipe(
            Effect.tapError((e) =>
              Effect.sync(() => {
                if (e._tag === "Conflict") conflicts++
              })
            )
          )
      }
      const meddled = new Set<string>()
      const observe = (ctx: Handler.Context<Json.JsonObject>) =>
        ctx.patch.status({ observed: ctx.spec.size ?? null })
      const registry = Registry.make(
        // The first event of each object: somebody writes between the operator's read and
        // its (guarded) finalizer patch, which must then fail with 409.
        Handler.onEvent(W, { id: "meddler" }, (ctx) =>
          meddled.has(ctx.name)
            ? Effect.void
            : Effect.andThen(
                Effect.sync(() => meddled.add(ctx.name)),
                kube
                  .patch(widgets, ctx.name, ApiPatch.merge({ spec: { meddled: true } }), {
                    namespace: ns
                  })
                  .pipe(Effect.orDie)
              )
        ),
        Handler.onCreate(W, { id: "observe-create" }, observe),
        Handler.onUpdate(W, { id: "observe-update" }, observe),
        Handler.onDelete(W, { id: "cleanup" }, () => Effect.void)
      )
      const op = yield* Operator.start(registry, { namespaces: [ns], batchWindow: 0 }).pipe(
        Effect.provideService(Kube, counting)
      )
      yield* op.ready
      yield* kube.create(widgets, object(widgets, ns, "w", { size: 0 }))
      let writerConflicts = 0
      const writer = (id: number) =>
        Effect.forEach(
          Array.from({ length: 8 }, (_, i) => i),
          (i) =>
            Effect.gen(function* () {
              const current = yield* kube.get(widgets, "w", { namespace: ns })
              yield* kube.replace(widgets, "w", {
                ...current,
                spec: { ...(current.spec as object), size: id * 100 + i }
              })
            }).pipe(
              Effect.tapError((e) =>
                Effect.sync(() => {
                  if (e._tag === "Conflict") writerConflicts++
                })
              ),
              Effect.retry({ while: (e) => e._tag === "Conflict" }),
              Effect.andThen(Effect.sleep(Duration.millis(10 + Math.floor(Math.random() * 40))))
            ),
          { discard: true }
        )
      yield* Effect.all([writer(1), writer(2), writer(3)], { concurrency: "unbounded" })
      const final = yield* kube.get(widgets, "w", { namespace: ns })
      const size = at(final, "spec.size")
      const done = yield* until(
        "status follows the final spec",
        read(widgets, ns, "w"),
        (o) =>
          at(o, "status.observed") === size &&
          at(o, "status.kubefx.progress") === undefined &&
          at(o, "spec.size") === size
      )
      assert.deepStrictEqual(done?.metadata?.finalizers, [FINALIZER])
      assert.strictEqual(at(done, "spec.meddled"), true)
      assert.isAtLeast(conflicts, 1, "the operator met a 409")
      assert.isAtLeast(conflicts + writerConflicts, 2)
    })
  )

  it.effect("the namespaced mode works for a user whose RBAC allows only its namespaces", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const cp = yield* ControlPlane.ControlPlane
      yield* ensureCrds
      const ns1 = yield* freshNamespace
      const ns2 = yield* freshNamespace
      const ns3 = yield* freshNamespace
      const user = `operator-${Date.now().toString(36)}`
      yield* kube.create(clusterRoles, {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: `${user}-widgets` },
        rules: [
          {
            apiGroups: [group],
            resources: ["widgets"],
            verbs: ["get", "list", "watch", "patch", "update"]
          },
          { apiGroups: [group], resources: ["widgets/status"], verbs: ["get", "patch", "update"] },
          { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] }
        ]
      })
      for (const ns of [ns1, ns2])
        yield* kube.create(roleBindings, {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name: "operator", namespace: ns },
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: `${user}-widgets`
          },
          subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: user }]
        })
      const limited = yield* Kube.make(yield* Kube.loadFile(yield* cp.userKubeconfig(user)))
      const registry = Registry.make(
        Handler.onCreate(W, { id: "create" }, (ctx) => Effect.succeed({ in: ctx.namespace ?? "" })),
        Handler.onDelete(W, { id: "cleanup" }, () => Effect.void)
      )

      const logs = captureLogs()
      const clusterWide = yield* Operator.start(registry, fast).pipe(
        Effect.provideService(Kube, limited),
        Effect.provide(logs.layer)
      )
      yield* awaitLine(logs.lines, /^ERROR watch widgets refused \(403/)
      const notReady = yield* Effect.timeoutOption(clusterWide.ready, "1 second")
      assert.isTrue(Option.isNone(notReady), "no cluster-wide rights: not ready, still trying")
      yield* clusterWide.stop

      const op = yield* Operator.start(registry, { ...fast, namespaces: [ns1, ns2] }).pipe(
        Effect.provideService(Kube, limited)
      )
      yield* op.ready
      for (const ns of [ns1, ns2, ns3]) yield* kube.create(widgets, object(widgets, ns, "w", {}))
      for (const ns of [ns1, ns2]) {
        const done = yield* statusAt(widgets, ns, "w", "status.create.in")
        assert.strictEqual(at(done, "status.create.in"), ns)
        assert.deepStrictEqual(done?.metadata?.finalizers, [FINALIZER])
      }
      yield* settle
      const outside = yield* read(widgets, ns3, "w")
      assert.isUndefined(outside?.status, "not served outside its namespaces")
      assert.isUndefined(outside?.metadata?.finalizers)
      assert.notInclude(
        yield* eventsAbout(ns1, "w"),
        "Normal/Succeeded",
        "by default only Warning Events are posted"
      )
      yield* kube.delete(widgets, "w", { namespace: ns2 })
      yield* until("deleted in ns2", read(widgets, ns2, "w"), (o) => o === undefined)
    })
  )

  it.effect(
    "globs and exclusions: namespaces as they appear, least RBAC (list/watch namespaces)",
    () =>
      Effect.gen(function* () {
        const kube = yield* Kube
        const cp = yield* ControlPlane.ControlPlane
        yield* ensureCrds
        const run = `g${Date.now().toString(36)}`
        const user = `operator-${run}`
        const [teamA, teamB, secret, other] = ["team-a", "team-b", "team-secret", "other"].map(
          (n) => `${run}-${n}`
        ) as [string, string, string, string]
        const rbac = (plural: string, kind: string, namespaced = false) =>
          Resource.make({
            group: "rbac.authorization.k8s.io",
            version: "v1",
            plural: plural,
            kind: kind,
            namespaced: namespaced
          })
        const namespacesApi = Builtins.namespaces
        const createNamespace = (name: string) =>
          Effect.acquireRelease(
            kube.create(namespacesApi, { apiVersion: "v1", kind: "Namespace", metadata: { name } }),
            () => kube.delete(namespacesApi, name).pipe(Effect.ignore)
          )
        const bind = (ns: string) =>
          kube.create(rbac("rolebindings", "RoleBinding", true), {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: { name: "operator", namespace: ns },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: user },
            subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: user }]
          })
        // the CRD's rights only through RoleBindings; cluster-wide, only list/watch namespaces
        yield* kube.create(rbac("clusterroles", "ClusterRole"), {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: user },
          rules: [
            {
              apiGroups: [group],
              resources: ["widgets"],
              verbs: ["get", "list", "watch", "patch"]
            },
            { apiGroups: [group], resources: ["widgets/status"], verbs: ["get", "patch"] },
            { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] }
          ]
        })
        yield* kube.create(rbac("clusterroles", "ClusterRole"), {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: `${user}-namespaces` },
          rules: [{ apiGroups: [""], resources: ["namespaces"], verbs: ["list", "watch"] }]
        })
        yield* kube.create(rbac("clusterrolebindings", "ClusterRoleBinding"), {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name: `${user}-namespaces` },
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: `${user}-namespaces`
          },
          subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: user }]
        })
        // rights in the excluded and the non-matching namespace too: the selection keeps them out
        for (const ns of [teamA, secret, other]) {
          yield* createNamespace(ns)
          yield* bind(ns)
        }
        const limited = yield* Kube.make(yield* Kube.loadFile(yield* cp.userKubeconfig(user)))
        const denied = yield* Effect.flip(limited.list(widgets, { limit: 1 }))
        assert.strictEqual(denied._tag, "Forbidden", "no cluster-wide rights on widgets")

        const r = recorder()
        const registry = Registry.make(
          Handler.onCreate(W, { id: "create" }, (ctx) =>
            Effect.sync(() => {
              r.record(ctx)
              return { in: ctx.namespace ?? "" }
            })
          ),
          Handler.onDelete(W, { id: "cleanup" }, (ctx) => Effect.sync(() => void r.record(ctx)))
        )
        const op = yield* Operator.start(registry, {
          ...fast,
          namespaces: [`${run}-team-*`, `!${secret}`]
        }).pipe(Effect.provideService(Kube, limited))
        yield* op.ready

        for (const ns of [teamA, secret, other])
          yield* kube.create(widgets, object(widgets, ns, "w", {}))
        // a namespace created after the start; its RoleBinding lands a moment later (403 meanwhile)
        yield* createNamespace(teamB)
        yield* kube.create(widgets, object(widgets, teamB, "w", {}))
        yield* Effect.sleep("300 millis")
        yield* bind(teamB)
        for (const ns of [teamA, teamB]) {
          const done = yield* statusAt(widgets, ns, "w", "status.create.in")
          assert.strictEqual(at(done, "status.create.in"), ns)
          assert.deepStrictEqual(done?.metadata?.finalizers, [FINALIZER])
        }
        yield* settle
        for (const ns of [secret, other]) {
          const outside = yield* read(widgets, ns, "w")
          assert.isUndefined(outside?.status, `not served in ${ns}`)
          assert.isUndefined(outside?.metadata?.finalizers)
        }
        assert.deepStrictEqual(
          r.of("create").map((c) => c.name),
          ["w", "w"]
        )

        // deletions in a dynamically watched namespace go through the finalizer
        yield* kube.delete(widgets, "w", { namespace: teamB })
        yield* until("deleted in team-b", read(widgets, teamB, "w"), (o) => o === undefined)
        assert.strictEqual(r.count("cleanup"), 1)
        // team-b deleted: its watcher stops (its RoleBinding goes with it), the operator goes on
        yield* kube.delete(namespacesApi, teamB)
        yield* until(
          "team-b gone",
          kube.get(namespacesApi, teamB).pipe(
            Effect.as(false),
            Effect.catchTag("NotFound", () => Effect.succeed(true))
          ),
          (gone) => gone,
          "60 seconds"
        )
        yield* kube.create(widgets, object(widgets, teamA, "w2", {}))
        yield* statusAt(widgets, teamA, "w2", "status.create.in")
        for (const name of ["w", "w2"]) {
          yield* kube.delete(widgets, name, { namespace: teamA })
          yield* until(
            `${name} deleted in team-a`,
            read(widgets, teamA, name),
            (o) => o === undefined
          )
        }
        assert.strictEqual(r.count("cleanup"), 3)
        assert.isUndefined(op.fiber.pollUnsafe(), "the operator is still running")
      })
  )
})
