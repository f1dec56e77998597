/**
 * The spawner's delay queue under the test clock: each item fires once, at its due time, in
 * order of due time; moving and cancelling items, also the soonest while the queue sleeps.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import * as DelayQueue from "../src/internal/delayQueue.ts"

interface Named extends DelayQueue.Item {
  readonly name: string
}

const item = (name: string): Named => ({ name, at: 0, index: -1 })

/** A queue that records each firing as `name@time`. */
const recording = Effect.gen(function* () {
  const fired: Array<string> = []
  const queue = yield* DelayQueue.make((i: Named) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      fired.push(`${i.name}@${now}`)
    })
  )
  return { queue, fired }
})

describe("DelayQueue", () => {
  it.effect("fires each item once at its due time, soonest first", () =>
    Effect.gen(function* () {
      const { queue, fired } = yield* recording
      queue.schedule(item("a"), 3_000)
      queue.schedule(item("b"), 1_000)
      queue.schedule(item("c"), 2_000)
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(fired, ["b@1000", "c@2000", "a@3000"])
    }).pipe(Effect.scoped)
  )

  it.effect(
    "an item moved before the soonest wakes the sleeping queue; a cancelled one never fires",
    () =>
      Effect.gen(function* () {
        const { queue, fired } = yield* recording
        const a = item("a")
        const b = item("b")
        queue.schedule(a, 10_000)
        queue.schedule(b, 5_000)
        yield* TestClock.adjust("1 second")
        queue.schedule(a, 2_000)
        queue.cancel(b)
        queue.cancel(b)
        yield* TestClock.adjust("20 seconds")
        assert.deepStrictEqual(fired, ["a@2000"])
        assert.strictEqual(a.index, -1)
        queue.schedule(b, 25_000)
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(fired, ["a@2000", "b@25000"])
      }).pipe(Effect.scoped)
  )

  it.effect("many items moved and cancelled at random fire in order of their last due time", () =>
    Effect.gen(function* () {
      const { queue, fired } = yield* recording
      let seed = 42
      const random = (n: number) => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
        return Math.floor(seed / 65_536) % n
      }
      const items = Array.from({ length: 300 }, (_, i) => item(`i${i}`))
      const due = new Map<Named, number>()
      for (let round = 0; round < 3; round++)
        for (const i of items) {
          const choice = random(4)
          if (choice === 0) {
            queue.cancel(i)
            due.delete(i)
          } else {
            const at = 1_000 + random(50) * 100
            queue.schedule(i, at)
            due.set(i, at)
          }
        }
      yield* TestClock.adjust("1 minute")
      const expected = [...due].map(([i, at]) => ({ name: i.name, at }))
      assert.strictEqual(fired.length, expected.length)
      const times = fired.map((f) => Number(f.split("@")[1]))
      assert.deepStrictEqual(
        times,
        [...times].sort((x, y) => x - y)
      )
      assert.deepStrictEqual([...fired].sort(), expected.map((e) => `${e.name}@${e.at}`).sort())
    }).pipe(Effect.scoped)
  )
})
