/**
 * Activities against the real control plane: startup runs once, before the first handler;
 * `GET /probes` on the health server answers the probes' values; cleanup runs once on a
 * graceful stop, after the handlers.
 */
import { assert, layer } from "@effect/vitest"
import { Activity, Builtins, Handler, Registry } from "@kubefx/core"
import { Effect, Schedule } from "effect"
import { ClusterLayer, configMap, freshClient, withOperator } from "./support.ts"

layer(ClusterLayer, { excludeTestServices: true, timeout: "2 minutes" })("activities", (it) => {
  it.effect("startup once before the handlers, probes on demand, cleanup once on stop", () =>
    Effect.gen(function* () {
      const client = yield* freshClient
      const log: Array<string> = []
      const registry = Registry.make(
        Handler.onCreate(Builtins.configMaps, { id: "seen" }, (ctx) =>
          Effect.sync(() => log.push(`handler ${ctx.name}`))
        ),
        Activity.startup(
          "connect",
          Effect.sync(() => log.push("startup"))
        ),
        Activity.probe(
          "handled",
          Effect.sync(() => log.filter((l) => l.startsWith("handler")).length)
        ),
        Activity.cleanup(
          "flush",
          Effect.sync(() => log.push("cleanup"))
        )
      )
      yield* client.create(Builtins.configMaps, configMap(client.name, "a"))
      const op = yield* withOperator(registry, {
        namespaces: [client.name],
        batchWindow: 0,
        health: { port: 0, host: "127.0.0.1" }
      })
      const probes = Effect.tryPromise(async () => {
        const res = await fetch(`${op.healthUrl}/probes`)
        return { status: res.status, type: res.headers.get("content-type"), body: await res.json() }
      })
      const answered = yield* probes.pipe(
        Effect.filterOrFail((a) => (a.body as { handled?: number }).handled === 1),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "30 seconds" })))
      )
      assert.strictEqual(answered.status, 200)
      assert.strictEqual(answered.type, "application/json")
      yield* op.stop
      assert.deepStrictEqual(log, ["startup", "handler a", "cleanup"])
    })
  )
})
