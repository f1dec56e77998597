import { assert, describe, it } from "@effect/vitest"
import { Builtins, type KubeObject, type Resource } from "@kubefx/core"
import { Deferred, Effect, Fiber, Queue, Schedule, Stream } from "effect"
import {
  BadRequest,
  Expired,
  Forbidden,
  Kube,
  KubeError,
  type KubeService,
  type ObjectList,
  type RawWatchEvent,
  TransportError,
  Watcher,
  WatchState
} from "../src/index.ts"

const obj = (name: string, rv: string, uid = `uid-${name}`): KubeObject.KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "ns", uid, resourceVersion: rv }
})

const list = (items: ReadonlyArray<KubeObject.KubeObject>, rv: string): ObjectList => ({
  items,
  resourceVersion: rv,
  continue: undefined
})

/** `Applied:a@2`-style summaries. */
const show = (e: WatchState.WatchEvent): string => {
  switch (e._tag) {
    case "Applied":
      return `Applied:${e.object.metadata?.name}@${e.object.metadata?.resourceVersion}`
    case "Deleted":
      return `Deleted:${e.object.metadata?.name}@${e.object.metadata?.resourceVersion}${e.synthetic ? "*" : ""}`
    case "Synced":
      return `Synced${e.initial ? "(initial)" : ""}:${e.objects.map((o) => o.metadata?.name).join(",")}`
  }
}

describe("WatchState", () => {
  it("a first list applies every object and marks the initial sync", () => {
    const state = WatchState.make("ns")
    const events = WatchState.relisted(state, list([obj("a", "1"), obj("b", "2")], "10"))
    assert.deepStrictEqual(events.map(show), ["Applied:a@1", "Applied:b@2", "Synced(initial):a,b"])
    assert.strictEqual(state.resourceVersion, "10")
    assert.strictEqual(state.known.size, 2)
  })

  it("a relist emits only the difference: new, changed, vanished, re-created", () => {
    const state = WatchState.make("ns")
    WatchState.relisted(
      state,
      list([obj("same", "1"), obj("changed", "2"), obj("gone", "3"), obj("recreated", "4")], "10")
    )
    const events = WatchState.relisted(
      state,
      list(
        [
          obj("same", "1"),
          obj("changed", "7"),
          obj("recreated", "8", "other-uid"),
          obj("new", "9")
        ],
        "20"
      )
    )
    assert.deepStrictEqual(events.map(show), [
      "Deleted:gone@3*",
      "Applied:changed@7",
      "Deleted:recreated@4*",
      "Applied:recreated@8",
      "Applied:new@9",
      "Synced:same,changed,recreated,new"
    ])
    assert.strictEqual(state.resourceVersion, "20")
    assert.deepStrictEqual([...state.known.keys()].sort(), [
      "ns/changed",
      "ns/new",
      "ns/recreated",
      "ns/same"
    ])
  })

  it("resourceVersions are opaque: a smaller-looking one is still a change", () => {
    const state = WatchState.make(undefined)
    WatchState.relisted(state, list([obj("a", "100")], "100"))
    const events = WatchState.relisted(state, list([obj("a", "99")], "abc"))
    assert.deepStrictEqual(events.map(show), ["Applied:a@99", "Synced:a"])
    assert.strictEqual(state.resourceVersion, "abc")
  })

  it("watch events update the known set and the resourceVersion; bookmarks only the latter", () => {
    const state = WatchState.make("ns")
    WatchState.relisted(state, list([obj("a", "1")], "5"))
    const step = (event: RawWatchEvent) => WatchState.step(state, event)
    const added = step({ type: "ADDED", object: obj("b", "6") })
    assert.deepStrictEqual(added._tag === "Events" ? added.events.map(show) : [], ["Applied:b@6"])
    const bookmark = step({ type: "BOOKMARK", object: { metadata: { resourceVersion: "8" } } })
    assert.deepStrictEqual(bookmark, { _tag: "Events", events: [] })
    assert.strictEqual(state.resourceVersion, "8")
    const del = step({ type: "DELETED", object: obj("a", "9") })
    assert.deepStrictEqual(del._tag === "Events" ? del.events.map(show) : [], ["Deleted:a@9"])
    assert.deepStrictEqual([...state.known.keys()], ["ns/b"])
    assert.strictEqual(state.resourceVersion, "9")
  })

  it("an ERROR event with code 410 expires the resourceVersion; others do not", () => {
    const state = WatchState.make("ns")
    WatchState.relisted(state, list([obj("a", "1")], "5"))
    const other = WatchState.step(state, {
      type: "ERROR",
      object: { kind: "Status", code: 500, reason: "InternalError", message: "boom" }
    })
    assert.deepStrictEqual(other, {
      _tag: "Error",
      code: 500,
      reason: "InternalError",
      message: "boom"
    })
    assert.strictEqual(state.resourceVersion, "5")
    const gone = WatchState.step(state, {
      type: "ERROR",
      object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" }
    })
    assert.strictEqual(gone._tag, "Expired")
    assert.strictEqual(state.resourceVersion, undefined)
    assert.strictEqual(state.known.size, 1, "the known set stays, to diff the relist against")
  })
})

/** A fake client that answers lists and watches from scripts, recording the calls. */
const fakeKube = (script: {
  readonly lists: ReadonlyArray<ObjectList>
  readonly watches: ReadonlyArray<Stream.Stream<RawWatchEvent, KubeError.KubeError>>
}) => {
  const calls: Array<string> = []
  let lists = 0
  let watches = 0
  const kube = {
    server: "https://fake",
    listAll: () =>
      Effect.sync(() => {
        calls.push("list")
        const answer = script.lists[lists++]
        if (answer === undefined) throw new Error("no more lists scripted")
        return answer
      }),
    watch: (_: Resource.ApiResource, options?: { readonly resourceVersion?: string | undefined }) =>
      Stream.suspend(() => {
        calls.push(`watch@${options?.resourceVersion}`)
        return script.watches[watches++] ?? Stream.never
      })
  } as unknown as KubeService
  return { kube, calls }
}

const configMaps = Builtins.configMaps
const fast = { backoff: Schedule.spaced("1 millis") }

describe("Watcher", () => {
  it.live(
    "lists, watches, relists on 410 with the difference, reconnects from the last version",
    () =>
      Effect.gen(function* () {
        const { kube, calls } = fakeKube({
          lists: [
            list([obj("a", "1"), obj("b", "1")], "10"),
            list([obj("a", "2"), obj("c", "1")], "20")
          ],
          watches: [
            Stream.make<Array<RawWatchEvent>>(
              { type: "MODIFIED", object: obj("a", "2") },
              { type: "BOOKMARK", object: { metadata: { resourceVersion: "12" } } },
              {
                type: "ERROR",
                object: { kind: "Status", code: 410, reason: "Expired", message: "too old" }
              }
            ),
            // the server ends this one (timeoutSeconds): watch again from d's version
            Stream.make<Array<RawWatchEvent>>({ type: "ADDED", object: obj("d", "21") }),
            // the connection breaks: back off, watch again from the same version
            Stream.fail(
              new TransportError({
                method: "GET",
                path: "watch",
                code: "ECONNRESET",
                message: "reset"
              })
            ),
            Stream.make<Array<RawWatchEvent>>({ type: "DELETED", object: obj("a", "22") }).pipe(
              Stream.concat(Stream.never)
            )
          ]
        })
        const events = yield* Watcher.watchScope(kube, configMaps, "ns", fast).pipe(
          Stream.take(9),
          Stream.runCollect
        )
        assert.deepStrictEqual(Array.from(events, show), [
          "Applied:a@1",
          "Applied:b@1",
          "Synced(initial):a,b",
          "Applied:a@2",
          "Deleted:b@1*",
          "Applied:c@1",
          "Synced:a,c",
          "Applied:d@21",
          "Deleted:a@22"
        ])
        assert.deepStrictEqual(calls, [
          "list",
          "watch@10",
          "list",
          "watch@20",
          "watch@21",
          "watch@21"
        ])
      }).pipe(Effect.timeout("5 seconds"))
  )

  it.live("drops managedFields from listed and watched objects unless asked to keep them", () =>
    Effect.gen(function* () {
      const managed = (name: string, rv: string): KubeObject.KubeObject => {
        const o = obj(name, rv)
        return {
          ...o,
          metadata: { ...o.metadata, managedFields: [{ manager: "kubectl", operation: "Update" }] }
        }
      }
      const run = (keepManagedFields: boolean) =>
        Watcher.watchScope(
          fakeKube({
            lists: [list([managed("a", "1")], "10")],
            watches: [
              Stream.make<Array<RawWatchEvent>>({ type: "ADDED", object: managed("b", "11") })
            ]
          }).kube,
          configMaps,
          "ns",
          { ...fast, keepManagedFields }
        ).pipe(Stream.take(3), Stream.runCollect)
      const objects = (events: Iterable<WatchState.WatchEvent>) =>
        Array.from(events).flatMap((e) => (e._tag === "Applied" ? [e.object] : []))
      const dropped = objects(yield* run(false))
      assert.deepStrictEqual(
        dropped.map((o) => o.metadata?.name),
        ["a", "b"],
        "listed and watched"
      )
      for (const o of dropped) {
        assert.notProperty(o.metadata, "managedFields")
        assert.strictEqual(o.metadata?.uid, `uid-${o.metadata?.name}`, "the rest is kept")
      }
      for (const o of objects(yield* run(true))) assert.property(o.metadata, "managedFields")
    }).pipe(Effect.timeout("5 seconds"))
  )

  it.live("reconnects a silent watch from the last version, without relisting", () =>
    Effect.gen(function* () {
      const { kube, calls } = fakeKube({
        lists: [list([obj("a", "1")], "10")],
        watches: [
          Stream.make<Array<RawWatchEvent>>({
            type: "BOOKMARK",
            object: { metadata: { resourceVersion: "15" } }
          }).pipe(Stream.concat(Stream.never)),
          Stream.never,
          Stream.make<Array<RawWatchEvent>>({ type: "ADDED", object: obj("b", "16") })
        ]
      })
      const events = yield* Watcher.watchScope(kube, configMaps, "ns", {
        ...fast,
        idleTimeout: "30 millis"
      }).pipe(Stream.take(3), Stream.runCollect)
      assert.deepStrictEqual(Array.from(events, show), [
        "Applied:a@1",
        "Synced(initial):a",
        "Applied:b@16"
      ])
      assert.deepStrictEqual(calls, ["list", "watch@10", "watch@15", "watch@15"])
    }).pipe(Effect.timeout("5 seconds"))
  )

  it.live("an HTTP 410 on the watch request relists", () =>
    Effect.gen(function* () {
      const { kube, calls } = fakeKube({
        lists: [list([obj("a", "1")], "10"), list([], "30")],
        watches: [
          Stream.fail(
            new Expired({
              method: "GET",
              path: "watch",
              status: 410,
              reason: "Expired",
              message: "gone"
            })
          )
        ]
      })
      const events = yield* Watcher.watchScope(kube, configMaps, "ns", fast).pipe(
        Stream.take(4),
        Stream.runCollect
      )
      assert.deepStrictEqual(Array.from(events, show), [
        "Applied:a@1",
        "Synced(initial):a",
        "Deleted:a@1*",
        "Synced:"
      ])
      assert.deepStrictEqual(calls, ["list", "watch@10", "list"])
    }).pipe(Effect.timeout("5 seconds"))
  )

  it.live("a malformed request (400) ends the stream: waiting cannot heal it", () =>
    Effect.gen(function* () {
      const kube = {
        listAll: () =>
          Effect.fail(
            new BadRequest({
              method: "GET",
              path: "/x",
              status: 400,
              reason: "BadRequest",
              message: "unable to parse requirement"
            })
          )
      } as unknown as KubeService
      const error = yield* Watcher.watchScope(kube, configMaps, "ns", fast).pipe(
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(error._tag, "BadRequest")
    }).pipe(Effect.timeout("5 seconds"))
  )

  it.live("refusals (403, 401) and 404 are retried until they heal", () =>
    Effect.gen(function* () {
      const refusals = [403, 401, 404, 403]
      let lists = 0
      const kube = {
        listAll: () =>
          Effect.suspend(() => {
            const code = refusals[lists++]
            return code === undefined
              ? Effect.succeed(list([obj("a", "1")], "5"))
              : Effect.fail(
                  KubeError.fromResponse(
                    { method: "GET", path: "/x" },
                    code,
                    undefined,
                    JSON.stringify({ kind: "Status", code, message: "not yet" }),
                    0
                  )
                )
          }),
        watch: () => Stream.never
      } as unknown as KubeService
      const events = yield* Watcher.watchScope(kube, configMaps, "ns", fast).pipe(
        Stream.take(2),
        Stream.runCollect
      )
      assert.deepStrictEqual(Array.from(events, show), ["Applied:a@1", "Synced(initial):a"])
      assert.strictEqual(lists, 5)
    }).pipe(Effect.timeout("5 seconds"))
  )
})

/**
 * A fake cluster for the dynamic (`Matching`) watcher: lists answer what `objects` holds, every
 * watch reads its own queue (one per namespace, one for `namespaces`), and the calls are
 * recorded, with which watches are running.
 */
const fakeCluster = Effect.gen(function* () {
  const objects = new Map<string, Array<KubeObject.KubeObject>>()
  const namespaceObjects: Array<KubeObject.KubeObject> = []
  const queues = new Map<string, Queue.Queue<RawWatchEvent>>()
  const calls: Array<string> = []
  const running = new Set<string>()
  const forbidden = new Map<string, number>()
  const queueOf = (key: string) => {
    let q = queues.get(key)
    if (q === undefined) {
      q = Effect.runSync(Queue.unbounded<RawWatchEvent>())
      queues.set(key, q)
    }
    return q
  }
  const keyOf = (r: Resource.ApiResource, ns: string | undefined) =>
    r.plural === "namespaces" ? "namespaces" : (ns ?? "*")
  const kube = {
    server: "https://fake",
    listAll: (r: Resource.ApiResource, options?: { readonly namespace?: string | undefined }) =>
      Effect.suspend(() => {
        const key = keyOf(r, options?.namespace)
        calls.push(`list ${key}`)
        const refusals = forbidden.get(key) ?? 0
        if (refusals > 0) {
          forbidden.set(key, refusals - 1)
          return Effect.fail(
            new Forbidden({
              method: "GET",
              path: key,
              status: 403,
              reason: "Forbidden",
              message: "no"
            })
          )
        }
        const items = key === "namespaces" ? [...namespaceObjects] : [...(objects.get(key) ?? [])]
        return Effect.succeed(list(items, "1"))
      }),
    watch: (r: Resource.ApiResource, options?: { readonly namespace?: string | undefined }) =>
      Stream.suspend(() => {
        const key = keyOf(r, options?.namespace)
        calls.push(`watch ${key}`)
        running.add(key)
        return Stream.fromQueue(queueOf(key)).pipe(
          Stream.ensuring(Effect.sync(() => running.delete(key)))
        )
      })
  } as unknown as KubeService
  const ns = (name: string, rv = "1"): KubeObject.KubeObject => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, uid: `uid-${name}`, resourceVersion: rv }
  })
  const cm = (namespace: string, name: string, rv = "1"): KubeObject.KubeObject => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: rv }
  })
  const push = (key: string, event: RawWatchEvent) => Queue.offer(queueOf(key), event)
  return { kube, objects, namespaceObjects, calls, running, forbidden, ns, cm, push }
})

/** `Applied:ns/name`-style summaries, with the namespace. */
const where = (e: WatchState.WatchEvent): string => {
  switch (e._tag) {
    case "Applied":
    case "Deleted":
      return `${e._tag}:${e.object.metadata?.namespace}/${e.object.metadata?.name}${e._tag === "Deleted" && e.synthetic ? "*" : ""}`
    case "Synced":
      return `Synced${e.initial ? "(initial)" : ""}:${e.namespace}:${e.objects.map((o) => o.metadata?.name).join(",")}`
  }
}

describe("Watcher over namespaces matching a selector", () => {
  it.live(
    "starts a watcher per matching namespace as it appears, stops it when it is deleted",
    () =>
      Effect.gen(function* () {
        const c = yield* fakeCluster
        for (const n of ["team-a", "team-secret", "other"]) c.namespaceObjects.push(c.ns(n))
        c.objects.set("team-a", [c.cm("team-a", "a1")])
        c.objects.set("team-secret", [c.cm("team-secret", "s1")])
        c.objects.set("other", [c.cm("other", "o1")])
        c.objects.set("team-b", [c.cm("team-b", "b1")])
        const ready = yield* Deferred.make<void>()
        const out = yield* Queue.unbounded<WatchState.WatchEvent>()
        const fiber = yield* Watcher.watch(configMaps, {
          ...fast,
          scope: Watcher.namespaces(["team-*", "!team-secret"]),
          onReady: Deferred.succeed(ready, undefined)
        }).pipe(
          Stream.runForEach((e) => Queue.offer(out, e)),
          Effect.provideService(Kube, c.kube),
          Effect.forkChild
        )
        const next = (n: number) =>
          Effect.forEach(Array.from({ length: n }), () => Queue.take(out)).pipe(
            Effect.map((events) => events.map(where))
          )

        assert.deepStrictEqual(yield* next(2), ["Applied:team-a/a1", "Synced(initial):team-a:a1"])
        yield* Deferred.await(ready)

        // a matching namespace appears: its objects come through; a non-matching one is ignored
        yield* c.push("namespaces", { type: "ADDED", object: c.ns("other-2") })
        yield* c.push("namespaces", { type: "ADDED", object: c.ns("team-b") })
        assert.deepStrictEqual(yield* next(2), ["Applied:team-b/b1", "Synced(initial):team-b:b1"])
        yield* c.push("team-b", { type: "ADDED", object: c.cm("team-b", "b2", "2") })
        yield* c.push("team-b", { type: "DELETED", object: c.cm("team-b", "b1", "3") })
        assert.deepStrictEqual(yield* next(2), ["Applied:team-b/b2", "Deleted:team-b/b1"])

        // the namespace is terminating (MODIFIED): still watched
        yield* c.push("namespaces", { type: "MODIFIED", object: c.ns("team-b", "5") })
        yield* c.push("team-b", { type: "ADDED", object: c.cm("team-b", "b3", "6") })
        assert.deepStrictEqual(yield* next(1), ["Applied:team-b/b3"])

        // deleted: its watcher stops; objects whose DELETED did not come are deleted with it
        yield* c.push("namespaces", { type: "DELETED", object: c.ns("team-b", "7") })
        assert.deepStrictEqual((yield* next(2)).sort(), [
          "Deleted:team-b/b2*",
          "Deleted:team-b/b3*"
        ])
        yield* Effect.sleep("20 millis")
        assert.isFalse(c.running.has("team-b"), "team-b's watch stopped")
        assert.isTrue(c.running.has("team-a"))

        // re-created under the same name: watched again from a fresh list
        c.objects.set("team-b", [])
        yield* c.push("namespaces", { type: "ADDED", object: c.ns("team-b", "8") })
        assert.deepStrictEqual(yield* next(1), ["Synced(initial):team-b:"])

        const lists = c.calls.filter((call) => call.startsWith("list"))
        assert.deepStrictEqual(lists, [
          "list namespaces",
          "list team-a",
          "list team-b",
          "list team-b"
        ])
        assert.isFalse(
          c.calls.some((call) => /secret|other/.test(call)),
          "never listed outside"
        )
        assert.strictEqual(yield* Queue.size(out), 0, "nothing else emitted")
        yield* Fiber.interrupt(fiber)
        assert.strictEqual(c.running.size, 0, "every watch stopped with the stream")
      }).pipe(Effect.timeout("5 seconds"))
  )

  it.live("ready waits for every namespace matching at start; a 403 there is retried", () =>
    Effect.gen(function* () {
      const c = yield* fakeCluster
      for (const n of ["team-a", "team-c"]) c.namespaceObjects.push(c.ns(n))
      c.forbidden.set("team-c", 3)
      c.objects.set("team-c", [c.cm("team-c", "c1")])
      const ready = yield* Deferred.make<void>()
      const events: Array<string> = []
      yield* Watcher.watch(configMaps, {
        ...fast,
        scope: Watcher.namespaces(["team-*"]),
        onReady: Effect.sync(() => events.push("ready")).pipe(
          Effect.andThen(Deferred.succeed(ready, undefined))
        )
      }).pipe(
        Stream.runForEach((e) => Effect.sync(() => events.push(where(e)))),
        Effect.provideService(Kube, c.kube),
        Effect.forkChild
      )
      yield* Deferred.await(ready)
      // ready once team-c's list got through (its events are in the stream, maybe not yet read)
      assert.strictEqual(c.calls.filter((call) => call === "list team-c").length, 4)
      yield* Effect.sleep("20 millis")
      assert.includeMembers(events, [
        "Synced(initial):team-a:",
        "Applied:team-c/c1",
        "Synced(initial):team-c:c1"
      ])
    }).pipe(Effect.timeout("5 seconds"))
  )

  it.live("no matching namespace: ready at the first list of namespaces", () =>
    Effect.gen(function* () {
      const c = yield* fakeCluster
      c.namespaceObjects.push(c.ns("other"))
      const ready = yield* Deferred.make<void>()
      yield* Watcher.watch(configMaps, {
        scope: Watcher.namespaces(["!other"]),
        onReady: Deferred.succeed(ready, undefined)
      }).pipe(Stream.runDrain, Effect.provideService(Kube, c.kube), Effect.forkChild)
      yield* Deferred.await(ready)
      yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(c.calls, ["list namespaces", "watch namespaces"])
    }).pipe(Effect.timeout("5 seconds"))
  )

  it.live("fixed names list each namespace and never namespaces", () =>
    Effect.gen(function* () {
      const c = yield* fakeCluster
      const ready = yield* Deferred.make<void>()
      yield* Watcher.watch(configMaps, {
        scope: Watcher.namespaces(["a", "b"]),
        onReady: Deferred.succeed(ready, undefined)
      }).pipe(Stream.runDrain, Effect.provideService(Kube, c.kube), Effect.forkChild)
      yield* Deferred.await(ready)
      assert.deepStrictEqual(c.calls.filter((call) => call.startsWith("list")).sort(), [
        "list a",
        "list b"
      ])
    }).pipe(Effect.timeout("5 seconds"))
  )
})
