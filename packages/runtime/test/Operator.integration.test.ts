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
import { Deferred, Duration, Effect, Option, Schedule, Stream } from "effect"
import { Kube, type KubeService, Operator, type Settings } from "../src/index.ts"
import {
  awaitLine,
  ClusterLayer,
  captureLogs,
  configMap,
  configMaps,
  crdManifest,
  crds,
  eventually,
  freshClient,
  type InNamespace,
  inNamespace,
  proxiedClient,
  scopedNamespace,
  withOperator
} from "./support.ts"

const group = "test.kubefx.dev"
const widgets = Resource.make({ group: group, version: "v1", plural: "widgets", kind: "Widget" })
const gadgets = Resource.make({ group: group, version: "v1", plural: "gadgets", kind: "Gadget" })
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

/** An object of `r` (its namespace is the client's that creates it). */
const object = (
  r: Resource.ApiResource,
  name: string,
  spec: Json.JsonObject,
  labels: Record<string, string> = {}
): KubeObject.KubeObject => ({
  apiVersion: Resource.apiVersion(r),
  kind: r.kind,
  metadata: { name, labels },
  spec
})

const at = (o: unknown, path: Json.PathInput): Json.Json | undefined =>
  Json.get(o as Json.Json | undefined, path)

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

/** Waits until the object has a value at `path`. */
const statusAt = (ns: InNamespace, r: Resource.ApiResource, name: string, path: string) =>
  until(`${name}: ${path}`, ns.read(r, name), (o) => at(o, path) !== undefined)

/** Waits until the object is gone. */
const gone = (what: string, ns: InNamespace, r: Resource.ApiResource, name: string) =>
  until(what, ns.read(r, name), (o) => o === undefined)

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

type Ctx = Handler.Context<Json.JsonObject>

const recorder = () => {
  const calls: Array<Call> = []
  const record = (ctx: Handler.Context<unknown>) =>
    calls.push({
      id: ctx.id,
      name: ctx.name,
      old: ctx.old,
      new: ctx.new,
      diff: ctx.diff,
      at: Date.now()
    })
  const of = (id: string, name?: string) =>
    calls.filter((c) => c.id === id && (name === undefined || c.name === name))
  return {
    calls,
    record,
    count: (id: string, name?: string) => of(id, name).length,
    of,
    /** A handler that records its call and answers nothing. */
    records: (ctx: Ctx) => Effect.sync(() => void record(ctx)),
    /** A handler that records its call and answers what `answer` makes of it. */
    answers: (answer: (ctx: Ctx) => Json.Json) => (ctx: Ctx) =>
      Effect.sync(() => {
        record(ctx)
        return answer(ctx)
      })
  }
}

/** The set-up of most tests: the CRDs, a fresh namespace with a client bound to it, a recorder. */
const scene = (prepare: Effect.Effect<void, unknown, Kube> = ensureCrds) =>
  Effect.gen(function* () {
    yield* Effect.orDie(prepare)
    return { ns: yield* freshClient, r: recorder() }
  })

const fast: Settings.Input = { batchWindow: "20 millis" }

/** Operator settings of the tests: fast batches, only the test's namespace. */
const only = (ns: InNamespace, settings: Settings.Input = {}): Settings.Input => ({
  ...fast,
  namespaces: [ns.name],
  ...settings
})

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

/** A ClusterRole of `rules`, bound to `user` in each of `namespaces`. */
const grant = (
  user: string,
  role: string,
  rules: ReadonlyArray<Json.JsonObject>,
  namespaces: ReadonlyArray<string>
) =>
  Effect.gen(function* () {
    const kube = yield* Kube
    yield* kube.create(Builtins.clusterRoles, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: role },
      rules: [...rules]
    })
    for (const ns of namespaces) yield* bindRole(user, role, ns)
  })

/** Binds the ClusterRole `role` to `user` in `ns`. */
const bindRole = (user: string, role: string, ns: string) =>
  Effect.flatMap(Kube, (kube) =>
    kube.create(Builtins.roleBindings, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "operator", namespace: ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
      subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: user }]
    })
  )

/** A client of the control plane as `user`. */
const clientOf = (user: string) =>
  Effect.gen(function* () {
    const cp = yield* ControlPlane.ControlPlane
    return yield* Kube.make(yield* Kube.loadFile(yield* cp.userKubeconfig(user)))
  })

layer(ClusterLayer, { excludeTestServices: true, timeout: "5 minutes" })("Operator", (it) => {
  it.effect("create, update, field and delete handlers fire once each, with old/new/diff", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const { ns, r } = yield* scene()
      const size = (ctx: Ctx) => ({ size: ctx.spec.size ?? null })
      const registry = Registry.make(
        Handler.onCreate(W, { id: "create" }, r.answers(size)),
        Handler.onUpdate(W, { id: "update" }, r.answers(size)),
        Handler.onField(W, "spec.size", { id: "size" }, r.records),
        Handler.onDelete(W, { id: "delete" }, r.records)
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
      const op = yield* withOperator(
        registry,
        only(ns, {
          batchWindow: 0,
          storage: Storage.make({ lastHandled: Storage.annotations({ prefix: "kubefx.dev" }) }),
          postEvents: "all"
        })
      ).pipe(Effect.provideService(Kube, lagging))
      assert.deepStrictEqual(
        op.targets.map((t) => [t.api.plural, t.statusSubresource]),
        [["widgets", true]]
      )

      yield* ns.create(widgets, object(widgets, "w", { size: 1 }))
      const created = yield* until(
        "created",
        ns.read(widgets, "w"),
        (o) =>
          at(o, "status.create.size") === 1 &&
          at(o, ["metadata", "annotations", "kubefx.dev/last-handled"]) !== undefined
      )
      assert.deepStrictEqual(created?.metadata?.finalizers, [FINALIZER])
      assert.isUndefined(at(created, "status.kubefx.progress"), "progress purged when done")

      yield* ns.merge(widgets, "w", { spec: { size: 2 } })
      yield* until("updated", ns.read(widgets, "w"), (o) => at(o, "status.update.size") === 2)
      yield* settle
      const evs = yield* ns.events("w")
      assert.include(evs, "Normal/Succeeded")
      assert.include(evs, "Normal/Processed")

      yield* ns.delete(widgets, "w")
      yield* gone("gone", ns, widgets, "w")
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
      const { ns, r } = yield* scene()
      const registry = Registry.make(
        Handler.onCreate(
          G,
          { id: "create" },
          r.answers(() => ({ ok: true }))
        )
      )
      const op = yield* withOperator(registry, only(ns, { batchWindow: 0 }))
      assert.deepStrictEqual(
        op.targets.map((t) => [t.api.plural, t.statusSubresource]),
        [["gadgets", false]]
      )
      yield* ns.create(gadgets, object(gadgets, "g", { size: 1 }))
      const done = yield* statusAt(ns, gadgets, "g", "status.create.ok")
      assert.isString(at(done, "status.kubefx.lastHandled"))
      yield* settle
      assert.strictEqual(r.count("create"), 1)
    })
  )

  it.effect(
    "a status schema that prunes status.kubefx: state moves to annotations, no re-runs",
    () =>
      Effect.gen(function* () {
        const { ns, r } = yield* scene(ensureSprockets)
        const S = `sprockets.${group}`
        const registry = Registry.make(
          Handler.onCreate(S, { id: "create" }, r.records),
          Handler.onUpdate(S, { id: "update" }, r.records)
        )
        const op = yield* withOperator(registry, only(ns))
        yield* ns.create(sprockets, object(sprockets, "s", { size: 1 }))
        const handled = yield* until(
          "the record in an annotation",
          ns.read(sprockets, "s"),
          (o) => typeof at(o, ["metadata", "annotations", "kubefx.dev/last-handled"]) === "string"
        )
        assert.isUndefined(at(handled, "status.kubefx"), "the server pruned it")
        yield* settle
        assert.strictEqual(r.count("create"), 1, "not run again for the change it finished")
        yield* ns.merge(sprockets, "s", { spec: { size: 2 } })
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
        yield* withOperator(registry, only(ns))
        yield* settle
        assert.strictEqual(r.count("create"), 1, "not run again after a restart")
        assert.strictEqual(r.count("update"), 1)
      })
  )

  it.effect("a temporary error retries after its delay, then succeeds", () =>
    Effect.gen(function* () {
      const { ns, r } = yield* scene()
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
      yield* withOperator(registry, only(ns))
      yield* ns.create(widgets, object(widgets, "w", {}))
      const pending = yield* statusAt(ns, widgets, "w", "status.kubefx.progress.flaky")
      assert.strictEqual(at(pending, "status.kubefx.progress.flaky.retries"), 1)
      assert.strictEqual(at(pending, "status.kubefx.progress.flaky.message"), "not yet")
      const done = yield* statusAt(ns, widgets, "w", "status.flaky.ok")
      assert.isUndefined(at(done, "status.kubefx.progress"))
      yield* settle
      const [first, second] = r.of("flaky")
      assert.strictEqual(r.count("flaky"), 2)
      assert.isAtLeast((second?.at ?? 0) - (first?.at ?? 0), 1900, "after its delay")
      assert.include(yield* ns.events("w"), "Warning/Retrying")
    })
  )

  it.effect("on a built-in resource, progress lives in annotations and retries are counted", () =>
    Effect.gen(function* () {
      const { ns, r } = yield* scene(Effect.void)
      const registry = Registry.make(
        Handler.onCreate("configmaps", { id: "never", retries: 2 }, (ctx) =>
          Effect.gen(function* () {
            r.record(ctx)
            return yield* new Outcome.TemporaryError({ message: "no", delay: "300 millis" })
          })
        )
      )
      yield* withOperator(registry, only(ns))
      yield* ns.create(configMaps, configMap(ns.name, "cm"))
      // A ConfigMap keeps no unknown status fields: were progress kept in status, the retry
      // count would be lost and the handler would run forever.
      const pending = yield* eventually(
        ns
          .get(configMaps, "cm")
          .pipe(
            Effect.filterOrFail((o) =>
              Object.keys(o.metadata?.annotations ?? {}).some((k) => k === "kubefx.dev/never")
            )
          )
      )
      assert.isDefined(pending.metadata?.annotations?.["kubefx.dev/never"])
      yield* eventually(
        ns.events("cm").pipe(Effect.filterOrFail((evs) => evs.includes("Warning/Failed")))
      )
      yield* settle
      assert.strictEqual(r.count("never"), 3, "the first attempt and two retries, then no more")
      const done = yield* ns.get(configMaps, "cm")
      assert.isUndefined(done.metadata?.annotations?.["kubefx.dev/never"], "progress purged")
      assert.isDefined(done.metadata?.annotations?.["kubefx.dev/last-handled"])
    })
  )

  it.effect("a permanent error is recorded in status and as an Event; others are served", () =>
    Effect.gen(function* () {
      const { ns, r } = yield* scene()
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
      yield* withOperator(registry, only(ns))
      yield* ns.create(widgets, object(widgets, "bad", {}, { bad: "yes" }))
      yield* ns.create(widgets, object(widgets, "good", {}))
      const bad = yield* statusAt(ns, widgets, "bad", "status.kubefx.errors.strict")
      assert.strictEqual(at(bad, "status.kubefx.errors.strict"), "bad widget")
      yield* statusAt(ns, widgets, "good", "status.strict.ok")
      yield* ns.create(widgets, object(widgets, "later", {}))
      yield* statusAt(ns, widgets, "later", "status.strict.ok")
      yield* settle
      assert.strictEqual(r.count("strict", "bad"), 1, "never retried")
      const evs = yield* ns.events("bad")
      assert.include(evs, "Warning/Failed")
      assert.include(evs, "Warning/Processed")
    })
  )

  it.effect("a request the API server refuses (422) fails the handler for good, not retried", () =>
    Effect.gen(function* () {
      const { ns, r } = yield* scene()
      const registry = Registry.make(
        Handler.onCreate(W, { id: "make_cm" }, (ctx) =>
          Effect.gen(function* () {
            r.record(ctx)
            const api = yield* Kube
            yield* api.create(configMaps, configMap(ns.name, "Not_A_Valid_Name"))
          })
        )
      )
      yield* withOperator(registry, only(ns))
      yield* ns.create(widgets, object(widgets, "w", {}))
      const failed = yield* statusAt(ns, widgets, "w", "status.kubefx.errors.make_cm")
      const message = String(at(failed, "status.kubefx.errors.make_cm"))
      assert.include(message, 'ConfigMap "Not_A_Valid_Name" is invalid: metadata.name')
      assert.include(message, `(422 Invalid, POST /api/v1/namespaces/${ns.name}/configmaps)`)
      // The default backoff would retry after about a second: wait a few.
      yield* Effect.sleep("4 seconds")
      assert.strictEqual(r.count("make_cm", "w"), 1, "never retried")
      const after = yield* ns.read(widgets, "w")
      assert.isUndefined(at(after, "status.kubefx.progress"), "nothing pending")
      const evs = yield* ns.events("w")
      assert.include(evs, "Warning/Failed")
    })
  )

  it.effect("a finalizer blocks the deletion until the delete handler succeeded", () =>
    Effect.gen(function* () {
      const { ns, r } = yield* scene()
      const registry = Registry.make(
        Handler.onDelete(W, { id: "cleanup" }, (ctx) =>
          Effect.gen(function* () {
            r.record(ctx)
            if (ctx.retry < 2)
              return yield* new Outcome.TemporaryError({ message: "busy", delay: "1 second" })
          })
        )
      )
      yield* withOperator(registry, only(ns))
      yield* ns.create(widgets, object(widgets, "w", {}))
      yield* until("finalizer", ns.read(widgets, "w"), (o) =>
        (o?.metadata?.finalizers ?? []).includes(FINALIZER)
      )
      yield* ns.delete(widgets, "w")
      yield* until(
        "two attempts",
        Effect.sync(() => r.count("cleanup")),
        (n) => n >= 2
      )
      const held = yield* ns.read(widgets, "w")
      assert.isDefined(held, "still there while the handler fails")
      assert.isString(held?.metadata?.deletionTimestamp)
      assert.include(held?.metadata?.finalizers ?? [], FINALIZER)
      yield* gone("gone", ns, widgets, "w")
      yield* settle
      assert.strictEqual(r.count("cleanup"), 3)
    })
  )

  it.effect("an operator stopped mid-way resumes without re-running what succeeded", () =>
    Effect.gen(function* () {
      const { ns, r } = yield* scene()
      const registry = Registry.make(
        Handler.onCreate(
          W,
          { id: "first" },
          r.answers(() => ({ ok: true }))
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
      const one = yield* withOperator(registry, only(ns))
      yield* ns.create(widgets, object(widgets, "w", {}))
      const midway = yield* statusAt(ns, widgets, "w", "status.kubefx.progress.second")
      assert.strictEqual(at(midway, "status.first.ok"), true)
      assert.strictEqual(at(midway, "status.kubefx.progress.first.success"), true)
      yield* one.stop
      assert.strictEqual(r.count("second"), 1)

      yield* withOperator(registry, only(ns))
      const done = yield* statusAt(ns, widgets, "w", "status.second.ok")
      assert.isUndefined(at(done, "status.kubefx.progress"))
      yield* settle
      assert.strictEqual(r.count("first"), 1, "not re-run after the restart")
      assert.strictEqual(r.count("second"), 2)
    })
  )

  it.effect("a graceful stop lets a running handler finish and write its result", () =>
    Effect.gen(function* () {
      const { ns } = yield* scene()
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
      const op = yield* withOperator(registry, only(ns))
      yield* ns.create(widgets, object(widgets, "w", {}))
      yield* Deferred.await(started)
      yield* op.stop
      assert.strictEqual(finished, 1)
      const after = yield* ns.read(widgets, "w")
      assert.strictEqual(at(after, "status.slow.done"), true, "the result landed in status")
      assert.isString(at(after, "status.kubefx.lastHandled"))
      yield* settle
      const still = yield* ns.read(widgets, "w")
      assert.strictEqual(
        still?.metadata?.resourceVersion,
        after?.metadata?.resourceVersion,
        "nothing written after the stop"
      )
    })
  )

  it.effect("a handler still running after the shutdown timeout is interrupted", () =>
    Effect.gen(function* () {
      const { ns } = yield* scene()
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
      const op = yield* withOperator(registry, only(ns, { shutdownTimeout: "500 millis" }))
      yield* ns.create(widgets, object(widgets, "w", {}))
      yield* Deferred.await(started)
      const t0 = Date.now()
      yield* op.stop
      assert.isBelow(Date.now() - t0, 10_000, "stopped soon after the timeout")
      assert.strictEqual(finished, 0)
      const after = yield* ns.read(widgets, "w")
      assert.isUndefined(at(after, "status.endless"))
    })
  )

  it.effect("a 410 Gone mid-run loses no change", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const { ns, r } = yield* scene()
      const registry = Registry.make(
        Handler.onCreate(W, { id: "create" }, r.records),
        Handler.onUpdate(
          W,
          { id: "update" },
          r.answers((ctx) => ({ size: ctx.spec.size ?? null }))
        ),
        Handler.onDelete(W, { id: "delete" }, r.records)
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
      yield* withOperator(registry, only(ns)).pipe(Effect.provideService(Kube, wrapped))
      for (const n of ["kept", "changed", "removed"])
        yield* ns.create(widgets, object(widgets, n, { size: 1 }))
      for (const n of ["kept", "changed", "removed"])
        yield* until(
          `${n} handled`,
          ns.read(widgets, n),
          (o) => Json.get(o as Json.Json, "status.kubefx.lastHandled") !== undefined
        )

      phase = "cut"
      yield* Deferred.succeed(cut, undefined)
      yield* Effect.sleep("300 millis")
      yield* ns.merge(widgets, "changed", { spec: { size: 2 } })
      yield* ns.delete(widgets, "removed")
      yield* ns.create(widgets, object(widgets, "added", { size: 1 }))
      yield* Deferred.succeed(release, undefined)

      yield* until(
        "changed updated",
        ns.read(widgets, "changed"),
        (o) => at(o, "status.update.size") === 2
      )
      yield* gone("removed gone", ns, widgets, "removed")
      yield* until(
        "added created",
        ns.read(widgets, "added"),
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
      const { ns, r } = yield* scene()
      const { proxy, kube: viaProxy } = yield* proxiedClient
      const registry = Registry.make(
        Handler.onCreate(W, { id: "create" }, r.records),
        Handler.onUpdate(
          W,
          { id: "update" },
          r.answers((ctx) => ({ size: ctx.spec.size ?? null }))
        )
      )
      yield* withOperator(
        registry,
        only(ns, { watcher: { backoff: Schedule.spaced("100 millis") } })
      ).pipe(Effect.provideService(Kube, viaProxy))
      yield* ns.create(widgets, object(widgets, "one", { size: 1 }))
      yield* until(
        "one handled",
        ns.read(widgets, "one"),
        (o) => at(o, "status.kubefx.lastHandled") !== undefined
      )
      const before = proxy.connections()
      proxy.dropAll()
      yield* ns.merge(widgets, "one", { spec: { size: 2 } })
      yield* ns.create(widgets, object(widgets, "two", { size: 1 }))
      proxy.dropAll()
      yield* until("one updated", ns.read(widgets, "one"), (o) => at(o, "status.update.size") === 2)
      yield* until(
        "two created",
        ns.read(widgets, "two"),
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
      const { ns } = yield* scene()
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
      const observe = (ctx: Ctx) => ctx.patch.status({ observed: ctx.spec.size ?? null })
      const registry = Registry.make(
        // The first event of each object: somebody writes between the operator's read and
        // its (guarded) finalizer patch, which must then fail with 409.
        Handler.onEvent(W, { id: "meddler" }, (ctx) =>
          meddled.has(ctx.name)
            ? Effect.void
            : Effect.andThen(
                Effect.sync(() => meddled.add(ctx.name)),
                ns.merge(widgets, ctx.name, { spec: { meddled: true } }).pipe(Effect.orDie)
              )
        ),
        Handler.onCreate(W, { id: "observe-create" }, observe),
        Handler.onUpdate(W, { id: "observe-update" }, observe),
        Handler.onDelete(W, { id: "cleanup" }, () => Effect.void)
      )
      yield* withOperator(registry, { namespaces: [ns.name], batchWindow: 0 }).pipe(
        Effect.provideService(Kube, counting)
      )
      yield* ns.create(widgets, object(widgets, "w", { size: 0 }))
      let writerConflicts = 0
      const writer = (id: number) =>
        Effect.forEach(
          Array.from({ length: 8 }, (_, i) => i),
          (i) =>
            Effect.gen(function* () {
              const current = yield* ns.get(widgets, "w")
              yield* ns.replace(widgets, "w", {
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
      const final = yield* ns.get(widgets, "w")
      const size = at(final, "spec.size")
      const done = yield* until(
        "status follows the final spec",
        ns.read(widgets, "w"),
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
      const { ns: one } = yield* scene()
      const two = yield* freshClient
      const three = yield* freshClient
      const user = `operator-${Date.now().toString(36)}`
      yield* grant(
        user,
        `${user}-widgets`,
        [
          {
            apiGroups: [group],
            resources: ["widgets"],
            verbs: ["get", "list", "watch", "patch", "update"]
          },
          { apiGroups: [group], resources: ["widgets/status"], verbs: ["get", "patch", "update"] },
          { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] }
        ],
        [one.name, two.name]
      )
      const limited = yield* clientOf(user)
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

      yield* withOperator(registry, { ...fast, namespaces: [one.name, two.name] }).pipe(
        Effect.provideService(Kube, limited)
      )
      for (const ns of [one, two, three]) yield* ns.create(widgets, object(widgets, "w", {}))
      for (const ns of [one, two]) {
        const done = yield* statusAt(ns, widgets, "w", "status.create.in")
        assert.strictEqual(at(done, "status.create.in"), ns.name)
        assert.deepStrictEqual(done?.metadata?.finalizers, [FINALIZER])
      }
      yield* settle
      const outside = yield* three.read(widgets, "w")
      assert.isUndefined(outside?.status, "not served outside its namespaces")
      assert.isUndefined(outside?.metadata?.finalizers)
      assert.notInclude(
        yield* one.events("w"),
        "Normal/Succeeded",
        "by default only Warning Events are posted"
      )
      yield* two.delete(widgets, "w")
      yield* gone("deleted in ns2", two, widgets, "w")
    })
  )

  it.effect(
    "globs and exclusions: namespaces as they appear, least RBAC (list/watch namespaces)",
    () =>
      Effect.gen(function* () {
        const kube = yield* Kube
        yield* ensureCrds
        const run = `g${Date.now().toString(36)}`
        const user = `operator-${run}`
        const [teamA, teamB, secret, other] = ["team-a", "team-b", "team-secret", "other"].map(
          (n) => inNamespace(kube, `${run}-${n}`)
        ) as [InNamespace, InNamespace, InNamespace, InNamespace]
        // the CRD's rights only through RoleBindings; cluster-wide, only list/watch namespaces
        const rules = [
          { apiGroups: [group], resources: ["widgets"], verbs: ["get", "list", "watch", "patch"] },
          { apiGroups: [group], resources: ["widgets/status"], verbs: ["get", "patch"] },
          { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] }
        ]
        yield* grant(user, user, rules, [])
        yield* kube.create(Builtins.clusterRoles, {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: `${user}-namespaces` },
          rules: [{ apiGroups: [""], resources: ["namespaces"], verbs: ["list", "watch"] }]
        })
        yield* kube.create(Builtins.clusterRoleBindings, {
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
          yield* scopedNamespace(ns.name)
          yield* bindRole(user, user, ns.name)
        }
        const limited = yield* clientOf(user)
        const denied = yield* Effect.flip(limited.list(widgets, { limit: 1 }))
        assert.strictEqual(denied._tag, "Forbidden", "no cluster-wide rights on widgets")

        const r = recorder()
        const registry = Registry.make(
          Handler.onCreate(
            W,
            { id: "create" },
            r.answers((ctx) => ({ in: ctx.namespace ?? "" }))
          ),
          Handler.onDelete(W, { id: "cleanup" }, r.records)
        )
        const op = yield* withOperator(registry, {
          ...fast,
          namespaces: [`${run}-team-*`, `!${secret.name}`]
        }).pipe(Effect.provideService(Kube, limited))

        for (const ns of [teamA, secret, other]) yield* ns.create(widgets, object(widgets, "w", {}))
        // a namespace created after the start; its RoleBinding lands a moment later (403 meanwhile)
        yield* scopedNamespace(teamB.name)
        yield* teamB.create(widgets, object(widgets, "w", {}))
        yield* Effect.sleep("300 millis")
        yield* bindRole(user, user, teamB.name)
        for (const ns of [teamA, teamB]) {
          const done = yield* statusAt(ns, widgets, "w", "status.create.in")
          assert.strictEqual(at(done, "status.create.in"), ns.name)
          assert.deepStrictEqual(done?.metadata?.finalizers, [FINALIZER])
        }
        yield* settle
        for (const ns of [secret, other]) {
          const outside = yield* ns.read(widgets, "w")
          assert.isUndefined(outside?.status, `not served in ${ns.name}`)
          assert.isUndefined(outside?.metadata?.finalizers)
        }
        assert.deepStrictEqual(
          r.of("create").map((c) => c.name),
          ["w", "w"]
        )

        // deletions in a dynamically watched namespace go through the finalizer
        yield* teamB.delete(widgets, "w")
        yield* gone("deleted in team-b", teamB, widgets, "w")
        assert.strictEqual(r.count("cleanup"), 1)
        // team-b deleted: its watcher stops (its RoleBinding goes with it), the operator goes on
        yield* kube.delete(Builtins.namespaces, teamB.name)
        yield* until(
          "team-b gone",
          kube.get(Builtins.namespaces, teamB.name).pipe(
            Effect.as(false),
            Effect.catchTag("NotFound", () => Effect.succeed(true))
          ),
          (gone) => gone,
          "60 seconds"
        )
        yield* teamA.create(widgets, object(widgets, "w2", {}))
        yield* statusAt(teamA, widgets, "w2", "status.create.in")
        for (const name of ["w", "w2"]) {
          yield* teamA.delete(widgets, name)
          yield* gone(`${name} deleted in team-a`, teamA, widgets, name)
        }
        assert.strictEqual(r.count("cleanup"), 3)
        assert.isUndefined(op.fiber.pollUnsafe(), "the operator is still running")
      })
  )
})
