/**
 * ClusterRunner against real API servers: a small operator of Widgets, its status, log lines and
 * Events, on the local control plane it starts and on a cluster given by a kubeconfig.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Crd, Handler, Json, Outcome, Registry, Resource } from "@kubefx/core"
import { Effect, Schema } from "effect"
import { ClusterRunner } from "../src/index.ts"

const widgetCrd = Crd.make({
  group: "runner.kubefx.dev",
  kind: "Widget",
  plural: "widgets",
  versions: [{ name: "v1", spec: Schema.Struct({ size: Schema.Int }) }]
})
const widgets = Resource.make({
  group: "runner.kubefx.dev",
  version: "v1",
  plural: "widgets",
  kind: "Widget",
  namespaced: true
})

/** Doubles a widget's size into its status; refuses negative sizes for good. */
const registry = Registry.make(
  Handler.onCreate("widgets.runner.kubefx.dev", { id: "double" }, (ctx) => {
    const size = Number(Json.get(ctx.body, "spec.size"))
    return size < 0
      ? Effect.fail(new Outcome.PermanentError({ message: `size ${size} is negative` }))
      : Effect.logInfo(`doubling ${size}`).pipe(Effect.as({ doubled: size * 2 }))
  })
)

const widget = (name: string, size: number) => ({
  apiVersion: "runner.kubefx.dev/v1",
  kind: "Widget",
  metadata: { name },
  spec: { size }
})

const doubled = (object: unknown) => Json.get(object as Json.Json, "status.double.doubled")

layer(ClusterRunner.layer(registry, { crds: [widgetCrd], settings: { namespaces: ["default"] } }), {
  excludeTestServices: true,
  timeout: "5 minutes"
})("ClusterRunner on the local control plane", (it) => {
  it.effect("applies the CRD, runs the operator and records its log lines", () =>
    Effect.gen(function* () {
      const cluster = yield* ClusterRunner.ClusterRunner
      yield* cluster.apply([widget("w1", 21)])
      const handled = yield* cluster.waitFor(widgets, "w1", (w) => doubled(w) !== undefined)
      assert.strictEqual(doubled(handled), 42)
      const line = yield* cluster.waitForLog((l) => l.message === "doubling 21")
      assert.strictEqual(line.level, "Info")
      assert.strictEqual(line.annotations.object, "default/w1")
    })
  )

  it.effect("collects the Warning Event of a permanent failure", () =>
    Effect.gen(function* () {
      const cluster = yield* ClusterRunner.ClusterRunner
      const [applied] = yield* cluster.apply([widget("w2", -1)])
      const event = yield* cluster.waitForEvent(
        (e) => ClusterRunner.about([e], applied ?? {}).length === 1
      )
      assert.strictEqual((event as { type?: string }).type, "Warning")
      assert.include((event as { message?: string }).message, "size -1 is negative")
      const stored = yield* cluster.kube.get(
        { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true },
        event.metadata?.name ?? "",
        { namespace: "default" }
      )
      assert.strictEqual(stored.metadata?.uid, event.metadata?.uid)
    })
  )
})

describe("ClusterRunner on a cluster given by a kubeconfig", () => {
  it.live(
    "runs the operator against it and stops it when the scope closes",
    () =>
      Effect.gen(function* () {
        const plane = yield* ControlPlane.start({ controllerManager: false })
        const runner = yield* Effect.scoped(
          Effect.gen(function* () {
            const cluster = yield* ClusterRunner.make(registry, {
              cluster: { kubeconfig: plane.kubeconfig },
              crds: [widgetCrd],
              objects: [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } }],
              namespace: "team-a",
              settings: { namespaces: ["team-a"] }
            })
            yield* cluster.apply([widget("w3", 2)])
            const handled = yield* cluster.waitFor(widgets, "w3", (w) => doubled(w) !== undefined)
            assert.strictEqual(doubled(handled), 4)
            assert.strictEqual(cluster.kubeconfig, plane.kubeconfig)
            return cluster.runner
          })
        )
        const operator = yield* runner.operator
        assert.isTrue(operator._tag === "None", "the operator stopped with the scope")
      }).pipe(Effect.scoped),
    120_000
  )
})
