/**
 * The work queue: one worker fiber per key at a time, the newest item wins (a key's mailbox
 * holds one), at most `concurrency` keys in process, an idle key's first item processed at
 * once and later bursts settled for `batchWindow`; `Some(d)` from `process` requeues the item
 * after `d` in memory, and a newer item cancels that. `shutdown` drops pending items and
 * requeues and waits for the running ones. `process` must handle its own errors; a defect is
 * logged and the item dropped. See docs/ARCHITECTURE.md.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Duration,
  Effect,
  Fiber,
  FiberMap,
  Option,
  Schedule,
  Semaphore
} from "effect"
import type * as Scope from "effect/Scope"
import * as QueueMetrics from "./internal/queueMetrics.ts"

/**
 * Options of a work queue.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkQueueOptions<A, R> {
  /** The identity of an item: items with the same key are processed one after the other. */
  readonly key: (item: A) => string
  /** Processes the newest item of a key; `Some(d)` asks to come back after `d`. */
  readonly process: (
    item: A,
    taken: Taken
  ) => Effect.Effect<Option.Option<Duration.Duration>, never, R>
  /** How many keys may be processed at the same time. */
  readonly concurrency: number
  /** After a run, wait this long for more items of the key before the next run (default 0):
   * the worker lingers, so a burst costs one more run. The first item of an idle key is taken
   * at once. */
  readonly batchWindow?: Duration.Input | undefined
  /** Records the `workqueue_*` metrics (see `Metrics`), labelled with the item's controller
   * (default: no metrics). */
  readonly metrics?: { readonly controller: (item: A) => string } | undefined
}

/**
 * What the queue tells `process` about the item it hands over.
 *
 * @since 0.1.0
 * @category models
 */
export interface Taken {
  /** Milliseconds from the key's first waiting item to a worker taking it. */
  readonly waitMillis: number
}

/**
 * A running work queue.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkQueue<A> {
  /** Hands over the newest state of an item; cancels the key's pending requeue. */
  readonly offer: (item: A) => Effect.Effect<void>
  /** Drops the key's pending item and requeue (a running process is not interrupted). */
  readonly forget: (key: string) => Effect.Effect<void>
  /** Keys with a live worker (running, waiting for a permit, or in its batch window). */
  readonly active: Effect.Effect<number>
  /** Keys with a pending requeue. */
  readonly scheduled: Effect.Effect<number>
  /** Waits until no worker is alive (requeues may still be pending). */
  readonly awaitIdle: Effect.Effect<void>
  /** Stops taking items (offers and requeues are dropped from now on), drops pending items
   * and requeues, and waits until the running processes have finished. */
  readonly shutdown: Effect.Effect<void>
  /**
   * Lets go of the keys whose pending, running or requeued item `select` picks: drops their
   * pending items and requeues, lets their running processes finish (for at most `within`, then
   * interrupts them) and answers once none of them runs, with how many keys it let go of. The
   * caller offers nothing more for them meanwhile; later offers are taken as usual.
   */
  readonly release: (select: (item: A) => boolean, within: Duration.Input) => Effect.Effect<number>
}

interface Slot<A> {
  /** The mailbox: the newest item not yet taken, boxed because `A` may be `undefined`;
   * `since` is when the mailbox was filled (the queue wait starts then). */
  pending: { readonly item: A; readonly since: number } | undefined
  /** The item in process, if any. */
  running: { readonly item: A } | undefined
  /** Let go of (`release`): takes no more items, schedules no requeue. */
  released: boolean
}

/**
 * Starts a work queue in the current scope; closing the scope interrupts workers and
 * requeues.
 *
 * @example
 * ```ts
 * import { Duration, Effect, Option } from "effect"
 * import { WorkQueue } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const queue = yield* WorkQueue.make({
 *     key: (o: { readonly name: string; readonly n: number }) => o.name,
 *     concurrency: 4,
 *     process: (o) =>
 *       Effect.log(`processing ${o.name} #${o.n}`).pipe(
 *         Effect.as(o.n < 3 ? Option.some(Duration.seconds(10)) : Option.none())
 *       )
 *   })
 *   yield* queue.offer({ name: "a", n: 1 })
 *   yield* queue.offer({ name: "a", n: 2 }) // replaces #1 if it has not started yet
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, R = never>(
  options: WorkQueueOptions<A, R>
): Effect.Effect<WorkQueue<A>, never, R | Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<R>()
    const semaphore = yield* Semaphore.make(Math.max(1, options.concurrency))
    const workers = yield* FiberMap.make<string, void, never>()
    const requeues = yield* FiberMap.make<string, void, never>()
    const slots = new Map<string, Slot<A>>()
    /** The items of the pending requeues. */
    const requeued = new Map<string, A>()
    const window = Duration.fromInputUnsafe(options.batchWindow ?? 0)
    const metrics = QueueMetrics.make(options.metrics?.controller, context)
    let closed = false
    if (options.metrics !== undefined)
      yield* Effect.forkScoped(Effect.repeat(metrics.tick, Schedule.spaced("1 second")))

    /** Empties a mailbox (an item dropped, not taken). */
    const drop = (slot: Slot<A>) => {
      if (slot.pending !== undefined) metrics.dropped(slot.pending.item)
      slot.pending = undefined
    }

    const processOne = (item: A, taken: Taken): Effect.Effect<Option.Option<Duration.Duration>> =>
      options.process(item, taken).pipe(
        Effect.provideContext(context),
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.failCause(cause)
            : Effect.logError(`work queue: processing ${options.key(item)} died`, cause).pipe(
                Effect.as(Option.none<Duration.Duration>())
              )
        )
      )

    const worker = (key: string, slot: Slot<A>): Effect.Effect<void> =>
      Effect.gen(function* () {
        while (true) {
          const done = yield* Semaphore.withPermit(
            semaphore,
            Effect.gen(function* () {
              const box = slot.pending
              if (box === undefined || slot.released) return undefined
              slot.pending = undefined
              slot.running = { item: box.item }
              const started = yield* Clock.currentTimeMillis
              const done = metrics.taken(box.item, box.since, started)
              const after = yield* Effect.ensuring(
                processOne(box.item, { waitMillis: started - box.since }),
                Effect.flatMap(Clock.currentTimeMillis, (now) => {
                  slot.running = undefined
                  return done(now)
                })
              )
              return { item: box.item, after }
            })
          )
          if (
            !closed &&
            !slot.released &&
            done !== undefined &&
            Option.isSome(done.after) &&
            slot.pending === undefined
          ) {
            const { item, after } = { item: done.item, after: done.after.value }
            metrics.retried(item)
            requeued.set(key, item)
            yield* FiberMap.run(
              requeues,
              key,
              Effect.sleep(after).pipe(
                Effect.andThen(Effect.sync(() => requeued.delete(key))),
                Effect.andThen(submit(item))
              )
            )
          }
          // Let the items that come meanwhile (a burst, our own write's echo) settle.
          if (Duration.isGreaterThan(window, Duration.zero) && !slot.released)
            yield* Effect.sleep(window)
          // Atomic (no yield): either take the newer item, or retire the slot.
          const exit = yield* Effect.sync(() => {
            if (slot.pending !== undefined && !slot.released) return false
            if (slots.get(key) === slot) slots.delete(key)
            return true
          })
          if (exit) return
        }
      }).pipe(
        // An interrupted worker (the scope closing) must not leave a slot that blocks its key.
        Effect.ensuring(
          Effect.sync(() => {
            if (slots.get(key) === slot) slots.delete(key)
          })
        )
      )

    /** Puts the item in its key's mailbox, starting a worker when none runs. */
    const submit = (item: A): Effect.Effect<void> =>
      Effect.clockWith((clock) => {
        if (closed) return Effect.void
        const key = options.key(item)
        const existing = slots.get(key)
        const now = clock.currentTimeMillisUnsafe()
        metrics.added(item, existing?.pending === undefined)
        if (existing !== undefined) {
          existing.pending = { item, since: existing.pending?.since ?? now }
          return Effect.void
        }
        const slot: Slot<A> = { pending: { item, since: now }, running: undefined, released: false }
        slots.set(key, slot)
        return Effect.asVoid(FiberMap.run(workers, key, worker(key, slot)))
      })

    /** Cancels the key's pending requeue. */
    const unschedule = (key: string) =>
      Effect.andThen(
        Effect.sync(() => requeued.delete(key)),
        FiberMap.remove(requeues, key)
      )

    const offer = (item: A): Effect.Effect<void> =>
      Effect.andThen(unschedule(options.key(item)), submit(item))

    const release: WorkQueue<A>["release"] = (select, within) =>
      Effect.gen(function* () {
        const picked = (box: { readonly item: A } | undefined) =>
          box !== undefined && select(box.item)
        const keys = new Set<string>()
        for (const [key, slot] of slots)
          if (picked(slot.pending) || picked(slot.running)) keys.add(key)
        for (const [key, item] of requeued) if (select(item)) keys.add(key)
        const fibers: Array<Fiber.Fiber<void>> = []
        for (const key of keys) {
          yield* unschedule(key)
          const slot = slots.get(key)
          if (slot === undefined) continue
          drop(slot)
          slot.released = true
          const fiber = yield* FiberMap.get(workers, key)
          if (Option.isSome(fiber)) fibers.push(fiber.value)
        }
        const finished = yield* Effect.timeoutOption(
          Fiber.awaitAll(fibers),
          Duration.fromInputUnsafe(within)
        )
        if (Option.isNone(finished)) {
          yield* Effect.logWarning(
            `work queue: processes still running after ${Duration.format(Duration.fromInputUnsafe(within))}; interrupting them`
          )
          yield* Fiber.interruptAll(fibers)
        }
        return keys.size
      })

    const forget = (key: string): Effect.Effect<void> =>
      Effect.andThen(
        unschedule(key),
        Effect.sync(() => {
          const slot = slots.get(key)
          if (slot !== undefined) drop(slot)
        })
      )

    return {
      offer,
      forget,
      active: Effect.sync(() => slots.size),
      scheduled: FiberMap.size(requeues),
      awaitIdle: FiberMap.awaitEmpty(workers),
      shutdown: Effect.suspend(() => {
        closed = true
        for (const slot of slots.values()) drop(slot)
        requeued.clear()
        return Effect.andThen(FiberMap.clear(requeues), FiberMap.awaitEmpty(workers))
      }),
      release
    } satisfies WorkQueue<A>
  })
