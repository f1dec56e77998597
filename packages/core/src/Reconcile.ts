/**
 * The decision: one reconciliation step of one object, as a value. `reconcile` detects the
 * cause, runs the handlers that are due, and returns a {@link Decision}: one merge patch
 * (status, annotations, finalizers, plus the handlers' own patches), the Kubernetes events to
 * post, and the delay after which to come back (none when nothing is pending). The core does
 * no I/O; the handlers may, through the services `R` they require. The runtime only interprets
 * the decision; nothing is kept in memory between steps (all state is on the object).
 *
 * Policy of a step:
 * 1. Event handlers (`onEvent`) run first when the runtime passes the watch `event`:
 *    stateless, never retried: a failure is a `Failure` run of kind `"event"` in
 *    `Decision.runs` (for the runtime to log), and changes nothing else.
 * 2. Finalizer first: when kubefx's finalizer must be added to a live object, the step only
 *    adds it (and returns); the patch's own watch event brings the next step. So delete
 *    handlers are guaranteed to run for any object whose other handlers ran.
 * 3. The handlers of the cause (`create`, `update` and field handlers, `delete`, `resume`) that
 *    match their filters run one after another, in declaration order, each at most once per
 *    step: every handler that is due (not done, not delayed into the future) runs, including
 *    after another one asked for a retry or failed. Each sees the body as patched by the ones
 *    before it in this step (their results in `status.<id>` and their own patches).
 * 4. A handler's outcome updates its progress; a retry delays it (its own `TemporaryError`
 *    delay, else its backoff at this retry number); it fails for good on a `PermanentError` or
 *    an error that declares itself permanent (`Outcome.permanent`, e.g. the API server's 422),
 *    when `retries` is exceeded, when its backoff Schedule ends, when `timeout` (counted from
 *    its first start) has passed, or when its result or its `ctx.patch` holds a value JSON
 *    cannot hold (`Json.findInvalid`; that patch is then dropped).
 * 5. When every handler of the cause is done (succeeded or failed for good), the cause is done:
 *    progress is purged, errors of handlers that were not part of this change are cleared (the
 *    summary in `status.kubefx.errors` describes the last handled change), the new essence is
 *    stored as last-handled (create and update; the
 *    essence is taken from the body as patched by the handlers, so a handler's own changes do
 *    not trigger an update), and for a delete the finalizer is removed, also after a permanent
 *    failure (as Kopf: otherwise the object could never go; a Warning event says so).
 * 6. Otherwise the progress is written and `requeueAfter` is the smallest remaining delay.
 *    kubefx never patches the object just to wake itself (Kopf's `touch-dummy`).
 *
 * A patch that changes `metadata.finalizers` carries `metadata.resourceVersion` so that the API
 * server rejects it (409) if the object changed meanwhile: finalizers are a list, which a merge
 * patch replaces as a whole. Handlers run at least once per change; make them idempotent.
 *
 * @since 0.1.0
 */
import { Cause, DateTime, Duration, Effect, Exit, Option, Predicate, Schema } from "effect"
import * as Backoff from "./Backoff.ts"
import * as Causes from "./Causes.ts"
import * as Diff from "./Diff.ts"
import * as Essence from "./Essence.ts"
import * as Filter from "./Filter.ts"
import * as Handler from "./Handler.ts"
import * as Json from "./Json.ts"
import * as Outcome from "./Outcome.ts"
import * as Patch from "./Patch.ts"
import * as Progress from "./Progress.ts"
import * as Registry from "./Registry.ts"
import type * as Resource from "./Resource.ts"
import * as Storage from "./Storage.ts"

/**
 * The input of a step.
 *
 * - `resource`: the resource the object belongs to (selectors match against it).
 * - `body`: the object as last seen.
 * - `now`: the clock (epoch milliseconds or a `DateTime.Utc`).
 * - `firstSight`: this operator process sees the object for the first time (makes `resume`).
 *   A step that only adds the finalizer (`cause.finalizer === "add"`) runs no handler: keep
 *   `firstSight` for the next step then.
 * - `event`: the watch event that brought the object, if any (runs `onEvent` handlers;
 *   `"DELETED"` means the object is gone).
 * - `storage`: where state is kept (default `Storage.defaults`).
 *
 * @example
 * ```ts
 * import { Reconcile, Resource } from "@kubefx/core"
 *
 * const input: Reconcile.Input = {
 *   resource: Resource.make({ group: "", version: "v1", plural: "pods", kind: "Pod" }),
 *   body: { metadata: { name: "a" } },
 *   now: 0
 * }
 * ```
 *
 * @since 0.1.0
 */
export interface Input {
  readonly resource: Resource.Resource<unknown>
  readonly body: Json.Json
  readonly now: number | DateTime.Utc
  readonly firstSight?: boolean | undefined
  readonly event?: Handler.EventType | undefined
  readonly storage?: Storage.Storage | undefined
}

/**
 * A Kubernetes event to post about the object.
 *
 * @example
 * ```ts
 * import type { Reconcile } from "@kubefx/core"
 *
 * const e: Reconcile.Event = { type: "Warning", reason: "Failed", message: "Handler 'x' failed: boom" }
 * ```
 *
 * @since 0.1.0
 */
export interface Event {
  readonly type: "Normal" | "Warning"
  readonly reason: string
  readonly message: string
}

/**
 * One handler run of the step, for logs and metrics. `kind` is the handler's kind: runs of
 * `"event"` handlers are never retried, so their outcome is `Success` or `Failure`, never
 * `Retry` (log a failure as "failed, not retried").
 *
 * @example
 * ```ts
 * import { Outcome, type Reconcile } from "@kubefx/core"
 *
 * const r: Reconcile.Run = { id: "create_fn", kind: "create", outcome: Outcome.success(undefined) }
 * ```
 *
 * @since 0.1.0
 */
export interface Run {
  readonly id: string
  readonly kind: Handler.Kind
  readonly outcome: Outcome.Outcome
}

/**
 * The decision of a step.
 *
 * - `patch`: one JSON merge patch to apply to the object (empty object: nothing to write);
 *   `Patch.split` separates `status` for the `/status` subresource.
 * - `events`: to post.
 * - `requeueAfter`: come back after this delay even without a watch event; `None` when nothing
 *   is pending (a non-empty patch brings its own watch event).
 * - `cause`: what was detected; `runs`: what ran; `done`: whether the cause is fully handled.
 *
 * @example
 * ```ts
 * import { Patch, type Reconcile } from "@kubefx/core"
 *
 * const apply = (d: Reconcile.Decision) => Patch.split(d.patch)
 * ```
 *
 * @since 0.1.0
 */
export interface Decision {
  readonly cause: Causes.Cause
  readonly patch: Patch.MergePatch
  readonly events: ReadonlyArray<Event>
  readonly requeueAfter: Option.Option<Duration.Duration>
  readonly runs: ReadonlyArray<Run>
  readonly done: boolean
}

/**
 * The longest message kept in progress, status and events (longer ones are truncated).
 *
 * @example
 * ```ts
 * import { Reconcile } from "@kubefx/core"
 *
 * Reconcile.maxMessageLength // 1000
 * ```
 *
 * @since 0.1.0
 */
export const maxMessageLength = 1000

const truncate = (s: string): string =>
  s.length <= maxMessageLength ? s : `${s.slice(0, maxMessageLength - 1)}…`

const errorMessage = (e: unknown): string => {
  if (Predicate.hasProperty(e, "message") && typeof e.message === "string" && e.message !== "")
    return e.message
  if (Predicate.hasProperty(e, "_tag") && typeof e._tag === "string") return e._tag
  return String(e)
}

const reasonTitle: Record<string, string> = {
  create: "Creation",
  update: "Update",
  delete: "Deletion",
  resume: "Resuming"
}

const stringMap = (value: Json.Json | undefined): Readonly<Record<string, string>> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(Json.asObject(value)))
    if (typeof v === "string") Json.assign(out, k, v)
  return out
}

interface Scoped {
  readonly old: Json.Json | undefined
  readonly new: Json.Json | undefined
  readonly diff: Diff.Diff
}

const scoped = (handler: Handler.Handler<unknown>, cause: Causes.Cause): Scoped =>
  handler.field === undefined
    ? { old: cause.old, new: cause.new, diff: cause.diff }
    : {
        old: Json.get(cause.old, handler.field),
        new: Json.get(cause.new, handler.field),
        diff: Diff.scope(cause.diff, handler.field)
      }

const applies = (
  handler: Handler.Handler<unknown>,
  reason: string,
  body: Json.JsonObject,
  s: Scoped
): boolean => {
  if (!Handler.handles(handler, reason)) return false
  if (
    (handler.kind === "field" || handler.kind === "update") &&
    handler.field !== undefined &&
    s.diff.length === 0
  )
    return false
  return Filter.matches(handler.filter, { body, reason, old: s.old, new: s.new, diff: s.diff })
}

interface Attempt {
  readonly outcome: Outcome.Outcome
  readonly patch: Patch.MergePatch
}

const runAttempt = <R>(
  handler: Handler.Handler<R>,
  options: {
    readonly resource: Resource.Resource<unknown>
    readonly body: Json.JsonObject
    readonly reason: string
    readonly event: Handler.EventType | undefined
    readonly scope: Scoped
    readonly state: Progress.HandlerState
    readonly now: number
    readonly seed: string
  }
): Effect.Effect<Attempt, never, R> =>
  Effect.gen(function* () {
    const { body, state, now } = options
    const meta = Json.asObject(body.metadata)
    const name = typeof meta.name === "string" ? meta.name : ""
    const namespace = typeof meta.namespace === "string" ? meta.namespace : undefined
    const annotations = {
      handler: handler.id,
      object: namespace === undefined ? name : `${namespace}/${name}`
    }
    const { builder, get } = yield* Patch.makeBuilder
    const finish = (outcome: Outcome.Outcome) =>
      Effect.map(get, (patch): Attempt => ({ outcome, patch }))

    if (
      handler.timeout !== undefined &&
      now - state.started >= Duration.toMillis(handler.timeout)
    ) {
      return yield* finish(Outcome.failure(timeoutError(handler.timeout)))
    }

    let spec: unknown = Json.asObject(body.spec)
    if (handler.spec !== undefined) {
      const decoded = yield* Effect.exit(Schema.decodeUnknownEffect(handler.spec)(body.spec))
      if (Exit.isFailure(decoded)) {
        const error = Cause.findErrorOption(decoded.cause)
        const message = Option.match(error, { onNone: () => "invalid spec", onSome: errorMessage })
        return yield* finish(
          Outcome.failure(
            new Outcome.PermanentError({ message: truncate(`Invalid spec: ${message}`) })
          )
        )
      }
      spec = decoded.value
    }

    const log =
      (f: (message: string) => Effect.Effect<void>) =>
      (message: string): Effect.Effect<void> =>
        f(message).pipe(Effect.annotateLogs(annotations))
    const ctx: Handler.Context<unknown> = {
      id: handler.id,
      resource: options.resource,
      body,
      spec,
      meta,
      status: Json.asObject(body.status),
      name,
      namespace,
      uid: typeof meta.uid === "string" ? meta.uid : undefined,
      labels: stringMap(meta.labels),
      annotations: stringMap(meta.annotations),
      reason: options.reason,
      event: options.event,
      old: options.scope.old,
      new: options.scope.new,
      diff: options.scope.diff,
      retry: state.retries,
      started: DateTime.makeUnsafe(state.started),
      runtime: Duration.millis(Math.max(0, now - state.started)),
      patch: builder,
      logger: {
        debug: log(Effect.logDebug),
        info: log(Effect.logInfo),
        warn: log(Effect.logWarning),
        error: log(Effect.logError)
      }
    }

    const run: Effect.Effect<unknown, unknown, R> = Effect.suspend(() => handler.run(ctx))
    const timed =
      handler.timeout === undefined
        ? run
        : Effect.timeout(
            run,
            Duration.millis(Duration.toMillis(handler.timeout) - (now - state.started))
          )
    const exit = yield* Effect.exit(timed.pipe(Effect.annotateLogs(annotations)))
    const outcome = yield* classify(handler, exit, state, options.seed)
    return checkJson(handler, { outcome, patch: yield* get })
  })

const notJson = (id: string, what: string, at: string, invalid: Json.Invalid): Outcome.Outcome =>
  Outcome.failure(
    new Outcome.PermanentError({
      message: truncate(
        `Handler '${id}' ${what} a value JSON cannot hold at ${Json.formatPath([at, ...invalid.path])}: ${invalid.reason}`
      )
    })
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

const timeoutError = (timeout: Duration.Duration) =>
  new Outcome.HandlerTimeout({
    message: `Handler timed out after ${Duration.format(timeout)}.`,
    timeoutMillis: Duration.toMillis(timeout)
  })

const retryOrExhaust = (
  handler: Handler.Handler<unknown>,
  state: Progress.HandlerState,
  message: string,
  explicitDelay: Duration.Input | undefined,
  seed: string
): Effect.Effect<Outcome.Outcome> =>
  Effect.gen(function* () {
    const msg = truncate(message)
    // Event handlers are never retried: what would be retried fails, with its message.
    if (handler.kind === "event")
      return Outcome.failure(new Outcome.PermanentError({ message: msg }))
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
    const delay = yield* Backoff.delayMillis(handler.backoff, state.retries, seed, state.started)
    return Option.match(delay, {
      onNone: () => exhausted,
      onSome: (ms) => Outcome.retry(ms, msg)
    })
  })

const classify = (
  handler: Handler.Handler<unknown>,
  exit: Exit.Exit<unknown, unknown>,
  state: Progress.HandlerState,
  seed: string
): Effect.Effect<Outcome.Outcome> => {
  if (Exit.isSuccess(exit)) {
    const value = exit.value
    return Effect.succeed(Outcome.success(value === undefined ? undefined : (value as Json.Json)))
  }
  const unexpected = (message: string): Effect.Effect<Outcome.Outcome> => {
    switch (handler.errors) {
      case "temporary":
        return retryOrExhaust(handler, state, message, undefined, seed)
      case "permanent":
        return Effect.succeed(
          Outcome.failure(new Outcome.PermanentError({ message: truncate(message) }))
        )
      case "ignored":
        return Effect.succeed(Outcome.success(undefined, truncate(`Error ignored: ${message}`)))
    }
  }
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error)) {
    const e = error.value
    if (e instanceof Outcome.PermanentError)
      return Effect.succeed(
        Outcome.failure(new Outcome.PermanentError({ message: truncate(e.message) }))
      )
    if (e instanceof Outcome.TemporaryError)
      return retryOrExhaust(handler, state, e.message, e.delay, seed)
    if (Outcome.isPermanent(e)) return Effect.succeed(declaredPermanent(e))
    if (Cause.isTimeoutError(e) && handler.timeout !== undefined)
      return Effect.succeed(Outcome.failure(timeoutError(handler.timeout)))
    return unexpected(errorMessage(e))
  }
  const defect = Cause.findDefect(exit.cause)
  if (defect._tag === "Success" && Outcome.isPermanent(defect.success))
    return Effect.succeed(declaredPermanent(defect.success))
  if (defect._tag === "Success")
    return unexpected(`Unexpected defect: ${errorMessage(defect.success)}`)
  return retryOrExhaust(handler, state, "Interrupted", undefined, seed)
}

const declaredPermanent = (e: Outcome.Permanent): Outcome.Outcome => {
  const declared = e[Outcome.permanent]
  return Outcome.failure(
    new Outcome.PermanentError({
      message: truncate(typeof declared === "string" ? declared : errorMessage(e))
    })
  )
}

const eventFor = (id: string, outcome: Outcome.Outcome): Event => {
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

const finalizerPatch = (
  storage: Storage.Storage,
  body: Json.JsonObject,
  present: boolean
): Patch.MergePatch => {
  const rv = Json.get(body, ["metadata", "resourceVersion"])
  const metadata: Record<string, Json.Json> = {
    finalizers: Storage.finalizersWith(storage, body, present)
  }
  if (typeof rv === "string") metadata.resourceVersion = rv
  return { metadata }
}

/**
 * Runs one reconciliation step of an object (see the module's documentation for the policy).
 * Never fails: every handler failure, defect or timeout becomes an outcome.
 *
 * @example
 * ```ts
 * import { Handler, Patch, Reconcile, Registry, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const pods = Resource.make({ group: "", version: "v1", plural: "pods", kind: "Pod" })
 * const registry = Registry.make(Handler.onCreate("pods", { id: "hello" }, () => Effect.succeed({ said: "hi" })))
 * const decision = Effect.runSync(
 *   Reconcile.reconcile(registry, { resource: pods, body: { metadata: { name: "a" } }, now: 0 })
 * )
 * decision.patch.status // { hello: { said: "hi" } }
 * decision.requeueAfter // Option.none()
 * ```
 *
 * @since 0.1.0
 */
export const reconcile = <R>(
  registry: Registry.Registry<R>,
  input: Input
): Effect.Effect<Decision, never, R> =>
  Effect.gen(function* () {
    const now =
      typeof input.now === "number" ? Math.floor(input.now) : DateTime.toEpochMillis(input.now)
    const storage = input.storage ?? Storage.defaults
    const body = Json.asObject(input.body)
    const handlers = Registry.forResource(registry, input.resource)
    const cause = Causes.detect({
      body,
      storage,
      needsFinalizer: handlers.some(Handler.needsFinalizer),
      firstSight: input.firstSight,
      deleted: input.event === "DELETED"
    })
    const meta = Json.asObject(body.metadata)
    const uid =
      typeof meta.uid === "string" ? meta.uid : `${String(meta.namespace)}/${String(meta.name)}`
    const runs: Array<Run> = []
    const events: Array<Event> = []
    let handlerPatch: Patch.MergePatch = Patch.empty

    // 1. Event handlers: stateless, never retried.
    if (input.event !== undefined) {
      for (const h of handlers) {
        if (h.kind !== "event") continue
        const s: Scoped = { old: undefined, new: cause.new, diff: [] }
        if (
          !Filter.matches(h.filter, { body, reason: "event", old: s.old, new: s.new, diff: s.diff })
        )
          continue
        const attempt = yield* runAttempt(h, {
          resource: input.resource,
          body,
          reason: "event",
          event: input.event,
          scope: s,
          state: Progress.start("event:", now),
          now,
          seed: `${uid}/${h.id}/event`
        })
        runs.push({ id: h.id, kind: h.kind, outcome: attempt.outcome })
        handlerPatch = Patch.combine(handlerPatch, attempt.patch)
      }
    }
    const decide = (
      patch: Patch.MergePatch,
      done: boolean,
      requeue: Option.Option<Duration.Duration>
    ): Decision => ({
      cause,
      patch,
      events,
      requeueAfter: requeue,
      runs,
      done
    })

    if (cause.reason === "gone")
      return decide(input.event === "DELETED" ? Patch.empty : handlerPatch, true, Option.none())
    // Without change handlers, kubefx keeps no state on the object.
    if (handlers.every((h) => h.kind === "event")) return decide(handlerPatch, true, Option.none())

    // 2. Finalizer first.
    if (cause.finalizer === "add")
      return decide(
        Patch.combine(handlerPatch, finalizerPatch(storage, body, true)),
        false,
        Option.none()
      )

    const progress = Storage.readProgress(storage, body)
    const stale = Object.entries(progress)
      .filter(([, s]) => s.cause !== cause.key)
      .map(([id]) => id)

    if (cause.reason === "noop") {
      let patch = handlerPatch
      if (stale.length > 0) patch = Patch.combine(patch, Storage.purgeProgress(storage, body))
      if (cause.finalizer === "remove")
        patch = Patch.combine(patch, finalizerPatch(storage, body, false))
      return decide(patch, true, Option.none())
    }

    // 3. The cause's handlers, in declaration order.
    let current: Json.JsonObject = Json.asObject(Patch.apply(body, handlerPatch))
    const states = new Map<string, Progress.HandlerState>()
    const changes = new Map<string, Progress.HandlerState | undefined>()
    let frameworkPatch: Patch.MergePatch = Patch.empty
    const errorsPath = ["status", ...storage.errors]
    const storedErrors = Json.asObject(Json.get(body, errorsPath))
    const selected: Array<Handler.Handler<R>> = []
    for (const h of handlers) {
      const s = scoped(h, cause)
      if (!applies(h, cause.reason, current, s)) continue
      selected.push(h)
      const stored = Json.own(progress, h.id)
      const state = stored !== undefined && stored.cause === cause.key ? stored : undefined
      if (state !== undefined) states.set(h.id, state)
      if (state !== undefined && !Progress.isDue(state, now)) continue
      const before = state ?? Progress.start(cause.key, now)
      const attempt = yield* runAttempt(h, {
        resource: input.resource,
        body: current,
        reason: cause.reason,
        event: input.event,
        scope: s,
        state: before,
        now,
        seed: `${uid}/${h.id}/${cause.key}`
      })
      const after = Progress.next(before, attempt.outcome, now)
      states.set(h.id, after)
      changes.set(h.id, after)
      runs.push({ id: h.id, kind: h.kind, outcome: attempt.outcome })
      events.push(eventFor(h.id, attempt.outcome))
      let own = attempt.patch
      if (attempt.outcome._tag === "Success") {
        if (attempt.outcome.result !== undefined)
          own = Patch.combine(own, {
            status: {
              [h.id]: Patch.make(Json.get(current, ["status", h.id]), attempt.outcome.result)
            }
          })
        if (Object.hasOwn(storedErrors, h.id))
          frameworkPatch = Patch.combine(frameworkPatch, Patch.at(errorsPath, { [h.id]: null }))
      } else if (attempt.outcome._tag === "Failure") {
        frameworkPatch = Patch.combine(
          frameworkPatch,
          Patch.at(errorsPath, { [h.id]: attempt.outcome.error.message })
        )
      }
      handlerPatch = Patch.combine(handlerPatch, own)
      current = Json.asObject(Patch.apply(current, own))
    }

    const done = selected.every((h) => {
      const s = states.get(h.id)
      return s !== undefined && Progress.isDone(s)
    })

    if (done) {
      // 5. The cause is done.
      frameworkPatch = Patch.combine(frameworkPatch, Storage.purgeProgress(storage, body))
      if (cause.reason === "create" || cause.reason === "update") {
        // The error summary describes the last handled change: errors of handlers that were not
        // part of it (an older change's) go, e.g. a create that failed for a missing field once
        // the field is set and the update handlers succeeded.
        const handledIds = new Set(selected.map((h) => h.id))
        for (const id of Object.keys(storedErrors))
          if (!handledIds.has(id))
            frameworkPatch = Patch.combine(frameworkPatch, Patch.at(errorsPath, { [id]: null }))
        const essence = Essence.make(current, Storage.ignoresAnnotation(storage))
        frameworkPatch = Patch.combine(
          frameworkPatch,
          Storage.writeLastHandled(storage, Essence.record(essence, storage.maxEssenceBytes))
        )
      }
      if (cause.finalizer === "remove")
        frameworkPatch = Patch.combine(frameworkPatch, finalizerPatch(storage, body, false))
      if (
        selected.length > 0 &&
        runs.some((r) => r.kind !== "event" && r.outcome._tag !== "Retry")
      ) {
        const failed = selected.filter((h) => states.get(h.id)?.failure === true).length
        const title = reasonTitle[cause.reason] ?? cause.reason
        events.push({
          type: failed > 0 ? "Warning" : "Normal",
          reason: "Processed",
          message: `${title} is processed: ${selected.length - failed} succeeded; ${failed} failed.${
            failed > 0 && cause.reason === "delete" ? " The finalizer is removed anyway." : ""
          }`
        })
      }
      return decide(Patch.combine(handlerPatch, frameworkPatch), true, Option.none())
    }

    // 6. Pending: write progress, come back after the smallest delay.
    for (const id of stale) if (!changes.has(id)) changes.set(id, undefined)
    const written: Record<string, Progress.HandlerState | undefined> = {}
    for (const [id, state] of changes) Json.assign(written, id, state)
    frameworkPatch = Patch.combine(frameworkPatch, Storage.writeProgress(storage, written))
    if (cause.finalizer === "remove" && cause.reason !== "delete")
      frameworkPatch = Patch.combine(frameworkPatch, finalizerPatch(storage, body, false))
    let wait: number | undefined
    for (const h of selected) {
      const s = states.get(h.id)
      if (s === undefined || Progress.isDone(s)) continue
      const ms = Math.max(0, (s.delayed ?? now) - now)
      wait = wait === undefined ? ms : Math.min(wait, ms)
    }
    return decide(
      Patch.combine(handlerPatch, frameworkPatch),
      false,
      wait === undefined ? Option.none() : Option.some(Duration.millis(wait))
    )
  })
