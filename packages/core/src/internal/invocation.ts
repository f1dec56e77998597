/**
 * The running of one handler (Kopf's `invocation`): builds its context, decodes its spec, bounds
 * the run by its timeout, and classifies how the run ends into an `Outcome`, together with the
 * patch the handler wrote through `ctx.patch`; {@link eventFor} gives the Kubernetes event of an
 * outcome. Which handlers run, and what a step writes of their outcomes, is `Reconcile`'s policy.
 *
 * How a run ends, and its outcome (the first line that applies):
 * - its `timeout` had passed before the run, or passes during it: `HandlerTimeout`;
 * - its spec does not decode with its Schema: `PermanentError` with the Schema's message;
 * - it succeeds: `Success` with its value as the result;
 * - it fails with `TemporaryError`: `Retry` after the error's delay, else the backoff's
 *   (`RetriesExhausted` past `retries`, or when the backoff Schedule has ended);
 * - it fails with `PermanentError`, or fails or dies with an error that declares itself
 *   permanent (`Outcome.permanent`): `PermanentError` with that message;
 * - any other failure or defect is unexpected, handled per the handler's `errors` mode; an
 *   interruption is retried;
 * - an event handler is never retried: what would be a `Retry` is a `PermanentError`;
 * - then a patch, or a result (not an event handler's: it is not stored), that JSON cannot hold
 *   turns the outcome into a `PermanentError` naming the bad value's path; such a patch is dropped.
 *
 * @internal
 */
import { Cause, Duration, Effect, Exit, Option, Predicate, References, Schema } from "effect"
import * as Backoff from "../Backoff.ts"
import type * as Diff from "../Diff.ts"
import type * as Handler from "../Handler.ts"
import * as Json from "../Json.ts"
import * as Outcome from "../Outcome.ts"
import * as Patch from "../Patch.ts"
import type * as Progress from "../Progress.ts"
import type { Event } from "../Reconcile.ts"
import type * as Resource from "../Resource.ts"
import { HandlerContext, logAnnotations, PatchCell } from "./handlerContext.ts"
import * as SubHandlers from "./subHandlers.ts"

/** The longest message kept in progress, status and events. @internal */
export const maxMessageLength = 1000

/** A message cut to {@link maxMessageLength} characters (with `…` when cut). @internal */
export const truncate = (s: string): string =>
  s.length <= maxMessageLength ? s : `${s.slice(0, maxMessageLength - 1)}…`

/** The change a handler sees: the whole essence's, or its field's. @internal */
export interface Change {
  readonly old: Json.Json | undefined
  readonly new: Json.Json | undefined
  readonly diff: Diff.Diff
}

/** What one run of a handler is given. @internal */
export interface Invocation {
  readonly resource: Resource.Resource<unknown>
  /** The object as the handlers before this one in the step left it. */
  readonly body: Json.JsonObject
  /** The cause's reason, or `"event"`. */
  readonly reason: string
  readonly event: Handler.EventType | undefined
  readonly change: Change
  /** The handler's progress before this run (`Progress.start` for a first attempt). */
  readonly state: Progress.HandlerState
  /** The clock, epoch milliseconds. */
  readonly now: number
  /** For daemons and timers: the stop signal and the newest copy (see `Handler.SpawnedContext`). */
  readonly signals?: Signals | undefined
  /** Seeds the backoff's jitter (per object, handler and change). */
  readonly seed: string
  /** For change handlers: where their sub-handlers' progress is (see `ctx.execute`). */
  readonly children?: SubHandlers.Children | undefined
}

/** What a daemon's or timer's context adds to a handler's. @internal */
export interface Signals {
  readonly stopped: Effect.Effect<void>
  readonly isStopped: Effect.Effect<boolean>
  readonly latest: Effect.Effect<Json.JsonObject>
}

/** What one run comes to: its outcome and the patch the handler wrote. @internal */
export interface Attempt {
  readonly outcome: Outcome.Outcome
  readonly patch: Patch.MergePatch
  /** The run waits for its sub-handlers (a `Retry` that is not one of the handler's retries). */
  readonly waiting?: boolean | undefined
}

/**
 * Runs a handler once and classifies the end of the run (see the module's documentation), in a
 * span `kubefx.handler` (attributes `kubefx.handler`, `kubefx.retry`, `kubefx.outcome`) under which the
 * handler's own spans nest. Never fails: failures, defects and timeouts are outcomes.
 *
 * @internal
 */
export const invoke = <R>(
  handler: Handler.Handler<R>,
  input: Invocation
): Effect.Effect<Attempt, never, R> =>
  Effect.withSpan(
    Effect.tap(runOnce(handler, input), (attempt) =>
      Effect.annotateCurrentSpan("kubefx.outcome", attempt.outcome._tag)
    ),
    "kubefx.handler",
    {
      captureStackTrace: false,
      attributes: { "kubefx.handler": handler.id, "kubefx.retry": input.state.retries }
    }
  )

/**
 * Runs a handler once as {@link invoke} does, without a span: a daemon's run lasts as long as
 * the daemon, and a span is for bounded work.
 *
 * @internal
 */
// Written without generators, and the context is handed over once: a daemon's run lasts as
// long as the daemon, and every frame of its program, with what it holds, is kept that long.
export const runOnce = <R>(
  handler: Handler.Handler<R>,
  input: Invocation
): Effect.Effect<Attempt, never, R> =>
  Effect.suspend(() => {
    const patch = new PatchCell()
    const left = remainingMillis(handler, input)
    if (left !== undefined && left <= 0) return refused(patch, timeoutError(handler))
    return Effect.flatMap(decodeSpec(handler, input.body), (spec) => {
      if (spec._tag === "Invalid") return refused(patch, spec.error)
      return Effect.flatMap(Effect.exit(program(handler, input, spec.value, patch, left)), (exit) =>
        Effect.map(classify(handler, exit, input), (outcome) =>
          checkJson(handler, { outcome, patch: patch.value, waiting: isWaiting(exit) })
        )
      )
    })
  })

/** A run that did not start: it fails with `error`. */
const refused = (patch: PatchCell, error: Outcome.FinalError) =>
  Effect.sync((): Attempt => ({ outcome: Outcome.failure(error), patch: patch.value }))

/** The handler's program on its context, bounded by its timeout, its lines annotated. */
const program = <R>(
  handler: Handler.Handler<R>,
  input: Invocation,
  spec: unknown,
  patch: PatchCell,
  left: number | undefined
): Effect.Effect<unknown, unknown, R> => {
  const ctx = new HandlerContext({
    handler,
    resource: input.resource,
    body: input.body,
    spec,
    reason: input.reason,
    event: input.event,
    change: input.change,
    retry: input.state.retries,
    started: input.state.started,
    now: input.now,
    patch,
    execute: () =>
      SubHandlers.makeExecute(
        {
          handler,
          body: input.body,
          now: input.now,
          cause: input.state.cause,
          children: input.children,
          patch
        },
        // The sub-handlers' services are among the parent's (`SubServices`), provided to its run.
        (child, body, state) =>
          invoke(child, {
            ...input,
            body,
            state,
            seed: `${input.seed}:${child.id}`
          }) as Effect.Effect<Attempt>,
        new Set()
      ) as Handler.Context<unknown>["execute"],
    signals: input.signals
  })
  const annotations = logAnnotations(ctx.id, ctx.name, ctx.namespace)
  // Handed over once: from then on the context lives only as long as the handler keeps it.
  let given: HandlerContext | undefined = ctx
  const run: Effect.Effect<unknown, unknown, R> = Effect.suspend(() => {
    const c = given as HandlerContext
    given = undefined
    return handler.run(c as unknown as Handler.Context<unknown>)
  })
  const timed = left === undefined ? run : Effect.timeout(run, Duration.millis(left))
  // A daemon's or timer's fiber has these annotations already.
  return Effect.flatMap(References.CurrentLogAnnotations, (current) =>
    current.handler === annotations.handler && current.object === annotations.object
      ? timed
      : Effect.annotateLogs(timed, annotations)
  )
}

/** Whether a run ended waiting for its sub-handlers. */
const isWaiting = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isFailure(exit) &&
  Option.isSome(Option.filter(Cause.findErrorOption(exit.cause), Outcome.isSubHandlersPending))

/** The time left before the handler's timeout, counted from its first start; none without one. */
const remainingMillis = (
  handler: Handler.Handler<unknown>,
  input: Invocation
): number | undefined =>
  handler.timeout === undefined
    ? undefined
    : Duration.toMillis(handler.timeout) - (input.now - input.state.started)

const timeoutError = (handler: Handler.Handler<unknown>): Outcome.HandlerTimeout => {
  const timeout = handler.timeout ?? Duration.zero
  return new Outcome.HandlerTimeout({
    message: `Handler timed out after ${Duration.format(timeout)}.`,
    timeoutMillis: Duration.toMillis(timeout)
  })
}

type Spec =
  | { readonly _tag: "Valid"; readonly value: unknown }
  | { readonly _tag: "Invalid"; readonly error: Outcome.PermanentError }

/** The spec as the handler's Schema decodes it, or the raw `spec` object without a Schema. */
const decodeSpec = (
  handler: Handler.Handler<unknown>,
  body: Json.JsonObject
): Effect.Effect<Spec> => {
  if (handler.spec === undefined)
    return Effect.succeed({ _tag: "Valid", value: Json.asObject(body.spec) })
  return Effect.map(Effect.exit(Schema.decodeUnknownEffect(handler.spec)(body.spec)), (exit) => {
    if (Exit.isSuccess(exit)) return { _tag: "Valid", value: exit.value }
    const error = Cause.findErrorOption(exit.cause)
    const message = Option.match(error, { onNone: () => "invalid spec", onSome: errorMessage })
    return {
      _tag: "Invalid",
      error: new Outcome.PermanentError({ message: truncate(`Invalid spec: ${message}`) })
    }
  })
}

const errorMessage = (e: unknown): string => {
  if (Predicate.hasProperty(e, "message") && typeof e.message === "string" && e.message !== "")
    return e.message
  if (Predicate.hasProperty(e, "_tag") && typeof e._tag === "string") return e._tag
  return String(e)
}

const permanentError = (message: string): Outcome.Outcome =>
  Outcome.failure(new Outcome.PermanentError({ message: truncate(message) }))

const declaredPermanent = (e: Outcome.Permanent): Outcome.Outcome => {
  const declared = e[Outcome.permanent]
  return permanentError(typeof declared === "string" ? declared : errorMessage(e))
}

/** The outcome of a run's exit (see the module's documentation). */
const classify = (
  handler: Handler.Handler<unknown>,
  exit: Exit.Exit<unknown, unknown>,
  input: Invocation
): Effect.Effect<Outcome.Outcome> => {
  if (Exit.isSuccess(exit)) {
    const value = exit.value
    return Effect.succeed(Outcome.success(value === undefined ? undefined : (value as Json.Json)))
  }
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error)) return classifyError(handler, error.value, input)
  const defect = Cause.findDefect(exit.cause)
  if (defect._tag === "Success" && Outcome.isPermanent(defect.success))
    return Effect.succeed(declaredPermanent(defect.success))
  if (defect._tag === "Success")
    return unexpected(handler, `Unexpected defect: ${errorMessage(defect.success)}`, input)
  return retryOrExhaust(handler, input, "Interrupted", undefined)
}

const classifyError = (
  handler: Handler.Handler<unknown>,
  e: unknown,
  input: Invocation
): Effect.Effect<Outcome.Outcome> => {
  if (e instanceof Outcome.PermanentError) return Effect.succeed(permanentError(e.message))
  if (e instanceof Outcome.SubHandlersPending)
    return Effect.succeed(Outcome.retry(e.delayMillis, e.message))
  if (e instanceof Outcome.TemporaryError) return retryOrExhaust(handler, input, e.message, e.delay)
  if (Outcome.isPermanent(e)) return Effect.succeed(declaredPermanent(e))
  if (Cause.isTimeoutError(e) && handler.timeout !== undefined)
    return Effect.succeed(Outcome.failure(timeoutError(handler)))
  return unexpected(handler, errorMessage(e), input)
}

/** An unexpected failure or defect, per the handler's `errors` mode. */
const unexpected = (
  handler: Handler.Handler<unknown>,
  message: string,
  input: Invocation
): Effect.Effect<Outcome.Outcome> => {
  switch (handler.errors) {
    case "temporary":
      return retryOrExhaust(handler, input, message, undefined)
    case "permanent":
      return Effect.succeed(permanentError(message))
    case "ignored":
      return Effect.succeed(Outcome.success(undefined, truncate(`Error ignored: ${message}`)))
  }
}

const retryOrExhaust = (
  handler: Handler.Handler<unknown>,
  input: Invocation,
  message: string,
  explicitDelay: Duration.Input | undefined
): Effect.Effect<Outcome.Outcome> =>
  Effect.gen(function* () {
    const { state } = input
    const msg = truncate(message)
    // Event handlers are never retried: what would be retried fails, with its message.
    if (handler.kind === "event") return permanentError(msg)
    const exhausted = Outcome.failure(
      new Outcome.RetriesExhausted({
        message: truncate(`Retries exhausted after ${state.retries + 1} attempts: ${message}`),
        retries: state.retries
      })
    )
    if (handler.retries !== undefined && state.retries >= handler.retries) return exhausted
    if (explicitDelay !== undefined) {
      return Outcome.retry(
        Math.max(0, Duration.toMillis(Duration.fromInputUnsafe(explicitDelay))),
        msg
      )
    }
    const delay = yield* Backoff.delayMillis(
      handler.backoff,
      state.retries,
      input.seed,
      state.started
    )
    return Option.match(delay, {
      onNone: () => exhausted,
      onSome: (ms) => Outcome.retry(ms, msg)
    })
  })

const notJson = (id: string, what: string, at: string, invalid: Json.Invalid): Outcome.Outcome =>
  permanentError(
    `Handler '${id}' ${what} a value JSON cannot hold at ${Json.formatPath([at, ...invalid.path])}: ${invalid.reason}`
  )

/**
 * A result or a patch that JSON cannot hold would break the step's patch (or the essence):
 * the attempt fails permanently with the bad value's path, and a bad patch is dropped. Results
 * of event handlers are not stored, so only their patch is checked.
 */
const checkJson = (handler: Handler.Handler<unknown>, attempt: Attempt): Attempt => {
  const badPatch = Json.findInvalid(attempt.patch)
  if (badPatch !== undefined)
    return {
      outcome: notJson(handler.id, "wrote through ctx.patch", "patch", badPatch),
      patch: Patch.empty
    }
  const { outcome } = attempt
  if (outcome._tag !== "Success" || outcome.result === undefined || handler.kind === "event")
    return attempt
  const badResult = Json.findInvalid(outcome.result)
  return badResult === undefined
    ? attempt
    : { ...attempt, outcome: notJson(handler.id, "returned", "result", badResult) }
}

/**
 * The event a handler's outcome gives: `Succeeded` (Normal), `Retrying` or `Failed` (Warning).
 *
 * @internal
 */
export const eventFor = (id: string, outcome: Outcome.Outcome): Event => {
  switch (outcome._tag) {
    case "Success":
      return {
        type: "Normal",
        reason: "Succeeded",
        message: truncate(
          `Handler '${id}' succeeded.${outcome.message ? ` ${outcome.message}` : ""}`
        )
      }
    case "Retry":
      return {
        type: "Warning",
        reason: "Retrying",
        message: truncate(
          `Handler '${id}' failed temporarily, retrying in ${outcome.delayMillis}ms: ${outcome.message}`
        )
      }
    case "Failure":
      return {
        type: "Warning",
        reason: "Failed",
        message: truncate(`Handler '${id}' failed permanently: ${outcome.error.message}`)
      }
  }
}
