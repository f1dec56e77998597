import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Tracer } from "effect"
import * as fc from "fast-check"
import {
  Handler,
  Json,
  Outcome,
  Patch,
  Progress,
  Reconcile,
  Registry,
  Spawn,
  Storage
} from "../src/index.ts"
import { widget, widgets } from "./support.ts"

const deleting = (body: Json.JsonObject, finalizers: ReadonlyArray<string> = []) =>
  Json.asObject(
    Patch.apply(body, {
      metadata: { deletionTimestamp: "2024-01-01T00:00:00Z", finalizers: [...finalizers] }
    })
  )

const timerOf = (options: Handler.TimerOptions<unknown>): Spawn.TimerSpawn => {
  const spawn = Handler.timer(widgets, options, () => Effect.void).spawn
  if (spawn?._tag !== "Timer") throw new Error("not a timer")
  return spawn
}

const runInput = (body: Json.JsonObject, state = Progress.start("timer:", 0)) => ({
  resource: widgets,
  body,
  state,
  now: 0,
  stopped: Effect.never,
  isStopped: Effect.succeed(false),
  latest: Effect.succeed(body)
})

describe("Handler.daemon, Handler.timer", () => {
  it("resolve their options; a bad one throws naming the handler and the option", () => {
    const d = Handler.daemon(widgets, { id: "d", initialDelay: "5 seconds" }, () => Effect.void)
    assert.deepStrictEqual(d.spawn, {
      _tag: "Daemon",
      initialDelay: Duration.seconds(5),
      cancellationTimeout: Duration.seconds(10)
    })
    assert.isTrue(Handler.needsFinalizer(d))
    assert.isFalse(Handler.handles(d, "create"))
    assert.throws(
      () => Handler.timer(widgets, { id: "t", interval: 0 }, () => Effect.void),
      'kubefx: handler "t": option interval must be above zero'
    )
    assert.throws(
      () =>
        Handler.timer(widgets, { id: "t", interval: "often" as Duration.Input }, () => Effect.void),
      /handler "t": option interval is not a duration/
    )
    assert.throws(
      () =>
        Handler.daemon(
          widgets,
          { id: "d", cancellationTimeout: Duration.infinity },
          () => Effect.void
        ),
      /handler "d": option cancellationTimeout must be finite/
    )
  })
})

describe("Spawn.wanted", () => {
  it("matching, not deleting, not failed for good", () => {
    const picky = Handler.daemon(
      widgets,
      { id: "picky", labels: { watch: "yes" } },
      () => Effect.void
    )
    const t = Handler.timer(widgets, { id: "t", interval: "1 minute" }, () => Effect.void)
    const create = Handler.onCreate(widgets, () => Effect.void)
    const labelled = widget({ size: "1G" }, { metadata: { labels: { watch: "yes" } } })
    const ids = (body: Json.JsonObject) => Spawn.wanted([picky, t, create], body).map((h) => h.id)
    assert.deepStrictEqual(ids(widget()), ["t"])
    assert.deepStrictEqual(ids(labelled), ["picky", "t"])
    assert.deepStrictEqual(ids(deleting(labelled)), [])
    const failed = Json.asObject(
      Patch.apply(labelled, { status: { kubefx: { errors: { picky: "broke" } } } })
    )
    assert.deepStrictEqual(ids(failed), ["t"])
  })
})

describe("Spawn.timerDue", () => {
  it("first run after initialDelay, then interval from the end (sharp: from the start)", () => {
    const plain = timerOf({ interval: "10 seconds", initialDelay: "3 seconds" })
    const sharp = timerOf({ interval: "10 seconds", sharp: true })
    const clock = { now: 0, since: 1_000, changed: 1_000, last: undefined }
    assert.strictEqual(Spawn.timerDue(plain, clock), 4_000)
    const last = { started: 20_000, ended: 24_000 }
    assert.strictEqual(Spawn.timerDue(plain, { ...clock, now: 24_000, last }), 34_000)
    assert.strictEqual(Spawn.timerDue(sharp, { ...clock, now: 24_000, last }), 30_000)
    const overran = { started: 20_000, ended: 45_000 }
    assert.strictEqual(Spawn.timerDue(sharp, { ...clock, now: 45_000, last: overran }), 50_000)
  })

  it("idle: never before the essence has been unchanged that long", () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: undefined }),
        fc.boolean(),
        (interval, idle, changed, started, sharp) => {
          const timer = timerOf({ interval, idle, sharp })
          const last = started === undefined ? undefined : { started, ended: started + 500 }
          const now = Math.max(changed, last?.ended ?? 0)
          const due = Spawn.timerDue(timer, { now, since: 0, changed, last })
          assert.isAtLeast(due, changed + idle)
          if (last !== undefined) assert.isAtLeast(due, last.started + interval)
        }
      )
    ))
})

describe("Spawn.run", () => {
  it.effect("a success stores the result and clears a recorded failure", () =>
    Effect.gen(function* () {
      const t = Handler.timer(widgets, { id: "ping", interval: "1 minute" }, () =>
        Effect.succeed({ ok: true })
      )
      const body = Json.asObject(
        Patch.apply(widget(), { status: { kubefx: { errors: { ping: "old" } } } })
      )
      const settled = yield* Spawn.run(t, runInput(body))
      assert.deepStrictEqual(settled.patch, {
        status: { ping: { ok: true }, kubefx: { errors: { ping: null } } }
      })
      assert.strictEqual(settled.next._tag, "Done")
    })
  )

  it.effect("a retry counts in the state; a permanent failure is recorded", () =>
    Effect.gen(function* () {
      let n = 0
      const d = Handler.daemon<unknown, Outcome.TemporaryError | Outcome.PermanentError>(
        widgets,
        { id: "w" },
        () =>
          n++ === 0
            ? Effect.fail(new Outcome.TemporaryError({ message: "later", delay: "2 seconds" }))
            : Effect.fail(new Outcome.PermanentError({ message: "never" }))
      )
      const first = yield* Spawn.run(d, runInput(widget(), Progress.start("daemon:", 0)))
      assert.deepStrictEqual(first.next, { _tag: "Retry", delayMillis: 2_000 })
      assert.strictEqual(first.state.retries, 1)
      assert.isTrue(Patch.isEmpty(first.patch))
      const second = yield* Spawn.run(d, runInput(widget(), first.state))
      assert.deepStrictEqual(second.next, { _tag: "Failed", message: "never" })
      assert.deepStrictEqual(second.patch, { status: { kubefx: { errors: { w: "never" } } } })
      assert.strictEqual(second.event.type, "Warning")
    })
  )

  it.effect("the context has the stop signal and the newest copy", () =>
    Effect.gen(function* () {
      const d = Handler.daemon(widgets, { id: "w" }, (ctx) =>
        Effect.gen(function* () {
          const latest = yield* ctx.latest
          return { stopped: yield* ctx.isStopped, name: Json.get(latest, "metadata.name") ?? null }
        })
      )
      const settled = yield* Spawn.run(d, runInput(widget()))
      assert.deepStrictEqual(Json.get(settled.patch, "status.w"), { stopped: false, name: "w" })
    })
  )

  it.effect(
    "a timer's run is a span kubefx.handler; a daemon's is none, its own spans are roots",
    () =>
      Effect.gen(function* () {
        const spans: Array<Tracer.NativeSpan> = []
        const tracer = Tracer.make({
          span(options) {
            const span = new Tracer.NativeSpan(options)
            spans.push(span)
            return span
          }
        })
        const own = () => Effect.withSpan(Effect.void, "own")
        const t = Handler.timer(widgets, { id: "t", interval: "1 minute" }, own)
        const d = Handler.daemon(widgets, { id: "d" }, own)
        yield* Spawn.run(t, runInput(widget())).pipe(Effect.withTracer(tracer))
        const handler = spans.find((s) => s.name === "kubefx.handler")
        const timerOwn = spans.find((s) => s.name === "own")
        assert.strictEqual(handler?.attributes.get("kubefx.handler"), "t")
        assert.strictEqual(handler?.attributes.get("kubefx.outcome"), "Success")
        assert.strictEqual(
          Option.getOrUndefined(timerOwn?.parent ?? Option.none())?.spanId,
          handler?.spanId
        )
        spans.length = 0
        yield* Spawn.run(d, runInput(widget())).pipe(Effect.withTracer(tracer))
        assert.deepStrictEqual(
          spans.map((s) => [s.name, Option.isNone(s.parent)]),
          [["own", true]]
        )
      })
  )
})

describe("Reconcile with daemons", () => {
  const registry = Registry.make(
    Handler.daemon(widgets, { id: "d", labels: { watch: "yes" } }, () => Effect.void)
  )
  const labelled = widget({ size: "1G" }, { metadata: { labels: { watch: "yes" } } })

  it.effect("a matching daemon's object gets the finalizer, and no other state", () =>
    Effect.gen(function* () {
      const d = yield* Reconcile.reconcile(registry, { resource: widgets, body: labelled, now: 0 })
      assert.deepStrictEqual(d.cause.finalizer, "add")
      assert.deepStrictEqual(Json.get(d.patch, "metadata.finalizers"), ["kubefx.dev/finalizer"])
      assert.isUndefined(Json.get(d.patch, "status"))
      const other = yield* Reconcile.reconcile(registry, {
        resource: widgets,
        body: widget(),
        now: 0
      })
      assert.isTrue(Patch.isEmpty(other.patch), "no matching daemon: no finalizer")
    })
  )

  it.effect("a deleted object keeps the finalizer while its daemons run", () =>
    Effect.gen(function* () {
      const body = deleting(labelled, ["kubefx.dev/finalizer"])
      const held = yield* Reconcile.reconcile(registry, {
        resource: widgets,
        body,
        now: 0,
        daemonsRunning: true
      })
      assert.isTrue(Patch.isEmpty(held.patch))
      assert.isFalse(held.done)
      const released = yield* Reconcile.reconcile(registry, { resource: widgets, body, now: 0 })
      assert.deepStrictEqual(Json.get(released.patch, "metadata.finalizers"), [])
    })
  )

  it.effect("with delete handlers: they run once; the finalizer goes after the daemons", () =>
    Effect.gen(function* () {
      let cleanups = 0
      const both = Registry.make(
        Handler.daemon(widgets, { id: "d" }, () => Effect.void),
        Handler.onDelete(widgets, { id: "cleanup" }, () =>
          Effect.sync(() => {
            cleanups++
          })
        )
      )
      let body = deleting(widget(), ["kubefx.dev/finalizer"])
      const input = { resource: widgets, now: 0 }
      const first = yield* Reconcile.reconcile(both, { ...input, body, daemonsRunning: true })
      assert.isUndefined(Json.get(first.patch, "metadata.finalizers"))
      body = Json.asObject(Patch.apply(body, first.patch))
      const second = yield* Reconcile.reconcile(both, { ...input, body, daemonsRunning: false })
      assert.deepStrictEqual(Json.get(second.patch, "metadata.finalizers"), [])
      assert.strictEqual(cleanups, 1)
      const state = Storage.readProgress(Storage.defaults, body).cleanup
      assert.isTrue(state?.success)
    })
  )
})
