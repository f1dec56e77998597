/**
 * The registry's activities (`Activity` of `@kubefx/core`) while an operator runs: the startup
 * activities before any watch (retried, or the operator stops with {@link StartupFailed}), the
 * cleanup activities on a graceful stop (each bounded by its timeout, failures logged), and the
 * probes the health server answers at `GET /probes`.
 *
 * @since 0.1.0
 */
import { type Activity, Backoff, type Json, Outcome } from "@kubefx/core"
import { Cause, Data, Duration, Effect, Exit, Option, Predicate } from "effect"
import * as Format from "./internal/format.ts"

/**
 * A startup (or login) activity failed for good: a `PermanentError`, or its retries are
 * exhausted.
 *
 * @example
 * ```ts
 * import { Activities } from "@kubefx/runtime"
 *
 * new Activities.StartupFailed({ id: "warm", message: "startup activity 'warm' failed: no cache" })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class StartupFailed extends Data.TaggedError("StartupFailed")<{
  readonly id: string
  readonly message: string
}> {}

const messageOf = (cause: Cause.Cause<unknown>): string => {
  const error = Option.getOrUndefined(Cause.findErrorOption(cause))
  const defect = Cause.findDefect(cause)
  const value = error ?? (defect._tag === "Success" ? defect.success : undefined)
  if (value === undefined) return Cause.hasInterrupts(cause) ? "interrupted" : Cause.pretty(cause)
  if (Cause.isTimeoutError(value)) return "timed out"
  if (Predicate.hasProperty(value, "message") && typeof value.message === "string")
    return value.message
  return String(value)
}

/** One attempt, bounded by the activity's timeout. */
const attempt = <R>(activity: Activity.Activity<R>) =>
  Effect.exit(
    activity.timeout === undefined ? activity.run : Effect.timeout(activity.run, activity.timeout)
  )

/** The delay before the next attempt, or none when the activity has failed for good. */
const nextDelay = (
  activity: Activity.Activity<unknown>,
  cause: Cause.Cause<unknown>,
  retry: number
): Effect.Effect<Option.Option<number>> => {
  const error = Option.getOrUndefined(Cause.findErrorOption(cause))
  if (error instanceof Outcome.PermanentError || Outcome.isPermanent(error))
    return Effect.succeed(Option.none())
  if (activity.retries !== undefined && retry >= activity.retries)
    return Effect.succeed(Option.none())
  if (error instanceof Outcome.TemporaryError && error.delay !== undefined)
    return Effect.succeed(Option.some(Duration.toMillis(Duration.fromInputUnsafe(error.delay))))
  return Backoff.delayMillis(activity.backoff, retry, `startup/${activity.id}`)
}

/**
 * Runs a startup or login activity until it succeeds, and answers its value: a failed attempt
 * is tried again after its delay (a `TemporaryError`'s own, else the backoff), unless it is
 * permanent or the retries are spent; then it fails with the activity's last message.
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Activities } from "@kubefx/runtime"
 *
 * const answer = Activities.persist(Activity.startup("hello", Effect.succeed(42)))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const persist = <R>(
  activity: Activity.Activity<R>
): Effect.Effect<unknown, StartupFailed, R> =>
  Effect.gen(function* () {
    for (let retry = 0; ; retry++) {
      const exit = yield* attempt(activity)
      if (Exit.isSuccess(exit)) return exit.value
      const message = messageOf(exit.cause)
      const delay = yield* nextDelay(activity, exit.cause, retry)
      if (Option.isNone(delay))
        return yield* new StartupFailed({
          id: activity.id,
          message: `${activity.kind} activity '${activity.id}' failed${retry > 0 ? ` after ${retry + 1} attempts` : ""}: ${message}`
        })
      yield* Effect.logWarning(
        `${activity.kind} ${activity.id} failed, trying again in ${Format.duration(delay.value)}: ${message}`
      )
      yield* Effect.sleep(Duration.millis(delay.value))
    }
  }).pipe(Effect.annotateLogs("activity", activity.id))

/**
 * Runs the startup activities in order, each until it succeeds (see the module's
 * documentation).
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Activities } from "@kubefx/runtime"
 *
 * const program = Activities.startup([Activity.startup("hello", Effect.log("hello"))])
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const startup = <R>(
  activities: ReadonlyArray<Activity.Activity<R>>
): Effect.Effect<void, StartupFailed, R> =>
  Effect.forEach(
    activities.filter((a) => a.kind === "startup"),
    (activity) =>
      Effect.andThen(
        persist(activity),
        Effect.logInfo(`startup ${activity.id}: done`).pipe(
          Effect.annotateLogs("activity", activity.id)
        )
      ),
    { discard: true }
  )

/**
 * Runs the cleanup activities in order, each bounded by its timeout; failures are logged.
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Activities } from "@kubefx/runtime"
 *
 * const program = Activities.cleanup([Activity.cleanup("bye", Effect.log("bye"))])
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const cleanup = <R>(
  activities: ReadonlyArray<Activity.Activity<R>>
): Effect.Effect<void, never, R> =>
  Effect.forEach(
    activities.filter((a) => a.kind === "cleanup"),
    (activity) =>
      Effect.flatMap(attempt(activity), (exit) =>
        Exit.isSuccess(exit)
          ? Effect.logInfo(`cleanup ${activity.id}: done`)
          : Effect.logWarning(`cleanup ${activity.id} failed: ${messageOf(exit.cause)}`)
      ).pipe(Effect.annotateLogs("activity", activity.id)),
    { discard: true }
  )

/**
 * Computes every probe, concurrently: its value, or `{ "error": message }` when it failed or
 * took longer than 10 s.
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Activities } from "@kubefx/runtime"
 *
 * const values = Activities.probes([Activity.probe("answer", Effect.succeed(42))]) // { answer: 42 }
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const probes = <R>(
  activities: ReadonlyArray<Activity.Activity<R>>
): Effect.Effect<Json.JsonObject, never, R> =>
  Effect.map(
    Effect.forEach(
      activities.filter((a) => a.kind === "probe"),
      (activity) =>
        Effect.map(attempt(activity), (exit): readonly [string, Json.Json] => [
          activity.id,
          Exit.isSuccess(exit)
            ? ((exit.value ?? null) as Json.Json)
            : { error: messageOf(exit.cause) }
        ]),
      { concurrency: "unbounded" }
    ),
    (entries) => Object.fromEntries(entries)
  )
