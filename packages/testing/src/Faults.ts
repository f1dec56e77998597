/**
 * Fault injection for the simulated cluster: which fraction of requests the API server answers
 * with 409 / 429 / 5xx or answers slowly, how often watches drop or expire, and blackholes:
 * connections that stay open and silent. A blackholed request is never answered (the client's
 * request deadline ends it with `ETIMEDOUT`, then its retry policy applies); a blackholed watch
 * delivers nothing, not even bookmarks or its end (the watcher's idle timeout ends it); a
 * blackhole window silences every connection of the operator's clients for a while, in-flight
 * ones included, as a half-dead network path does. Every choice comes from a PRNG seeded by
 * `seed`, and the simulation runs under the test clock, so one seed replays exactly the same
 * faults at the same points.
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
  /** Per request (not watches): the connection stays open and silent, the server never sees
   * the request. Only the client's request timeout ends it (`ETIMEDOUT`). */
  readonly blackhole?: number | undefined
  /** Per watch request: the watch opens, then nothing arrives (no event, no bookmark, no end of
   * the watch) until the client gives up on it (the watcher's idle timeout). */
  readonly blackholeWatch?: number | undefined
  /** A period of silence, counted from when this configuration takes effect (the simulation's
   * start, or `setFaults`); a later `setFaults` ends it. See {@link Window}. */
  readonly blackholeWindow?: Window | undefined
}

/**
 * A blackhole period: from `from` after the configuration takes effect, for `for`, every
 * connection of the operator's clients is silent. Requests sent meanwhile are never answered;
 * requests and watches in flight when it starts stay silent for good (a half-dead connection:
 * they end only by the client's own deadlines); connections opened after it work again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Window {
  /** Delay before the silence starts (a number is milliseconds). */
  readonly from: Duration.Input
  /** How long it lasts. */
  readonly for: Duration.Input
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
 * 10% expired watches, 1% silent requests, 2% silent watches.
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
  expireWatch: 0.1,
  blackhole: 0.01,
  blackholeWatch: 0.02
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
    (faults.expireWatch ?? 0) > 0 ||
    (faults.blackhole ?? 0) > 0 ||
    (faults.blackholeWatch ?? 0) > 0 ||
    window(faults, 0) !== undefined
  )

/**
 * Random fault configurations (fractions up to `max`, default 0.2), for property tests; the
 * seed is part of the value, so fast-check's counterexample carries it. Blackholes are drawn
 * smaller (requests up to `max / 4`, watches up to `max / 2`, a window of up to 40 s in a
 * third of the configurations), since each one costs the client a whole timeout.
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
    expireWatch: fraction,
    blackhole: fraction.map((f) => f / 4),
    blackholeWatch: fraction.map((f) => f / 2),
    blackholeWindow: fc.oneof(
      { weight: 2, arbitrary: fc.constant(undefined) },
      {
        weight: 1,
        arbitrary: fc.record({
          from: fc.integer({ min: 0, max: 30_000 }),
          for: fc.integer({ min: 1_000, max: 40_000 })
        })
      }
    )
  })
}

/**
 * A small seeded PRNG (mulberry32): `next()` answers a float in `[0, 1)`; `state()` and
 * `restore(state)` take it back to an earlier point.
 *
 * @since 0.1.0
 * @category constructors
 */
export const prng = (seed: number) => {
  let state = seed >>> 0
  return {
    state: (): number => state,
    restore: (saved: number): void => {
      state = saved
    },
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

/**
 * The blackhole window of a configuration that took effect at `start` (epoch milliseconds), as
 * `[from, until)` in epoch milliseconds; `undefined` when it has none.
 *
 * @example
 * ```ts
 * import { Faults } from "@kubefx/testing"
 *
 * Faults.window({ blackholeWindow: { from: "10 seconds", for: "20 seconds" } }, 0)
 * // => { from: 10000, until: 30000 }
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const window = (
  faults: Faults,
  start: number
): { readonly from: number; readonly until: number } | undefined => {
  if (faults.blackholeWindow === undefined) return undefined
  const from = start + Duration.toMillis(Duration.fromInputUnsafe(faults.blackholeWindow.from))
  const until = from + Duration.toMillis(Duration.fromInputUnsafe(faults.blackholeWindow.for))
  return until > from ? { from, until } : undefined
}
