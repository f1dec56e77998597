/**
 * The processor of one resource: turns the watcher's events into queue items, and processes
 * one object at a time: runs the core's step (`Reconcile.reconcile`), has the
 * {@link StatusWriter} carry its decision out, posts its Events, and answers when to requeue.
 *
 * - 409 Conflict: GET the object and run the step again on the fresh copy (at most
 *   `conflictRetries` times; the handlers run again: they run at least once per change); a
 *   fresh copy with another uid is a new object, left to its own events. 404: the object is
 *   gone; stop. Any other failure: logged with the object's identity; the object is requeued
 *   after `errorBackoff`. One object never stops the operator.
 * - After a write, copies from before it are skipped until the watch delivers it (the
 *   own-write tracker, `internal/ownWrites.ts`), at most `ownWriteTimeout`; then the object is
 *   read again (GET) and that copy is processed, so handlers never run on a copy known to
 *   predate the operator's own write. A relist ends the wait, unless it brings the very copy
 *   the write was decided on (its list was taken before the write).
 * - `firstSight` (the `resume` cause): the object was not yet processed by this process; kept
 *   across the step that only adds the finalizer. `event` (for `onEvent` handlers): `ADDED`
 *   for the first copy this process sees, `MODIFIED` for later ones, `DELETED` on deletion;
 *   once per delivered version (not on requeues nor on retries after a conflict).
 * - What the processor knows of an object lives in one record, dropped when the object is
 *   deleted. Every log line of a step is annotated with `resource`, `object` (`ns/name`),
 *   `namespace`, `name` and `uid`; a handler run's line with `handler` too.
 *
 * @since 0.1.0
 */
import { Backoff, KubeObject, Reconcile, Registry, Resource } from "@kubefx/core"
import { Clock, Duration, Effect, Metric, Option } from "effect"
import type * as Scope from "effect/Scope"
import type { Target } from "./Discovery.ts"
import * as Events from "./Events.ts"
import * as Format from "./internal/format.ts"
import * as OwnWrites from "./internal/ownWrites.ts"
import { Kube } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import * as Metrics from "./Metrics.ts"
import type * as Settings from "./Settings.ts"
import * as Spawner from "./Spawner.ts"
import * as StatusWriter from "./StatusWriter.ts"
import type * as WatchState from "./WatchState.ts"

type Requeue = Option.Option<Duration.Duration>

/** A step that ended before it ran: the requeue it answers. */
interface Requeued {
  readonly _tag: "Requeued"
  readonly requeue: Requeue
}

/**
 * What the queue holds for an object: its newest state, or its deletion.
 *
 * @since 0.1.0
 * @category models
 */
export type Item =
  | { readonly _tag: "Applied"; readonly object: KubeObject.KubeObject }
  | { readonly _tag: "Deleted"; readonly object: KubeObject.KubeObject }

/**
 * A processor of one resource.
 *
 * @since 0.1.0
 * @category models
 */
export interface Processor<R> {
  readonly target: Target
  /** The resource's name (`widgets.example.com`): the `controller` label of its metrics. */
  readonly controller: string
  /** Takes each watch event, in order; answers the items to offer to the queue. */
  readonly observe: (event: WatchState.WatchEvent) => ReadonlyArray<Item>
  /** The queue key of an item: resource and `namespace/name/uid`. */
  readonly key: (item: Item) => string
  /** Processes the newest item of an object, which waited `waitMillis` in the queue (the
   * `kubefx.queue.wait_ms` attribute of its span); answers the requeue. Never fails. */
  readonly process: (
    item: Item,
    waitMillis?: number
  ) => Effect.Effect<Option.Option<Duration.Duration>, never, R>
  /** How many objects of the resource the watch knows now (the `kubefx_objects` gauge). */
  readonly objects: () => number
  /** Stops the daemons and timers of the resource's objects (the operator stops). */
  readonly stop: Effect.Effect<void>
  /**
   * Forgets the objects `outside` picks, which another replica handles from now on: stops their
   * daemons and timers (see `Spawner.release`) without treating them as deleted (no `DELETED`
   * event handlers); answers how many it let go of. The caller has made sure that no step of
   * theirs runs and no item of theirs comes any more.
   */
  readonly release: (outside: (object: KubeObject.KubeObject) => boolean) => Effect.Effect<number>
}

const handlerRuns = Metrics.series(Metrics.handlerRuns)

/** One line per handler run of a decision, and its count in `kubefx_handler_runs_total`;
 * event handlers are never retried, say so. */
const logRun = (controller: string, run: Reconcile.Run): Effect.Effect<void> =>
  Effect.andThen(
    Metric.update(handlerRuns({ controller, handler: run.id, outcome: run.outcome._tag }), 1),
    Effect.annotateLogs(logLine(run), "handler", run.id)
  )

const logLine = (run: Reconcile.Run): Effect.Effect<void> => {
  const outcome = run.outcome
  if (run.kind === "event") {
    if (outcome._tag === "Success") return Effect.logDebug(`event handler ${run.id}: Success`)
    const message = outcome._tag === "Failure" ? outcome.error.message : outcome.message
    return Effect.logWarning(`event handler ${run.id} failed (not retried): ${message}`)
  }
  const detail =
    outcome._tag === "Retry"
      ? ` (retry in ${outcome.delayMillis}ms: ${outcome.message})`
      : outcome._tag === "Failure"
        ? ` (${outcome.error.message})`
        : ""
  return Effect.logInfo(`handler ${run.id}: ${outcome._tag}${detail}`)
}

/** The lines a user greps for, at info level: the finalizer, a change in progress or done. */
const logLifecycle = (decision: Reconcile.Decision): Effect.Effect<void> =>
  Effect.gen(function* () {
    const { cause, runs } = decision
    if (cause.finalizer === "add") yield* Effect.logInfo("finalizer added")
    if (cause.finalizer === "remove") yield* Effect.logInfo("finalizer removed")
    if (runs.length === 0 || runs.every((run) => run.kind === "event")) return
    const count = (tag: string) => runs.filter((run) => run.outcome._tag === tag).length
    const counts = `${count("Success")} succeeded, ${count("Retry")} to retry, ${count("Failure")} failed`
    yield* Effect.logInfo(
      decision.done
        ? `${cause.reason} processed: ${counts}`
        : `${cause.reason} in progress: ${counts}`
    )
  })

/** What the processor knows of one object. */
interface Known {
  /** Processed once by this process. */
  seen: boolean
  /** The version that event handlers saw last. */
  eventVersion: string | undefined
  /** Consecutive failed writes: the error backoff's attempt number. */
  failures: number
  /** The newest copy the watch delivered (what a daemon's `wake` hands back to the queue). */
  latest: KubeObject.KubeObject | undefined
  readonly writes: OwnWrites.Writes
}

const meta = (object: KubeObject.KubeObject) => ({
  name: object.metadata?.name ?? "",
  namespace: object.metadata?.namespace
})

/**
 * Builds the processor of one resource, with the client of the context.
 *
 * @example
 * ```ts
 * import { Handler, Registry, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Processor, Settings } from "@kubefx/runtime"
 *
 * const api = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const registry = Registry.make(Handler.onCreate("widgets", () => Effect.succeed({ ok: true })))
 * const processor = Processor.make(registry, {
 *   resource: api,
 *   api,
 *   statusSubresource: true
 * }, Settings.make())
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(
  registry: Registry.Registry<R>,
  target: Target,
  settings: Settings.Settings,
  wake: (processor: Processor<R>, item: Item) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<Processor<R>, never, Kube | R | Scope.Scope> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const resourceName = Resource.format(target.resource)
    const apiVersion = Resource.apiVersion(target.api)
    const hasEventHandlers = Registry.forResource(registry, target.resource).some(
      (h) => h.kind === "event"
    )
    const writer = StatusWriter.make(kube, target, settings)
    const postEvents = Events.poster(kube, {
      which: settings.postEvents,
      reportingComponent: settings.reportingComponent,
      reportingInstance: settings.reportingInstance
    })
    const spawner = yield* Spawner.make(Registry.forResource(registry, target.resource), {
      resource: target.resource,
      controller: resourceName,
      writer,
      postEvents,
      wake: (object) =>
        wake(self, { _tag: "Applied", object: objects.get(keyOf(object))?.latest ?? object })
    })
    const objects = new Map<string, Known>()
    /** The identities of the objects the watch knows now. */
    const live = new Set<string>()
    const labels = { controller: resourceName }
    const reconcileTotal = Metrics.series(Metrics.reconcileTotal)
    const series = {
      total: (result: string) => reconcileTotal({ controller: resourceName, result }),
      errors: Metric.withAttributes(Metrics.reconcileErrors, labels),
      time: Metric.withAttributes(Metrics.reconcileTime, labels),
      active: Metric.withAttributes(Metrics.activeWorkers, labels)
    }
    yield* Metric.update(
      Metric.withAttributes(Metrics.maxConcurrentReconciles, labels),
      settings.concurrency
    )
    const known = (k: string): Known => {
      let record = objects.get(k)
      if (record === undefined) {
        record = {
          seen: false,
          eventVersion: undefined,
          failures: 0,
          latest: undefined,
          writes: OwnWrites.empty()
        }
        objects.set(k, record)
      }
      return record
    }

    const keyOf = (object: KubeObject.KubeObject) => KubeObject.identity(object)

    /** Lists from the API omit apiVersion and kind for built-in types: fill them in. */
    const normalize = (object: KubeObject.KubeObject): KubeObject.KubeObject =>
      object.apiVersion !== undefined && object.kind !== undefined
        ? object
        : { ...object, apiVersion, kind: target.api.kind }

    const observe = (event: WatchState.WatchEvent): ReadonlyArray<Item> => {
      switch (event._tag) {
        case "Applied": {
          const object = normalize(event.object)
          live.add(keyOf(object))
          const record = known(keyOf(object))
          record.latest = object
          OwnWrites.delivered(record.writes, KubeObject.resourceVersion(object))
          return [{ _tag: "Applied", object }]
        }
        case "Deleted": {
          const object = normalize(event.object)
          live.delete(keyOf(object))
          const record = objects.get(keyOf(object))
          if (record !== undefined) OwnWrites.clear(record.writes)
          return [{ _tag: "Deleted", object }]
        }
        case "Synced": {
          // A relist ends the waits for our writes (the listed copy is processed), unless it
          // brought a copy the watch delivered already: a list from before the write.
          const out: Array<Item> = []
          for (const raw of event.objects) {
            const object = normalize(raw)
            const record = objects.get(keyOf(object))
            if (
              record !== undefined &&
              OwnWrites.relisted(record.writes, KubeObject.resourceVersion(object))
            )
              out.push({ _tag: "Applied", object })
          }
          return out
        }
      }
    }

    const backoff = (record: Known, k: string, error: KubeError.KubeError) =>
      Effect.gen(function* () {
        const n = record.failures++
        yield* Metric.update(series.errors, 1)
        const delay = yield* Backoff.delayMillis(settings.errorBackoff, n, k)
        const ms = Option.getOrElse(delay, () => 60_000)
        yield* Effect.logError(
          `writing the decision failed (${error._tag}: ${"message" in error ? error.message : ""}); trying again in ${Format.duration(ms)}`
        )
        return Option.some(Duration.millis(ms))
      })

    const step = (
      k: string,
      body: KubeObject.KubeObject,
      event: "ADDED" | "MODIFIED" | undefined,
      conflicts: number
    ): Effect.Effect<Requeue, never, R> =>
      Effect.gen(function* () {
        const record = known(k)
        const used = yield* writer.storageFor(body)
        const decision = yield* Reconcile.reconcile(registry, {
          resource: target.resource,
          body: body,
          now: yield* Clock.currentTimeMillis,
          firstSight: !record.seen,
          event,
          storage: used,
          daemonsRunning: spawner.holding(k)
        })
        const { cause } = decision
        yield* Effect.annotateCurrentSpan({
          "kubefx.cause": cause.reason,
          "kubefx.attempt": conflicts
        })
        yield* Effect.logDebug(
          `step at ${KubeObject.resourceVersion(body)}: ${cause.reason}${cause.finalizer === "none" ? "" : `, finalizer ${cause.finalizer}`}${decision.done ? ", done" : ""}`
        )
        for (const run of decision.runs) yield* logRun(resourceName, run)
        const written = yield* writer.write(body, decision.patch, used).pipe(Effect.result)
        if (written._tag === "Failure") {
          const error = written.failure
          if (error._tag === "NotFound")
            return yield* Effect.logDebug("the object is gone").pipe(Effect.as(Option.none()))
          if (error._tag === "Conflict" && conflicts < settings.conflictRetries)
            return yield* Effect.andThen(
              Effect.logInfo(`conflict (409): re-reading the object (retry ${conflicts + 1})`),
              reread(k, body, conflicts + 1)
            )
          return yield* backoff(record, k, error)
        }
        if (cause.finalizer !== "add") record.seen = true
        record.failures = 0
        yield* logLifecycle(decision)
        const after = written.success
        if (after !== undefined) {
          const rv = KubeObject.resourceVersion(after)
          const deadline =
            (yield* Clock.currentTimeMillis) + Duration.toMillis(settings.ownWriteTimeout)
          OwnWrites.wrote(record.writes, rv, KubeObject.resourceVersion(body), deadline)
          yield* Effect.logDebug(`patched; now at ${rv}`)
        }
        yield* postEvents(after ?? body, decision.events)
        return decision.requeueAfter
      })

    /** What the server holds now of the object `body` is a copy of, or the requeue to answer
     * when it cannot be read (gone, another uid, an error backed off). */
    const fresh = (
      k: string,
      body: KubeObject.KubeObject
    ): Effect.Effect<
      { readonly _tag: "Read"; readonly object: KubeObject.KubeObject } | Requeued,
      never,
      R
    > =>
      Effect.gen(function* () {
        const { name, namespace } = meta(body)
        const got = yield* kube.get(target.api, name, { namespace }).pipe(Effect.result)
        if (got._tag === "Failure") {
          if (got.failure._tag === "NotFound") {
            yield* Effect.logDebug("the object is gone")
            return { _tag: "Requeued", requeue: Option.none() } as const
          }
          return { _tag: "Requeued", requeue: yield* backoff(known(k), k, got.failure) } as const
        }
        const object = normalize(got.success)
        if (KubeObject.uid(object) !== KubeObject.uid(body))
          return { _tag: "Requeued", requeue: Option.none() } as const
        OwnWrites.delivered(known(k).writes, KubeObject.resourceVersion(object))
        return { _tag: "Read", object } as const
      })

    /** Reads the object again and runs the step on what the server holds now. */
    const reread = (
      k: string,
      body: KubeObject.KubeObject,
      conflicts: number
    ): Effect.Effect<Requeue, never, R> =>
      Effect.flatMap(fresh(k, body), (read) =>
        read._tag === "Read"
          ? step(k, read.object, undefined, conflicts)
          : Effect.succeed(read.requeue)
      )

    const processDeleted = (k: string, object: KubeObject.KubeObject) =>
      Effect.gen(function* () {
        if (hasEventHandlers) {
          const decision = yield* Reconcile.reconcile(registry, {
            resource: target.resource,
            body: object,
            now: yield* Clock.currentTimeMillis,
            firstSight: objects.get(k)?.seen !== true,
            event: "DELETED",
            storage: yield* writer.storageFor(object)
          })
          for (const run of decision.runs) yield* logRun(resourceName, run)
        }
        yield* spawner.forget(k)
        yield* Effect.logInfo("deleted; forgotten")
        objects.delete(k)
        return Option.none<Duration.Duration>()
      })

    const processApplied = (k: string, object: KubeObject.KubeObject) =>
      Effect.gen(function* () {
        const record = known(k)
        const rv = KubeObject.resourceVersion(object)
        const verdict = OwnWrites.judge(record.writes, rv, yield* Clock.currentTimeMillis)
        if (verdict._tag === "Stale") {
          yield* Effect.logDebug(
            `skipping stale copy ${rv}: waiting for our write ${verdict.waiting}`
          )
          return Option.some(Duration.millis(verdict.millis))
        }
        if (verdict._tag === "Overdue") {
          // This copy predates our write, or the watch lags: what the server holds now decides
          // (handlers never run on a copy known to be older than our own write).
          yield* Effect.logWarning(
            `our write ${verdict.waiting} did not come back within ${Duration.format(settings.ownWriteTimeout)}; reading the object again`
          )
          const read = yield* fresh(k, object)
          if (read._tag === "Requeued") return read.requeue
          return yield* applied(k, read.object)
        }
        return yield* applied(k, object)
      })

    /** The step of a copy that is current as far as we know: the spawner's view, then the step. */
    const applied = (k: string, object: KubeObject.KubeObject) =>
      Effect.gen(function* () {
        const record = known(k)
        const rv = KubeObject.resourceVersion(object)
        const event =
          record.eventVersion === rv
            ? undefined
            : record.eventVersion === undefined
              ? "ADDED"
              : "MODIFIED"
        record.eventVersion = rv
        yield* spawner.sync(k, object, yield* writer.storageFor(object))
        return yield* step(k, object, event, 0)
      })

    /** The step's result label: `error` when its write failed (the record counts it). */
    const resultOf = (k: string, requeue: Requeue): string =>
      (objects.get(k)?.failures ?? 0) > 0
        ? "error"
        : Option.isSome(requeue)
          ? "requeue_after"
          : "success"

    /** Counts the step in the reconcile metrics. */
    const measured = (k: string, effect: Effect.Effect<Requeue, never, R>) =>
      Effect.gen(function* () {
        const start = yield* Clock.currentTimeMillis
        yield* Metric.modify(series.active, 1)
        const requeue = yield* Effect.ensuring(effect, Metric.modify(series.active, -1))
        const end = yield* Clock.currentTimeMillis
        yield* Metric.update(series.time, (end - start) / 1000)
        yield* Metric.update(series.total(resultOf(k, requeue)), 1)
        return requeue
      })

    const process = (item: Item, waitMillis = 0): Effect.Effect<Requeue, never, R> => {
      const k = keyOf(item.object)
      const { name, namespace } = meta(item.object)
      const effect =
        item._tag === "Deleted" ? processDeleted(k, item.object) : processApplied(k, item.object)
      // No stack capture: the span's place in kubefx's own code tells an operator's user nothing.
      const traced = Effect.withSpan(measured(k, effect), "kubefx.reconcile", {
        captureStackTrace: false,
        attributes: {
          "kubefx.resource": resourceName,
          "kubefx.namespace": namespace ?? "",
          "kubefx.name": name,
          "kubefx.uid": KubeObject.uid(item.object),
          "kubefx.item": item._tag,
          "kubefx.queue.wait_ms": waitMillis
        }
      })
      return Effect.annotateLogs(traced, {
        resource: resourceName,
        object: namespace === undefined ? name : `${namespace}/${name}`,
        ...(namespace === undefined ? {} : { namespace }),
        name,
        uid: KubeObject.uid(item.object)
      })
    }

    const release = (outside: (object: KubeObject.KubeObject) => boolean) =>
      Effect.gen(function* () {
        const leaving = [...objects].filter(
          ([, record]) => record.latest !== undefined && outside(record.latest)
        )
        yield* Effect.forEach(leaving, ([k]) => spawner.release(k), {
          concurrency: "unbounded",
          discard: true
        })
        for (const [k] of leaving) {
          objects.delete(k)
          live.delete(k)
        }
        return leaving.length
      })

    const self: Processor<R> = {
      target,
      controller: resourceName,
      observe,
      key: (item) => `${resourceName}|${keyOf(item.object)}`,
      process,
      objects: () => live.size,
      stop: spawner.stopAll,
      release
    }
    return self
  })
