import { assert, describe, it } from "@effect/vitest"
import * as OwnWrites from "../src/internal/ownWrites.ts"

describe("OwnWrites", () => {
  it("skips copies from before our write until the watch delivers it", () => {
    const w = OwnWrites.empty()
    OwnWrites.delivered(w, "5")
    OwnWrites.wrote(w, "7", "5", 1_000)
    assert.deepStrictEqual(OwnWrites.judge(w, "6", 100), {
      _tag: "Stale",
      waiting: "7",
      millis: 900
    })
    OwnWrites.delivered(w, "7")
    assert.deepStrictEqual(OwnWrites.judge(w, "7", 200), { _tag: "Process" })
  })

  it("does not wait for a write the watch brought already, or one that changed nothing", () => {
    const w = OwnWrites.empty()
    OwnWrites.delivered(w, "8")
    OwnWrites.wrote(w, "8", "5", 1_000)
    assert.deepStrictEqual(OwnWrites.judge(w, "8", 0), { _tag: "Process" })
    OwnWrites.wrote(w, "5", "5", 1_000)
    assert.deepStrictEqual(OwnWrites.judge(w, "5", 0), { _tag: "Process" })
  })

  it("gives up at the deadline, and a relist or deletion ends the wait", () => {
    const w = OwnWrites.empty()
    OwnWrites.wrote(w, "9", "5", 1_000)
    assert.deepStrictEqual(OwnWrites.judge(w, "6", 1_000), { _tag: "Overdue", waiting: "9" })
    assert.deepStrictEqual(OwnWrites.judge(w, "6", 1_001), { _tag: "Process" })
    OwnWrites.wrote(w, "10", "6", 5_000)
    assert.isTrue(OwnWrites.clear(w))
    assert.isFalse(OwnWrites.clear(w))
    assert.deepStrictEqual(OwnWrites.judge(w, "6", 0), { _tag: "Process" })
  })

  it("a relist ends the wait, unless it brings a copy the watch delivered (a list from before the write)", () => {
    const w = OwnWrites.empty()
    OwnWrites.delivered(w, "5")
    OwnWrites.wrote(w, "7", "5", 1_000)
    assert.isFalse(OwnWrites.relisted(w, "5"), "the list raced our write: keep waiting")
    assert.strictEqual(OwnWrites.judge(w, "5", 0)._tag, "Stale")
    assert.isTrue(OwnWrites.relisted(w, "8"), "a newer list ends the wait")
    assert.deepStrictEqual(OwnWrites.judge(w, "5", 0), { _tag: "Process" })
    assert.isFalse(OwnWrites.relisted(w, "8"), "nothing was expected")
  })

  it("remembers only the last 16 delivered versions", () => {
    const w = OwnWrites.empty()
    for (let i = 0; i < 20; i++) OwnWrites.delivered(w, String(i))
    OwnWrites.wrote(w, "2", "19", 1_000)
    assert.strictEqual(OwnWrites.judge(w, "19", 0)._tag, "Stale", "version 2 was forgotten")
    OwnWrites.wrote(w, "10", "19", 1_000)
    assert.strictEqual(OwnWrites.judge(w, "19", 0)._tag, "Stale", "still waiting for 2")
  })
})
