/**
 * The operator: resolves the resources a registry's handlers select, watches them, and
 * processes each object in a shared {@link WorkQueue} (one object at a time, the newest state
 * wins, bounded concurrency) with a {@link Processor}.
 *
 * - **Resolution**: each selector of the registry (`Registry.selectors`) is looked up in the
 *   server's discovery documents: a selector with group and version is looked up there; one
 *   without is searched in the core group first, then in every group's preferred version (or
 *   the version asked for), and the first match wins (by plural, singular, short name or
 *   kind). Whether the resource has a `status` subresource comes from discovery too.
 * - **Watching**: one `Watcher` per resource over `settings.scope`: cluster-wide; a
 *   list+watch per namespace for plain names (no cluster-wide rights needed); or, for globs
 *   and exclusions (`namespaces: ["team-*", "!team-secret"]`), a cluster-wide watch of
 *   `namespaces` that starts a list+watch per matching namespace as it appears and stops it when
 *   it is deleted (see `Watcher.watch`).
 * - **Readiness**: `ready` completes when every watcher has listed its scope once: every
 *   namespace of a fixed set, or, with globs, every namespace that matched when namespaces were
 *   first listed. Namespaces created later are watched as they appear but do not hold `ready`
 *   back (it completes once); a matching namespace where the operator is refused (403) holds it
 *   back until its rights arrive.
 * - **Shutdown**: `run` runs until interrupted (`NodeRuntime.runMain` of
 *   `@effect/platform-node` interrupts on SIGINT/SIGTERM). Then it stops the watchers (no new
 *   events), drops pending items and comebacks, lets the running steps finish (their patches
 *   are written) for at most `settings.shutdownTimeout`, and interrupts what is left.
 * - **Failures**: a failure of one object's processing is logged and retried; the operator
 *   fails only when a watcher meets an error that waiting cannot heal (401, 403, 404...), or
 *   when a selector matches no resource at start.
 *
 * @since 0.1.0
 */
import { Resource as CoreResource, Registry, Selector } from "@kubefx/core"
import { Data, Deferred, Effect, Fiber, Option, Predicate, Stream } from "effect"
import type * as Scope from "effect/Scope"
import { Kube, type KubeService } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import * as Processor from "./Processor.ts"
import * as Resource from "./Resource.ts"
import * as Settings from "./Settings.ts"
import * as Watcher from "./Watcher.ts"
import * as WorkQueue from "./WorkQueue.ts"

/**
 * The operator could not start: a selector matches no resource the server serves.
 *
 * @example
 * ```ts
 * import { Operator } from "@kubefx/runtime"
 *
 * const e = new Operator.OperatorError({ message: "no resource matches widgets" })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class OperatorError extends Data.TaggedError("OperatorError")<{
  readonly message: string
}> {}

/**
 * A running operator, started by {@link start}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Operator {
  /** The resources served. */
  readonly targets: ReadonlyArray<Processor.Target>
  /** Completes when every watch scope has listed once (with globs: every namespace matching at
   * the first list of namespaces); fails if the operator failed. */
  readonly ready: Effect.Effect<void, KubeError.KubeError | OperatorError>
  /** Stops gracefully (as on SIGTERM) and waits until it has stopped. */
  readonly stop: Effect.Effect<void>
  /** The operator's fiber: it ends only by interruption or a watcher's fatal error. */
  readonly fiber: Fiber.Fiber<never, KubeError.KubeError | OperatorError>
}

type Doc = Record<string, unknown>

const records = (value: unknown): ReadonlyArray<Doc> =>
  Array.isArray(value) ? value.filter((v): v is Doc => Predicate.isObject(v)) : []

const field = (doc: unknown, name: string): unknown =>
  Predicate.isObject(doc) ? (doc as Doc)[name] : undefined

const groupVersions = (
  kube: KubeService,
  selector: Selector.Selector
): Effect.Effect<ReadonlyArray<{ group: string; version: string }>, KubeError.KubeError> =>
  Effect.gen(function* () {
    if (selector.group !== undefined && selector.version !== undefined)
      return [{ group: selector.group, version: selector.version }]
    const out: Array<{ group: string; version: string }> = []
    if (
      (selector.group === undefined || selector.group === "") &&
      (selector.version === undefined || selector.version === "v1")
    )
      out.push({ group: "", version: "v1" })
    if (selector.group === "") return out
    const apis = yield* kube.request({ method: "GET", path: "/apis" })
    for (const g of records(field(apis, "groups"))) {
      const name = field(g, "name")
      if (typeof name !== "string") continue
      if (selector.group !== undefined && selector.group !== name) continue
      const versions = records(field(g, "versions")).map((v) => field(v, "version"))
      const preferred = field(field(g, "preferredVersion"), "version")
      const version = selector.version ?? preferred
      if (typeof version === "string" && versions.includes(version))
        out.push({ group: name, version })
    }
    return out
  })

/**
 * Finds the resource a selector means, and whether it has a `status` subresource.
 *
 * @example
 * ```ts
 * import { Selector } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Kube, Operator } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   const target = yield* Operator.resolve(kube, Selector.make("widgets.example.com"))
 *   return target.statusSubresource
 * })
 * ```
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolve = (
  kube: KubeService,
  selector: Selector.Selector
): Effect.Effect<Processor.Target, KubeError.KubeError | OperatorError> =>
  Effect.gen(function* () {
    const explicit = selector.group !== undefined && selector.version !== undefined
    for (const gv of yield* groupVersions(kube, selector)) {
      const request = kube.request({ method: "GET", path: Resource.groupVersionPath(gv) })
      const doc = explicit
        ? yield* request
        : yield* request.pipe(
            Effect.catch((e) =>
              Effect.logDebug(`discovery of ${gv.group}/${gv.version} failed: ${e._tag}`).pipe(
                Effect.as(undefined)
              )
            )
          )
      const resources = records(field(doc, "resources"))
      const found = resources.find((r) => {
        const name = r.name
        if (typeof name !== "string" || name.includes("/")) return false
        const plural = selector.plural
        if (
          plural !== undefined &&
          name !== plural &&
          r.singularName !== plural &&
          !(Array.isArray(r.shortNames) && r.shortNames.includes(plural))
        )
          return false
        return selector.kind === undefined || r.kind === selector.kind
      })
      if (found === undefined) continue
      const api: Resource.ApiResource = {
        group: gv.group,
        version: gv.version,
        plural: String(found.name),
        kind: String(found.kind),
        namespaced: found.namespaced === true
      }
      return {
        api,
        resource: CoreResource.make(api),
        statusSubresource: resources.some((r) => r.name === `${api.plural}/status`)
      }
    }
    return yield* new OperatorError({
      message: `no resource served by the API server matches ${Selector.format(selector)}`
    })
  })

/**
 * Resolves every selector of a registry (see {@link resolve}), without duplicates.
 *
 * @example
 * ```ts
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Kube, Operator } from "@kubefx/runtime"
 *
 * const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   return yield* Operator.resolveAll(kube, registry)
 * })
 * ```
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolveAll = (
  kube: KubeService,
  registry: Registry.Registry<unknown>
): Effect.Effect<ReadonlyArray<Processor.Target>, KubeError.KubeError | OperatorError> =>
  Effect.gen(function* () {
    const out = new Map<string, Processor.Target>()
    for (const selector of Registry.selectors(registry)) {
      const target = yield* resolve(kube, selector)
      out.set(CoreResource.format(target.resource), target)
    }
    return [...out.values()]
  })

interface Entry<R> {
  readonly processor: Processor.Processor<R>
  readonly item: Processor.Item
}

const serve = <R>(
  registry: Registry.Registry<R>,
  targets: ReadonlyArray<Processor.Target>,
  settings: Settings.Settings,
  onReady: Effect.Effect<void>
): Effect.Effect<never, KubeError.KubeError, Kube | R> =>
  Effect.scoped(
    Effect.gen(function* () {
      const processors = yield* Effect.forEach(targets, (t) =>
        Processor.make(registry, t, settings)
      )
      const queue = yield* WorkQueue.make<Entry<R>, R>({
        key: (e) => e.processor.key(e.item),
        process: (e) => e.processor.process(e.item),
        concurrency: settings.concurrency,
        batchWindow: settings.batchWindow
      })
      // ready once every watcher has listed its whole scope once (see `Watcher.onReady`)
      let unsynced = targets.length
      const watcherReady = Effect.suspend(() => (--unsynced === 0 ? onReady : Effect.void))
      const watchers = processors.map((p) =>
        Watcher.watch(p.target.api, {
          ...settings.watcher,
          scope: settings.scope,
          onReady: watcherReady
        }).pipe(
          Stream.runForEach((event) =>
            Effect.forEach(p.observe(event), (item) => queue.offer({ processor: p, item }), {
              discard: true
            })
          )
        )
      )
      yield* Effect.logInfo(
        `serving ${targets.map((t) => CoreResource.format(t.resource)).join(", ")} in ${Watcher.describeScope(settings.scope)}`
      )
      const watching = yield* Effect.forkScoped(
        Effect.all(watchers, { concurrency: "unbounded", discard: true })
      )
      if (targets.length === 0) yield* onReady
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Fiber.interrupt(watching)
          yield* Effect.logInfo("stopping: watchers stopped; waiting for running handlers")
          const finished = yield* Effect.timeoutOption(queue.shutdown, settings.shutdownTimeout)
          if (Option.isNone(finished))
            yield* Effect.logWarning(
              "handlers still running after the shutdown timeout; interrupting them"
            )
          else yield* Effect.logInfo("stopped")
        })
      )
      yield* Fiber.join(watching)
      return yield* Effect.never
    })
  )

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
): Effect.Effect<never, KubeError.KubeError | OperatorError, Kube | R> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const targets = yield* resolveAll(kube, registry)
    return yield* serve(registry, targets, Settings.make(settings), Effect.void)
  })

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
): Effect.Effect<Operator, KubeError.KubeError | OperatorError, Kube | R | Scope.Scope> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const targets = yield* resolveAll(kube, registry)
    const ready = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkScoped(
      serve(registry, targets, Settings.make(settings), Deferred.succeed(ready, undefined))
    )
    return {
      targets,
      ready: Effect.raceFirst(Deferred.await(ready), Fiber.join(fiber)),
      stop: Fiber.interrupt(fiber),
      fiber
    } satisfies Operator
  })
