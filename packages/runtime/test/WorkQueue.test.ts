import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import { WorkQueue } from "../src/index.ts"

interface Item {
  readonly key: string
  readonly n: number
}

const item = (key: string, n: number): Item => ({ key, n })

/** Lets forked fibers run until they block. */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("WorkQueue", () => {
  it.effect("latest wins: items offered while a key is processed collapse to the newest", () =>
    Effect.gen(function* () {
      const processed: Array<number> = []
      const gate = yield* Deferred.make<void>()
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 4,
        process: (i) =>
          Effect.gen(function* () {
            processed.push(i.n)
            if (i.n === 1) yield* Deferred.await(gate)
            return Option.none()
          })
      })
      yield* queue.offer(item("a", 1))
      yield* settle
      assert.deepStrictEqual(processed, [1])
      yield* queue.offer(item("a", 2))
      yield* queue.offer(item("a", 3))
      yield* queue.offer(item("a", 4))
      yield* settle
      assert.deepStrictEqual(processed, [1], "nothing else starts while #1 runs")
      yield* Deferred.succeed(gate, undefined)
      yield* queue.awaitIdle
      assert.deepStrictEqual(processed, [1, 4])
      assert.strictEqual(yield* queue.active, 0, "the idle worker exited")
    })
  )

  it.effect("never processes one key in two fibers at once, but keys run in parallel", () =>
    Effect.gen(function* () {
      const inFlight = new Map<string, number>()
      let maxPerKey = 0
      let maxTotal = 0
      let total = 0
      const seen: Array<string> = []
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 10,
        process: (i) =>
          Effect.gen(function* () {
            const now = (inFlight.get(i.key) ?? 0) + 1
            inFlight.set(i.key, now)
            total++
            maxPerKey = Math.max(maxPerKey, now)
            maxTotal = Math.max(maxTotal, total)
            seen.push(`${i.key}${i.n}`)
            yield* Effect.sleep("10 millis")
            inFlight.set(i.key, now - 1)
            total--
            return Option.none()
          })
      })
      for (let n = 0; n < 20; n++) {
        yield* queue.offer(item("a", n))
        yield* queue.offer(item("b", n))
        yield* TestClock.adjust("3 millis")
      }
      yield* TestClock.adjust("1 second")
      yield* queue.awaitIdle
      assert.strictEqual(maxPerKey, 1)
      assert.strictEqual(maxTotal, 2)
      assert.include(seen, "a19", "the newest item of a is processed last")
      assert.include(seen, "b19")
      assert.isBelow(seen.length, 40, "intermediate items collapsed")
    })
  )

  it.effect("bounds the number of keys processed at the same time", () =>
    Effect.gen(function* () {
      let running = 0
      let maxRunning = 0
      const done: Array<string> = []
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 2,
        process: (i) =>
          Effect.gen(function* () {
            running++
            maxRunning = Math.max(maxRunning, running)
            yield* Effect.sleep("1 second")
            running--
            done.push(i.key)
            return Option.none()
          })
      })
      for (const key of ["a", "b", "c", "d", "e"]) yield* queue.offer(item(key, 0))
      yield* settle
      assert.strictEqual(running, 2)
      assert.strictEqual(yield* queue.active, 5, "five workers, three waiting for a permit")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(done.length, 2)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(done.length, 4)
      yield* TestClock.adjust("1 second")
      yield* queue.awaitIdle
      assert.deepStrictEqual([...done].sort(), ["a", "b", "c", "d", "e"])
      assert.strictEqual(maxRunning, 2)
    })
  )

  it.effect("a key waiting for a permit takes its newest item once it gets one", () =>
    Effect.gen(function* () {
      const processed: Array<string> = []
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 1,
        process: (i) =>
          Effect.sleep("1 second").pipe(
            Effect.tap(() => Effect.sync(() => processed.push(`${i.key}${i.n}`))),
            Effect.as(Option.none())
          )
      })
      yield* queue.offer(item("a", 1))
      yield* queue.offer(item("b", 1))
      yield* settle
      yield* queue.offer(item("b", 2))
      yield* queue.offer(item("b", 3))
      yield* TestClock.adjust("5 seconds")
      yield* queue.awaitIdle
      assert.deepStrictEqual(processed, ["a1", "b3"])
    })
  )

  it.effect("comes back after the delay that process answered", () =>
    Effect.gen(function* () {
      const processed: Array<number> = []
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 1,
        process: (i) =>
          Effect.sync(() => {
            processed.push(i.n)
            return processed.length < 3 ? Option.some(Duration.seconds(10)) : Option.none()
          })
      })
      yield* queue.offer(item("a", 7))
      yield* settle
      assert.deepStrictEqual(processed, [7])
      assert.strictEqual(yield* queue.scheduled, 1)
      assert.strictEqual(yield* queue.active, 0, "no worker waits for the requeue")
      yield* TestClock.adjust("9 seconds")
      assert.deepStrictEqual(processed, [7])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(processed, [7, 7])
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(processed, [7, 7, 7])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(processed, [7, 7, 7], "no requeue asked the third time")
      assert.strictEqual(yield* queue.scheduled, 0)
    })
  )

  it.effect("a newer item cancels the pending requeue and decides the next one", () =>
    Effect.gen(function* () {
      const processed: Array<number> = []
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 1,
        process: (i) =>
          Effect.sync(() => {
            processed.push(i.n)
            return i.n === 1 ? Option.some(Duration.seconds(10)) : Option.none()
          })
      })
      yield* queue.offer(item("a", 1))
      yield* settle
      yield* TestClock.adjust("5 seconds")
      yield* queue.offer(item("a", 2))
      yield* settle
      assert.deepStrictEqual(processed, [1, 2])
      assert.strictEqual(yield* queue.scheduled, 0)
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(processed, [1, 2], "the requeue of #1 never fired")
    })
  )

  it.effect("a requeue is replaced by the newer item's own requeue", () =>
    Effect.gen(function* () {
      const processed: Array<string> = []
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 1,
        process: (i) =>
          Effect.gen(function* () {
            const t = yield* Effect.clockWith((c) => c.currentTimeMillis)
            processed.push(`${i.n}@${t / 1000}`)
            return i.n === 1 ? Option.some(Duration.seconds(10)) : Option.some(Duration.seconds(30))
          })
      })
      yield* queue.offer(item("a", 1))
      yield* settle
      yield* TestClock.adjust("5 seconds")
      yield* queue.offer(item("a", 2))
      yield* settle
      yield* TestClock.adjust("40 seconds")
      assert.deepStrictEqual(processed, ["1@0", "2@5", "2@35"])
    })
  )

  it.effect("forget drops the pending requeue", () =>
    Effect.gen(function* () {
      const processed: Array<number> = []
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 1,
        process: (i) =>
          Effect.sync(() => processed.push(i.n)).pipe(Effect.as(Option.some(Duration.seconds(1))))
      })
      yield* queue.offer(item("a", 1))
      yield* settle
      yield* queue.forget("a")
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(processed, [1])
    })
  )

  it.effect("a batch window: the first item at once, then a burst settles into one run", () =>
    Effect.gen(function* () {
      const processed: Array<number> = []
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 1,
        batchWindow: "100 millis",
        process: (i) => Effect.sync(() => processed.push(i.n)).pipe(Effect.as(Option.none()))
      })
      yield* queue.offer(item("a", 1))
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed, [1], "an idle key's first item is not delayed")
      yield* TestClock.adjust("30 millis")
      yield* queue.offer(item("a", 2))
      yield* TestClock.adjust("30 millis")
      yield* queue.offer(item("a", 3))
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed, [1], "the burst waits for the window")
      yield* TestClock.adjust("40 millis")
      yield* Effect.yieldNow
      assert.deepStrictEqual(processed, [1, 3], "one run for the burst, with the newest item")
      yield* TestClock.adjust("100 millis")
      yield* queue.awaitIdle
      assert.deepStrictEqual(processed, [1, 3])
    })
  )

  it.effect("a defect in process is logged and does not stop the key", () =>
    Effect.gen(function* () {
      const processed: Array<number> = []
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 1,
        process: (i) =>
          i.n === 1
            ? Effect.die("boom")
            : Effect.sync(() => processed.push(i.n)).pipe(Effect.as(Option.none()))
      })
      yield* queue.offer(item("a", 1))
      yield* settle
      yield* queue.offer(item("a", 2))
      yield* queue.awaitIdle
      assert.deepStrictEqual(processed, [2])
    })
  )

  it.effect("shutdown lets running items finish, drops pending ones, requeues and offers", () =>
    Effect.gen(function* () {
      const processed: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 1,
        process: (i) =>
          Effect.gen(function* () {
            if (i.key === "slow") yield* Deferred.await(gate)
            processed.push(`${i.key}${i.n}`)
            return Option.some(Duration.seconds(1))
          })
      })
      yield* queue.offer(item("fast", 1))
      yield* settle
      assert.strictEqual(yield* queue.scheduled, 1, "fast1 asked to come back")
      yield* queue.offer(item("slow", 1))
      yield* settle
      yield* queue.offer(item("slow", 2))
      yield* queue.offer(item("other", 1))
      const done = yield* Effect.forkChild(queue.shutdown)
      yield* settle
      assert.isUndefined(done.pollUnsafe(), "waits for the running item")
      yield* queue.offer(item("late", 1))
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(done)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      assert.deepStrictEqual(processed, ["fast1", "slow1"])
      assert.strictEqual(yield* queue.scheduled, 0)
      assert.strictEqual(yield* queue.active, 0)
    })
  )

  it.effect(
    "release lets go of the selected keys only: their items and requeues dropped, running ones finished",
    () =>
      Effect.gen(function* () {
        const processed: Array<string> = []
        const gate = yield* Deferred.make<void>()
        const queue = yield* WorkQueue.make({
          key: (i: Item) => i.key,
          concurrency: 4,
          process: (i) =>
            Effect.gen(function* () {
              if (i.key === "gone-slow" && i.n === 1) yield* Deferred.await(gate)
              processed.push(`${i.key}${i.n}`)
              return Option.some(Duration.seconds(10))
            })
        })
        for (const key of ["gone-slow", "gone-waiting", "kept"]) yield* queue.offer(item(key, 1))
        yield* settle
        assert.deepStrictEqual(processed.sort(), ["gone-waiting1", "kept1"])
        yield* queue.offer(item("gone-slow", 2))
        const released = yield* Effect.forkChild(
          queue.release((i) => i.key.startsWith("gone"), "1 minute")
        )
        yield* settle
        assert.isUndefined(released.pollUnsafe(), "waits for the running item")
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* Fiber.join(released), 2)
        yield* TestClock.adjust("30 seconds")
        yield* settle
        assert.deepStrictEqual(
          processed.filter((p) => p.startsWith("gone")).sort(),
          ["gone-slow1", "gone-waiting1"],
          "no pending item nor requeue of a released key ran"
        )
        assert.isAbove(
          processed.filter((p) => p === "kept1").length,
          1,
          "the kept key's requeue ran"
        )
        yield* queue.offer(item("gone-slow", 3))
        yield* settle
        assert.include(processed, "gone-slow3", "a later offer is taken as usual")
      })
  )

  it.effect("release interrupts what still runs after its time", () =>
    Effect.gen(function* () {
      const queue = yield* WorkQueue.make({
        key: (i: Item) => i.key,
        concurrency: 1,
        process: () => Effect.as(Effect.never, Option.none())
      })
      yield* queue.offer(item("stuck", 1))
      yield* settle
      const released = yield* Effect.forkChild(queue.release(() => true, "5 seconds"))
      yield* settle
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* Fiber.join(released), 1)
      yield* settle
      assert.strictEqual(yield* queue.active, 0)
    })
  )
})
