/**
 * One reconciliation step of one object, as a value: `reconcile` detects the cause, runs the
 * handlers that are due and returns a {@link Decision}: one merge patch (status, annotations,
 * finalizers and the handlers' own patches), the Kubernetes events to post, and when to come
 * back. The core does no I/O (the handlers may, through their services `R`) and keeps nothing
 * between steps: all state is on the object. This module is the step policy; the running of one
 * handler and the classification of its end is `internal/invocation.ts`. It stays one module
 * over 400 lines because the policy below and its steps (one function each, in the order they
 * run) read best side by side.
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
 *    stored as last-handled (create and update; the essence is taken from the body as patched
 *    by the handlers, so a handler's own changes do not trigger an update), and for a delete
 *    the finalizer is removed, also after a permanent failure (as Kopf: otherwise the object
 *    could never go; a Warning event says so).
 *    A deleted object's finalizer stays while `daemonsRunning` (its daemons have not stopped
 *    yet): the progress is kept until a later step, once they have, removes it.
 * 6. Otherwise the progress is written and `requeueAfter` is the smallest remaining delay.
 *    kubefx never patches the object just to wake itself (Kopf's `touch-dummy`).
 *
 * Daemons and timers (`Handler.daemon`, `Handler.timer`) do not run in steps (see `Spawn`); a
 * step only keeps the finalizer their objects need.
 *
 * A patch that changes `metadata.finalizers` carries `metadata.resourceVersion` so that the API
 * server rejects it (409) if the object changed meanwhile: finalizers are a list, which a merge
 * patch replaces as a whole. Handlers run at least once per change; make them idempotent.
 *
 * @since 0.1.0
 */
import { DateTime, Duration, Effect, Option } from "effect"
import * as Causes from "./Causes.ts"
import * as Diff from "./Diff.ts"
import * as Essence from "./Essence.ts"
import * as Filter from "./Filter.ts"
import * as Handler from "./Handler.ts"
import * as Invocation from "./internal/invocation.ts"
import type * as SubHandlers from "./internal/subHandlers.ts"
import * as Json from "./Json.ts"
import type * as Outcome from "./Outcome.ts"
import * as Patch from "./Patch.ts"
import * as Progress from "./Progress.ts"
import * as Registry from "./Registry.ts"
import type * as Resource from "./Resource.ts"
import * as Spawn from "./Spawn.ts"
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
 * - `daemonsRunning`: the runtime still runs daemons of the object that hold kubefx's finalizer
 *   (see `Handler.needsFinalizer`); a deleted object keeps the finalizer until they stopped.
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
 * @category models
 */
export interface Input {
  readonly resource: Resource.Resource<unknown>
  readonly body: Json.Json
  readonly now: number | DateTime.Utc
  readonly firstSight?: boolean | undefined
  readonly event?: Handler.EventType | undefined
  readonly storage?: Storage.Storage | undefined
  readonly daemonsRunning?: boolean | undefined
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
 * @category models
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
 * @category models
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
 * @category models
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
 * @category constants
 */
export const maxMessageLength = Invocation.maxMessageLength

const reasonTitle: Record<string, string> = {
  create: "Creation",
  update: "Update",
  delete: "Deletion",
  resume: "Resuming"
}

/** What a step works from, derived once from its input. */
interface Step<R> {
  readonly input: Input
  readonly now: number
  readonly storage: Storage.Storage
  readonly body: Json.JsonObject
  readonly handlers: ReadonlyArray<Handler.Handler<R>>
  readonly cause: Causes.Cause
  readonly progress: Progress.Progress
  /** The object's uid (else `namespace/name`): seeds the backoffs' jitter. */
  readonly uid: string
}

const prepare = <R>(registry: Registry.Registry<R>, input: Input): Step<R> => {
  const storage = input.storage ?? Storage.defaults
  const body = Json.asObject(input.body)
  const handlers = Registry.forResource(registry, input.resource)
  const meta = Json.asObject(body.metadata)
  return {
    input,
    now: typeof input.now === "number" ? Math.floor(input.now) : DateTime.toEpochMillis(input.now),
    storage,
    body,
    handlers,
    cause: Causes.detect({
      body,
      storage,
      needsFinalizer: handlers.some(
        (h) => Handler.needsFinalizer(h) && (h.kind !== "daemon" || Spawn.matches(h, body, storage))
      ),
      firstSight: input.firstSight,
      deleted: input.event === "DELETED"
    }),
    progress: Storage.readProgress(storage, body),
    uid: typeof meta.uid === "string" ? meta.uid : `${String(meta.namespace)}/${String(meta.name)}`
  }
}

/** What the step has gathered so far, as its handlers run one after another. */
interface Pass<R> {
  readonly runs: Array<Run>
  readonly events: Array<Event>
  /** The handlers' own patches and their results (`status.<id>`). */
  handlers: Patch.MergePatch
  /** The error summary's changes (`status.<errors>`) from the runs; the step adds the rest. */
  framework: Patch.MergePatch
  /** The body as patched by the handlers that ran before. */
  current: Json.JsonObject
  /** The cause's handlers that match their filters, in declaration order. */
  readonly selected: Array<Handler.Handler<R>>
  /** The progress of the selected handlers after this step (none: never started). */
  readonly states: Map<string, Progress.HandlerState>
  /** The progress this step changes (`undefined`: deleted), in the order it changed it. */
  readonly changes: Map<string, Progress.HandlerState | undefined>
}

const startPass = <R>(step: Step<R>): Pass<R> => ({
  runs: [],
  events: [],
  handlers: Patch.empty,
  framework: Patch.empty,
  current: step.body,
  selected: [],
  states: new Map(),
  changes: new Map()
})

const decision = <R>(
  step: Step<R>,
  pass: Pass<R>,
  patch: Patch.MergePatch,
  done: boolean,
  requeueAfter: Option.Option<Duration.Duration> = Option.none()
): Decision => ({
  cause: step.cause,
  patch,
  events: pass.events,
  requeueAfter,
  runs: pass.runs,
  done
})

const finalizerPatch = <R>(step: Step<R>, present: boolean): Patch.MergePatch => {
  const rv = Json.get(step.body, ["metadata", "resourceVersion"])
  const metadata: Record<string, Json.Json> = {
    finalizers: Storage.finalizersWith(step.storage, step.body, present)
  }
  if (typeof rv === "string") metadata.resourceVersion = rv
  return { metadata }
}

/** 1. Event handlers: stateless, never retried; their patches only. */
const runEventHandlers = <R>(step: Step<R>, pass: Pass<R>): Effect.Effect<void, never, R> =>
  Effect.gen(function* () {
    const { body, cause, input, now } = step
    for (const h of step.handlers) {
      if (h.kind !== "event") continue
      const change: Invocation.Change = { old: undefined, new: cause.new, diff: [] }
      if (!Filter.matches(h.filter, { body, reason: "event", ...change })) continue
      const attempt = yield* Invocation.invoke(h, {
        resource: input.resource,
        body,
        reason: "event",
        event: input.event,
        change,
        state: Progress.start("event:", now),
        now,
        seed: `${step.uid}/${h.id}/event`
      })
      pass.runs.push({ id: h.id, kind: h.kind, outcome: attempt.outcome })
      pass.handlers = Patch.combine(pass.handlers, attempt.patch)
    }
  })

/** Whether the finalizer stays on a deleted object for daemons still running. */
const heldByDaemons = <R>(step: Step<R>): boolean =>
  step.input.daemonsRunning === true && Causes.isDeleting(step.body)

/** A handler of a cause (not an event handler, a daemon or a timer): kubefx keeps its state. */
const isChangeHandler = (h: Handler.Handler<unknown>): boolean =>
  h.kind !== "event" && !Handler.isSpawned(h)

/**
 * The steps that run no handler of a cause: the object is gone, there are no change handlers
 * (kubefx keeps no state then, only the finalizer its daemons need), the finalizer is to be
 * added (2.), or nothing changed.
 */
const settledEarly = <R>(step: Step<R>, pass: Pass<R>): Decision | undefined => {
  const { cause } = step
  if (cause.reason === "gone")
    return decision(step, pass, step.input.event === "DELETED" ? Patch.empty : pass.handlers, true)
  if (!step.handlers.some(isChangeHandler)) {
    const add = cause.finalizer === "add"
    const remove = cause.finalizer === "remove" && !heldByDaemons(step)
    const patch = add || remove ? finalizerPatch(step, add) : Patch.empty
    return decision(step, pass, Patch.combine(pass.handlers, patch), !heldByDaemons(step))
  }
  if (cause.finalizer === "add")
    return decision(step, pass, Patch.combine(pass.handlers, finalizerPatch(step, true)), false)
  if (cause.reason !== "noop") return undefined
  let patch = pass.handlers
  if (Object.values(step.progress).some((s) => s.cause !== cause.key))
    patch = Patch.combine(patch, Storage.purgeProgress(step.storage, step.body))
  if (cause.finalizer === "remove") patch = Patch.combine(patch, finalizerPatch(step, false))
  return decision(step, pass, patch, true)
}

/** The change a handler sees: the whole essence's, or its field's. */
const changeFor = (handler: Handler.Handler<unknown>, cause: Causes.Cause): Invocation.Change =>
  handler.field === undefined
    ? { old: cause.old, new: cause.new, diff: cause.diff }
    : {
        old: Json.get(cause.old, handler.field),
        new: Json.get(cause.new, handler.field),
        diff: Diff.scope(cause.diff, handler.field)
      }

/** Whether a handler takes part in the cause: its kind, its field changed, its filters. */
const applies = (
  handler: Handler.Handler<unknown>,
  reason: string,
  body: Json.JsonObject,
  change: Invocation.Change
): boolean => {
  if (!Handler.handles(handler, reason)) return false
  if (
    (handler.kind === "field" || handler.kind === "update") &&
    handler.field !== undefined &&
    change.diff.length === 0
  )
    return false
  return Filter.matches(handler.filter, { body, reason, ...change })
}

/** 3. The cause's handlers that match, in declaration order: each one that is due runs once. */
const runCauseHandlers = <R>(step: Step<R>, pass: Pass<R>): Effect.Effect<void, never, R> =>
  Effect.gen(function* () {
    const { cause, now } = step
    pass.current = Json.asObject(Patch.apply(step.body, pass.handlers))
    for (const h of step.handlers) {
      const change = changeFor(h, cause)
      if (!applies(h, cause.reason, pass.current, change)) continue
      pass.selected.push(h)
      const stored = Json.own(step.progress, h.id)
      const state = stored !== undefined && stored.cause === cause.key ? stored : undefined
      if (state !== undefined) pass.states.set(h.id, state)
      if (state !== undefined && !Progress.isDue(state, now)) continue
      yield* runCauseHandler(step, pass, h, change, state ?? Progress.start(cause.key, now))
    }
  })

/** 4. One run: its progress, its run and event, its patch and result, the error summary. */
const runCauseHandler = <R>(
  step: Step<R>,
  pass: Pass<R>,
  h: Handler.Handler<R>,
  change: Invocation.Change,
  before: Progress.HandlerState
): Effect.Effect<void, never, R> =>
  Effect.gen(function* () {
    const { outcome, patch, waiting } = yield* Invocation.invoke(h, {
      resource: step.input.resource,
      body: pass.current,
      reason: step.cause.reason,
      event: step.input.event,
      change,
      state: before,
      now: step.now,
      seed: `${step.uid}/${h.id}/${step.cause.key}`,
      children: childrenOf(step, pass, h)
    })
    const next = Progress.next(before, outcome, step.now)
    const after = waiting === true ? { ...next, retries: before.retries } : next
    pass.states.set(h.id, after)
    pass.changes.set(h.id, after)
    pass.runs.push({ id: h.id, kind: h.kind, outcome })
    if (waiting !== true) pass.events.push(Invocation.eventFor(h.id, outcome))
    const own =
      outcome._tag === "Success" && outcome.result !== undefined
        ? Patch.combine(patch, {
            status: { [h.id]: Patch.make(Json.get(pass.current, ["status", h.id]), outcome.result) }
          })
        : patch
    pass.framework = Patch.combine(pass.framework, errorSummaryPatch(step, h.id, outcome))
    pass.handlers = Patch.combine(pass.handlers, own)
    pass.current = Json.asObject(Patch.apply(pass.current, own))
  })

/** Where a handler's sub-handlers (`ctx.execute`) find their progress and record their runs. */
const childrenOf = <R>(
  step: Step<R>,
  pass: Pass<R>,
  h: Handler.Handler<R>
): SubHandlers.Children => ({
  state: (id) => {
    const stored = Json.own(step.progress, id)
    return stored !== undefined && stored.cause === step.cause.key ? stored : undefined
  },
  record: ({ id, outcome, state }) => {
    pass.changes.set(id, state)
    pass.runs.push({ id, kind: h.kind, outcome })
    pass.events.push(Invocation.eventFor(id, outcome))
  }
})

const errorsPath = (storage: Storage.Storage): Json.Path => ["status", ...storage.errors]

const storedErrors = <R>(step: Step<R>): Json.JsonObject =>
  Json.asObject(Json.get(step.body, errorsPath(step.storage)))

/** A failure is summarized in `status.<errors>`; a success clears its stored error. */
const errorSummaryPatch = <R>(
  step: Step<R>,
  id: string,
  outcome: Outcome.Outcome
): Patch.MergePatch => {
  if (outcome._tag === "Failure")
    return Patch.at(errorsPath(step.storage), { [id]: outcome.error.message })
  if (outcome._tag === "Success" && Object.hasOwn(storedErrors(step), id))
    return Patch.at(errorsPath(step.storage), { [id]: null })
  return Patch.empty
}

const isCauseDone = <R>(pass: Pass<R>): boolean =>
  pass.selected.every((h) => {
    const s = pass.states.get(h.id)
    return s !== undefined && Progress.isDone(s)
  })

/**
 * 5. The cause is done: purge progress, record the change as handled, release the finalizer.
 * A deletion whose finalizer daemons still hold keeps its progress (so that its delete handlers
 * do not run again) until they stopped.
 */
const finishCause = <R>(step: Step<R>, pass: Pass<R>): Decision => {
  const { cause, storage } = step
  if (cause.finalizer === "remove" && heldByDaemons(step)) return keepPending(step, pass)
  let framework = Patch.combine(pass.framework, Storage.purgeProgress(storage, step.body))
  if (cause.reason === "create" || cause.reason === "update") {
    // The error summary describes the last handled change: errors of handlers that were not
    // part of it (an older change's) go, e.g. a create that failed for a missing field once
    // the field is set and the update handlers succeeded.
    const handledIds = new Set(pass.selected.map((h) => h.id))
    for (const id of Object.keys(storedErrors(step)))
      if (!handledIds.has(id))
        framework = Patch.combine(framework, Patch.at(errorsPath(storage), { [id]: null }))
    const essence = Essence.make(pass.current, Storage.ignoresAnnotation(storage))
    framework = Patch.combine(
      framework,
      Storage.writeLastHandled(storage, Essence.record(essence, storage.maxEssenceBytes))
    )
  }
  if (cause.finalizer === "remove")
    framework = Patch.combine(framework, finalizerPatch(step, false))
  const processed = processedEvent(step, pass)
  if (processed !== undefined) pass.events.push(processed)
  return decision(step, pass, Patch.combine(pass.handlers, framework), true)
}

/** The `Processed` event of a done cause, when a handler of it came to an end in this step. */
const processedEvent = <R>(step: Step<R>, pass: Pass<R>): Event | undefined => {
  const { reason } = step.cause
  const { selected } = pass
  if (
    selected.length === 0 ||
    !pass.runs.some((r) => r.kind !== "event" && r.outcome._tag !== "Retry")
  )
    return undefined
  const failed = selected.filter((h) => pass.states.get(h.id)?.failure === true).length
  const title = reasonTitle[reason] ?? reason
  return {
    type: failed > 0 ? "Warning" : "Normal",
    reason: "Processed",
    message: `${title} is processed: ${selected.length - failed} succeeded; ${failed} failed.${
      failed > 0 && reason === "delete" ? " The finalizer is removed anyway." : ""
    }`
  }
}

/** 6. Pending: write the progress (and drop stale entries), come back after the smallest delay. */
const keepPending = <R>(step: Step<R>, pass: Pass<R>): Decision => {
  const { cause, now } = step
  for (const [id, s] of Object.entries(step.progress))
    if (s.cause !== cause.key && !pass.changes.has(id)) pass.changes.set(id, undefined)
  const written: Record<string, Progress.HandlerState | undefined> = {}
  for (const [id, state] of pass.changes) Json.assign(written, id, state)
  let framework = Patch.combine(pass.framework, Storage.writeProgress(step.storage, written))
  if (cause.finalizer === "remove" && cause.reason !== "delete")
    framework = Patch.combine(framework, finalizerPatch(step, false))
  let wait: number | undefined
  for (const h of pass.selected) {
    const s = pass.states.get(h.id)
    if (s === undefined || Progress.isDone(s)) continue
    const ms = Math.max(0, (s.delayed ?? now) - now)
    wait = wait === undefined ? ms : Math.min(wait, ms)
  }
  const requeue = wait === undefined ? Option.none() : Option.some(Duration.millis(wait))
  return decision(step, pass, Patch.combine(pass.handlers, framework), false, requeue)
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
 * @category running
 */
export const reconcile = <R>(
  registry: Registry.Registry<R>,
  input: Input
): Effect.Effect<Decision, never, R> =>
  Effect.gen(function* () {
    const step = prepare(registry, input)
    const pass = startPass(step)
    if (input.event !== undefined) yield* runEventHandlers(step, pass)
    const early = settledEarly(step, pass)
    if (early !== undefined) return early
    yield* runCauseHandlers(step, pass)
    return isCauseDone(pass) ? finishCause(step, pass) : keepPending(step, pass)
  })
