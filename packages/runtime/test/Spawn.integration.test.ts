/**
 * Daemons and timers against the real control plane: a daemon's start on create and its stop
 * on delete (the finalizer held until it stopped, then the object gone), a stuck daemon
 * interrupted after its cancellationTimeout, restarts after temporary errors, a daemon resumed
 * by the next operator process, and a timer that pauses while its object keeps changing.
 */
import { assert, layer } from "@effect/vitest"
import { Handler, type Json, Outcome, Registry, Resource } from "@kubefx/core"
import { Deferred, Effect, Schedule } from "effect"
import { Kube } from "../src/index.ts"
import {
  ClusterLayer,
  crdManifest,
  crds,
  eventually,
  freshClient,
  type InNamespace,
  withOperator
} from "./support.ts"

const group = "spawn.kubefx.test"
const pipes = Resource.make({ group, version: "v1", plural: "pipes", kind: "Pipe" })
const FINALIZER = "kubefx.dev/finalizer"

const ensureCrd = Effect.gen(function* () {
  const kube = yield* Kube
  yield* kube
    .create(crds, crdManifest({ group, plural: "pipes", kind: "Pipe", statusSubresource: true }))
    .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
  yield* eventually(kube.list(pipes, { namespace: "default", limit: 1 }))
})

const pipe = (name: string, spec: Json.JsonObject = {}) => ({
  apiVersion: Resource.apiVersion(pipes),
  kind: "Pipe",
  metadata: { name },
  spec
})

/** Polls until `check` holds (30 s at most). */
const until = <A, E, R>(what: string, check: Effect.Effect<A, E, R>) =>
  check.pipe(
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))),
    Effect.mapError((e) => new Error(`${what}: ${String(e)}`))
  )

const scene = Effect.gen(function* () {
  yield* ensureCrd
  const client: InNamespace = yield* freshClient
  const only = { namespaces: [client.name], batchWindow: 0 }
  const gone = (name: string) =>
    until(
      `${name} gone`,
      Effect.flatMap(client.read(pipes, name), (o) =>
        o === undefined ? Effect.void : Effect.fail("still there")
      )
    )
  return { client, only, gone }
})

layer(ClusterLayer, { excludeTestServices: true, timeout: "3 minutes" })(
  "daemons and timers",
  (it) => {
    it.effect("a daemon starts on create; on delete the finalizer stays until it has stopped", () =>
      Effect.gen(function* () {
        const { client, only, gone } = yield* scene
        const started = yield* Deferred.make<string>()
        const asked = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const registry = Registry.make(
          Handler.daemon(pipes, { id: "pump", cancellationTimeout: "1 minute" }, (ctx) =>
            Effect.gen(function* () {
              yield* Deferred.succeed(started, ctx.name)
              yield* ctx.stopped
              yield* Deferred.succeed(asked, undefined)
              yield* Deferred.await(release)
            })
          )
        )
        yield* withOperator(registry, only)
        yield* client.create(pipes, pipe("p1"))
        assert.strictEqual(yield* Deferred.await(started), "p1")
        const held = yield* until(
          "the finalizer",
          Effect.flatMap(client.get(pipes, "p1"), (o) =>
            (o.metadata?.finalizers ?? []).includes(FINALIZER)
              ? Effect.succeed(o)
              : Effect.fail("none")
          )
        )
        assert.isUndefined(held.metadata?.annotations, "a daemon alone keeps no state")
        yield* client.delete(pipes, "p1")
        yield* Deferred.await(asked)
        yield* Effect.sleep("1 second")
        const deleting = yield* client.get(pipes, "p1")
        assert.isDefined(deleting.metadata?.deletionTimestamp)
        assert.include(deleting.metadata?.finalizers ?? [], FINALIZER, "held while it stops")
        yield* Deferred.succeed(release, undefined)
        yield* gone("p1")
      })
    )

    it.effect("a daemon that ignores the stop is interrupted after cancellationTimeout", () =>
      Effect.gen(function* () {
        const { client, only, gone } = yield* scene
        const started = yield* Deferred.make<void>()
        const interrupted = yield* Deferred.make<void>()
        const registry = Registry.make(
          Handler.daemon(pipes, { id: "stuck", cancellationTimeout: "2 seconds" }, () =>
            Effect.andThen(Deferred.succeed(started, undefined), Effect.never).pipe(
              Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
            )
          )
        )
        yield* withOperator(registry, only)
        yield* client.create(pipes, pipe("p2"))
        yield* Deferred.await(started)
        yield* until(
          "the finalizer",
          Effect.flatMap(client.get(pipes, "p2"), (o) =>
            (o.metadata?.finalizers ?? []).includes(FINALIZER) ? Effect.void : Effect.fail("none")
          )
        )
        yield* client.delete(pipes, "p2")
        yield* gone("p2")
        assert.isTrue(yield* Deferred.isDone(interrupted))
      })
    )

    it.effect("temporary errors restart a daemon; its result lands in status", () =>
      Effect.gen(function* () {
        const { client, only } = yield* scene
        let starts = 0
        const registry = Registry.make(
          Handler.daemon(pipes, { id: "flaky", cancellationTimeout: 0 }, () =>
            Effect.gen(function* () {
              starts++
              if (starts < 3)
                return yield* new Outcome.TemporaryError({
                  message: "warming up",
                  delay: "200 millis"
                })
              return { starts }
            })
          )
        )
        yield* withOperator(registry, only)
        yield* client.create(pipes, pipe("p3"))
        const done = yield* until(
          "the result",
          Effect.flatMap(client.get(pipes, "p3"), (o) => {
            const result = (o.status as { flaky?: { starts?: number } } | undefined)?.flaky
            return result === undefined ? Effect.fail("no result") : Effect.succeed(result)
          })
        )
        assert.deepStrictEqual(done, { starts: 3 })
        yield* Effect.sleep("1 second")
        assert.strictEqual(starts, 3, "ended: not started again")
      })
    )

    it.effect("the next operator process resumes an object's daemon", () =>
      Effect.gen(function* () {
        const { client, only } = yield* scene
        const starts: Array<string> = []
        const registry = Registry.make(
          Handler.daemon(pipes, { id: "keeper" }, (ctx) =>
            Effect.andThen(
              Effect.sync(() => starts.push(ctx.name)),
              ctx.stopped
            )
          )
        )
        const first = yield* withOperator(registry, only)
        yield* client.create(pipes, pipe("p4"))
        yield* until(
          "started",
          Effect.suspend(() => (starts.length === 1 ? Effect.void : Effect.fail("not yet")))
        )
        yield* first.stop
        yield* withOperator(registry, only)
        yield* until(
          "resumed",
          Effect.suspend(() => (starts.length === 2 ? Effect.void : Effect.fail("not yet")))
        )
        assert.deepStrictEqual(starts, ["p4", "p4"])
      })
    )

    it.effect(
      "a timer runs on its interval and pauses while the object keeps changing (idle)",
      () =>
        Effect.gen(function* () {
          const { client, only } = yield* scene
          const runs: Array<string> = []
          const registry = Registry.make(
            Handler.timer(pipes, { id: "tick", interval: "300 millis", idle: "5 seconds" }, (ctx) =>
              Effect.sync(() => {
                runs.push(String(ctx.spec.step))
                return { runs: runs.length }
              })
            )
          )
          yield* withOperator(registry, only)
          yield* client.create(pipes, pipe("p5", { step: 0 }))
          for (let step = 1; step <= 6; step++) {
            yield* Effect.sleep("500 millis")
            yield* client.merge(pipes, "p5", { spec: { step } })
          }
          assert.deepStrictEqual(runs, [], "changed every 0.5 s: never idle for 5 s")
          yield* until(
            "runs once idle",
            Effect.suspend(() =>
              runs.length >= 3 ? Effect.void : Effect.fail(`${runs.length} runs`)
            )
          )
          assert.deepStrictEqual(runs.slice(0, 3), ["6", "6", "6"])
          const object = yield* client.get(pipes, "p5")
          assert.isAtLeast((object.status as { tick?: { runs: number } }).tick?.runs ?? 0, 1)
        })
    )
  }
)
