/**
 * A backoff wrapper for any stream: when the stream fails with an error that heals by
 * waiting, run it again after the schedule's next delay, logging why; the schedule starts over
 * once an element gets through. The watcher composes it with its single-scope stream, as
 * kube-rs composes `default_backoff()` with its `watcher`.
 *
 * @since 0.1.0
 */
import { type Duration, Effect, Schedule, Stream } from "effect"

/**
 * Options of {@link withBackoff}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E> {
  /** The delays between attempts (it may end: then the stream fails with the last error). */
  readonly schedule: Schedule.Schedule<unknown, E>
  /** Whether waiting can heal an error; others end the stream at once (default: all heal). */
  readonly heals?: ((error: E) => boolean) | undefined
  /** Runs before each new attempt, with the error and the delay (a log line, a metric). */
  readonly onRetry?: ((error: E, delay: Duration.Duration) => Effect.Effect<void>) | undefined
}

/**
 * Runs `stream` again after a failure, with backoff (see the module's documentation).
 *
 * @example
 * ```ts
 * import { Effect, Schedule, Stream } from "effect"
 * import { StreamBackoff } from "@kubefx/runtime"
 *
 * const flaky = Stream.make(1, 2).pipe(Stream.concat(Stream.fail("dropped")))
 * const forever = flaky.pipe(
 *   StreamBackoff.withBackoff({
 *     schedule: Schedule.exponential("100 millis"),
 *     onRetry: (error, delay) => Effect.logWarning(`${error}; again in ${delay}`)
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withBackoff =
  <E>(options: Options<E>) =>
  <A, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> => {
    const heals = options.heals ?? (() => true)
    const onRetry = options.onRetry
    return Stream.retry(
      stream,
      options.schedule.pipe(
        Schedule.setInputType<E>(),
        Schedule.while(({ input }) => heals(input)),
        Schedule.tap(({ input, duration }) =>
          onRetry === undefined ? Effect.void : onRetry(input, duration)
        )
      )
    )
  }
