import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schedule, Stream } from "effect"
import { StreamBackoff } from "../src/index.ts"

/** A stream that fails with the next of `errors` after emitting its attempt number. */
const flaky = (errors: ReadonlyArray<string>) => {
  let attempt = 0
  return Stream.suspend(() => {
    const n = attempt++
    const error = errors[n]
    return error === undefined
      ? Stream.make(n)
      : Stream.make(n).pipe(Stream.concat(Stream.fail(error)))
  })
}

describe("StreamBackoff", () => {
  it.live("runs the stream again after errors that heal, reporting each delay", () =>
    Effect.gen(function* () {
      const retries: Array<string> = []
      const out = yield* flaky(["reset", "reset"]).pipe(
        StreamBackoff.withBackoff({
          schedule: Schedule.spaced("1 millis"),
          onRetry: (e, d) => Effect.sync(() => retries.push(`${e}@${Duration.toMillis(d)}`))
        }),
        Stream.runCollect
      )
      assert.deepStrictEqual(Array.from(out), [0, 1, 2])
      assert.deepStrictEqual(retries, ["reset@1", "reset@1"])
    })
  )

  it.live("an error that does not heal ends the stream at once", () =>
    Effect.gen(function* () {
      const error = yield* flaky(["reset", "malformed", "reset"]).pipe(
        StreamBackoff.withBackoff({
          schedule: Schedule.spaced("1 millis"),
          heals: (e) => e !== "malformed"
        }),
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(error, "malformed")
    })
  )

  it.live("the schedule starts over once an element gets through", () =>
    Effect.gen(function* () {
      const delays: Array<number> = []
      yield* flaky(["a", "b", "c"]).pipe(
        StreamBackoff.withBackoff({
          schedule: Schedule.exponential("1 millis"),
          onRetry: (_, d) => Effect.sync(() => delays.push(Duration.toMillis(d)))
        }),
        Stream.runDrain
      )
      // every attempt emits before failing, so no delay grows
      assert.deepStrictEqual(delays, [1, 1, 1])
    })
  )

  it.live("a schedule that ends fails the stream with the last error", () =>
    Effect.gen(function* () {
      const error = yield* Stream.fail("down").pipe(
        StreamBackoff.withBackoff({ schedule: Schedule.recurs(2) }),
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(error, "down")
    })
  )
})
