import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import * as fc from "fast-check"
import { Handler, Json, Outcome, Patch, Reconcile, Registry, Storage } from "../src/index.ts"
import { property, widget, widgets } from "./support.ts"

const run = <R>(registry: Registry.Registry<R>, body: Json.JsonObject, now = 0) =>
  Reconcile.reconcile(registry, { resource: widgets, body, now })

const applied = (body: Json.JsonObject, d: Reconcile.Decision): Json.JsonObject =>
  Json.asObject(Patch.apply(body, d.patch))
const tags = (d: Reconcile.Decision) => d.runs.map((r) => `${r.id}:${r.outcome._tag}`)
const progressOf = (body: Json.JsonObject) => Storage.readProgress(Storage.defaults, body)

/** Runs steps (each on the body the previous one wrote) until the change is done. */
const settle = <R>(registry: Registry.Registry<R>, start: Json.JsonObject, limit = 50) =>
  Effect.gen(function* () {
    let body = start
    let now = 0
    const decisions: Array<Reconcile.Decision> = []
    for (let i = 0; i < limit; i++) {
      const d = yield* run(registry, body, now)
      decisions.push(d)
      body = applied(body, d)
      if (d.done) return { body, decisions }
      now += Option.match(d.requeueAfter, { onNone: () => 0, onSome: Duration.toMillis })
    }
    throw new Error(`not done after ${limit} steps`)
  })

describe("Sub-handlers", () => {
  it.effect("all succeed in one step: results at status['<id>/<name>'], then the parent's", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "provision" }, (ctx) =>
          Effect.map(
            ctx.execute({
              volume: () => Effect.succeed({ size: "1G" }),
              claim: (sub) =>
                // the claim sees the volume's result in its body
                Effect.succeed({
                  after: Json.get(sub.body, ["status", "provision/volume"]) ?? null
                })
            }),
            (results) => ({ steps: Object.keys(results).length })
          )
        )
      )
      const d = yield* run(registry, widget())
      assert.deepStrictEqual(tags(d), [
        "provision/volume:Success",
        "provision/claim:Success",
        "provision:Success"
      ])
      const body = applied(widget(), d)
      assert.deepStrictEqual(Json.get(body, ["status", "provision/volume"]), { size: "1G" })
      assert.deepStrictEqual(Json.get(body, ["status", "provision/claim"]), {
        after: { size: "1G" }
      })
      assert.deepStrictEqual(Json.get(body, ["status", "provision"]), { steps: 2 })
      assert.isTrue(d.done)
      assert.deepStrictEqual(progressOf(body), {})
    })
  )

  it.effect(
    "a retrying sub-handler: the others are not run again, the parent waits without spending its retries",
    () =>
      Effect.gen(function* () {
        let volume = 0
        let claim = 0
        let after = 0
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "provision" }, (ctx) =>
            Effect.gen(function* () {
              const results = yield* ctx.execute({
                volume: () => Effect.sync(() => ++volume),
                claim: () =>
                  ++claim < 4
                    ? Effect.fail(new Outcome.TemporaryError({ message: "not bound", delay: 1000 }))
                    : Effect.succeed("bound")
              })
              after++
              return results
            })
          )
        )
        const first = yield* run(registry, widget())
        assert.deepStrictEqual(tags(first), [
          "provision/volume:Success",
          "provision/claim:Retry",
          "provision:Retry"
        ])
        assert.deepStrictEqual(Option.map(first.requeueAfter, Duration.toMillis), Option.some(1000))
        // No "Retrying" event for the parent: it is waiting, not failing.
        assert.deepStrictEqual(
          first.events.map((e) => e.message.slice(0, 30)),
          ["Handler 'provision/volume' suc", "Handler 'provision/claim' fail"]
        )
        const progress = progressOf(applied(widget(), first))
        assert.strictEqual(progress.provision?.retries, 0)
        assert.strictEqual(progress["provision/claim"]?.retries, 1)
        assert.strictEqual(progress["provision/volume"]?.success, true)
        const { body, decisions } = yield* settle(registry, widget())
        // From the start again: the volume once more, the claim until its 4th attempt.
        assert.strictEqual(volume, 2)
        assert.strictEqual(claim, 4)
        assert.strictEqual(after, 1)
        assert.deepStrictEqual(Json.get(body, ["status", "provision"]), {
          volume: 2,
          claim: "bound"
        })
        assert.deepStrictEqual(tags(decisions.at(-1) as Reconcile.Decision), [
          "provision/claim:Success",
          "provision:Success"
        ])
      })
  )

  it.effect("a failed sub-handler fails the parent, naming it, after the others have run", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "p" }, (ctx) =>
          ctx.execute({
            a: () => Effect.fail(new Outcome.PermanentError({ message: "no disk" })),
            b: () => Effect.succeed(1)
          })
        )
      )
      const d = yield* run(registry, widget())
      assert.deepStrictEqual(tags(d), ["p/a:Failure", "p/b:Success", "p:Failure"])
      const failure = d.runs[2]?.outcome
      assert.strictEqual(
        failure?._tag === "Failure" && failure.error.message,
        "Sub-handlers failed: 'p/a' (no disk)"
      )
      assert.isTrue(d.done)
    })
  )

  it.effect("sub-handlers nest: ids are <parent>/<child>/<grandchild>", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "p" }, (ctx) =>
          ctx.execute({
            outer: (sub) => sub.execute({ inner: () => Effect.succeed(7) })
          })
        )
      )
      const d = yield* run(registry, widget())
      assert.deepStrictEqual(tags(d), ["p/outer/inner:Success", "p/outer:Success", "p:Success"])
      assert.deepStrictEqual(Json.get(applied(widget(), d), ["status", "p/outer/inner"]), 7)
    })
  )

  it.effect("the operator's mistakes are permanent failures naming the handler", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "twice" }, (ctx) =>
          Effect.andThen(
            ctx.execute({ a: () => Effect.void }),
            ctx.execute({ a: () => Effect.void })
          )
        ),
        Handler.onCreate(widgets, { id: "slash" }, (ctx) =>
          ctx.execute({ "a/b": () => Effect.void })
        ),
        Handler.onCreate(widgets, { id: "bad-result" }, (ctx) =>
          ctx.execute({ a: () => Effect.succeed(Number.NaN) })
        ),
        Handler.onEvent(widgets, { id: "event" }, (ctx) => ctx.execute({ a: () => Effect.void }))
      )
      const d = yield* Reconcile.reconcile(registry, {
        resource: widgets,
        body: widget(),
        now: 0,
        event: "ADDED"
      })
      const messages = Object.fromEntries(
        d.runs.map((r) => [
          r.id,
          r.outcome._tag === "Failure" ? r.outcome.error.message : r.outcome._tag
        ])
      )
      assert.strictEqual(
        messages.twice,
        "Handler 'twice' executed sub-handler 'a' twice in one run."
      )
      assert.match(messages.slash ?? "", /sub-handler named "a\/b": a name may not be empty/)
      assert.match(
        messages["bad-result/a"] ?? "",
        /^Handler 'bad-result\/a' returned a value JSON cannot hold/
      )
      assert.match(messages.event ?? "", /only change handlers .* have sub-handlers/)
    })
  )

  property(
    "under restarts, every sub-handler succeeds once and the parent's code after execute runs once",
    fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 4 }),
    (failures) =>
      Effect.gen(function* () {
        const runs = failures.map(() => 0)
        let after = 0
        const subs: Record<string, () => Effect.Effect<number, Outcome.TemporaryError>> = {}
        failures.forEach((n, i) => {
          subs[`s${i}`] = () =>
            Effect.suspend(() =>
              ++runs[i]! <= n
                ? Effect.fail(new Outcome.TemporaryError({ message: "later", delay: 10 * (i + 1) }))
                : Effect.succeed(i)
            )
        })
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "p" }, (ctx) =>
            Effect.tap(ctx.execute(subs), () => Effect.sync(() => after++))
          )
        )
        // Each step starts from what is stored on the object: a restart between any two steps.
        const { body } = yield* settle(registry, widget())
        assert.deepStrictEqual(
          runs,
          failures.map((n) => n + 1)
        )
        assert.strictEqual(after, 1)
        assert.deepStrictEqual(
          Json.get(body, ["status", "p"]),
          Object.fromEntries(failures.map((_, i) => [`s${i}`, i]))
        )
      })
  )
})
