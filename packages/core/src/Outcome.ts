/**
 * What a handler's run comes to. A handler fails with {@link TemporaryError} (retry after a
 * delay) or {@link PermanentError} (never retried) in its Effect error channel; the core derives
 * {@link RetriesExhausted} and {@link HandlerTimeout}. An error of any class can declare itself
 * permanent with the {@link permanent} key (the runtime's 422 Invalid and 400 BadRequest do):
 * retrying cannot fix it, so it fails the handler for good, whatever the handler's `errors`
 * mode. Any other failure or defect is "unexpected" and handled per the handler's `errors`
 * mode. An {@link Outcome} is the result of one run as a value.
 *
 * @since 0.1.0
 */
import { Data, type Duration, Predicate } from "effect"
import type * as Json from "./Json.ts"

/**
 * A failure to retry later. `delay` overrides the handler's backoff for this retry.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const notReady = Effect.fail(new Outcome.TemporaryError({ message: "PVC not bound yet", delay: "10 seconds" }))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TemporaryError extends Data.TaggedError("TemporaryError")<{
  readonly message: string
  readonly delay?: Duration.Input | undefined
}> {}

/**
 * A failure that no retry can fix: the handler is marked failed and not run again for this change.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const invalid = Effect.fail(new Outcome.PermanentError({ message: "Size must be set." }))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PermanentError extends Data.TaggedError("PermanentError")<{
  readonly message: string
}> {}

/**
 * Derived: the handler kept failing temporarily until its `retries` limit (or its backoff
 * Schedule ended).
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * new Outcome.RetriesExhausted({ message: "boom", retries: 3 })._tag // "RetriesExhausted"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class RetriesExhausted extends Data.TaggedError("RetriesExhausted")<{
  readonly message: string
  readonly retries: number
}> {}

/**
 * Derived: the handler's `timeout` (counted from its first start, across retries) passed.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * new Outcome.HandlerTimeout({ message: "timed out after 1m", timeoutMillis: 60_000 })._tag // "HandlerTimeout"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class HandlerTimeout extends Data.TaggedError("HandlerTimeout")<{
  readonly message: string
  readonly timeoutMillis: number
}> {}

/**
 * Raised by `ctx.execute` while some of its sub-handlers are not done yet: the parent handler
 * is run again after `delayMillis` (the soonest due sub-handler), without this counting as one
 * of its own retries. Let it through: a handler that catches it stops waiting for its
 * sub-handlers.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * new Outcome.SubHandlersPending({ message: "waiting for sub-handlers: claim", delayMillis: 5000 })._tag // "SubHandlersPending"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SubHandlersPending extends Data.TaggedError("SubHandlersPending")<{
  readonly message: string
  readonly delayMillis: number
}> {}

/**
 * Whether a value is a {@link SubHandlersPending}.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * Outcome.isSubHandlersPending(new Outcome.PermanentError({ message: "no" })) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isSubHandlersPending = (u: unknown): u is SubHandlersPending =>
  u instanceof SubHandlersPending

/**
 * The errors a handler is expected to raise.
 *
 * @example
 * ```ts
 * import type { Outcome } from "@kubefx/core"
 *
 * const f = (e: Outcome.HandlerError) => e._tag
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type HandlerError = TemporaryError | PermanentError

/**
 * A definitive failure: the handler is done and failed for this change.
 *
 * @example
 * ```ts
 * import type { Outcome } from "@kubefx/core"
 *
 * const f = (e: Outcome.FinalError) => e.message
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type FinalError = PermanentError | RetriesExhausted | HandlerTimeout

/**
 * The outcome of one run of one handler:
 * - `Success`: done; `result` (when defined) is stored at `status.<handler id>`.
 * - `Retry`: to run again after `delayMillis`; `message` says why.
 * - `Failure`: done and failed; never retried for this change.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * const o: Outcome.Outcome = Outcome.success({ pvcName: "my-claim" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | {
      readonly _tag: "Success"
      readonly result: Json.Json | undefined
      readonly message?: string | undefined
    }
  | { readonly _tag: "Retry"; readonly delayMillis: number; readonly message: string }
  | { readonly _tag: "Failure"; readonly error: FinalError }

/**
 * A successful outcome.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * Outcome.success(undefined)._tag // "Success"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const success = (result: Json.Json | undefined, message?: string): Outcome =>
  message === undefined ? { _tag: "Success", result } : { _tag: "Success", result, message }

/**
 * An outcome to retry after a delay.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * Outcome.retry(1000, "not yet")._tag // "Retry"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const retry = (delayMillis: number, message: string): Outcome => ({
  _tag: "Retry",
  delayMillis,
  message
})

/**
 * A failed outcome.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * Outcome.failure(new Outcome.PermanentError({ message: "no" }))._tag // "Failure"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const failure = (error: FinalError): Outcome => ({ _tag: "Failure", error })

/**
 * Whether a value is one of the errors a handler raises on purpose.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * Outcome.isHandlerError(new Outcome.PermanentError({ message: "x" })) // true
 * Outcome.isHandlerError(new Error("x")) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isHandlerError = (u: unknown): u is HandlerError =>
  u instanceof TemporaryError || u instanceof PermanentError

/**
 * The key by which an error of any class declares itself permanent: its value is the message to
 * record (say what was refused and why), or `true` to record the error's own `message`. A
 * handler whose Effect fails (or dies) with such an error fails permanently, as with
 * {@link PermanentError}: the message goes to the status error summary and a Warning event, and
 * the handler is not retried for this change. This holds whatever the handler's `errors` mode
 * (the mode is for unexpected errors; these say what they are). To choose otherwise, catch the
 * error in the handler (`Effect.catchTag("Invalid", ...)`, or turn it into a
 * {@link TemporaryError}). The key is `Symbol.for("@kubefx/core/Outcome/permanent")`, so classes
 * that do not import the core can carry it.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 * import { Data } from "effect"
 *
 * class QuotaRefused extends Data.TaggedError("QuotaRefused")<{ readonly message: string }> {
 *   get [Outcome.permanent](): string {
 *     return `quota refused: ${this.message}`
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 * @category permanence
 */
export const permanent: unique symbol = Symbol.for("@kubefx/core/Outcome/permanent")

/**
 * An error that declares itself permanent (see {@link permanent}).
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * const e: Outcome.Permanent = { [Outcome.permanent]: "the API refused the object" }
 * ```
 *
 * @since 0.1.0
 * @category permanence
 */
export interface Permanent {
  readonly [permanent]: string | true
}

/**
 * Whether a value declares itself permanent: it has the {@link permanent} key with a string or
 * `true`.
 *
 * @example
 * ```ts
 * import { Outcome } from "@kubefx/core"
 *
 * Outcome.isPermanent({ [Outcome.permanent]: "refused" }) // true
 * Outcome.isPermanent(new Error("x")) // false
 * ```
 *
 * @since 0.1.0
 * @category permanence
 */
export const isPermanent = (u: unknown): u is Permanent =>
  Predicate.hasProperty(u, permanent) && (typeof u[permanent] === "string" || u[permanent] === true)
