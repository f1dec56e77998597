/**
 * Indexes on the simulated cluster: handlers run only once the indexes are filled from the
 * first list, and under random creations, changes and deletions (with the watch cut at random
 * points, so that relists bring what the watch missed) the index a handler reads converges to
 * the index function over the objects that exist.
 */
import { assert, describe, it } from "@effect/vitest"
import { Builtins, Handler, Index, type KubeObject, Registry } from "@kubefx/core"
import { Effect } from "effect"
import * as fc from "fast-check"
import { Property, Runner, SimCluster } from "../src/index.ts"
import { simWidgetCluster, simWidgets } from "./fixtures.ts"

const ns = "default"
const widgets = simWidgets
const cluster = simWidgetCluster

/** ConfigMap names by the colour in their data: a resource no handler serves. */
const byColour = Index.make("by-colour", Builtins.configMaps, (cm) => {
  const colour = (cm.body.data as { colour?: unknown } | undefined)?.colour
  return typeof colour === "string" ? { [colour]: cm.name } : {}
})

const configMap = (name: string, colour: string | undefined) =>
  ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace: ns },
    data: colour === undefined ? {} : { colour }
  }) as KubeObject.KubeObject

const widget = (name: string) =>
  ({
    apiVersion: "sim.kubefx.dev/v1",
    kind: "Widget",
    metadata: { name, namespace: ns },
    spec: {}
  }) as KubeObject.KubeObject

const snapshot = (lookup: Index.Lookup<string, string>) =>
  Object.fromEntries([...lookup.keys()].sort().map((k) => [k, [...lookup.get(k)].sort()] as const))

describe("indexes", () => {
  it.effect("no handler runs before the indexes are filled from the first list", () =>
    Effect.gen(function* () {
      const sim = yield* SimCluster.SimCluster
      for (let i = 0; i < 30; i++)
        yield* sim.admin.create(Builtins.configMaps, configMap(`cm-${i}`, i % 2 ? "red" : "blue"))
      yield* sim.admin.create(widgets, widget("w"))
      const seen: Array<Record<string, ReadonlyArray<string>>> = []
      const registry = Registry.make(
        Handler.onCreate(widgets, { id: "count" }, () =>
          Effect.map(byColour, (lookup) => {
            seen.push(snapshot(lookup))
          })
        ),
        byColour
      )
      const runner = yield* Runner.make(registry, { namespaces: [ns] })
      yield* Runner.eventually(
        Effect.suspend(() => (seen.length > 0 ? Effect.void : Effect.fail("not run")))
      )
      assert.strictEqual(seen[0]?.red?.length, 15)
      assert.strictEqual(seen[0]?.blue?.length, 15)
      yield* runner.stop
    }).pipe(Effect.provide(cluster))
  )

  const action = fc.oneof(
    fc.record({
      op: fc.constant("put" as const),
      name: fc.constantFrom("a", "b", "c", "d"),
      colour: fc.option(fc.constantFrom("red", "blue", "green"), { nil: undefined })
    }),
    fc.record({ op: fc.constant("delete" as const), name: fc.constantFrom("a", "b", "c", "d") }),
    fc.record({ op: fc.constant("cut" as const) })
  )

  it("under random actions and cut watches, the index converges to the objects that exist", () =>
    Property.check(
      fc.array(action, { minLength: 1, maxLength: 25 }),
      (actions) =>
        Effect.gen(function* () {
          const sim = yield* SimCluster.SimCluster
          let read: Index.Lookup<string, string> | undefined
          // A timer reads the index: `read` is what handlers see.
          const registry = Registry.make(
            Handler.timer(widgets, { id: "peek", interval: "1 second" }, () =>
              Effect.map(byColour, (lookup) => {
                read = lookup
              })
            ),
            byColour
          )
          yield* sim.admin.create(widgets, widget("w"))
          const runner = yield* Runner.make(registry, { namespaces: [ns] })
          const world = new Map<string, string | undefined>()
          for (const a of actions) {
            // A cut watch whose history is gone: the watcher relists (410 Gone).
            if (a.op === "cut") yield* Effect.andThen(sim.compact, sim.dropWatches)
            else if (a.op === "delete") {
              if (world.has(a.name)) {
                world.delete(a.name)
                yield* sim.admin.delete(Builtins.configMaps, a.name, { namespace: ns })
              }
            } else {
              const exists = world.has(a.name)
              world.set(a.name, a.colour)
              const body = configMap(a.name, a.colour)
              yield* exists
                ? sim.admin.replace(Builtins.configMaps, a.name, body, { namespace: ns })
                : sim.admin.create(Builtins.configMaps, body)
            }
            yield* Runner.advance("100 millis")
          }
          const byKey: Record<string, Array<string>> = {}
          for (const [name, colour] of [...world.entries()].sort())
            if (colour !== undefined) byKey[colour] = [...(byKey[colour] ?? []), name]
          const model = Object.fromEntries(
            Object.entries(byKey).sort(([a], [b]) => (a < b ? -1 : 1))
          )
          yield* Runner.eventually(
            Effect.suspend(() => {
              const now = read === undefined ? undefined : snapshot(read)
              return JSON.stringify(now) === JSON.stringify(model)
                ? Effect.void
                : Effect.fail(`index ${JSON.stringify(now)}, objects ${JSON.stringify(model)}`)
            })
          )
          yield* runner.stop
        }).pipe(Effect.provide(cluster)),
      { numRuns: 25 }
    ))
})
