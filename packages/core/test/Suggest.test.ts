import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Suggest } from "../src/index.ts"

describe("Suggest", () => {
  it("counts a swap of neighbours as one edit", () => {
    assert.strictEqual(Suggest.distance("feild", "field"), 1)
    assert.strictEqual(Suggest.distance("widgets", "widgets"), 0)
    assert.strictEqual(Suggest.distance("", "abc"), 3)
    assert.strictEqual(Suggest.distance("kitten", "sitting"), 3)
  })

  it("distance is a symmetric measure that is zero only for equal words", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = Suggest.distance(a, b)
        assert.strictEqual(d, Suggest.distance(b, a))
        assert.strictEqual(d === 0, a === b)
        assert.isAtMost(d, Math.max(a.length, b.length))
      })
    )
  })

  it("answers the closest candidates first, by the closest of their spellings", () => {
    assert.deepStrictEqual(Suggest.closest("widgest", ["pods", "gadgets", "widgets"]), [
      "widgets",
      "gadgets",
      "pods"
    ])
    const resources = [
      { name: "pods", spellings: ["pods", "pod"] },
      { name: "ephemeralvolumeclaims.kopf.dev", spellings: ["ephemeralvolumeclaims", "evc"] }
    ]
    assert.deepStrictEqual(
      Suggest.closest("evcs", resources, { count: 1, spellings: (r) => r.spellings }).map(
        (r) => r.name
      ),
      ["ephemeralvolumeclaims.kopf.dev"]
    )
  })
})
