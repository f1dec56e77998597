/**
 * An operator under test against a real API server (what `KopfRunner` is to Kopf and envtest to
 * controller-runtime): the local control plane of `@kubefx/controlplane` (an optional peer
 * dependency, loaded only when used) or any cluster of a kubeconfig; CRDs and objects applied
 * first; the operator run in-process ({@link Runner}, on `Operator.start`); its log lines and the
 * Events it posted collected for assertions; and waits until an object, a log line or an Event
 * satisfies a predicate.
 *
 * It is a scoped resource ({@link layer}, {@link make}): closing the scope stops the operator and
 * the control plane it started. A real cluster runs on real time, so use it from `it.live`, or
 * `layer(...)` with `excludeTestServices: true`.
 *
 * @since 0.1.0
 */
import type { ControlPlane } from "@kubefx/controlplane"
import { Builtins, type KubeObject, type Registry, type Resource } from "@kubefx/core"
import { Config, Kube, type KubeService, Manifests, type Settings } from "@kubefx/runtime"
import { Context, Data, type Duration, Effect, Layer, Logger, References, type Scope } from "effect"
import * as Runner from "./Runner.ts"

/**
 * Where the operator runs: the local control plane (default; its options, e.g. `binDir` for
 * envtest's binaries), or the cluster of a kubeconfig file (in its current context or the one
 * named).
 *
 * @since 0.1.0
 * @category models
 */
export type Cluster =
  | { readonly controlPlane: ControlPlane.Options }
  | { readonly kubeconfig: string; readonly context?: string | undefined }

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default: a fresh local control plane. */
  readonly cluster?: Cluster | undefined
  /** CRDs to apply first (e.g. from `Crd.make`); each is awaited until Established. */
  readonly crds?: ReadonlyArray<KubeObject.KubeObject> | undefined
  /** Objects to apply before the operator starts (StorageClasses, namespaces, fixtures). */
  readonly objects?: ReadonlyArray<KubeObject.KubeObject> | undefined
  /** The namespace of namespaced objects that name none (default `default`). */
  readonly namespace?: string | undefined
  /** The operator's settings (namespaces, concurrency, `postEvents`, ...). */
  readonly settings?: Settings.Input | undefined
}

/**
 * A log line of the operator: its level, its message, and its annotations (the object's
 * identity under `resource` and `object`).
 *
 * @since 0.1.0
 * @category models
 */
export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/**
 * What waits take: how long at most (default 60 seconds) and how often to look (200 ms).
 *
 * @since 0.1.0
 * @category models
 */
export interface WaitOptions {
  readonly timeout?: Duration.Input | undefined
  readonly step?: Duration.Input | undefined
}

/**
 * The running operator under test and its cluster.
 *
 * @since 0.1.0
 * @category models
 */
export interface Info {
  /** An admin client of the cluster, for the test to drive it. */
  readonly kube: KubeService
  /** The kubeconfig the operator uses. */
  readonly kubeconfig: string
  /** Stops, starts and restarts the operator ({@link Runner.Runner}). */
  readonly runner: Runner.Runner
  /** Applies objects as an admin (`Manifests.apply`, in the runner's namespace by default). */
  readonly apply: (
    objects: ReadonlyArray<KubeObject.KubeObject>
  ) => Effect.Effect<ReadonlyArray<KubeObject.KubeObject>, ClusterRunnerError>
  /** The operator's log lines so far. */
  readonly logs: Effect.Effect<ReadonlyArray<LogLine>>
  /** The Events the operator posted so far (as the API server stored them). */
  readonly events: Effect.Effect<ReadonlyArray<KubeObject.KubeObject>>
  /** Waits until the object `name` (in `namespace`, default the runner's) satisfies `predicate`. */
  readonly waitFor: (
    resource: Resource.ApiResource,
    name: string,
    predicate: (object: KubeObject.KubeObject) => boolean,
    options?: WaitOptions & { readonly namespace?: string | undefined }
  ) => Effect.Effect<KubeObject.KubeObject, Runner.NotConverged>
  /** Waits until a log line satisfies `predicate`, and answers it. */
  readonly waitForLog: (
    predicate: (line: LogLine) => boolean,
    options?: WaitOptions
  ) => Effect.Effect<LogLine, Runner.NotConverged>
  /** Waits until a posted Event satisfies `predicate`, and answers it. */
  readonly waitForEvent: (
    predicate: (event: KubeObject.KubeObject) => boolean,
    options?: WaitOptions
  ) => Effect.Effect<KubeObject.KubeObject, Runner.NotConverged>
}

/**
 * The runner could not set up: no control plane, a kubeconfig that does not load, a CRD that
 * is not established, an object refused, or an operator that does not start.
 *
 * @since 0.1.0
 * @category errors
 */
export class ClusterRunnerError extends Data.TaggedError("ClusterRunnerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The runner as a service, for `layer(ClusterRunner.layer(...))`.
 *
 * @since 0.1.0
 * @category services
 */
export class ClusterRunner extends Context.Service<ClusterRunner, Info>()(
  "@kubefx/testing/ClusterRunner"
) {}

const describeError = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error
    ? String((error as { message: unknown }).message)
    : typeof error === "object" && error !== null && "_tag" in error
      ? String((error as { _tag: unknown })._tag)
      : String(error)

const fail =
  (what: string) =>
  (cause: unknown): ClusterRunnerError =>
    new ClusterRunnerError({ message: `ClusterRunner: ${what}: ${describeError(cause)}`, cause })

/** Starts the local control plane; `@kubefx/controlplane` is loaded only now. */
const localControlPlane = (options: ControlPlane.Options) =>
  Effect.tryPromise({
    try: () => import("@kubefx/controlplane"),
    catch: () =>
      new ClusterRunnerError({
        message:
          "ClusterRunner: the local control plane needs the @kubefx/controlplane package: install it as a dev dependency, or pass cluster: { kubeconfig }"
      })
  }).pipe(
    Effect.flatMap(({ ControlPlane }) => ControlPlane.start(options)),
    Effect.mapError((error) =>
      error._tag === "ClusterRunnerError" ? error : fail("starting the local control plane")(error)
    ),
    Effect.map((cluster) => ({ kubeconfig: cluster.kubeconfig, context: undefined }))
  )

const clusterOf = (cluster: Cluster | undefined) =>
  cluster !== undefined && "kubeconfig" in cluster
    ? Effect.succeed({ kubeconfig: cluster.kubeconfig, context: cluster.context })
    : localControlPlane(cluster?.controlPlane ?? {})

/** A copy of `kube` that records every Event it creates. */
const recordingEvents = (kube: KubeService, events: Array<KubeObject.KubeObject>): KubeService => ({
  ...kube,
  create: (resource, body, options) =>
    kube.create(resource, body, options).pipe(
      Effect.tap((created) =>
        Effect.sync(() => {
          if (resource.plural === Builtins.events.plural && resource.group === "")
            events.push(created)
        })
      )
    )
})

const text = (message: unknown): string =>
  Array.isArray(message) ? message.map((m) => String(m)).join(" ") : String(message)

/** A logger that keeps the operator's lines in `lines`. */
const recordingLogger = (lines: Array<LogLine>) =>
  Logger.make((options) => {
    lines.push({
      level: options.logLevel,
      message: text(options.message),
      annotations: { ...options.fiber.getRef(References.CurrentLogAnnotations) }
    })
  })

/** Runs `check` until it succeeds, on the live clock. */
const until = <A>(check: Effect.Effect<A, string>, options: WaitOptions = {}) =>
  Effect.flatMap(Runner.isTestClock, (test) =>
    test
      ? Effect.die(
          "ClusterRunner: a real cluster runs on real time, not under the test clock: use it.live, or layer(..., { excludeTestServices: true })"
        )
      : Runner.eventually(check, {
          timeout: options.timeout ?? "60 seconds",
          step: options.step ?? "200 millis"
        })
  )

const found = <A>(items: ReadonlyArray<A>, predicate: (a: A) => boolean, what: string) =>
  Effect.suspend(() => {
    const hit = items.find(predicate)
    return hit === undefined
      ? Effect.fail(`no ${what} matched among ${items.length}`)
      : Effect.succeed(hit)
  })

/** Applies the CRDs and awaits them, then the objects. */
const install = (kube: KubeService, options: Options) =>
  Effect.gen(function* () {
    const crds = options.crds ?? []
    yield* Manifests.apply(crds)
    for (const crd of crds) yield* Manifests.awaitEstablished(crd.metadata?.name ?? "")
    yield* Manifests.apply(options.objects ?? [], { namespace: options.namespace })
  }).pipe(Effect.provideService(Kube, kube), Effect.mapError(fail("applying the CRDs and objects")))

/**
 * Starts the cluster (unless a kubeconfig is given), applies the CRDs and objects, and runs the
 * registry's operator until it has listed everything; all stop when the scope closes. The
 * services `R` the handlers need come from the context.
 *
 * @example
 * ```ts
 * import { Builtins, Handler, Registry } from "@kubefx/core"
 * import { ClusterRunner } from "@kubefx/testing"
 * import { Effect } from "effect"
 *
 * const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.succeed({ seen: true })))
 * const test = Effect.gen(function* () {
 *   const cluster = yield* ClusterRunner.make(registry, {
 *     cluster: { kubeconfig: "/home/me/.kube/config", context: "kind-dev" },
 *     settings: { namespaces: ["default"] }
 *   })
 *   yield* cluster.apply([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } }])
 *   yield* cluster.waitFor(Builtins.configMaps, "c", (c) => c.metadata?.finalizers !== undefined)
 * }).pipe(Effect.scoped)
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(
  registry: Registry.Registry<R>,
  options: Options = {}
): Effect.Effect<Info, ClusterRunnerError, R | Scope.Scope> =>
  Effect.gen(function* () {
    const { kubeconfig, context } = yield* clusterOf(options.cluster)
    const connect = Config.fromFile(kubeconfig, { context }).pipe(
      Effect.mapError(fail(`loading ${kubeconfig}`))
    )
    const kube = yield* connect
    yield* install(kube, options)
    const events: Array<KubeObject.KubeObject> = []
    const lines: Array<LogLine> = []
    const operatorKube = recordingEvents(yield* connect, events)
    const runner = yield* Runner.make(registry, options.settings ?? {}).pipe(
      Effect.provideService(Kube, operatorKube),
      Effect.provide(Logger.layer([recordingLogger(lines)], { mergeWithExisting: true })),
      Effect.mapError(fail("starting the operator"))
    )
    const namespace = options.namespace ?? "default"
    return {
      kube,
      kubeconfig,
      runner,
      apply: (objects) =>
        Manifests.apply(objects, { namespace }).pipe(
          Effect.provideService(Kube, kube),
          Effect.mapError(fail("applying objects"))
        ),
      logs: Effect.sync(() => [...lines]),
      events: Effect.sync(() => [...events]),
      waitFor: (resource, name, predicate, o = {}) => {
        const at = resource.namespaced ? (o.namespace ?? namespace) : undefined
        const where = `${resource.plural} ${at === undefined ? name : `${at}/${name}`}`
        return until(
          kube.get(resource, name, { namespace: at }).pipe(
            Effect.mapError((error) => `${where}: ${error._tag}`),
            Effect.filterOrFail(
              predicate,
              (object) =>
                `${where} does not satisfy the predicate yet; status: ${JSON.stringify(object.status ?? null)}`
            )
          ),
          o
        )
      },
      waitForLog: (predicate, o) =>
        until(
          Effect.suspend(() => found(lines, predicate, "log line")),
          o
        ),
      waitForEvent: (predicate, o) =>
        until(
          Effect.suspend(() => found(events, predicate, "Event")),
          o
        )
    } satisfies Info
  })

/**
 * {@link make} as a Layer of the {@link ClusterRunner} service.
 *
 * @example
 * ```ts
 * import { layer } from "@effect/vitest"
 * import { Builtins, Handler, Registry } from "@kubefx/core"
 * import { ClusterRunner } from "@kubefx/testing"
 * import { Effect } from "effect"
 *
 * const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.succeed({ seen: true })))
 *
 * layer(ClusterRunner.layer(registry, { settings: { namespaces: ["default"] } }), {
 *   excludeTestServices: true,
 *   timeout: "5 minutes"
 * })("the operator on a real API server", (it) => {
 *   it.effect("handles a ConfigMap", () =>
 *     Effect.gen(function* () {
 *       const cluster = yield* ClusterRunner.ClusterRunner
 *       yield* cluster.apply([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } }])
 *       yield* cluster.waitFor(Builtins.configMaps, "c", (c) => c.metadata?.annotations !== undefined)
 *     })
 *   )
 * })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = <R>(
  registry: Registry.Registry<R>,
  options: Options = {}
): Layer.Layer<ClusterRunner, ClusterRunnerError, Exclude<R, Scope.Scope>> =>
  Layer.effect(ClusterRunner, make(registry, options)) as Layer.Layer<
    ClusterRunner,
    ClusterRunnerError,
    Exclude<R, Scope.Scope>
  >

/**
 * The Events the runner's operator posted about `object` (by its uid, else name and namespace).
 *
 * @example
 * ```ts
 * import { Builtins } from "@kubefx/core"
 * import { ClusterRunner } from "@kubefx/testing"
 * import { Effect } from "effect"
 *
 * const eventsAboutC = Effect.gen(function* () {
 *   const cluster = yield* ClusterRunner.ClusterRunner
 *   const c = yield* cluster.kube.get(Builtins.configMaps, "c", { namespace: "default" })
 *   return ClusterRunner.about(yield* cluster.events, c)
 * })
 * ```
 * @since 0.1.0
 * @category helpers
 */
export const about = (
  events: ReadonlyArray<KubeObject.KubeObject>,
  object: KubeObject.KubeObject
): ReadonlyArray<KubeObject.KubeObject> =>
  events.filter((event) => {
    const involved = (event as { involvedObject?: Record<string, string | undefined> })
      .involvedObject
    if (involved === undefined) return false
    const uid = object.metadata?.uid
    return uid !== undefined
      ? involved.uid === uid
      : involved.name === object.metadata?.name &&
          (involved.namespace ?? "") === (object.metadata?.namespace ?? "")
  })
