/**
 * The running of one handler, at its own interface: `invoke` classifies how a run ends into an
 * outcome (with the handler's patch), `eventFor` gives an outcome's event.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, DateTime, Duration, Effect, Fiber, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Handler, type Json, Outcome, Progress, Reconcile } from "../src/index.ts"
import * as Invocation from "../src/internal/invocation.ts"
import { widget, widgets } from "./support.ts"

const input = (over: Partial<Invocation.Invocation> = {}): Invocation.Invocation => ({
  resource: widgets,
  body: widget(),
  reason: "create",
  event: undefined,
  change: { old: undefined, new: { spec: { size: "1G" } }, diff: [] },
  state: Progress.start("create:", 0),
  now: 0,
  seed: "uid-1/h/create:",
  ...over
})

const onCreate = (
  options: Handler.Options<Json.JsonObject>,
  fn: (ctx: Handler.Context<Json.JsonObject>) => Handler.Result<unknown, never>
) => Handler.onCreate(widgets, { id: "h", ...options }, fn)

const failed = (outcome: Outcome.Outcome): [string, string] | undefined =>
  outcome._tag === "Failure" ? [outcome.error._tag, outcome.error.message] : undefined

class QuotaRefused extends Data.TaggedError("QuotaRefused")<{ readonly message: string }> {
  get [Outcome.permanent](): string {
    return `quota refused: ${this.message}`
  }
}

class Refused extends Data.TaggedError("Refused")<{ readonly message: string }> {
  readonly [Outcome.permanent] = true
}

describe("Invocation: the context", () => {
  it.effect("holds the object's parts, the change and the handler's progress", () =>
    Effect.gen(function* () {
      let seen: Handler.Context<Json.JsonObject> | undefined
      const h = onCreate({}, (ctx) =>
        Effect.sync(() => {
          seen = ctx
        })
      )
      const body = widget(
        { size: "2G" },
        { metadata: { labels: { app: "x", n: 1 }, annotations: { "a.b/c": "d" } } }
      )
      const state = { ...Progress.start("create:", 1_000), retries: 2 }
      yield* Invocation.invoke(h, input({ body, state, now: 4_000 }))
      assert.strictEqual(seen?.id, "h")
      assert.strictEqual(seen?.resource, widgets)
      assert.deepStrictEqual(seen?.spec, { size: "2G" })
      assert.deepStrictEqual(
        [seen?.name, seen?.namespace, seen?.uid, seen?.reason, seen?.event],
        ["w", "default", "uid-1", "create", undefined]
      )
      assert.deepStrictEqual(seen?.labels, { app: "x" })
      assert.deepStrictEqual(seen?.annotations, { "a.b/c": "d" })
      assert.deepStrictEqual(seen?.new, { spec: { size: "1G" } })
      assert.strictEqual(seen?.retry, 2)
      assert.strictEqual(seen === undefined ? 0 : DateTime.toEpochMillis(seen.started), 1_000)
      assert.strictEqual(seen === undefined ? 0 : Duration.toMillis(seen.runtime), 3_000)
    })
  )

  it.effect(
    "is a plain object to the handler: spreading it copies every field, each read twice is the same",
    () =>
      Effect.gen(function* () {
        let copy: Record<string, unknown> = {}
        let same = false
        const h = onCreate({}, (ctx) =>
          Effect.andThen(
            ctx.patch.status({ seen: true }),
            Effect.sync(() => {
              copy = { ...ctx }
              same =
                copy.labels === ctx.labels &&
                copy.started === ctx.started &&
                copy.logger === ctx.logger &&
                copy.patch === ctx.patch
            })
          )
        )
        const body = widget({ size: "2G" }, { metadata: { labels: { app: "x" } } })
        const attempt = yield* Invocation.invoke(h, input({ body }))
        assert.isTrue(same)
        assert.deepStrictEqual(Object.keys(copy).sort(), [
          "annotations",
          "body",
          "diff",
          "event",
          "execute",
          "id",
          "labels",
          "logger",
          "meta",
          "name",
          "namespace",
          "new",
          "old",
          "patch",
          "reason",
          "resource",
          "retry",
          "runtime",
          "spec",
          "started",
          "status",
          "uid"
        ])
        assert.deepStrictEqual(copy.labels, { app: "x" })
        assert.deepStrictEqual(attempt.patch, { status: { seen: true } })
      })
  )

  it.effect(
    "decodes the spec with the handler's Schema; a spec that does not decode is refused",
    () =>
      Effect.gen(function* () {
        const spec = Schema.Struct({ size: Schema.NumberFromString })
        let runs = 0
        const h = Handler.onCreate("widgets", { id: "h", spec }, (ctx) =>
          Effect.sync(() => {
            runs++
            return { doubled: ctx.spec.size * 2 }
          })
        )
        const ok = yield* Invocation.invoke(h, input({ body: widget({ size: "21" }) }))
        assert.deepStrictEqual(ok.outcome, Outcome.success({ doubled: 42 }))
        const bad = yield* Invocation.invoke(h, input({ body: widget({}) }))
        assert.strictEqual(failed(bad.outcome)?.[0], "PermanentError")
        assert.match(failed(bad.outcome)?.[1] ?? "", /^Invalid spec: /)
        assert.strictEqual(runs, 1)
      })
  )
})

describe("Invocation: how a run ends", () => {
  it.effect("a success is its result, with the patch the handler wrote", () =>
    Effect.gen(function* () {
      const h = onCreate({}, (ctx) =>
        Effect.as(ctx.patch.labels({ seen: "yes" }), { pvcName: ctx.name })
      )
      const a = yield* Invocation.invoke(h, input())
      assert.deepStrictEqual(a.outcome, Outcome.success({ pvcName: "w" }))
      assert.deepStrictEqual(a.patch, { metadata: { labels: { seen: "yes" } } })
      const none = yield* Invocation.invoke(
        onCreate({}, () => Effect.void),
        input()
      )
      assert.deepStrictEqual(none.outcome, Outcome.success(undefined))
    })
  )

  it.effect("a TemporaryError is retried after its delay, else the backoff's", () =>
    Effect.gen(function* () {
      const h = (delay?: Duration.Input) =>
        onCreate({ backoff: Schedule.spaced("7 seconds") }, () =>
          Effect.fail(new Outcome.TemporaryError({ message: "not yet", delay }))
        )
      const own = yield* Invocation.invoke(h("3 seconds"), input())
      assert.deepStrictEqual(own.outcome, Outcome.retry(3_000, "not yet"))
      const backoff = yield* Invocation.invoke(h(), input())
      assert.deepStrictEqual(backoff.outcome, Outcome.retry(7_000, "not yet"))
    })
  )

  it.effect("retries are exhausted past `retries`, or when the backoff Schedule has ended", () =>
    Effect.gen(function* () {
      const fail = () => Effect.fail(new Outcome.TemporaryError({ message: "boom" }))
      const state = { ...Progress.start("create:", 0), retries: 2 }
      const limited = yield* Invocation.invoke(onCreate({ retries: 2 }, fail), input({ state }))
      assert.deepStrictEqual(failed(limited.outcome), [
        "RetriesExhausted",
        "Retries exhausted after 3 attempts: boom"
      ])
      const ended = yield* Invocation.invoke(
        onCreate({ backoff: Schedule.recurs(2) }, fail),
        input({ state })
      )
      assert.strictEqual(failed(ended.outcome)?.[0], "RetriesExhausted")
      const going = yield* Invocation.invoke(
        onCreate({ backoff: Schedule.recurs(3) }, fail),
        input({ state })
      )
      assert.strictEqual(going.outcome._tag, "Retry")
    })
  )

  it.effect("a PermanentError fails for good, whatever the errors mode", () =>
    Effect.gen(function* () {
      const a = yield* Invocation.invoke(
        onCreate({ errors: "ignored" }, () =>
          Effect.fail(new Outcome.PermanentError({ message: "Size must be set." }))
        ),
        input()
      )
      assert.deepStrictEqual(failed(a.outcome), ["PermanentError", "Size must be set."])
    })
  )

  it.effect("an error or a defect that declares itself permanent fails for good", () =>
    Effect.gen(function* () {
      const declared = yield* Invocation.invoke(
        onCreate({ errors: "temporary" }, () => Effect.fail(new QuotaRefused({ message: "cpu" }))),
        input()
      )
      assert.deepStrictEqual(failed(declared.outcome), ["PermanentError", "quota refused: cpu"])
      const own = yield* Invocation.invoke(
        onCreate({ errors: "ignored" }, () => Effect.die(new Refused({ message: "no room" }))),
        input()
      )
      assert.deepStrictEqual(failed(own.outcome), ["PermanentError", "no room"])
    })
  )

  it.effect("any other failure or defect is handled per the errors mode", () =>
    Effect.gen(function* () {
      const boom = (errors: Handler.ErrorsMode) =>
        onCreate({ errors, backoff: Schedule.spaced("5 seconds") }, () =>
          Effect.fail(new Error("boom"))
        )
      const temporary = yield* Invocation.invoke(boom("temporary"), input())
      assert.deepStrictEqual(temporary.outcome, Outcome.retry(5_000, "boom"))
      const permanent = yield* Invocation.invoke(boom("permanent"), input())
      assert.deepStrictEqual(failed(permanent.outcome), ["PermanentError", "boom"])
      const ignored = yield* Invocation.invoke(boom("ignored"), input())
      assert.deepStrictEqual(ignored.outcome, Outcome.success(undefined, "Error ignored: boom"))
      const defect = yield* Invocation.invoke(
        onCreate({ errors: "permanent" }, () => Effect.die(new Error("bug"))),
        input()
      )
      assert.deepStrictEqual(failed(defect.outcome), ["PermanentError", "Unexpected defect: bug"])
    })
  )

  it.effect("an interrupted run is retried", () =>
    Effect.gen(function* () {
      const a = yield* Invocation.invoke(
        onCreate({ backoff: Schedule.spaced("1 second") }, () => Effect.interrupt),
        input()
      )
      assert.deepStrictEqual(a.outcome, Outcome.retry(1_000, "Interrupted"))
    })
  )

  it.effect("a run that outlasts the timeout left fails with HandlerTimeout", () =>
    Effect.gen(function* () {
      const h = onCreate({ timeout: "1 minute" }, () => Effect.sleep("1 hour"))
      // 50 seconds of the minute were spent by earlier attempts: 10 are left.
      const fiber = yield* Effect.forkChild(Invocation.invoke(h, input({ now: 50_000 })))
      yield* TestClock.adjust("10 seconds")
      const a = yield* Fiber.join(fiber)
      assert.deepStrictEqual(failed(a.outcome), ["HandlerTimeout", "Handler timed out after 1m."])
    })
  )

  it.effect("a handler whose timeout has passed is not run", () =>
    Effect.gen(function* () {
      let runs = 0
      const h = onCreate({ timeout: "1 minute" }, () => Effect.sync(() => void runs++))
      const a = yield* Invocation.invoke(h, input({ now: 60_000 }))
      assert.strictEqual(failed(a.outcome)?.[0], "HandlerTimeout")
      assert.strictEqual(runs, 0)
    })
  )

  it.effect("a result or a patch JSON cannot hold fails for good; such a patch is dropped", () =>
    Effect.gen(function* () {
      const result = yield* Invocation.invoke(
        onCreate({}, () => Effect.succeed({ count: 1n } as never)),
        input()
      )
      assert.deepStrictEqual(failed(result.outcome), [
        "PermanentError",
        "Handler 'h' returned a value JSON cannot hold at result.count: a bigint (convert it to a number or a string)"
      ])
      const patch = yield* Invocation.invoke(
        onCreate({}, (ctx) => ctx.patch.status({ at: new Date(0) as never })),
        input()
      )
      assert.strictEqual(failed(patch.outcome)?.[0], "PermanentError")
      assert.include(failed(patch.outcome)?.[1] ?? "", "at patch.status.at: a Date")
      assert.deepStrictEqual(patch.patch, {})
    })
  )

  it.effect("an event handler is never retried, and its result is not checked", () =>
    Effect.gen(function* () {
      const event = (fn: () => Handler.Result<unknown, never>) =>
        Handler.onEvent(widgets, { id: "e" }, fn)
      const on = input({ reason: "event", event: "MODIFIED" })
      const temporary = yield* Invocation.invoke(
        event(() => Effect.fail(new Outcome.TemporaryError({ message: "later" }))),
        on
      )
      assert.deepStrictEqual(failed(temporary.outcome), ["PermanentError", "later"])
      const result = yield* Invocation.invoke(
        event(() => Effect.succeed({ count: 1n } as never)),
        on
      )
      assert.strictEqual(result.outcome._tag, "Success")
    })
  )
})

describe("Invocation: the event of an outcome", () => {
  it("Succeeded, Retrying or Failed, naming the handler", () => {
    assert.deepStrictEqual(Invocation.eventFor("h", Outcome.success(undefined, "noted")), {
      type: "Normal",
      reason: "Succeeded",
      message: "Handler 'h' succeeded. noted"
    })
    assert.deepStrictEqual(Invocation.eventFor("h", Outcome.retry(500, "not yet")), {
      type: "Warning",
      reason: "Retrying",
      message: "Handler 'h' failed temporarily, retrying in 500ms: not yet"
    })
    const failure = Outcome.failure(new Outcome.PermanentError({ message: "no" }))
    assert.deepStrictEqual(Invocation.eventFor("h", failure), {
      type: "Warning",
      reason: "Failed",
      message: "Handler 'h' failed permanently: no"
    })
  })

  it("messages are cut at Reconcile.maxMessageLength", () => {
    const long = Outcome.retry(1, "x".repeat(5_000))
    const message = Invocation.eventFor("h", long).message
    assert.strictEqual(message.length, Reconcile.maxMessageLength)
    assert.isTrue(message.endsWith("…"))
  })
})
