/**
 * The daemons and timers of one resource's objects (`Handler.daemon`, `Handler.timer`), started
 * and stopped as the object's copies arrive, with the core's `Spawn` deciding which ones an
 * object should have, when a timer is due and what a run came to. A daemon is a fiber for as
 * long as it runs; a timer waits for its next run in the resource's delay queue (one fiber for
 * all of them) and has a fiber only while it runs.
 *
 * - {@link Spawner.sync} takes each copy the processor handles: it starts the daemons and timers
 *   the object should have and does not (an initial delay counts from here), and asks the ones
 *   it should not have to stop. A daemon or timer that ended on its own (success, or failure
 *   for good) is not started again for the object by this process.
 * - Stopping a daemon: `ctx.stopped` completes, the program has `cancellationTimeout` to end,
 *   then it is interrupted; one that does not end within a second of that is abandoned (logged;
 *   it no longer holds the finalizer). A timer is interrupted at once.
 * - A run's patch (its result, its `ctx.patch`, the error summary) is written with the object's
 *   uid as the only precondition: it merges into whatever the object has become. A write that
 *   fails is logged; the run is not repeated for it.
 * - When the last daemon holding a deleted object's finalizer has stopped, `wake` hands the
 *   object back to the queue, whose next step removes the finalizer.
 *
 * @since 0.1.0
 */
import {
  Causes,
  Essence,
  type Handler,
  Json,
  KubeObject,
  Progress,
  type Resource,
  Spawn,
  Storage
} from "@kubefx/core"
import {
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Metric,
  Option,
  References
} from "effect"
import * as Scope from "effect/Scope"
import type * as Events from "./Events.ts"
import * as DelayQueue from "./internal/delayQueue.ts"
import * as Metrics from "./Metrics.ts"
import * as StatusWriter from "./StatusWriter.ts"

/**
 * The daemons and timers of one resource.
 *
 * @since 0.1.0
 * @category models
 */
export interface Spawner {
  /** Brings the object's daemons and timers in line with this copy (see the module's
   * documentation); `storage` is where the object's state is kept. */
  readonly sync: (
    key: string,
    body: KubeObject.KubeObject,
    storage: Storage.Storage
  ) => Effect.Effect<void>
  /** The object is gone: stops its daemons and timers. */
  readonly forget: (key: string) => Effect.Effect<void>
  /** The object is handed to another replica: stops its daemons (each with its
   * `cancellationTimeout`) and timers, and answers once none of them runs any more (one that
   * ignores interruption is waited for); they are not started again here. */
  readonly release: (key: string) => Effect.Effect<void>
  /** Whether daemons that hold kubefx's finalizer still run (or stop) for the object. */
  readonly holding: (key: string) => boolean
  /** Stops every daemon and timer (the operator stops); `sync` starts nothing afterwards. */
  readonly stopAll: Effect.Effect<void>
}

/** What the spawner needs from its processor. */
export interface Options {
  readonly resource: Resource.Resource<unknown>
  /** The `controller` label of its metrics. */
  readonly controller: string
  readonly writer: StatusWriter.StatusWriter
  readonly postEvents: (
    object: KubeObject.KubeObject,
    notes: ReadonlyArray<Events.Note>
  ) => Effect.Effect<void>
  /** Hands an object back to the queue. */
  readonly wake: (body: KubeObject.KubeObject) => Effect.Effect<void>
}

/** One daemon or timer of one object; a timer waits for its next run in the spawner's queue. */
interface Run extends DelayQueue.Item {
  readonly key: string
  readonly entry: Entry
  readonly handler: Handler.Handler<unknown>
  readonly stop: Deferred.Deferred<void>
  /** Runs the handler (a daemon's whole life, a timer's one run); none while a timer waits. */
  fiber: Fiber.Fiber<unknown> | undefined
  /** Asked to stop by kubefx (rather than ending on its own). */
  stopping: boolean
  /** Did not end after being interrupted: left to itself. */
  abandoned: boolean
  /** Its end was noted (`ended`). */
  over: boolean
  /** A timer's schedule: when this process started it, its last successful run. */
  readonly since: number
  last: Spawn.TimerClock["last"]
}

/** What the spawner knows of one object. */
interface Entry {
  latest: KubeObject.KubeObject
  storage: Storage.Storage
  /** The essence's digest, and when it last changed (a timer's `idle` counts from there). */
  digest: string
  changed: number
  readonly runs: Map<string, Run>
  /** Ended with a success: not started again by this process (made when first needed). */
  done: Set<string> | undefined
  /** Failed for good, with the digest it failed on: not started again before a change (made
   * when first needed). */
  failed: Map<string, string> | undefined
  /** Handed to another replica: its runs end without going on with the object. */
  released: boolean
}

/** How a run's fiber ended: on its own (`Done`, `Failed`), a timer's run to be followed by the
 * next (`Again`), or stopped (`undefined`). */
type Ending = "Again" | "Done" | "Failed" | undefined

const noun = (handler: Handler.Handler<unknown>) => handler.kind

const graceOf = (handler: Handler.Handler<unknown>): Duration.Duration =>
  handler.spawn?._tag === "Daemon" ? handler.spawn.cancellationTimeout : Duration.zero

const annotations = (object: KubeObject.KubeObject, handler: string) => {
  const name = object.metadata?.name ?? ""
  const namespace = object.metadata?.namespace
  return {
    object: namespace === undefined ? name : `${namespace}/${name}`,
    ...(namespace === undefined ? {} : { namespace }),
    name,
    uid: KubeObject.uid(object),
    handler
  }
}

/** The copy to write a run's patch against: its uid is the only precondition. */
const unguarded = (object: KubeObject.KubeObject): KubeObject.KubeObject => {
  const { resourceVersion: _, ...metadata } = object.metadata ?? {}
  return { ...object, metadata }
}

/** Sleeps, or ends early when the run is asked to stop: answers whether it was. */
const sleepUnlessStopped = (run: Run, millis: number): Effect.Effect<boolean> =>
  Effect.raceFirst(
    Effect.as(Effect.sleep(Duration.millis(Math.max(0, millis))), false),
    Effect.as(Deferred.await(run.stop), true)
  )

/**
 * Builds the spawner of one resource's `handlers` (its daemons and timers; others are
 * ignored); their fibers live in the current scope and run with its services.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(
  handlers: ReadonlyArray<Handler.Handler<R>>,
  options: Options
): Effect.Effect<Spawner, never, R | Scope.Scope> =>
  Effect.gen(function* () {
    const spawned = handlers.filter((h) => h.spawn !== undefined)
    // A scope of its own, made now: closing the operator's scope runs `stopAll` (a finalizer
    // added later, so run earlier) before it interrupts what is left here.
    const scope = yield* Scope.fork(yield* Effect.scope)
    const context = yield* Effect.context<R>()
    const entries = new Map<string, Entry>()
    const handlerRuns = Metrics.series(Metrics.handlerRuns)
    let closing = false

    const report = (handler: Handler.Handler<unknown>, settled: Spawn.Settled) => {
      const { outcome } = settled
      const count = Metric.update(
        handlerRuns({ controller: options.controller, handler: handler.id, outcome: outcome._tag }),
        1
      )
      const line =
        outcome._tag === "Success"
          ? Effect.logDebug(`${noun(handler)} ${handler.id}: Success`)
          : outcome._tag === "Retry"
            ? Effect.logWarning(
                `${noun(handler)} ${handler.id}: Retry in ${outcome.delayMillis}ms: ${outcome.message}`
              )
            : Effect.logError(
                `${noun(handler)} ${handler.id} failed permanently, stopped for this object: ${outcome.error.message}`
              )
      return Effect.andThen(count, line)
    }

    const write = (entry: Entry, settled: Spawn.Settled) => {
      const posted = options.postEvents(entry.latest, [settled.event])
      if (StatusWriter.isNoop(settled.patch)) return posted
      const written = options.writer
        .write(unguarded(entry.latest), settled.patch, entry.storage)
        .pipe(Effect.result)
      return Effect.andThen(
        Effect.flatMap(written, (result) =>
          result._tag === "Failure" && result.failure._tag !== "NotFound"
            ? Effect.logWarning(
                `could not write the run's result (${result.failure._tag}: ${"message" in result.failure ? result.failure.message : ""})`
              )
            : Effect.void
        ),
        posted
      )
    }

    /** One run with its log line, metric, write and event; a retry runs again after its
     * delay. Answers how the runs ended, if they did on its own. Written without generators: a
     * daemon's run lasts as long as the daemon, and so do its frames. */
    const attempt = (
      entry: Entry,
      run: Run,
      state: Progress.HandlerState
    ): Effect.Effect<"Done" | "Failed" | undefined, never, unknown> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatMap(
          Spawn.run(run.handler, {
            resource: options.resource,
            body: entry.latest as Json.JsonObject,
            storage: entry.storage,
            state,
            now,
            stopped: Deferred.await(run.stop),
            isStopped: Deferred.isDone(run.stop),
            latest: Effect.sync(() => entry.latest as Json.JsonObject)
          }),
          (settled) => Effect.andThen(report(run.handler, settled), after(entry, run, settled))
        )
      )

    const after = (entry: Entry, run: Run, settled: Spawn.Settled) =>
      Effect.andThen(write(entry, settled), () => {
        const { next } = settled
        if (next._tag !== "Retry") return Effect.succeed(next._tag)
        return Effect.flatMap(sleepUnlessStopped(run, next.delayMillis), (stopped) =>
          stopped ? Effect.succeed(undefined) : attempt(entry, run, settled.state)
        )
      })

    /** Runs the handler until it ends (see {@link attempt}). */
    const attempts = (entry: Entry, run: Run, cause: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        attempt(entry, run, Progress.start(cause, now))
      )

    const daemon = (entry: Entry, run: Run, spawn: Handler.Spawn & { _tag: "Daemon" }) => {
      const delay = Duration.toMillis(spawn.initialDelay)
      if (delay <= 0) return attempts(entry, run, "daemon:")
      return Effect.flatMap(sleepUnlessStopped(run, delay), (stopped) =>
        stopped ? Effect.succeed(undefined) : attempts(entry, run, "daemon:")
      )
    }

    /** A timer's run that is due (`started`): its attempts, then `Again` when it succeeded. */
    const timerRun = (run: Run, started: number): Effect.Effect<Ending, never, unknown> =>
      Effect.suspend(() =>
        run.stopping
          ? Effect.succeed(undefined)
          : Effect.flatMap(attempts(run.entry, run, "timer:"), (how) =>
              how !== "Done"
                ? Effect.succeed(how)
                : Effect.map(Clock.currentTimeMillis, (ended): Ending => {
                    run.last = { started, ended }
                    return "Again"
                  })
            )
      )

    /** Runs a timer that is due, or puts it in the queue for when it is; the essence may have
     * changed meanwhile (`idle`), so the queue hands it back here to look again. */
    const timerDue = (run: Run): Effect.Effect<void> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const spawn = run.handler.spawn
        if (run.stopping || spawn?._tag !== "Timer") return Effect.void
        const at = Spawn.timerDue(spawn, {
          now,
          since: run.since,
          changed: run.entry.changed,
          last: run.last
        })
        if (at > now) return Effect.sync(() => queue.schedule(run, at))
        return launch(run, timerRun(run, now))
      })

    const queue = yield* DelayQueue.make(timerDue).pipe(Scope.provide(scope))

    const holding = (key: string): boolean => {
      const entry = entries.get(key)
      if (entry === undefined) return false
      for (const run of entry.runs.values())
        if (!run.abandoned && Duration.toMillis(graceOf(run.handler)) > 0) return true
      return false
    }

    /** After a run ended for good: forget it, note how, and go on with the object. */
    const ended = (run: Run, how: "Done" | "Failed" | undefined) =>
      Effect.suspend(() => {
        if (run.over) return Effect.void
        run.over = true
        const { key, entry } = run
        const id = run.handler.id
        if (entry.runs.get(id) === run) entry.runs.delete(id)
        if (!run.stopping && how === "Done") {
          entry.done ??= new Set()
          entry.done.add(id)
        }
        if (!run.stopping && how === "Failed") {
          entry.failed ??= new Map()
          entry.failed.set(id, entry.digest)
        }
        const what = `${noun(run.handler)} ${id}`
        const line = Effect.logInfo(
          how === "Done" && !run.stopping ? `${what} ended` : `${what} stopped`
        )
        if (entry.released) return line
        if (closing || entries.get(key) !== entry) return Effect.void
        if (Causes.isDeleting(entry.latest as Json.JsonObject))
          return Effect.andThen(line, holding(key) ? Effect.void : options.wake(entry.latest))
        return Effect.andThen(line, sync(key, entry.latest, entry.storage))
      })

    /** The services of a run's fiber: the spawner's, its lines annotated as a step's are. */
    const contextOf = (entry: Entry, handler: Handler.Handler<unknown>) =>
      Context.add(context, References.CurrentLogAnnotations, {
        ...Context.get(context, References.CurrentLogAnnotations),
        resource: options.controller,
        ...annotations(entry.latest, handler.id)
      })

    /** Starts a fiber for the run's program; a timer's run that succeeded goes back to the
     * queue, anything else has ended. */
    const launch = (run: Run, program: Effect.Effect<Ending, never, unknown>) => {
      // The run's handler is `run.handler`: its program needs `R`, which `context` has.
      const forked = (program as Effect.Effect<Ending, never, R>).pipe(
        Effect.onExit((exit) => {
          run.fiber = undefined
          const how = Exit.isSuccess(exit) ? exit.value : undefined
          if (how !== "Again") return ended(run, how)
          return run.stopping ? ended(run, undefined) : timerDue(run)
        }),
        Effect.forkIn(scope),
        Effect.flatMap((fiber) =>
          Effect.sync(() => {
            run.fiber = fiber
          })
        )
      )
      // The fiber starts from the spawner's services, not the step's: it keeps neither the
      // step's span nor anything else of the step alive.
      return Effect.setContext(forked, contextOf(run.entry, run.handler))
    }

    const start = (key: string, entry: Entry, handler: Handler.Handler<R>) =>
      Effect.gen(function* () {
        const spawn = handler.spawn
        if (spawn === undefined) return
        const run: Run = {
          key,
          entry,
          handler,
          stop: Deferred.makeUnsafe<void>(),
          fiber: undefined,
          stopping: false,
          abandoned: false,
          over: false,
          since: yield* Clock.currentTimeMillis,
          last: undefined,
          at: 0,
          index: -1
        }
        entry.runs.set(handler.id, run)
        yield* Effect.annotateLogs(
          Effect.logInfo(`${noun(handler)} ${handler.id} started`),
          annotations(entry.latest, handler.id)
        )
        if (spawn._tag === "Daemon") yield* launch(run, daemon(entry, run, spawn))
        else yield* timerDue(run)
      })

    /** Asks a run to stop, gives a daemon its grace, interrupts, abandons after a second. */
    const stop = (run: Run) =>
      Effect.gen(function* () {
        if (run.stopping) return
        run.stopping = true
        yield* Deferred.succeed(run.stop, undefined)
        const fiber = run.fiber
        if (fiber === undefined) {
          // A timer between runs: it waits in the queue, with no fiber to stop.
          queue.cancel(run)
          return yield* Effect.setContext(ended(run, undefined), contextOf(run.entry, run.handler))
        }
        const grace = graceOf(run.handler)
        if (Duration.toMillis(grace) > 0) {
          const done = yield* Effect.timeoutOption(Fiber.await(fiber), grace)
          if (Option.isSome(done)) return
          yield* Effect.logWarning(
            `${noun(run.handler)} ${run.handler.id} did not stop within ${Duration.format(grace)} of being asked to (cancellationTimeout); interrupting it`
          )
        }
        yield* Effect.forkIn(Fiber.interrupt(fiber), scope)
        const gone = yield* Effect.timeoutOption(Fiber.await(fiber), Duration.seconds(1))
        if (Option.isSome(gone)) return
        run.abandoned = true
        yield* Effect.logError(
          `${noun(run.handler)} ${run.handler.id} did not end when interrupted; abandoned (it no longer holds the object's finalizer)`
        )
      })

    const entryFor = (key: string, body: KubeObject.KubeObject, storage: Storage.Storage) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const digest = Json.digest(Essence.make(body, Storage.ignoresAnnotation(storage)))
        let entry = entries.get(key)
        if (entry === undefined) {
          entry = {
            latest: body,
            storage,
            digest,
            changed: now,
            runs: new Map(),
            done: undefined,
            failed: undefined,
            released: false
          }
          entries.set(key, entry)
        }
        entry.latest = body
        entry.storage = storage
        if (entry.digest !== digest) {
          entry.digest = digest
          entry.changed = now
        }
        return entry
      })

    const sync: Spawner["sync"] = (key, body, storage) =>
      Effect.gen(function* () {
        if (spawned.length === 0 || closing) return
        const entry = yield* entryFor(key, body, storage)
        const wanted = new Set(Spawn.wanted(spawned, body as Json.JsonObject, storage))
        for (const handler of spawned) {
          const run = entry.runs.get(handler.id)
          if (!wanted.has(handler)) {
            if (run !== undefined && !run.stopping) yield* Effect.forkIn(stop(run), scope)
            continue
          }
          const failedOn = entry.failed?.get(handler.id)
          if (run !== undefined || entry.done?.has(handler.id) || failedOn === entry.digest)
            continue
          entry.failed?.delete(handler.id)
          yield* start(key, entry, handler)
        }
      })

    const forget = (key: string) =>
      Effect.suspend(() => {
        const entry = entries.get(key)
        if (entry === undefined) return Effect.void
        entries.delete(key)
        return Effect.forEach(entry.runs.values(), (run) => Effect.forkIn(stop(run), scope), {
          discard: true
        })
      })

    const release = (key: string) =>
      Effect.suspend(() => {
        const entry = entries.get(key)
        if (entry === undefined) return Effect.void
        entries.delete(key)
        entry.released = true
        return Effect.forEach(
          entry.runs.values(),
          (run) =>
            Effect.andThen(
              stop(run),
              run.fiber === undefined ? Effect.void : Fiber.await(run.fiber)
            ),
          { concurrency: "unbounded", discard: true }
        )
      })

    const stopAll = Effect.suspend(() => {
      closing = true
      const runs = [...entries.values()].flatMap((entry) => [...entry.runs.values()])
      return Effect.forEach(runs, stop, { concurrency: "unbounded", discard: true })
    })

    return { sync, forget, release, holding, stopAll }
  })
