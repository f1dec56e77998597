/**
 * Retry delays from an Effect `Schedule`, computed deterministically: the schedule is stepped
 * purely from its start (the handler's first start) up to the retry in question, with a `Random`
 * seeded from the object, the handler and the change. So jitter is real across objects and
 * retries, yet the same input and clock always give the same delay (and the same decision).
 *
 * @since 0.1.0
 */
import { Duration, Effect, Exit, Option, Random, Schedule } from "effect"

/**
 * A backoff: a schedule fed with the retry number (0 for the first retry). When the schedule
 * ends, the handler's retries are exhausted.
 *
 * @example
 * ```ts
 * import type { Backoff } from "@kubefx/core"
 * import { Schedule } from "effect"
 *
 * const b: Backoff.Backoff = Schedule.spaced("5 seconds")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Backoff = Schedule.Schedule<unknown, number>

/**
 * The default backoff: exponential from 1 second, doubling, capped at 5 minutes, jittered
 * (each delay scaled by a factor in [0.8, 1.2]); it never ends by itself.
 *
 * @example
 * ```ts
 * import { Backoff } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const first = Effect.runSync(Backoff.delayMillis(Backoff.defaultBackoff, 0, "seed")) // Option.some(800..1200)
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultBackoff: Backoff = Schedule.min([
  Schedule.exponential("1 second"),
  Schedule.spaced("5 minutes")
]).pipe(Schedule.jittered)

/**
 * The delay in milliseconds before retry number `retry` (0-based), or `None` when the schedule
 * has ended by then. `start` is the virtual time of the first attempt (for time-based schedules).
 * Deterministic in `(schedule, retry, seed, start)`.
 *
 * @example
 * ```ts
 * import { Backoff } from "@kubefx/core"
 * import { Effect, Schedule } from "effect"
 *
 * Effect.runSync(Backoff.delayMillis(Schedule.exponential("1 second"), 2, "seed")) // Option.some(4000)
 * Effect.runSync(Backoff.delayMillis(Schedule.recurs(1), 1, "seed")) // Option.none()
 * ```
 *
 * @since 0.1.0
 * @category delays
 */
export const delayMillis = (
  schedule: Backoff,
  retry: number,
  seed: string,
  start = 0
): Effect.Effect<Option.Option<number>> =>
  Effect.gen(function* () {
    const step = yield* Schedule.toStep(schedule)
    let now = start
    let delay = 0
    for (let i = 0; i <= retry; i++) {
      const exit = yield* Effect.exit(step(now, i))
      if (Exit.isFailure(exit)) return Option.none()
      delay = Math.max(0, Math.round(Duration.toMillis(exit.value[1])))
      now += delay
    }
    return Option.some(delay)
  }).pipe(Random.withSeed(seed))
