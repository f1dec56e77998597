import { assert, describe, it } from "@effect/vitest"
import { Selector } from "../src/index.ts"

describe("Selector.format", () => {
  it("names a resource once: its plural when known, else its kind", () => {
    assert.strictEqual(
      Selector.format({ kind: "Widget", plural: "widgets", group: "example.com", version: "v1" }),
      "widgets.example.com/v1"
    )
    assert.strictEqual(
      Selector.format({ kind: "Widget", group: "example.com" }),
      "Widget.example.com"
    )
    assert.strictEqual(Selector.format({ plural: "pods" }), "pods")
  })
})
