/**
 * Activities on the simulated cluster under the test clock: startup before any handler (retried
 * after temporary errors, stopping the operator on a permanent one), cleanup once on a graceful
 * stop after the handlers, and probes computed on demand.
 */
import { assert, describe, it } from "@effect/vitest"
import { Activity, Builtins, Handler, type KubeObject, Outcome, Registry } from "@kubefx/core"
import { Activities } from "@kubefx/runtime"
import { Effect, Exit, Fiber } from "effect"
import { Runner, SimCluster } from "../src/index.ts"

const ns = "default"
const cm = (name: string) =>
  ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: ns }
  }) as KubeObject.KubeObject

describe("activities", () => {
  it.effect(
    "startup runs before any handler, retried after a temporary error; cleanup on stop",
    () =>
      Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        yield* sim.admin.create(Builtins.configMaps, cm("a"))
        const log: Array<string> = []
        let attempts = 0
        const registry = Registry.make(
          Handler.onCreate(Builtins.configMaps, { id: "seen" }, (ctx) =>
            Effect.sync(() => log.push(`handler ${ctx.name}`))
          ),
          Activity.startup(
            "connect",
            Effect.suspend(() =>
              ++attempts < 3
                ? Effect.fail(
                    new Outcome.TemporaryError({ message: "not yet", delay: "5 seconds" })
                  )
                : Effect.sync(() => log.push("connect"))
            )
          ),
          Activity.startup(
            "warm",
            Effect.sync(() => log.push("warm"))
          ),
          Activity.cleanup(
            "flush",
            Effect.sync(() => log.push("flush"))
          )
        )
        const runner = yield* Runner.make(registry, { namespaces: [ns] })
        yield* Runner.eventually(
          Effect.suspend(() => (log.includes("handler a") ? Effect.void : Effect.fail("not run")))
        )
        yield* runner.stop
        assert.strictEqual(attempts, 3)
        assert.deepStrictEqual(log, ["connect", "warm", "handler a", "flush"])
      }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("a permanent startup failure stops the operator, naming the activity", () =>
    Effect.gen(function* () {
      let handled = 0
      const registry = Registry.make(
        Handler.onCreate(Builtins.configMaps, () => Effect.sync(() => handled++)),
        Activity.startup("license", Effect.fail(new Outcome.PermanentError({ message: "expired" })))
      )
      const exit = yield* Effect.exit(Runner.make(registry, { namespaces: [ns] }))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
      assert.match(JSON.stringify(error), /startup activity 'license' failed: expired/)
      assert.strictEqual(handled, 0)
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("retries exhausted also stop it, after retries + 1 attempts", () =>
    Effect.gen(function* () {
      let attempts = 0
      const registry = Registry.make(
        Handler.onCreate(Builtins.configMaps, () => Effect.void),
        Activity.startup(
          "flaky",
          Effect.suspend(() => {
            attempts++
            return Effect.fail(new Error("refused"))
          }),
          { retries: 2 }
        )
      )
      const exit = yield* Effect.exit(Runner.make(registry, { namespaces: [ns] }))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(attempts, 3)
      assert.match(JSON.stringify(exit), /after 3 attempts: refused/)
    }).pipe(Effect.provide(SimCluster.layer()))
  )

  it.effect("probes answer their values, or their errors, concurrently", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.forkChild(
        Activities.probes([
          Activity.probe("answer", Effect.succeed(42)),
          Activity.probe("broken", Effect.fail(new Error("no data"))),
          Activity.probe("slow", Effect.as(Effect.sleep("1 minute"), "late"))
        ])
      )
      yield* Runner.advance("11 seconds")
      const values = yield* Fiber.await(fiber)
      assert.deepStrictEqual(Exit.isSuccess(values) ? values.value : undefined, {
        answer: 42,
        broken: { error: "no data" },
        slow: { error: "timed out" }
      })
    })
  )

  it("bad declarations throw when built", () => {
    assert.throws(() => Activity.startup("", Effect.void), /needs an id/)
    assert.throws(() => Activity.startup("x", Effect.void, { retries: -1 }), /non-negative/)
    assert.throws(
      () => Activity.cleanup("x", Effect.void, { timeout: "soon" as never }),
      /not a positive duration/
    )
    assert.throws(
      () =>
        Registry.make(
          Activity.probe("p", Effect.succeed(1)),
          Activity.probe("p", Effect.succeed(2))
        ),
      /duplicate probe activity id "p"/
    )
  })
})
