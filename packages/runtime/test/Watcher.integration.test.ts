import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, type KubeObject } from "@kubefx/core"
import { Effect, Exit, Fiber, Schedule, Stream } from "effect"
import {
  ApiPatch,
  Kube,
  type KubeService,
  type RawWatchEvent,
  Watcher,
  type WatchState
} from "../src/index.ts"
import {
  awaitLine,
  ClusterLayer,
  captureLogs,
  collect,
  configMap,
  configMaps,
  ensureWidgets,
  eventually,
  freshNamespace,
  proxiedClient,
  widgets
} from "./support.ts"

const name = (e: { readonly object?: KubeObject.KubeObject }) => e.object?.metadata?.name

const isSynced = (e: WatchState.WatchEvent) => e._tag === "Synced"
const is =
  (
    tag: "Applied" | "Deleted",
    n: string,
    test: (o: KubeObject.KubeObject) => boolean = () => true
  ) =>
  (e: WatchState.WatchEvent) =>
    e._tag === tag && name(e) === n && test(e.object)

layer(ClusterLayer, { excludeTestServices: true, timeout: "5 minutes" })("Watcher", (it) => {
  it.effect("a raw watch sees ADDED, MODIFIED and DELETED", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      const start = yield* kube.list(configMaps, { namespace: ns })
      const events = yield* collect(
        kube.watch(configMaps, { namespace: ns, resourceVersion: start.resourceVersion })
      )
      yield* kube.create(configMaps, configMap(ns, "w", { v: "1" }))
      yield* kube.patch(configMaps, "w", ApiPatch.merge({ data: { v: "2" } }), { namespace: ns })
      yield* kube.delete(configMaps, "w", { namespace: ns })
      const seen: Array<string> = []
      for (const type of ["ADDED", "MODIFIED", "DELETED"]) {
        const { found } = yield* events.next(
          (e: RawWatchEvent) => e.type === type && name(e) === "w"
        )
        seen.push(`${found.type} ${JSON.stringify(found.object.data)}`)
      }
      assert.deepStrictEqual(seen, ['ADDED {"v":"1"}', 'MODIFIED {"v":"2"}', 'DELETED {"v":"2"}'])
    })
  )

  it.effect("a watch from a too-old resourceVersion is answered 410 Expired", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      // The API server serves watches from its watch cache, which knows events only since the
      // cache was filled: for a CRD, when it was established, long after resourceVersion "1".
      // (Built-in types are cached from the first moments of an empty etcd, so "1" still works.)
      yield* ensureWidgets
      // A cache still filling answers 429 with Retry-After: wait for it like the watcher would.
      const outcome = yield* kube.watch(widgets, { namespace: ns, resourceVersion: "1" }).pipe(
        Stream.take(1),
        Stream.runCollect,
        Effect.retry({
          while: (e) => e._tag === "TooManyRequests",
          schedule: Schedule.spaced("500 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))
        }),
        Effect.exit
      )
      if (Exit.isSuccess(outcome)) {
        const [event] = outcome.value
        assert.strictEqual(event?.type, "ERROR", "an ERROR event in the stream")
        assert.strictEqual(event?.object.code, 410)
        assert.strictEqual(event?.object.reason, "Expired")
        assert.include(event?.object.message, "too old resource version")
      } else {
        const error = yield* Effect.flip(Effect.failCause(outcome.cause))
        assert.strictEqual(error._tag, "Expired", "or an HTTP 410")
      }
    })
  )

  it.effect("the watcher lists, then follows creations, changes and deletions", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      yield* kube.create(configMaps, configMap(ns, "before"))
      const events = yield* collect(
        Watcher.watch(configMaps, { scope: Watcher.namespaces([ns]), pageSize: 1 })
      )
      const { found, skipped } = yield* events.next(isSynced)
      assert.isTrue(found._tag === "Synced" && found.initial)
      assert.include(
        skipped.map((e) => (e._tag === "Applied" ? name(e) : "")),
        "before"
      )
      yield* kube.create(configMaps, configMap(ns, "after", { v: "1" }))
      yield* events.next(is("Applied", "after"))
      yield* kube.patch(configMaps, "after", ApiPatch.merge({ data: { v: "2" } }), {
        namespace: ns
      })
      yield* events.next(is("Applied", "after", (o) => (o.data as { v: string }).v === "2"))
      yield* kube.delete(configMaps, "before", { namespace: ns })
      const deleted = yield* events.next(is("Deleted", "before"))
      assert.isTrue(deleted.found._tag === "Deleted" && !deleted.found.synthetic)
    })
  )

  it.effect("after a 410 the watcher relists and loses no change", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      yield* ensureWidgets
      const widget = (n: string, size: number): KubeObject.KubeObject => ({
        apiVersion: "kubefx.test/v1",
        kind: "Widget",
        metadata: { name: n, namespace: ns },
        spec: { size }
      })
      const resize = (n: string, size: number) =>
        kube.patch(widgets, n, ApiPatch.merge({ spec: { size } }), { namespace: ns })
      for (const n of ["kept", "changed", "removed"])
        yield* eventually(kube.create(widgets, widget(n, 1)))
      // A client whose first watch comes "after a long disconnect": changes happen that the
      // watch would miss, and it asks for a resourceVersion the server has long forgotten.
      const requested: Array<string | undefined> = []
      const stale: KubeService = {
        ...kube,
        watch: (resource, options) =>
          Stream.unwrap(
            Effect.gen(function* () {
              requested.push(options?.resourceVersion)
              if (requested.length > 1) return kube.watch(resource, options)
              yield* resize("changed", 2)
              yield* kube.delete(widgets, "removed", { namespace: ns })
              yield* kube.create(widgets, widget("added", 1))
              return kube.watch(resource, { ...options, resourceVersion: "1" })
            }).pipe(Effect.orDie)
          )
      }
      const events = yield* collect(Watcher.watchScope(stale, widgets, ns))
      const initial = yield* events.next(isSynced)
      assert.isTrue(initial.found._tag === "Synced" && initial.found.initial)
      const relisted = yield* events.next(isSynced)
      assert.isTrue(relisted.found._tag === "Synced" && !relisted.found.initial)
      const diff = relisted.skipped.map(
        (e) =>
          `${e._tag} ${e._tag === "Synced" ? "" : name(e)}${e._tag === "Deleted" && e.synthetic ? "*" : ""}`
      )
      assert.sameMembers(diff, ["Deleted removed*", "Applied changed", "Applied added"])

      // and it keeps following, from the relist's version
      yield* resize("kept", 3)
      yield* events.next(is("Applied", "kept", (o) => (o.spec as { size: number }).size === 3))
      assert.notInclude(requested.slice(1), "1", "later watches start from the relist")
    })
  )

  it.effect("a dropped connection reconnects from the last version, without a relist", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      const { proxy, kube: viaProxy } = yield* proxiedClient
      const events = yield* collect(
        Watcher.watchScope(viaProxy, configMaps, ns, {
          backoff: Schedule.spaced("100 millis")
        })
      )
      yield* events.next(isSynced)
      yield* kube.create(configMaps, configMap(ns, "one"))
      yield* events.next(is("Applied", "one"))
      const before = proxy.connections()
      proxy.dropAll()
      yield* kube.create(configMaps, configMap(ns, "two"))
      yield* kube.delete(configMaps, "one", { namespace: ns })
      const two = yield* events.next(is("Applied", "two"))
      const one = yield* events.next(is("Deleted", "one"))
      assert.isFalse(
        [...two.skipped, ...one.skipped].some(isSynced),
        "no relist: the watch resumed from its resourceVersion"
      )
      assert.isAbove(proxy.connections(), before, "a new connection was opened")
    })
  )

  it.effect("a namespaced scope needs rights only in its namespaces", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const cp = yield* ControlPlane.ControlPlane
      const ns1 = yield* freshNamespace
      const ns2 = yield* freshNamespace
      const user = `watcher-${Date.now().toString(36)}`
      const role = {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: `${user}-read-configmaps` },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch"] }]
      }
      yield* kube.create(Builtins.clusterRoles, role)
      for (const ns of [ns1, ns2]) {
        yield* kube.create(Builtins.roleBindings, {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "RoleBinding",
          metadata: { name: "read-configmaps", namespace: ns },
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: role.metadata.name
          },
          subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: user }]
        })
        yield* kube.create(configMaps, configMap(ns, `in-${ns}`))
      }
      const limited = yield* Kube.make(yield* Kube.loadFile(yield* cp.userKubeconfig(user)))

      const logs = captureLogs()
      const clusterWide = yield* Watcher.watchScope(limited, configMaps, undefined).pipe(
        Stream.runDrain,
        Effect.provide(logs.layer),
        Effect.forkScoped
      )
      yield* awaitLine(logs.lines, /^ERROR watch configmaps refused \(403/)
      assert.isUndefined(clusterWide.pollUnsafe(), "no cluster-wide list right: refused, retried")
      yield* Fiber.interrupt(clusterWide)

      const events = yield* collect(
        Watcher.watch(configMaps, { scope: Watcher.namespaces([ns1, ns2]) }).pipe(
          Stream.provideService(Kube, limited)
        )
      )
      const synced = new Set<string | undefined>()
      while (synced.size < 2) {
        const { found } = yield* events.next(isSynced)
        if (found._tag === "Synced") synced.add(found.namespace)
      }
      assert.deepStrictEqual([...synced].sort(), [ns1, ns2].sort())
      yield* kube.create(configMaps, configMap(ns2, "late"))
      yield* events.next(is("Applied", "late"))
      assert.isUndefined(events.fiber.pollUnsafe(), "the merged watcher still runs")
      yield* Fiber.interrupt(events.fiber)
    })
  )

  it.effect("a refused watch says what is missing, keeps trying, and heals once granted", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const cp = yield* ControlPlane.ControlPlane
      const ns = yield* freshNamespace
      yield* kube.create(configMaps, configMap(ns, "there"))
      const user = `refused-${Date.now().toString(36)}`
      const limited = yield* Kube.make(yield* Kube.loadFile(yield* cp.userKubeconfig(user)))
      const logs = captureLogs()
      const events = yield* collect(
        Watcher.watch(configMaps, {
          scope: Watcher.namespaces([ns]),
          backoff: Schedule.spaced("500 millis")
        }).pipe(Stream.provideService(Kube, limited), Stream.provide(logs.layer))
      )
      const refused = yield* awaitLine(logs.lines, /^ERROR .*refused \(403/)
      assert.match(
        refused,
        /cannot list resource "configmaps"/,
        "the server's words: verb, resource"
      )
      assert.match(refused, /needs "list" and "watch" on configmaps/, "the fix")
      yield* Effect.sleep("1500 millis")
      assert.isUndefined(events.fiber.pollUnsafe(), "still watching, not failed")
      yield* kube.create(Builtins.roleBindings, {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "read-configmaps", namespace: ns },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
        subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: user }]
      })
      yield* events.next(is("Applied", "there"))
      yield* Fiber.interrupt(events.fiber)
    })
  )
})
