import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule, Stream } from "effect"
import {
  Expired,
  Forbidden,
  type KubeError,
  type KubeService,
  type RawWatchEvent,
  Resource,
  TransportError,
  Watcher,
  WatchState
} from "../src/index.ts"

const obj = (name: string, rv: string, uid = `uid-${name}`): Resource.KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "ns", uid, resourceVersion: rv }
})

const list = (items: ReadonlyArray<Resource.KubeObject>, rv: string): Resource.ObjectList => ({
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
  readonly lists: ReadonlyArray<Resource.ObjectList>
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

const configMaps = Resource.core("v1", "configmaps", "ConfigMap")
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

  it.live("errors that waiting cannot heal end the stream", () =>
    Effect.gen(function* () {
      const kube = {
        listAll: () =>
          Effect.fail(
            new Forbidden({
              method: "GET",
              path: "/x",
              status: 403,
              reason: "Forbidden",
              message: "no"
            })
          )
      } as unknown as KubeService
      const error = yield* Watcher.watchScope(kube, configMaps, "ns", fast).pipe(
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(error._tag, "Forbidden")
    }).pipe(Effect.timeout("5 seconds"))
  )
})
