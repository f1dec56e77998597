/**
 * The operator: resolves the resources a registry's handlers select ({@link Discovery}), watches
 * them ({@link Watcher}), and processes each object in a shared {@link WorkQueue} with a
 * {@link Processor}; `ready` once every watched scope has listed once; graceful shutdown on
 * interruption (SIGINT/SIGTERM under `NodeRuntime.runMain`): the watchers stop, running steps
 * finish for at most `shutdownTimeout`. It fails only when a selector matches no resource of a
 * ready API server at start, or a watch request is malformed. See docs/ARCHITECTURE.md.
 *
 * @since 0.1.0
 */
import { Resource as CoreResource, Index, type KubeObject, Registry } from "@kubefx/core"
import {
  type Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Metric,
  Option,
  Stream
} from "effect"
import * as Scope from "effect/Scope"
import * as Activities from "./Activities.ts"
import * as Discovery from "./Discovery.ts"
import * as Health from "./Health.ts"
import * as HealthServer from "./HealthServer.ts"
import * as Indexer from "./Indexer.ts"
import type * as Leases from "./internal/lease.ts"
import * as Feed from "./internal/shardFeed.ts"
import { Kube, type KubeService } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import * as LeaderElection from "./LeaderElection.ts"
import * as Logging from "./Logging.ts"
import * as Metrics from "./Metrics.ts"
import * as Processor from "./Processor.ts"
import * as Settings from "./Settings.ts"
import * as Sharding from "./Sharding.ts"
import * as Tracing from "./Tracing.ts"
import * as Watcher from "./Watcher.ts"
import * as WatchState from "./WatchState.ts"
import * as Webhooks from "./Webhooks.ts"
import * as WorkQueue from "./WorkQueue.ts"

/**
 * Why an operator could not start or stopped: the API server's errors, a selector that
 * matches nothing, a health server that cannot listen, or `OTEL_*` variables that do not parse.
 *
 * @since 0.1.0
 * @category models
 */
export type StartError =
  | Activities.StartupFailed
  | KubeError.KubeError
  | Discovery.NotServed
  | HealthServer.HealthServerError
  | Tracing.TracingConfigError
  | Webhooks.StartError
  | LeaderElection.LeaseSettingsError

/**
 * A running operator, started by {@link start}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Operator {
  /** The resources served. */
  readonly targets: ReadonlyArray<Discovery.Target>
  /** Completes when every watch scope has listed once (with globs: every namespace matching at
   * the first list of namespaces); fails if the operator failed. */
  readonly ready: Effect.Effect<void, KubeError.KubeError | Discovery.NotServed>
  /** Stops gracefully (as on SIGTERM) and waits until it has stopped. */
  readonly stop: Effect.Effect<void>
  /** The health server's address (`http://host:port`) when `Settings.health` is set. */
  readonly healthUrl: string | undefined
  /** The webhook server's address (`https://host:port`) when `Settings.webhooks` is set. */
  readonly webhookUrl: string | undefined
  /** The operator's fiber: it ends only by interruption or a watcher's fatal error. */
  readonly fiber: Fiber.Fiber<never, KubeError.KubeError | Discovery.NotServed>
}

/** Before serving: the registry's mistakes that are only warnings, then resolution. */
const prepare = (registry: Registry.Registry<unknown>) =>
  Effect.gen(function* () {
    for (const warning of Registry.fieldWarnings(registry)) yield* Effect.logWarning(warning)
    const kube = yield* Kube
    const targets = yield* Discovery.resolveAll(kube, registry)
    const indexed = yield* Discovery.resolveEach(
      kube,
      registry.indexes.map((i) => Index.definition(i).selector)
    )
    const indexer = yield* Indexer.make(
      registry.indexes.map((index, i) => ({ index, target: indexed[i]! }))
    )
    return { targets, indexer }
  })

/** `effect` with the logger of `settings.logFormat`, when set. */
const withLogging = <A, E, R>(settings: Settings.Settings, effect: Effect.Effect<A, E, R>) =>
  settings.logFormat === undefined
    ? effect
    : Effect.provide(effect, Logging.layer({ format: settings.logFormat }))

/** The probes' record, the health server when `settings.health` is set, the webhooks when
 * `settings.webhooks` is, and the tracer of the `OTEL_*` variables (`Tracing.layerFromEnv`). */
const operations = <R>(settings: Settings.Settings, registry: Registry.Registry<R>) =>
  Effect.gen(function* () {
    const tracing = yield* Layer.build(Tracing.layerFromEnv(settings.reportingComponent))
    const health = Health.make()
    const context = yield* Effect.context<R>()
    const server =
      settings.health === undefined
        ? undefined
        : yield* HealthServer.make(
            settings.health,
            health,
            () => Metrics.textUnsafe(context as Context.Context<never>),
            () => Effect.runPromiseWith(context)(Activities.probes(registry.activities))
          )
    if (server !== undefined) yield* Effect.logInfo(`health server listening on ${server.url}`)
    const webhookUrl = yield* Webhooks.start(registry, settings)
    return { health, url: server?.url, webhookUrl, tracing }
  })

interface Prepared {
  readonly targets: ReadonlyArray<Discovery.Target>
  readonly indexer: Indexer.Indexer
}

interface Entry<R> {
  readonly processor: Processor.Processor<R>
  readonly item: Processor.Item
}

const objectsSeries = Metrics.series(Metrics.objects)
const objectsOf = (p: Processor.Processor<unknown>) => objectsSeries({ resource: p.controller })

/** What one watcher feeds: the indexes of its resource, then its processor (if handlers serve
 * the resource). */
interface Watched<R> {
  readonly key: string
  readonly api: CoreResource.ApiResource
  readonly processor: Processor.Processor<R> | undefined
}

const watchedOf = <R>(
  processors: ReadonlyArray<Processor.Processor<R>>,
  indexer: Indexer.Indexer
): ReadonlyArray<Watched<R>> => {
  const out = new Map<string, Watched<R>>()
  for (const p of processors) {
    const key = CoreResource.format(p.target.resource)
    out.set(key, { key, api: p.target.api, processor: p })
  }
  for (const [key, t] of indexer.targets)
    if (!out.has(key)) out.set(key, { key, api: t.api, processor: undefined })
  return [...out.values()]
}

/** How one serving runs: what to do once it has listed, how soon it must stop when it is
 * interrupted (set when a Lease was lost), and the shard it serves (when sharded), with where
 * it says how it follows the shard's moves. */
interface Term {
  readonly onReady: Effect.Effect<void>
  readonly stopWithin: Leases.StopWithin
  readonly shard?: Sharding.Serving["shard"] | undefined
  readonly onMove?: Sharding.Serving["onMove"] | undefined
}

const serve = <R>(
  registry: Registry.Registry<R>,
  { targets, indexer }: Prepared,
  settings: Settings.Settings,
  health: Health.Health,
  { onReady, stopWithin, shard, onMove }: Term
): Effect.Effect<never, KubeError.KubeError, Kube | R> =>
  Effect.scoped(
    Effect.gen(function* () {
      // Sharded, only the shard's objects reach the processors (`internal/shardFeed.ts`); a
      // watcher the indexes share watches everything.
      const feed = Feed.make(shard, indexer.targets.keys())
      // Daemons hand objects back to the queue, which is made after the processors.
      let offer = (_: Entry<R>): Effect.Effect<void> => Effect.void
      const processors = yield* Effect.forEach(targets, (t) =>
        Processor.make(registry, t, settings, (processor, item) =>
          Effect.suspend(() => offer({ processor, item }))
        )
      )
      const queue = yield* WorkQueue.make<Entry<R>, R>({
        key: (e) => e.processor.key(e.item),
        // No handler runs before the indexes it may read are filled.
        process: (e, taken) =>
          Effect.andThen(indexer.ready, e.processor.process(e.item, taken.waitMillis)),
        concurrency: settings.concurrency,
        batchWindow: settings.batchWindow,
        metrics: { controller: (e) => e.processor.controller }
      })
      offer = (entry) => feed.offer(entry.item.object, queue.offer(entry))
      // ready once every watcher has listed its whole scope once (see `Watcher.onReady`)
      const watched = watchedOf(processors, indexer)
      let unsynced = watched.length
      const allReady = Effect.andThen(
        Effect.sync(() => health.setReady()),
        onReady
      )
      const watcherReady = Effect.suspend(() => (--unsynced === 0 ? allReady : Effect.void))
      const processed = (p: Processor.Processor<R>, event: Watcher.WatchEvent | undefined) =>
        event === undefined
          ? Effect.void
          : Effect.andThen(
              Effect.forEach(p.observe(event), (item) => queue.offer({ processor: p, item }), {
                discard: true
              }),
              Metric.update(objectsOf(p), p.objects())
            )
      const watchers = watched.map(({ key, api, processor }) =>
        Watcher.watch(api, {
          ...settings.watcher,
          scope: settings.scope,
          onReady: Effect.andThen(indexer.listed(key), watcherReady),
          health,
          shard: indexer.targets.has(key) ? undefined : shard
        }).pipe(
          Stream.runForEach((event) =>
            Effect.andThen(
              indexer.observe(key, event),
              processor === undefined
                ? Effect.void
                : feed.event(key, event, (mine) => processed(processor, mine))
            )
          )
        )
      )
      const byKey = new Map(watched.map((w) => [w.key, w.processor]))
      onMove?.((ranges) =>
        Effect.flatMap(
          feed.move(ranges, (key, object) => {
            const processor = byKey.get(key)
            return processor === undefined
              ? Effect.void
              : processed(processor, WatchState.applied(object))
          }),
          (outside) => handOver(processors, queue, outside, settings)
        )
      )
      yield* Effect.logInfo(
        `serving ${targets.map((t) => CoreResource.format(t.resource)).join(", ")} in ${Watcher.describeScope(settings.scope)}`
      )
      const watching = yield* Effect.forkScoped(
        Effect.all(watchers, { concurrency: "unbounded", discard: true })
      )
      if (watched.length === 0) yield* allReady
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Fiber.interrupt(watching)
          yield* Effect.logInfo("stopping: watchers stopped; waiting for running handlers")
          const within =
            stopWithin.millis === undefined
              ? settings.shutdownTimeout
              : Duration.min(settings.shutdownTimeout, Duration.millis(stopWithin.millis))
          const finished = yield* Effect.timeoutOption(
            Effect.andThen(
              Effect.forEach(processors, (p) => p.stop, { concurrency: "unbounded" }),
              queue.shutdown
            ),
            within
          )
          if (Option.isNone(finished))
            yield* Effect.logWarning(
              `handlers still running after ${stopWithin.millis === undefined ? "the shutdown timeout" : Duration.format(within)}; interrupting them`
            )
          yield* Effect.logInfo("stopped")
        })
      )
      yield* Fiber.join(watching)
      return yield* Effect.never
    })
  )

/** Lets another replica have the objects `outside` picks (they left the shard, and no item of
 * theirs comes any more): their running steps finish (for at most `shutdownTimeout`), their
 * pending items and requeues are dropped, their daemons and timers stop, and the processors
 * forget them (as objects handled elsewhere, not as deleted ones). */
const handOver = <R>(
  processors: ReadonlyArray<Processor.Processor<R>>,
  queue: WorkQueue.WorkQueue<Entry<R>>,
  outside: (object: KubeObject.KubeObject) => boolean,
  settings: Settings.Settings
) =>
  Effect.gen(function* () {
    yield* queue.release((e) => outside(e.item.object), settings.shutdownTimeout)
    yield* Effect.forEach(
      processors,
      (p) =>
        Effect.gen(function* () {
          const released = yield* p.release(outside)
          yield* Metric.update(objectsOf(p), p.objects())
          if (released > 0)
            yield* Effect.logInfo(
              `sharding: handed ${released} ${p.controller} over (their steps finished, their daemons and timers stopped)`
            )
        }),
      { concurrency: "unbounded", discard: true }
    )
  })

/** `serve`, with the registry's indexes provided to its handlers. */
const served = <R>(
  registry: Registry.Registry<R>,
  prepared: Prepared,
  settings: Settings.Settings,
  health: Health.Health,
  term: Term
): Effect.Effect<never, KubeError.KubeError, Kube | R> =>
  Effect.provideContext(serve(registry, prepared, settings, health, term), prepared.indexer.context)

/**
 * The operator's work: `served` at once; with leader election, whenever this replica leads
 * (standing by, it is ready and handles nothing); sharded, for the buckets it holds; the
 * cleanup activities when it stops.
 */
const body = <R>(
  registry: Registry.Registry<R>,
  prepared: Prepared,
  settings: Settings.Settings,
  health: Health.Health,
  onReady: Effect.Effect<void>
): Effect.Effect<never, KubeError.KubeError, Kube | R> => {
  const run = (term: Term) => served(registry, prepared, settings, health, term)
  const ready = Effect.andThen(Effect.sync(health.setReady), onReady)
  const work =
    settings.leaderElection !== undefined
      ? LeaderElection.run(
          settings.leaderElection,
          (kube: KubeService, stopWithin) =>
            Effect.provideService(run({ onReady, stopWithin }), Kube, kube),
          { standby: ready }
        )
      : settings.sharding !== undefined
        ? Sharding.run(
            settings.sharding,
            (serving) =>
              Effect.provideService(
                run({
                  onReady: serving.listed,
                  stopWithin: serving.stopWithin,
                  shard: serving.shard,
                  onMove: serving.onMove
                }),
                Kube,
                serving.kube
              ),
            { health, ready }
          )
        : run({ onReady, stopWithin: { millis: undefined } })
  return Effect.ensuring(work, Activities.cleanup(registry.activities))
}

/** Fails when the settings of several replicas cannot work. */
const checkReplicas = (settings: Settings.Settings) =>
  settings.leaderElection !== undefined && settings.sharding !== undefined
    ? Effect.fail(
        new LeaderElection.LeaseSettingsError({
          message:
            "kubefx: leaderElection and sharding exclude each other: with leader election one replica handles everything, sharded each handles its share; choose one"
        })
      )
    : settings.leaderElection !== undefined
      ? LeaderElection.check(settings.leaderElection)
      : settings.sharding !== undefined
        ? Sharding.check(settings.sharding)
        : Effect.void

/**
 * Runs an operator for the registry's handlers until interrupted (see the module's
 * documentation). Requires the {@link Kube} client and the services the handlers need.
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Kube, Operator } from "@kubefx/runtime"
 *
 * const registry = Registry.make(
 *   Handler.onCreate("widgets.example.com", (ctx) => Effect.succeed({ seen: ctx.name }))
 * )
 *
 * Operator.run(registry, { namespaces: ["team-a"] }).pipe(
 *   Effect.provide(Kube.layerDefault()),
 *   NodeRuntime.runMain // SIGINT / SIGTERM: graceful shutdown
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = <R>(
  registry: Registry.Registry<R>,
  settings: Settings.Input = {}
): Effect.Effect<never, StartError, Kube | R> =>
  Effect.scoped(
    Effect.gen(function* () {
      const complete = Settings.make(settings)
      yield* checkReplicas(complete)
      const { health, tracing } = yield* operations(complete, registry)
      yield* Activities.startup(registry.activities)
      const prepared = yield* prepare(registry)
      return yield* Effect.provide(body(registry, prepared, complete, health, Effect.void), tracing)
    })
  ).pipe((effect) => withLogging(Settings.make(settings), effect))

/**
 * Starts an operator in the background of the current scope and answers a handle: wait for
 * `ready`, `stop` it gracefully (closing the scope does it too), start another one later.
 * Resolution happens before it answers, so a selector that matches nothing fails here.
 *
 * @example
 * ```ts
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Operator } from "@kubefx/runtime"
 *
 * const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
 * const program = Effect.gen(function*() {
 *   const operator = yield* Operator.start(registry, { namespaces: ["default"] })
 *   yield* operator.ready
 *   // ... create objects, look at them ...
 *   yield* operator.stop
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const start = <R>(
  registry: Registry.Registry<R>,
  settings: Settings.Input = {}
): Effect.Effect<Operator, StartError, Kube | R | Scope.Scope> =>
  Effect.gen(function* () {
    const complete = Settings.make(settings)
    yield* checkReplicas(complete)
    // The health server and the exporter live in a scope of their own: `stop` closes it too.
    const own = yield* Scope.fork(yield* Effect.scope)
    const { health, url, webhookUrl, tracing } = yield* Scope.provide(
      withLogging(complete, operations(complete, registry)),
      own
    )
    yield* Activities.startup(registry.activities)
    const prepared = yield* prepare(registry)
    const ready = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkScoped(
      withLogging(
        complete,
        Effect.provide(
          body(
            registry,
            prepared,
            complete,
            health,
            Deferred.succeed(ready, undefined).pipe(Effect.asVoid)
          ),
          tracing
        )
      )
    )
    return {
      targets: prepared.targets,
      ready: Effect.raceFirst(Deferred.await(ready), Fiber.join(fiber)),
      stop: Effect.andThen(Fiber.interrupt(fiber), Scope.close(own, Exit.void)),
      healthUrl: url,
      webhookUrl,
      fiber
    } satisfies Operator
  })
