/**
 * The reader's own operator, as the READMEs' examples import it (`../src/index.ts`, from a test
 * file): a Widget custom resource, its CRD, and the handlers. `scripts/check-examples.ts` puts
 * it beside the examples so that they type-check as they are written.
 *
 * @since 0.1.0
 */
import { Crd, Handler, Json, type KubeObject, Registry, Resource } from "@kubefx/core"
import { SimCluster } from "@kubefx/testing"
import { Effect, Option, Schema } from "effect"

export const WidgetSpec = Schema.Struct({ size: Schema.Number })

export const widgets = Resource.make({
  group: "example.com",
  version: "v1",
  plural: "widgets",
  kind: "Widget",
  spec: WidgetSpec
})

export const widgetCrd = Crd.make({
  group: widgets.group,
  kind: widgets.kind,
  plural: widgets.plural,
  versions: [{ name: widgets.version, spec: WidgetSpec }]
})

export const registry = Registry.make(
  Handler.onCreate(widgets, { id: "create" }, (ctx) => Effect.succeed({ size: ctx.spec.size }))
)

/** A Widget named `name` in `default`. */
export const widget = (name: string): KubeObject.KubeObject => ({
  apiVersion: Resource.apiVersion(widgets),
  kind: widgets.kind,
  metadata: { name, namespace: "default" },
  spec: { size: 1 }
})

/** Succeeds once the Widget `name` was handled. */
export const handled = (name: string) =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    const w = yield* sim.find(widgets, name, "default")
    if (Option.isNone(w) || Json.get(w.value, "status.create") === undefined) {
      return yield* Effect.fail(`${name} not handled yet`)
    }
  })

/** Succeeds once every Widget was handled. */
export const expectedState = Effect.gen(function* () {
  const sim = yield* SimCluster.SimCluster
  const all = yield* sim.objects(widgets, "default")
  if (!all.every((w) => Json.get(w, "status.create") !== undefined)) {
    return yield* Effect.fail("not every widget handled yet")
  }
})
