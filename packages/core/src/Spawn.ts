/**
 * Daemons and timers (`Handler.daemon`, `Handler.timer`) as decisions: which of them an object
 * should have running ({@link wanted}), when a timer is due next ({@link timerDue}), and what
 * one run comes to ({@link run}: the patch to write, the event, what follows). The runtime
 * carries them out; like the rest of the core, this module keeps nothing between calls.
 *
 * - An object has a daemon or timer running while it is not being deleted, matches the
 *   handler's filters, and the handler has not failed for good on it (a permanent failure is
 *   recorded in the error summary, `status.kubefx.errors.<id>`, which the next handled change
 *   of the object's essence clears when the operator has change handlers).
 * - A run's result is stored at `status.<id>`, its `ctx.patch` is applied, and a failure is
 *   summarized as a reconciliation step's handler failures are; a success clears the summary.
 * - What follows a run: a success ends a daemon (not restarted by this process) and schedules a
 *   timer's next run; a retry runs again after its delay (the error's own, else the backoff at
 *   this retry number); a failure stops the handler for good.
 *
 * @since 0.1.0
 */
import { Duration, Effect } from "effect"
import * as Causes from "./Causes.ts"
import * as Essence from "./Essence.ts"
import * as Filter from "./Filter.ts"
import type * as Handler from "./Handler.ts"
import * as Invocation from "./internal/invocation.ts"
import * as Json from "./Json.ts"
import type * as Outcome from "./Outcome.ts"
import * as Patch from "./Patch.ts"
import * as Progress from "./Progress.ts"
import type { Event } from "./Reconcile.ts"
import type * as Resource from "./Resource.ts"
import * as Storage from "./Storage.ts"

/**
 * The options of a timer, as `Handler.timer` resolved them.
 *
 * @since 0.1.0
 * @category models
 */
export type TimerSpawn = Extract<Handler.Spawn, { readonly _tag: "Timer" }>

/** The essence as a spawned handler's filters see it (as `new`; there is no `old`). */
const filterContext = (body: Json.JsonObject, storage: Storage.Storage, reason: string) => ({
  body,
  reason,
  old: undefined,
  new: Essence.make(body, Storage.ignoresAnnotation(storage)),
  diff: []
})

/** A daemon's or timer's change: no old, the essence as new (made when first read), no diff. */
class SpawnedChange {
  readonly old = undefined
  readonly diff: ReadonlyArray<never> = []
  readonly #body: Json.JsonObject
  readonly #storage: Storage.Storage
  #new: Json.Json | undefined
  constructor(body: Json.JsonObject, storage: Storage.Storage) {
    this.#body = body
    this.#storage = storage
  }
  get new(): Json.Json {
    this.#new ??= Essence.make(this.#body, Storage.ignoresAnnotation(this.#storage))
    return this.#new
  }
}

const errorsPath = (storage: Storage.Storage): Json.Path => ["status", ...storage.errors]

/**
 * Whether the handler failed for good on the object (its id is in the error summary).
 *
 * @example
 * ```ts
 * import { Handler, Spawn } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const d = Handler.daemon("pods", { id: "watch" }, () => Effect.void)
 * Spawn.failed(d, { status: { kubefx: { errors: { watch: "boom" } } } }) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const failed = (
  handler: Handler.Handler<unknown>,
  body: Json.Json,
  storage: Storage.Storage = Storage.defaults
): boolean => Json.get(body, [...errorsPath(storage), handler.id]) !== undefined

/**
 * Whether a daemon or timer applies to the object as it is: its filters match and it has not
 * failed for good on it (whether or not the object is being deleted).
 *
 * @example
 * ```ts
 * import { Handler, Spawn } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const d = Handler.daemon("pods", { labels: { watched: "yes" } }, () => Effect.void)
 * Spawn.matches(d, { metadata: { labels: { watched: "yes" } } }) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const matches = (
  handler: Handler.Handler<unknown>,
  body: Json.Json,
  storage: Storage.Storage = Storage.defaults
): boolean => {
  const object = Json.asObject(body)
  return (
    !failed(handler, object, storage) &&
    Filter.matches(handler.filter, filterContext(object, storage, handler.kind))
  )
}

/**
 * The daemons and timers the object should have running now: none while it is being deleted,
 * else those of the registry's handlers (`handlers`, those of its resource) that match it.
 *
 * @example
 * ```ts
 * import { Handler, Spawn } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const t = Handler.timer("pods", { interval: "1 minute" }, () => Effect.void)
 * Spawn.wanted([t], { metadata: { name: "a" } }).length // 1
 * Spawn.wanted([t], { metadata: { name: "a", deletionTimestamp: "2024-01-01T00:00:00Z" } }).length // 0
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const wanted = <R>(
  handlers: ReadonlyArray<Handler.Handler<R>>,
  body: Json.Json,
  storage: Storage.Storage = Storage.defaults
): ReadonlyArray<Handler.Handler<R>> =>
  Causes.isDeleting(body)
    ? []
    : handlers.filter((h) => h.spawn !== undefined && matches(h, body, storage))

/**
 * What a timer's schedule depends on, in epoch milliseconds: `now`; `since`, when this process
 * started the timer for the object; `changed`, when the object's essence last changed as this
 * process saw it (`since` at first); `last`, the start and end of its last successful run, if
 * any.
 *
 * @since 0.1.0
 * @category models
 */
export interface TimerClock {
  readonly now: number
  readonly since: number
  readonly changed: number
  readonly last: { readonly started: number; readonly ended: number } | undefined
}

/**
 * When a timer is due next (epoch milliseconds; at or before `now`: at once). The first run
 * waits `initialDelay` from `since`; later ones `interval` from the last run's end, or with
 * `sharp` from its start (a run that overran goes to the next beat, missed beats are skipped).
 * With `idle`, no run before the essence has been unchanged that long.
 *
 * @example
 * ```ts
 * import { Handler, Spawn } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const t = Handler.timer("pods", { interval: "10 seconds" }, () => Effect.void)
 * if (t.spawn?._tag === "Timer")
 *   Spawn.timerDue(t.spawn, { now: 2_000, since: 0, changed: 0, last: { started: 1_000, ended: 2_000 } }) // 12000
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const timerDue = (timer: TimerSpawn, clock: TimerClock): number => {
  const interval = Duration.toMillis(timer.interval)
  const { last } = clock
  let due: number
  if (last === undefined) due = clock.since + Duration.toMillis(timer.initialDelay)
  else if (!timer.sharp) due = last.ended + interval
  else {
    const beats = Math.max(1, Math.ceil((clock.now - last.started) / interval))
    due = last.started + beats * interval
  }
  return timer.idle === undefined
    ? due
    : Math.max(due, clock.changed + Duration.toMillis(timer.idle))
}

/**
 * What follows a run: `Done` (a daemon that ended, a timer's run that succeeded), `Retry` after
 * `delayMillis`, or `Failed` (stopped for good).
 *
 * @since 0.1.0
 * @category models
 */
export type Next =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Retry"; readonly delayMillis: number }
  | { readonly _tag: "Failed"; readonly message: string }

/**
 * What one run came to: its outcome, the patch to write (`Patch.empty`: nothing), the event
 * to post, the handler's progress after it (for the next attempt's `retry` and backoff), and
 * what follows.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settled {
  readonly outcome: Outcome.Outcome
  readonly patch: Patch.MergePatch
  readonly event: Event
  readonly state: Progress.HandlerState
  readonly next: Next
}

/**
 * One run's input: the object (its newest copy), the handler's progress in the current cycle
 * (`Progress.start` for a first attempt, the previous run's `Settled.state` for a retry), the
 * clock, and the stop signal and live copy of `Handler.SpawnedContext`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunInput {
  readonly resource: Resource.Resource<unknown>
  readonly body: Json.JsonObject
  readonly storage?: Storage.Storage | undefined
  readonly state: Progress.HandlerState
  readonly now: number
  readonly stopped: Effect.Effect<void>
  readonly isStopped: Effect.Effect<boolean>
  readonly latest: Effect.Effect<Json.JsonObject>
}

/** The run's own patch, its result at `status.<id>` and its line in the error summary. */
const patchOf = (
  handler: Handler.Handler<unknown>,
  input: RunInput,
  outcome: Outcome.Outcome,
  own: Patch.MergePatch
): Patch.MergePatch => {
  const storage = input.storage ?? Storage.defaults
  const errors = errorsPath(storage)
  let patch = own
  if (outcome._tag === "Success" && outcome.result !== undefined)
    patch = Patch.combine(patch, {
      status: {
        [handler.id]: Patch.make(Json.get(input.body, ["status", handler.id]), outcome.result)
      }
    })
  if (outcome._tag === "Failure")
    patch = Patch.combine(patch, Patch.at(errors, { [handler.id]: outcome.error.message }))
  if (outcome._tag === "Success" && failed(handler, input.body, storage))
    patch = Patch.combine(patch, Patch.at(errors, { [handler.id]: null }))
  return patch
}

const nextOf = (outcome: Outcome.Outcome): Next => {
  switch (outcome._tag) {
    case "Success":
      return { _tag: "Done" }
    case "Retry":
      return { _tag: "Retry", delayMillis: outcome.delayMillis }
    case "Failure":
      return { _tag: "Failed", message: outcome.error.message }
  }
}

/**
 * Runs a daemon or a timer once and settles what the run came to. A timer's run is in a span
 * `kubefx.handler`, as a step's handlers are; a daemon's is in none (it lasts as long as the
 * daemon, and spans are for bounded work: the daemon's own spans are traces of their own).
 * Never fails: failures, defects and timeouts are outcomes.
 *
 * @example
 * ```ts
 * import { Handler, Progress, Resource, Spawn } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const pods = Resource.make({ group: "", version: "v1", plural: "pods", kind: "Pod" })
 * const t = Handler.timer("pods", { id: "ping", interval: "1 minute" }, () => Effect.succeed({ ok: true }))
 * const settled = Effect.runSync(
 *   Spawn.run(t, {
 *     resource: pods,
 *     body: { metadata: { name: "a" } },
 *     state: Progress.start("timer:", 0),
 *     now: 0,
 *     stopped: Effect.never,
 *     isStopped: Effect.succeed(false),
 *     latest: Effect.succeed({ metadata: { name: "a" } })
 *   })
 * )
 * settled.patch // { status: { ping: { ok: true } } }
 * settled.next._tag // "Done"
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = <R>(
  handler: Handler.Handler<R>,
  input: RunInput
): Effect.Effect<Settled, never, R> => {
  const storage = input.storage ?? Storage.defaults
  const meta = Json.asObject(input.body.metadata)
  const uid = typeof meta.uid === "string" ? meta.uid : `${meta.namespace}/${meta.name}`
  const { stopped, isStopped, latest } = input
  const invoke = handler.spawn?._tag === "Daemon" ? Invocation.runOnce : Invocation.invoke
  return Effect.map(
    invoke(handler, {
      resource: input.resource,
      body: input.body,
      reason: handler.kind,
      event: undefined,
      change: new SpawnedChange(input.body, storage),
      state: input.state,
      now: input.now,
      seed: `${uid}/${handler.id}/${handler.kind}`,
      signals: { stopped, isStopped, latest }
    }),
    ({ outcome, patch }): Settled => ({
      outcome,
      patch: patchOf(handler, input, outcome, patch),
      event: Invocation.eventFor(handler.id, outcome),
      state: Progress.next(input.state, outcome, input.now),
      next: nextOf(outcome)
    })
  )
}
