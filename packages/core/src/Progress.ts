/**
 * Per-handler progress, as Kopf keeps it: `started, stopped, delayed, retries, success, failure,
 * message`, plus the `cause` key of the change it belongs to (progress of another change is
 * stale and ignored). Stored on the object (see `Storage`) so that a restarted operator resumes
 * mid-way. Transitions are pure functions of the state, the outcome and the clock.
 *
 * @since 0.1.0
 */
import { DateTime, Option } from "effect"
import * as Json from "./Json.ts"
import type * as Outcome from "./Outcome.ts"

/**
 * The progress of one handler for one change. Times are epoch milliseconds.
 *
 * @example
 * ```ts
 * import { Progress } from "@kubefx/core"
 *
 * const s: Progress.HandlerState = Progress.start("create:", 0)
 * s.retries // 0
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HandlerState {
  /** The change this progress belongs to (`Causes.key`). */
  readonly cause: string
  /** When the first attempt started. */
  readonly started: number
  /** When the handler finished (success or failure). */
  readonly stopped: number | undefined
  /** Not to be run before this time (a retry is pending). */
  readonly delayed: number | undefined
  /** Failed attempts so far. */
  readonly retries: number
  readonly success: boolean
  readonly failure: boolean
  /** The last error message, or a note on success. */
  readonly message: string | undefined
}

/**
 * Progress of all handlers, by handler id.
 *
 * @example
 * ```ts
 * import type { Progress } from "@kubefx/core"
 *
 * const p: Progress.Progress = {}
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Progress = Readonly<Record<string, HandlerState>>

/**
 * The state of a handler about to run its first attempt.
 *
 * @example
 * ```ts
 * import { Progress } from "@kubefx/core"
 *
 * Progress.start("update:0123456789abcdef", 1_700_000_000_000).started // 1700000000000
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (cause: string, now: number): HandlerState => ({
  cause,
  started: now,
  stopped: undefined,
  delayed: undefined,
  retries: 0,
  success: false,
  failure: false,
  message: undefined
})

/**
 * Whether the handler is done for its change (succeeded or failed for good).
 *
 * @example
 * ```ts
 * import { Progress } from "@kubefx/core"
 *
 * Progress.isDone(Progress.start("create:", 0)) // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isDone = (state: HandlerState): boolean => state.success || state.failure

/**
 * Whether the handler may run at `now`: not done and not delayed past `now`.
 *
 * @example
 * ```ts
 * import { Progress } from "@kubefx/core"
 *
 * Progress.isDue(Progress.start("create:", 0), 0) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isDue = (state: HandlerState, now: number): boolean =>
  !isDone(state) && (state.delayed === undefined || state.delayed <= now)

/**
 * The transition after a run: success stops the handler, a retry counts the failure and delays
 * the next attempt, a failure counts it and stops the handler.
 *
 * @example
 * ```ts
 * import { Outcome, Progress } from "@kubefx/core"
 *
 * const s = Progress.next(Progress.start("create:", 0), Outcome.retry(1000, "not yet"), 0)
 * s.retries // 1
 * s.delayed // 1000
 * ```
 *
 * @since 0.1.0
 * @category transitions
 */
export const next = (state: HandlerState, outcome: Outcome.Outcome, now: number): HandlerState => {
  switch (outcome._tag) {
    case "Success":
      return {
        ...state,
        stopped: now,
        delayed: undefined,
        success: true,
        failure: false,
        message: outcome.message
      }
    case "Retry":
      return {
        ...state,
        delayed: now + outcome.delayMillis,
        retries: state.retries + 1,
        message: outcome.message
      }
    case "Failure":
      return {
        ...state,
        stopped: now,
        delayed: undefined,
        retries: state.retries + 1,
        success: false,
        failure: true,
        message: outcome.error.message
      }
  }
}

const iso = (ms: number): string => DateTime.formatIso(DateTime.makeUnsafe(ms))

const fromIso = (u: Json.Json | undefined): number | undefined | null => {
  if (u === undefined || u === null) return undefined
  if (typeof u !== "string") return null
  return Option.match(DateTime.make(u), {
    onNone: () => null,
    onSome: DateTime.toEpochMillis
  })
}

/**
 * The stored JSON form of a handler's state (times as ISO 8601 strings, absent fields omitted).
 *
 * @example
 * ```ts
 * import { Progress } from "@kubefx/core"
 *
 * Progress.toJson(Progress.start("create:", 0))
 * // { cause: "create:", started: "1970-01-01T00:00:00.000Z", retries: 0, success: false, failure: false }
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const toJson = (state: HandlerState): Json.JsonObject => {
  const out: Record<string, Json.Json> = { cause: state.cause, started: iso(state.started) }
  if (state.stopped !== undefined) out.stopped = iso(state.stopped)
  if (state.delayed !== undefined) out.delayed = iso(state.delayed)
  out.retries = state.retries
  out.success = state.success
  out.failure = state.failure
  if (state.message !== undefined) out.message = state.message
  return out
}

/**
 * Reads a handler's state from its stored JSON form (`null` is read as absent); `undefined`
 * when malformed (a corrupted record is treated as no progress: the handler starts over).
 *
 * @example
 * ```ts
 * import { Progress } from "@kubefx/core"
 *
 * const s = Progress.start("create:", 0)
 * Progress.fromJson(Progress.toJson(s)) // equal to s
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const fromJson = (json: Json.Json | undefined): HandlerState | undefined => {
  if (!Json.isObject(json)) return undefined
  const { cause, retries, success, failure } = json
  const message = json.message === null ? undefined : json.message
  const started = fromIso(json.started)
  const stopped = fromIso(json.stopped)
  const delayed = fromIso(json.delayed)
  if (
    typeof cause !== "string" ||
    typeof started !== "number" ||
    stopped === null ||
    delayed === null ||
    typeof retries !== "number" ||
    !Number.isSafeInteger(retries) ||
    retries < 0 ||
    typeof success !== "boolean" ||
    typeof failure !== "boolean" ||
    (message !== undefined && typeof message !== "string")
  )
    return undefined
  return { cause, started, stopped, delayed, retries, success, failure, message }
}
