import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Metrics } from "@kubefx/runtime"
import { dashboard, dashboardJson, dashboardPath, panels } from "../src/dashboard.ts"

/** The names of the metrics the runtime exports (its `Metrics` module's values with an id). */
const exported = new Set(
  Object.values(Metrics).flatMap((value) =>
    typeof value === "object" && value !== null && "id" in value && typeof value.id === "string"
      ? [value.id]
      : []
  )
)

/** The metric names a PromQL expression reads (a histogram's `_bucket` cut off). */
const metricsOf = (expr: string) =>
  [...expr.matchAll(/\b(?:controller_runtime|workqueue|rest_client|kubefx)_[a-z_]+/g)].map(
    ([name]) => name.replace(/_bucket$/, "")
  )

describe("the Grafana dashboard", () => {
  it("keeps deploy/grafana-dashboard.json in step with src/dashboard.ts (run it if this fails)", () => {
    assert.deepStrictEqual(
      JSON.parse(readFileSync(dashboardPath, "utf8")),
      JSON.parse(dashboardJson())
    )
  })

  it("queries only metrics the runtime exports", () => {
    assert.isAbove(exported.size, 10)
    const queried = panels.flatMap((p) => p.queries.flatMap(([expr]) => metricsOf(expr)))
    assert.isAbove(queried.length, panels.length - 1)
    for (const name of queried) assert.isTrue(exported.has(name), `${name} is not a runtime metric`)
  })

  it("gives every panel its own place on the grid and a query per legend entry", () => {
    const places = new Set(dashboard.panels.map((p) => `${p.gridPos.x},${p.gridPos.y}`))
    assert.strictEqual(places.size, panels.length)
    for (const panel of dashboard.panels) {
      assert.isAbove(panel.targets.length, 0, panel.title)
      assert.deepStrictEqual(
        panel.targets.map((t) => t.refId),
        panel.targets.map((_, i) => String.fromCharCode(65 + i))
      )
    }
  })
})
