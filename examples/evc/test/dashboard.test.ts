import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { dashboard, dashboardJson, dashboardPath, panels } from "../src/dashboard.ts"

describe("the Grafana dashboard", () => {
  it("keeps deploy/grafana-dashboard.json in step with src/dashboard.ts (run it if this fails)", () => {
    assert.deepStrictEqual(
      JSON.parse(readFileSync(dashboardPath, "utf8")),
      JSON.parse(dashboardJson())
    )
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
