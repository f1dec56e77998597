import { assert, describe, it } from "@effect/vitest"
import {
  Patch as CorePatch,
  Handler,
  Json,
  type KubeObject,
  Registry,
  Resource,
  Storage
} from "@kubefx/core"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import {
  Conflict,
  type Discovery,
  Kube,
  type KubeService,
  Processor,
  Settings,
  StatusWriter
} from "../src/index.ts"

const api = Resource.make({
  group: "test.kubefx.dev",
  version: "v1",
  plural: "widgets",
  kind: "Widget"
})
const target = (statusSubresource: boolean): Discovery.Target => ({
  api,
  resource: Resource.make(api),
  statusSubresource
})

/** One object in memory, with resourceVersions, guards and a log of the calls. */
const fakeKube = (initial: KubeObject.KubeObject, options: { readonly prunes?: boolean } = {}) => {
  let rv = 1
  let object: KubeObject.KubeObject = {
    ...initial,
    metadata: { ...initial.metadata, uid: "u1", resourceVersion: "1" }
  }
  const calls: Array<string> = []
  const write = (call: string, body: unknown) =>
    Effect.suspend(() => {
      calls.push(call)
      const guard = Json.get(body as Json.Json, ["metadata", "resourceVersion"])
      if (guard !== undefined && guard !== object.metadata?.resourceVersion)
        return Effect.fail(
          new Conflict({
            method: "PATCH",
            path: call,
            status: 409,
            reason: "Conflict",
            message: ""
          })
        )
      const applied = CorePatch.apply(
        object as Json.Json,
        body as Json.Json
      ) as KubeObject.KubeObject
      // A CRD whose status schema keeps nothing unknown drops status.kubefx.
      const next = options.prunes
        ? (CorePatch.apply(applied as Json.Json, {
            status: { kubefx: null }
          }) as KubeObject.KubeObject)
        : applied
      rv++
      object = { ...next, metadata: { ...next.metadata, resourceVersion: String(rv) } }
      return Effect.succeed(object)
    })
  const unused = () => Effect.die("not used")
  const used: Pick<KubeService, "get" | "patch" | "patchStatus" | "create"> = {
    get: () =>
      Effect.sync(() => {
        calls.push("get")
        return object
      }),
    patch: (_r, _n, p) => write("patch", p._tag === "Merge" ? p.body : undefined),
    patchStatus: (_r, _n, p) => write("patchStatus", p._tag === "Merge" ? p.body : undefined),
    create: (r, body) =>
      Effect.sync(() => {
        calls.push(r.plural === "events" ? `event ${String(body.reason)}` : `create ${r.plural}`)
        return body
      })
  }
  const service = {
    server: "https://fake",
    list: unused,
    listAll: unused,
    watch: unused,
    replace: unused,
    delete: unused,
    getStatus: unused,
    replaceStatus: unused,
    request: unused,
    ...used
  } as unknown as KubeService
  return {
    service,
    calls,
    current: () => object,
    /** Somebody else writes. */
    touch: (patch: Json.JsonObject) => Effect.runSync(write("other", patch))
  }
}

const widget: KubeObject.KubeObject = {
  apiVersion: "test.kubefx.dev/v1",
  kind: "Widget",
  metadata: { name: "w", namespace: "ns" },
  spec: { size: 1 }
}

const applied = (object: KubeObject.KubeObject) => ({ _tag: "Applied" as const, object })

describe("Processor", () => {
  it("isNoop", () => {
    assert.isTrue(StatusWriter.isNoop({}))
    assert.isTrue(StatusWriter.isNoop({ status: {}, metadata: { annotations: {} } }))
    assert.isFalse(StatusWriter.isNoop({ status: { a: null } }))
    assert.isFalse(StatusWriter.isNoop({ metadata: { finalizers: [] } }))
  })

  it.effect("by default, a handled create is one write of the status subresource", () =>
    Effect.gen(function* () {
      const kube = fakeKube(widget)
      const registry = Registry.make(
        Handler.onCreate("widgets", { id: "create" }, () => Effect.succeed({ ok: true }))
      )
      const p = yield* Processor.make(registry, target(true), Settings.make()).pipe(
        Effect.provideService(Kube, kube.service)
      )
      const [item] = p.observe({ _tag: "Applied", object: kube.current() })
      yield* p.process(item!)
      assert.deepStrictEqual(kube.calls, ["patchStatus"])
      assert.deepStrictEqual(Json.get(kube.current() as Json.Json, "status.create"), { ok: true })
      assert.isString(Json.get(kube.current() as Json.Json, "status.kubefx.lastHandled"))
    })
  )

  it.effect("a status that drops status.kubefx: the record goes to an annotation, once", () =>
    Effect.gen(function* () {
      const kube = fakeKube(widget, { prunes: true })
      let runs = 0
      const registry = Registry.make(
        Handler.onCreate("widgets", { id: "create" }, () => Effect.sync(() => void runs++))
      )
      const p = yield* Processor.make(registry, target(true), Settings.make()).pipe(
        Effect.provideService(Kube, kube.service)
      )
      const [item] = p.observe(applied(kube.current()))
      yield* p.process(item!)
      assert.deepStrictEqual(kube.calls, ["patchStatus", "patch"])
      assert.isString(kube.current().metadata?.annotations?.["kubefx.dev/last-handled"])
      // The copy from between the two writes (record pruned, annotation not yet) is stale.
      const between = {
        ...kube.current(),
        metadata: { ...kube.current().metadata, annotations: {}, resourceVersion: "2" }
      }
      const skipped = yield* p.process(p.observe(applied(between))[0]!)
      assert.isTrue(Option.isSome(skipped), "waits for our own write")
      yield* p.process(p.observe(applied(kube.current()))[0]!)
      assert.strictEqual(runs, 1, "not run again")
      assert.deepStrictEqual(kube.calls, ["patchStatus", "patch"], "nothing more to write")
    })
  )

  it.effect("status and the rest go in two calls, and stale copies are not processed", () =>
    Effect.gen(function* () {
      const kube = fakeKube(widget)
      let runs = 0
      const registry = Registry.make(
        Handler.onCreate("widgets", { id: "create" }, () =>
          Effect.sync(() => {
            runs++
            return { ok: true }
          })
        )
      )
      // The last-handled record in an annotation: status first, then the object.
      const storage = Storage.make({ lastHandled: Storage.annotations({ prefix: "kubefx.dev" }) })
      const p = yield* Processor.make(registry, target(true), Settings.make({ storage })).pipe(
        Effect.provideService(Kube, kube.service)
      )
      const first = kube.current()
      const [item] = p.observe({ _tag: "Applied", object: first })
      const after = yield* p.process(item!)
      assert.isTrue(Option.isNone(after))
      assert.strictEqual(runs, 1)
      assert.deepStrictEqual(kube.calls.slice(0, 2), ["patchStatus", "patch"])
      assert.deepStrictEqual(Json.get(kube.current() as Json.Json, "status.create"), { ok: true })
      assert.isString(kube.current().metadata?.annotations?.["kubefx.dev/last-handled"])

      // The watch now delivers the intermediate copy (status written, not yet the annotation):
      // it would look like a create not yet handled.
      const intermediate = {
        ...kube.current(),
        metadata: { ...kube.current().metadata, annotations: {}, resourceVersion: "2" }
      }
      const [stale] = p.observe(applied(intermediate))
      const skipped = yield* p.process(stale!)
      assert.isTrue(Option.isSome(skipped), "skipped, with requeued at the deadline")
      assert.strictEqual(runs, 1, "not processed")

      // Our own version arrives: processed, nothing to do.
      const [own] = p.observe(applied(kube.current()))
      yield* p.process(own!)
      assert.strictEqual(runs, 1)
      assert.strictEqual(kube.calls.filter((c) => c.startsWith("patch")).length, 2)
    })
  )

  it.effect("once our write did not come back in time, the object is read again and decides", () =>
    Effect.gen(function* () {
      const kube = fakeKube(widget)
      let runs = 0
      const registry = Registry.make(
        Handler.onCreate("widgets", { id: "create" }, () => Effect.sync(() => void runs++))
      )
      const p = yield* Processor.make(
        registry,
        target(false),
        Settings.make({ ownWriteTimeout: "5 seconds" })
      ).pipe(Effect.provideService(Kube, kube.service))
      const original = kube.current()
      yield* p.process(p.observe(applied(original))[0]!)
      assert.deepStrictEqual(kube.calls, ["patch"], "no Normal Events by default")
      const wait = yield* p.process(p.observe(applied(original))[0]!)
      assert.isTrue(Option.isSome(wait))
      assert.strictEqual(runs, 1)
      yield* TestClock.adjust("5 seconds")
      yield* p.process(p.observe(applied(original))[0]!)
      assert.deepStrictEqual(kube.calls, ["patch", "get"])
      assert.strictEqual(
        runs,
        1,
        "the fresh copy holds the handler's success: no run on the stale one"
      )
    })
  )

  it.effect("a relist bringing the copy our write was decided on keeps waiting for the write", () =>
    Effect.gen(function* () {
      const kube = fakeKube(widget)
      let runs = 0
      const registry = Registry.make(
        Handler.onCreate("widgets", { id: "create" }, () => Effect.sync(() => void runs++))
      )
      const p = yield* Processor.make(registry, target(false), Settings.make()).pipe(
        Effect.provideService(Kube, kube.service)
      )
      const listed = kube.current()
      yield* p.process(p.observe(applied(listed))[0]!)
      const items = p.observe({ _tag: "Synced", namespace: "ns", objects: [listed], initial: true })
      assert.deepStrictEqual(items, [])
      assert.strictEqual(runs, 1)
    })
  )

  it.effect("a relist clears the expectation and processes the listed copy", () =>
    Effect.gen(function* () {
      const kube = fakeKube(widget)
      let runs = 0
      const registry = Registry.make(
        Handler.onCreate("widgets", { id: "create" }, () => Effect.sync(() => void runs++))
      )
      const p = yield* Processor.make(registry, target(false), Settings.make()).pipe(
        Effect.provideService(Kube, kube.service)
      )
      yield* p.process(p.observe(applied(kube.current()))[0]!)
      const items = p.observe({
        _tag: "Synced",
        namespace: "ns",
        objects: [kube.current()],
        initial: false
      })
      assert.strictEqual(items.length, 1)
      yield* p.process(items[0]!)
      assert.strictEqual(runs, 1)
    })
  )

  it.effect("a 409 re-reads the object and runs the step again on the fresh copy", () =>
    Effect.gen(function* () {
      const kube = fakeKube(widget)
      const registry = Registry.make(
        Handler.onDelete("widgets", { id: "cleanup" }, () => Effect.void)
      )
      const p = yield* Processor.make(registry, target(true), Settings.make()).pipe(
        Effect.provideService(Kube, kube.service)
      )
      const seen = kube.current()
      kube.touch({ spec: { size: 2 } }) // somebody writes after the watch delivered `seen`
      yield* p.process(p.observe(applied(seen))[0]!)
      assert.deepStrictEqual(kube.calls, ["other", "patch", "get", "patch"], "409, read, success")
      assert.deepStrictEqual(kube.current().metadata?.finalizers, ["kubefx.dev/finalizer"])
      assert.deepStrictEqual(kube.current().spec, { size: 2 }, "the other write is kept")
    })
  )
})
