/**
 * The request policy of a Kube client: a time limit on each attempt, and retries of transient
 * failures with a capped, jittered exponential backoff that honours `Retry-After`. Shared by the
 * real client and the simulated cluster, so both give up and try again alike.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Option, Schedule } from "effect"
import * as KubeError from "./KubeError.ts"

type Err = KubeError.KubeError

/**
 * The default retry policy: capped exponential backoff (100ms, doubling, at most 10s),
 * jittered, 8 retries; a 429's Retry-After lengthens a delay that would be shorter.
 *
 * @example
 * ```ts
 * import { RequestPolicy } from "@kubefx/runtime"
 *
 * const policy = RequestPolicy.defaultRetry
 * ```
 *
 * @since 0.1.0
 * @category retries
 */
export const defaultRetry: Schedule.Schedule<unknown, Err> = Schedule.max([
  Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("10 seconds")]).pipe(
    Schedule.jittered
  ),
  Schedule.recurs(8)
]).pipe(
  Schedule.setInputType<Err>(),
  Schedule.modifyDelay(({ input, duration }) =>
    Effect.succeed(
      input._tag === "TooManyRequests" && Option.isSome(input.retryAfter)
        ? Duration.max(duration, input.retryAfter.value)
        : duration
    )
  )
)

/**
 * Transport failures after which the server surely did not act on the request (it was never
 * sent): connection refused, no connection within the connect timeout, no route or name.
 *
 * @example
 * ```ts
 * import { KubeError, RequestPolicy } from "@kubefx/runtime"
 *
 * RequestPolicy.unsent(
 *   new KubeError.TransportError({ method: "POST", path: "/api", code: "ECONNREFUSED", message: "refused" })
 * ) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const unsent = (e: Err): boolean => e._tag === "TransportError" && unsentCodes.has(e.code)

const unsentCodes = new Set([
  "ECONNREFUSED",
  "ECONNECTTIMEOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH"
])

/**
 * Whether a failed attempt may be tried again: any transient failure of an idempotent request;
 * for one that is not (POST, JSON patch), only when the server surely did not act on it (429,
 * or {@link unsent}).
 *
 * @example
 * ```ts
 * import { KubeError, RequestPolicy } from "@kubefx/runtime"
 *
 * const reset = new KubeError.TransportError({ method: "POST", path: "/api", code: "ECONNRESET", message: "reset" })
 * RequestPolicy.retryable(reset, true) // true
 * RequestPolicy.retryable(reset, false) // false: the server may have created the object
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const retryable = (e: Err, idempotent: boolean): boolean =>
  idempotent ? KubeError.isTransient(e) : e._tag === "TooManyRequests" || unsent(e)

/**
 * Options of a request policy.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Retry schedule of transient failures (default {@link defaultRetry}). */
  readonly retry?: Schedule.Schedule<unknown, Err> | undefined
  /** Time limit of one attempt (default 70 s: connect, headers and a body gap of the real
   * client's socket deadlines); an attempt that runs out fails with `ETIMEDOUT`. */
  readonly attemptTimeout?: Duration.Input | undefined
}

/**
 * A request policy: `send(request, idempotent, attempt)` runs `attempt` under the time limit and
 * retries it as {@link retryable} says; each retry runs with {@link Resends} set to the number
 * of attempts before it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestPolicy {
  readonly send: <A>(
    request: KubeError.RequestInfo,
    idempotent: boolean,
    attempt: Effect.Effect<A, Err>
  ) => Effect.Effect<A, Err>
}

/**
 * Builds a request policy.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { RequestPolicy } from "@kubefx/runtime"
 *
 * const policy = RequestPolicy.make({ attemptTimeout: "5 seconds" })
 * const answer = policy.send({ method: "GET", path: "/version" }, true, Effect.succeed("{}"))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): RequestPolicy => {
  const schedule = options.retry ?? defaultRetry
  const limit = Duration.fromInputUnsafe(options.attemptTimeout ?? "70 seconds")
  return {
    send: (request, idempotent, attempt) => {
      let sent = 0
      const numbered = Effect.suspend(() => {
        const resends = sent++
        return resends === 0 ? attempt : Effect.provideService(attempt, Resends, resends)
      })
      return numbered.pipe(
        Effect.timeoutOrElse({
          duration: limit,
          orElse: () =>
            Effect.fail(
              new KubeError.TransportError({
                ...request,
                code: "ETIMEDOUT",
                message: `no answer within ${Duration.format(limit)}`
              })
            )
        }),
        Effect.retry({ schedule, while: (e: Err) => retryable(e, idempotent) })
      )
    }
  }
}

/**
 * How many attempts of the same request came before the running one (0 for the first): the
 * real client records it on a retried attempt's span as `http.request.resend_count`.
 *
 * @since 0.1.0
 * @category references
 */
export const Resends: Context.Reference<number> = Context.Reference<number>(
  "@kubefx/runtime/RequestPolicy/Resends",
  { defaultValue: () => 0 }
)
