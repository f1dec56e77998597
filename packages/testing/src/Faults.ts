/**
 * Fault injection for the simulated cluster: which fraction of requests the API server answers
 * with 409 / 429 / 5xx or answers slowly, how often watches drop or expire. Every choice comes
 * from a PRNG seeded by `seed`, and the simulation runs under the test clock, so one seed
 * replays exactly the same faults at the same points.
 *
 * @since 0.1.0
 */
import { Duration } from "effect"
import * as fc from "fast-check"

/**
 * A fault configuration. Every fraction is a probability in `[0, 1]`, drawn per request (per
 * event for `dropWatch`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  /** Seed of the PRNG that draws the faults (default 0). */
  readonly seed?: number | undefined
  /** Writes (replace, patch, status) answered 409 Conflict without acting. */
  readonly conflict?: number | undefined
  /** Requests answered 429 Too Many Requests (Retry-After 1 s) without acting. */
  readonly tooManyRequests?: number | undefined
  /** Requests answered 500 / 503 without acting. */
  readonly serverError?: number | undefined
  /** Requests answered only after `slowDelay`. */
  readonly slow?: number | undefined
  /** Delay of a slow answer (default 2 seconds). */
  readonly slowDelay?: Duration.Input | undefined
  /** Per watch event: the connection drops just before the event (ECONNRESET). */
  readonly dropWatch?: number | undefined
  /** Per watch request: the server answers an ERROR event 410 Gone (the client relists). */
  readonly expireWatch?: number | undefined
}

/**
 * No faults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const none: Faults = {}

/**
 * A little of everything: 5% conflicts, 5% 429, 5% 5xx, 5% slow, 2% dropped watch events,
 * 10% expired watches.
 *
 * @since 0.1.0
 * @category constructors
 */
export const some = (seed = 0): Faults => ({
  seed,
  conflict: 0.05,
  tooManyRequests: 0.05,
  serverError: 0.05,
  slow: 0.05,
  dropWatch: 0.02,
  expireWatch: 0.1
})

/**
 * Whether a configuration injects anything.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isNone = (faults: Faults): boolean =>
  !(
    (faults.conflict ?? 0) > 0 ||
    (faults.tooManyRequests ?? 0) > 0 ||
    (faults.serverError ?? 0) > 0 ||
    (faults.slow ?? 0) > 0 ||
    (faults.dropWatch ?? 0) > 0 ||
    (faults.expireWatch ?? 0) > 0
  )

/**
 * Random fault configurations (fractions up to `max`, default 0.2), for property tests; the
 * seed is part of the value, so fast-check's counterexample carries it.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const arbitrary = (max = 0.2): fc.Arbitrary<Faults> => {
  const fraction = fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: Math.round(max * 100) }).map((n) => n / 100) }
  )
  return fc.record({
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    conflict: fraction,
    tooManyRequests: fraction,
    serverError: fraction,
    slow: fraction,
    dropWatch: fraction.map((f) => f / 4),
    expireWatch: fraction
  })
}

/**
 * A small seeded PRNG (mulberry32): `next()` answers a float in `[0, 1)`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const prng = (seed: number) => {
  let state = seed >>> 0
  return {
    next: (): number => {
      state = (state + 0x6d2b79f5) >>> 0
      let t = state
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }
}

/**
 * The delay of slow answers.
 *
 * @since 0.1.0
 * @category getters
 */
export const slowDelay = (faults: Faults): Duration.Duration =>
  Duration.fromInputUnsafe(faults.slowDelay ?? "2 seconds")
