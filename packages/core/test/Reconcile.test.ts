import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Schedule } from "effect"
import { TestClock } from "effect/testing"
import {
  Essence,
  Handler,
  Json,
  Outcome,
  Patch,
  Progress,
  Reconcile,
  Registry,
  Storage
} from "../src/index.ts"
import { widget, widgets } from "./support.ts"

const run = <R>(
  registry: Registry.Registry<R>,
  body: Json.JsonObject,
  now = 0,
  extra: Partial<Reconcile.Input> = {}
) => Reconcile.reconcile(registry, { resource: widgets, body, now, ...extra })

const applied = (body: Json.JsonObject, d: Reconcile.Decision): Json.JsonObject =>
  Json.asObject(Patch.apply(body, d.patch))
const millis = (d: Reconcile.Decision) => Option.map(d.requeueAfter, Duration.toMillis)
const tags = (d: Reconcile.Decision) => d.runs.map((r) => [r.id, r.outcome._tag])

describe("Reconcile: outcomes", () => {
  it.effect(
    "success: the result goes to status.<id>, the essence is stored, nothing is pending",
    () =>
      Effect.gen(function* () {
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "make" }, () => Effect.succeed({ made: true }))
        )
        const d = yield* run(registry, widget())
        assert.deepStrictEqual(Json.get(d.patch, "status.make"), { made: true })
        const stored = Storage.readLastHandled(Storage.defaults, applied(widget(), d))
        assert.deepStrictEqual(stored?.essence, { spec: { size: "1G" } })
        assert.isTrue(Option.isNone(d.requeueAfter))
        assert.isTrue(d.done)
        assert.deepStrictEqual(
          d.events.map((e) => [e.type, e.reason]),
          [
            ["Normal", "Succeeded"],
            ["Normal", "Processed"]
          ]
        )
        const again = yield* run(registry, applied(widget(), d), 1)
        assert.strictEqual(again.cause.reason, "noop")
        assert.deepStrictEqual(again.patch, {})
        assert.deepStrictEqual(again.runs, [])
      })
  )

  it.effect(
    "temporary error with a delay: progress is stored and the decision comes back after it",
    () =>
      Effect.gen(function* () {
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "t" }, () =>
            Effect.fail(new Outcome.TemporaryError({ message: "wait", delay: "42 seconds" }))
          )
        )
        const d = yield* run(registry, widget(), 1000)
        assert.deepStrictEqual(millis(d), Option.some(42_000))
        const state = Storage.readProgress(Storage.defaults, applied(widget(), d)).t
        assert.strictEqual(state?.retries, 1)
        assert.strictEqual(state?.delayed, 43_000)
        assert.strictEqual(state?.message, "wait")
        assert.strictEqual(
          Storage.readLastHandled(Storage.defaults, applied(widget(), d)),
          undefined
        )
        assert.isFalse(d.done)
        const early = yield* run(registry, applied(widget(), d), 20_000)
        assert.deepStrictEqual(early.runs, [])
        assert.deepStrictEqual(millis(early), Option.some(23_000))
        assert.deepStrictEqual(early.patch, {})
      })
  )

  it.effect("temporary error without a delay follows the backoff; retries are limited", () =>
    Effect.gen(function* () {
      let attempts = 0
      const registry = Registry.make(
        Handler.onCreate(
          widgets,
          { id: "t", retries: 2, backoff: Schedule.exponential("1 second") },
          () =>
            Effect.suspend(() => {
              attempts++
              return Effect.fail(new Outcome.TemporaryError({ message: "nope" }))
            })
        )
      )
      let body = widget()
      let now = 0
      const delays: Array<Option.Option<number>> = []
      for (let i = 0; i < 5; i++) {
        const d = yield* run(registry, body, now)
        delays.push(millis(d))
        body = applied(body, d)
        now += Option.getOrElse(millis(d), () => 1)
      }
      assert.strictEqual(attempts, 3)
      assert.deepStrictEqual(delays.slice(0, 3), [
        Option.some(1000),
        Option.some(2000),
        Option.none()
      ])
      assert.strictEqual(
        Json.get(body, "status.kubefx.errors.t"),
        "Retries exhausted after 3 attempts: nope"
      )
      assert.isDefined(Storage.readLastHandled(Storage.defaults, body))
    })
  )

  it.effect("the end of the backoff Schedule exhausts the retries", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "t", backoff: Schedule.recurs(1) }, () =>
          Effect.fail(new Outcome.TemporaryError({ message: "x" }))
        )
      )
      const d1 = yield* run(registry, widget(), 0)
      assert.deepStrictEqual(tags(d1), [["t", "Retry"]])
      const d2 = yield* run(registry, applied(widget(), d1), 10)
      assert.strictEqual(d2.runs[0]?.outcome._tag, "Failure")
      if (d2.runs[0]?.outcome._tag === "Failure")
        assert.strictEqual(d2.runs[0].outcome.error._tag, "RetriesExhausted")
    })
  )

  it.effect(
    "permanent error: runs once, fails for good, message in status and a Warning event",
    () =>
      Effect.gen(function* () {
        let attempts = 0
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "p" }, () =>
            Effect.suspend(() => {
              attempts++
              return Effect.fail(new Outcome.PermanentError({ message: "bad spec" }))
            })
          )
        )
        const d = yield* run(registry, widget())
        assert.strictEqual(attempts, 1)
        assert.strictEqual(Json.get(d.patch, "status.kubefx.errors.p"), "bad spec")
        assert.isTrue(d.events.some((e) => e.type === "Warning" && e.message.includes("bad spec")))
        assert.isTrue(d.done)
        const d2 = yield* run(registry, applied(widget(), d), 10_000)
        assert.strictEqual(attempts, 1)
        assert.strictEqual(d2.cause.reason, "noop")
      })
  )

  it.effect(
    "errors modes: unexpected failures and defects are temporary, permanent or ignored",
    () =>
      Effect.gen(function* () {
        const boom = () => Effect.fail(new Error("boom"))
        const die = () => Effect.die("kaput")
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "default" }, boom),
          Handler.onCreate(
            widgets,
            { id: "temporary", errors: "temporary", backoff: Schedule.spaced("3 seconds") },
            die
          ),
          Handler.onCreate(widgets, { id: "permanent", errors: "permanent" }, boom),
          Handler.onCreate(widgets, { id: "ignored", errors: "ignored" }, die),
          Handler.onCreate(widgets, { id: "throws", errors: "permanent" }, () => {
            throw new Error("sync throw")
          })
        )
        const d = yield* run(registry, widget())
        assert.deepStrictEqual(tags(d), [
          ["default", "Retry"],
          ["temporary", "Retry"],
          ["permanent", "Failure"],
          ["ignored", "Success"],
          ["throws", "Failure"]
        ])
        const delays = d.runs.map((r) =>
          r.outcome._tag === "Retry" ? r.outcome.delayMillis : undefined
        )
        assert.isTrue(
          delays[0]! >= 800 && delays[0]! <= 1200,
          "the default backoff starts at 1s, jittered"
        )
        assert.strictEqual(delays[1], 3000)
        assert.deepStrictEqual(millis(d), Option.some(delays[0]!))
        const ignored = d.runs[3]?.outcome
        assert.include(ignored?._tag === "Success" ? ignored.message : "", "kaput")
        const thrown = d.runs[4]?.outcome
        assert.include(thrown?._tag === "Failure" ? thrown.error.message : "", "sync throw")
      })
  )

  it.effect("timeout: a run that takes too long fails with HandlerTimeout", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "slow", timeout: "1 second" }, () =>
          Effect.sleep("1 minute")
        )
      )
      const fiber = yield* Effect.forkChild(run(registry, widget()))
      yield* TestClock.adjust("2 seconds")
      const d = yield* Fiber.join(fiber)
      const o = d.runs[0]?.outcome
      assert.strictEqual(o?._tag === "Failure" ? o.error._tag : undefined, "HandlerTimeout")
    })
  )

  it.effect("timeout counts from the first start, across retries", () =>
    Effect.gen(function* () {
      let attempts = 0
      const registry = Registry.make(
        Handler.onCreate(
          widgets,
          { id: "t", timeout: "1 minute", backoff: Schedule.spaced("45 seconds") },
          () =>
            Effect.suspend(() => {
              attempts++
              return Effect.fail(new Outcome.TemporaryError({ message: "x" }))
            })
        )
      )
      const d1 = yield* run(registry, widget(), 0)
      const d2 = yield* run(registry, applied(widget(), d1), 45_000)
      const b2 = applied(applied(widget(), d1), d2)
      const d3 = yield* run(registry, b2, 90_000)
      assert.strictEqual(attempts, 2)
      const o = d3.runs[0]?.outcome
      assert.strictEqual(o?._tag === "Failure" ? o.error._tag : undefined, "HandlerTimeout")
    })
  )
})

describe("Reconcile: policy", () => {
  it.effect(
    "every due handler runs once per step, in declaration order, and sees the earlier results",
    () =>
      Effect.gen(function* () {
        const seen: Array<Json.Json | undefined> = []
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "a" }, () =>
            Effect.fail(new Outcome.TemporaryError({ message: "a", delay: 5000 }))
          ),
          Handler.onCreate(widgets, { id: "b" }, () => Effect.succeed("from-b")),
          Handler.onCreate(widgets, { id: "c" }, (ctx) =>
            Effect.sync(() => void seen.push(ctx.status.b))
          ),
          Handler.onCreate(widgets, { id: "d" }, () =>
            Effect.fail(new Outcome.TemporaryError({ message: "d", delay: 2000 }))
          )
        )
        const d = yield* run(registry, widget())
        assert.deepStrictEqual(
          d.runs.map((r) => r.id),
          ["a", "b", "c", "d"]
        )
        assert.deepStrictEqual(seen, ["from-b"])
        assert.deepStrictEqual(millis(d), Option.some(2000))
        const d2 = yield* run(registry, applied(widget(), d), 2000)
        assert.deepStrictEqual(
          d2.runs.map((r) => r.id),
          ["d"]
        )
        assert.deepStrictEqual(millis(d2), Option.some(2000))
      })
  )

  it.effect(
    "a handler's own patch is applied, and its own metadata change does not cause an update",
    () =>
      Effect.gen(function* () {
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "label" }, (ctx) => ctx.patch.labels({ managed: "yes" })),
          Handler.onUpdate(widgets, { id: "upd" }, () => Effect.void)
        )
        const d = yield* run(registry, widget())
        assert.deepStrictEqual(Json.get(d.patch, "metadata.labels"), { managed: "yes" })
        const d2 = yield* run(registry, applied(widget(), d), 1)
        assert.strictEqual(d2.cause.reason, "noop")
      })
  )

  it.effect("resume handlers run when the process first sees a handled object", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "c" }, () => Effect.void),
        Handler.onResume(widgets, { id: "r" }, () => Effect.succeed("resumed"))
      )
      const created = applied(widget(), yield* run(registry, widget()))
      const d = yield* run(registry, created, 10, { firstSight: true })
      assert.strictEqual(d.cause.reason, "resume")
      assert.deepStrictEqual(tags(d), [["r", "Success"]])
      assert.strictEqual(Json.get(d.patch, "status.r"), "resumed")
    })
  )

  it.effect(
    "event handlers run on watch events only, statelessly, and their failures are ignored",
    () =>
      Effect.gen(function* () {
        const events: Array<string> = []
        const registry = Registry.make(
          Handler.onEvent(widgets, { id: "e" }, (ctx) =>
            Effect.sync(() => void events.push(String(ctx.event)))
          ),
          Handler.onEvent(widgets, { id: "bad" }, () => Effect.die("oops"))
        )
        const d = yield* run(registry, widget(), 0, { event: "ADDED" })
        assert.deepStrictEqual(events, ["ADDED"])
        assert.deepStrictEqual(d.patch, {})
        assert.isTrue(Option.isNone(d.requeueAfter))
        yield* run(registry, widget(), 0)
        assert.deepStrictEqual(events, ["ADDED"])
        const gone = yield* run(registry, widget(), 0, { event: "DELETED" })
        assert.strictEqual(gone.cause.reason, "gone")
        assert.deepStrictEqual(events, ["ADDED", "DELETED"])
      })
  )

  it.effect("the same input and clock give the same decision (jitter included)", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "j" }, () => Effect.fail(new Error("x")))
      )
      const a = yield* run(registry, widget(), 123)
      const b = yield* run(registry, widget(), 123)
      assert.deepStrictEqual(a, b)
      const delay = Option.getOrThrow(millis(a))
      assert.isTrue(delay >= 800 && delay <= 1200, `jittered first delay ${delay}`)
    })
  )
})

describe("Reconcile: finalizer", () => {
  const deleting = (body: Json.JsonObject) =>
    Json.asObject(Patch.apply(body, { metadata: { deletionTimestamp: "2024-01-01T00:00:00Z" } }))

  it.effect(
    "finalizer first: added alone (with a resourceVersion precondition) before any handler runs",
    () =>
      Effect.gen(function* () {
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "c" }, () => Effect.void),
          Handler.onDelete(widgets, { id: "d" }, () => Effect.void)
        )
        const d = yield* run(registry, widget())
        assert.deepStrictEqual(d.runs, [])
        assert.deepStrictEqual(d.patch, {
          metadata: { finalizers: ["kubefx.dev/finalizer"], resourceVersion: "1" }
        })
        const d2 = yield* run(registry, applied(widget(), d))
        assert.deepStrictEqual(tags(d2), [["c", "Success"]])
      })
  )

  it.effect("optional delete handlers do not add the finalizer", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onDelete(widgets, { id: "d", optional: true }, () => Effect.void)
      )
      const d = yield* run(registry, widget())
      assert.isUndefined(Json.get(d.patch, "metadata.finalizers"))
    })
  )

  it.effect(
    "delete: the finalizer stays while delete handlers retry, and goes when they are done",
    () =>
      Effect.gen(function* () {
        let fail = true
        const registry = Registry.make(
          Handler.onDelete(widgets, { id: "d" }, () =>
            fail
              ? Effect.fail(new Outcome.TemporaryError({ message: "later", delay: 1000 }))
              : Effect.void
          )
        )
        let body = applied(widget(), yield* run(registry, widget()))
        body = applied(body, yield* run(registry, body))
        body = deleting(body)
        const d1 = yield* run(registry, body, 10)
        assert.strictEqual(d1.cause.reason, "delete")
        assert.isUndefined(Json.get(d1.patch, "metadata.finalizers"))
        assert.deepStrictEqual(millis(d1), Option.some(1000))
        body = applied(body, d1)
        fail = false
        const d2 = yield* run(registry, body, 2000)
        assert.deepStrictEqual(Json.get(d2.patch, "metadata.finalizers"), [])
        assert.isTrue(d2.done)
      })
  )

  it.effect(
    "delete: after a permanent failure the finalizer is removed anyway, with a Warning",
    () =>
      Effect.gen(function* () {
        const registry = Registry.make(
          Handler.onDelete(widgets, { id: "d" }, () =>
            Effect.fail(new Outcome.PermanentError({ message: "cannot" }))
          )
        )
        let body = applied(widget(), yield* run(registry, widget()))
        body = deleting(applied(body, yield* run(registry, body)))
        const d = yield* run(registry, body)
        assert.deepStrictEqual(Json.get(d.patch, "metadata.finalizers"), [])
        assert.isTrue(
          d.events.some(
            (e) => e.type === "Warning" && e.message.includes("finalizer is removed anyway")
          )
        )
      })
  )

  it.effect("a finalizer no longer needed is removed; other finalizers are kept", () =>
    Effect.gen(function* () {
      const registry = Registry.make(Handler.onCreate(widgets, { id: "c" }, () => Effect.void))
      const body = Json.asObject(
        Patch.apply(widget(), {
          metadata: { finalizers: ["other.io/keep", "kubefx.dev/finalizer"] }
        })
      )
      const d = yield* run(registry, body)
      assert.deepStrictEqual(Json.get(d.patch, "metadata.finalizers"), ["other.io/keep"])
    })
  )
})

describe("Reconcile: storage", () => {
  it.effect("progress in annotations, with a long handler id, resumes across steps", () =>
    Effect.gen(function* () {
      const storage = Storage.make({
        progress: Storage.annotations({ prefix: "kubefx.dev" }),
        lastHandled: Storage.annotations({ prefix: "kubefx.dev" })
      })
      const id = `a-very-long-handler-id/${"x".repeat(80)}/with spaces & symbols`
      let attempts = 0
      const registry = Registry.make(
        Handler.onCreate(widgets, { id }, () =>
          Effect.suspend(() =>
            ++attempts < 2
              ? Effect.fail(new Outcome.TemporaryError({ message: "once", delay: 10 }))
              : Effect.void
          )
        )
      )
      const d1 = yield* run(registry, widget(), 0, { storage })
      const body = applied(widget(), d1)
      const keys = Object.keys(Json.asObject(Json.get(body, "metadata.annotations")))
      assert.strictEqual(keys.length, 1)
      assert.isTrue(Storage.isValidName(keys[0]!.split("/")[1]!))
      assert.strictEqual(Storage.readProgress(storage, body)[id]?.retries, 1)
      const d2 = yield* run(registry, body, 10, { storage })
      const done = applied(body, d2)
      assert.deepStrictEqual(Object.keys(Json.asObject(Json.get(done, "metadata.annotations"))), [
        "kubefx.dev/last-handled"
      ])
    })
  )

  it.effect(
    "a large spec cannot break the operator: the stored essence is bounded and updates still fire",
    () =>
      Effect.gen(function* () {
        const seen: Array<[Json.Json | undefined, Json.Json | undefined]> = []
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "c" }, () => Effect.void),
          Handler.onField(widgets, "spec.blob", { id: "blob" }, (ctx) =>
            Effect.sync(() => void seen.push([ctx.old, ctx.new]))
          ),
          Handler.onField(widgets, "spec.size", { id: "size" }, (ctx) =>
            Effect.sync(() => void seen.push([ctx.old, ctx.new]))
          )
        )
        const big = widget({ size: "1G", blob: "x".repeat(1_000_000) })
        const created = applied(big, yield* run(registry, big))
        const stored = String(
          Json.get(created, ["metadata", "annotations", "kubefx.dev/last-handled"])
        )
        assert.isAtMost(Json.byteLength(stored), Essence.defaultMaxBytes)
        seen.length = 0
        const edited = Json.asObject(
          Patch.apply(created, { spec: { size: "2G", blob: "y".repeat(1_000_000) } })
        )
        const d = yield* run(registry, edited, 1)
        assert.strictEqual(d.cause.reason, "update")
        assert.deepStrictEqual(seen, [
          [undefined, "y".repeat(1_000_000)],
          ["1G", "2G"]
        ])
      })
  )

  it.effect("the last-handled essence can live in status", () =>
    Effect.gen(function* () {
      const storage = Storage.make({ lastHandled: Storage.status({ field: "kubefx" }) })
      const registry = Registry.make(Handler.onUpdate(widgets, { id: "u" }, () => Effect.void))
      const created = applied(widget(), yield* run(registry, widget(), 0, { storage }))
      // Stored as a JSON string: a merge patch could neither store nulls nor replace a whole object.
      assert.deepStrictEqual(Storage.readLastHandled(storage, created)?.essence, {
        spec: { size: "1G" }
      })
      assert.isString(Json.get(created, "status.kubefx.lastHandled"))
      const d = yield* run(
        registry,
        Json.asObject(Patch.apply(created, { spec: { size: "2G" } })),
        1,
        { storage }
      )
      assert.deepStrictEqual(tags(d), [["u", "Success"]])
    })
  )

  it.effect("stale progress of an abandoned change is purged", () =>
    Effect.gen(function* () {
      const registry = Registry.make(Handler.onCreate(widgets, { id: "c" }, () => Effect.void))
      const created = applied(widget(), yield* run(registry, widget()))
      const withStale = Json.asObject(
        Patch.apply(
          created,
          Storage.writeProgress(Storage.defaults, { old: Progress.start("update:0000", 0) })
        )
      )
      const d = yield* run(registry, withStale, 1)
      assert.strictEqual(d.cause.reason, "noop")
      assert.deepStrictEqual(d.patch, { status: { kubefx: { progress: null } } })
    })
  )
})

describe("Handler ids", () => {
  it("derived from the function's name, else the kind; field handlers append the field", () => {
    function create_fn() {
      return Effect.void
    }
    assert.strictEqual(Handler.onCreate("pods", create_fn).id, "create_fn")
    assert.strictEqual(Handler.onCreate("pods", () => Effect.void).id, "on-create")
    assert.strictEqual(
      Handler.onField("pods", "spec.size", () => Effect.void).id,
      "on-field/spec.size"
    )
  })

  it("the registry makes derived ids unique and refuses duplicate explicit ids", () => {
    const r = Registry.make(
      Handler.onCreate("pods", () => Effect.void),
      Handler.onCreate("pods", () => Effect.void),
      Handler.onCreate("services", () => Effect.void)
    )
    assert.deepStrictEqual(
      r.handlers.map((h) => h.id),
      ["on-create", "on-create-2", "on-create"]
    )
    assert.throws(() =>
      Registry.make(
        Handler.onCreate("pods", { id: "x" }, () => Effect.void),
        Handler.onUpdate("pods", { id: "x" }, () => Effect.void)
      )
    )
  })
})
