/** fast-check arbitraries for JSON values, essences and progress. */
import * as fc from "fast-check"
import type { Json, Progress } from "../src/index.ts"

/** Few keys (so that diffs overlap), some with dots and slashes. */
export const key = fc.constantFrom("a", "b", "c", "size", "e.f", "x/y", "")

export const scalar: fc.Arbitrary<Json.Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
  fc.string({ maxLength: 12 })
)

export const json: fc.Arbitrary<Json.Json> = fc.letrec<{ value: Json.Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(key, tie("value"), { maxKeys: 4 })
  )
})).value

export const jsonObject: fc.Arbitrary<Json.JsonObject> = fc.dictionary(key, json, { maxKeys: 5 })

/** Essences: spec, labels and annotations, with occasional large strings. */
export const essence: fc.Arbitrary<Json.JsonObject> = fc
  .record(
    {
      spec: fc.dictionary(key, fc.oneof(json, fc.string({ minLength: 200, maxLength: 3000 })), {
        maxKeys: 5
      }),
      labels: fc.dictionary(fc.constantFrom("app", "tier"), fc.string({ maxLength: 5 }), {
        maxKeys: 2
      })
    },
    { requiredKeys: ["spec"] }
  )
  .map(({ spec, labels }) =>
    labels === undefined || Object.keys(labels).length === 0
      ? { spec }
      : { metadata: { labels }, spec }
  )

const time = fc.integer({ min: 0, max: 4_102_444_800_000 })

export const handlerState: fc.Arbitrary<Progress.HandlerState> = fc.record({
  cause: fc.string({ maxLength: 30 }),
  started: time,
  stopped: fc.option(time, { nil: undefined }),
  delayed: fc.option(time, { nil: undefined }),
  retries: fc.nat({ max: 10_000 }),
  success: fc.boolean(),
  failure: fc.boolean(),
  message: fc.option(fc.string({ maxLength: 200 }), { nil: undefined })
})

/** Handler ids: short valid ones, and long or odd ones that need shortening. */
export const handlerId = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/),
  fc.string({ minLength: 1, maxLength: 120 }),
  fc.constant("last-handled")
)
