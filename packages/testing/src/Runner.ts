/**
 * An in-process operator runner for tests (what `kopf.testing.KopfRunner` is to Kopf): start
 * an operator for a registry against the simulated cluster (one connection per operator
 * process) or a real one (the `Kube` of the context), drive the cluster, restart the operator
 * gracefully or abruptly, wait for convergence, stop it.
 *
 * Under the test clock, waiting means advancing simulated time: {@link drive} runs an effect
 * while the clock moves in steps, {@link eventually} retries a check while it moves, so an hour
 * of retries takes milliseconds. Under the live clock the same calls simply wait.
 *
 * @since 0.1.0
 */
import type { Registry } from "@kubefx/core"
import { Kube, Operator, type Settings } from "@kubefx/runtime"
import { Data, Duration, Effect, Exit, Fiber, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import { SimCluster } from "./SimCluster.ts"

/**
 * A running (or stopped) operator under test.
 *
 * @since 0.1.0
 * @category models
 */
export interface Runner {
  /** Starts an operator process (when none runs) and waits until it has listed everything. */
  readonly start: Effect.Effect<void, Operator.StartError>
  /** Stops it gracefully (as on SIGTERM): running handlers finish, their results land. */
  readonly stop: Effect.Effect<void>
  /** Kills it: its connection is cut first (no request of it is answered any more), then it
   * is stopped; on a real cluster the same as `stop`. */
  readonly crash: Effect.Effect<void>
  /** Cuts this operator process off from the simulated API server for `duration` (its
   * requests and watches get no answer meanwhile, as in a network partition); the others keep
   * theirs. Only on the simulated cluster (a real cluster has the fault proxy of
   * `@kubefx/controlplane`). */
  readonly stall: (duration: Duration.Input) => Effect.Effect<void>
  /** `stop` (or `crash`) then `start`. */
  readonly restart: (options?: {
    readonly crash?: boolean | undefined
  }) => Effect.Effect<void, Operator.StartError>
  /** The running operator's handle, if one runs. */
  readonly operator: Effect.Effect<Option.Option<Operator.Operator>>
  /** How many operator processes were started. */
  readonly starts: Effect.Effect<number>
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunnerOptions {
  /** Start the first operator process now (default true). */
  readonly start?: boolean | undefined
}

/**
 * Whether the current clock is a `TestClock`.
 *
 * @since 0.1.0
 * @category time
 */
export const isTestClock: Effect.Effect<boolean> = Effect.clockWith((clock) =>
  Effect.succeed("adjust" in clock && typeof clock.adjust === "function")
)

/**
 * Waits `duration`: advances the test clock, or sleeps under the live one.
 *
 * @since 0.1.0
 * @category time
 */
export const advance = (duration: Duration.Input): Effect.Effect<void> =>
  Effect.flatMap(isTestClock, (test) =>
    test ? TestClock.adjust(duration) : Effect.sleep(duration)
  )

/**
 * An effect did not finish within the simulated time it was given.
 *
 * @since 0.1.0
 * @category errors
 */
export class DriveTimeout extends Data.TaggedError("DriveTimeout")<{ readonly message: string }> {}

/**
 * Runs an effect that needs time to pass: under the test clock it is forked and the clock is
 * advanced by `step` (default 1 second) until it finishes (dies after `limit` of simulated
 * time, default 1 hour); under the live clock it just runs.
 *
 * @since 0.1.0
 * @category time
 */
export const drive = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options: { readonly step?: Duration.Input; readonly limit?: Duration.Input } = {}
): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    if (!(yield* isTestClock)) return yield* effect
    const step = Duration.fromInputUnsafe(options.step ?? "1 second")
    const limit = Duration.toMillis(Duration.fromInputUnsafe(options.limit ?? "1 hour"))
    const fiber = yield* Effect.forkChild(effect)
    let elapsed = 0
    for (;;) {
      yield* Effect.yieldNow
      if (fiber.pollUnsafe() !== undefined) return yield* Fiber.join(fiber)
      if (elapsed >= limit) {
        yield* Fiber.interrupt(fiber)
        return yield* Effect.die(
          new DriveTimeout({
            message: `did not finish within ${Duration.format(Duration.millis(limit))} of simulated time`
          })
        )
      }
      yield* TestClock.adjust(step)
      elapsed += Duration.toMillis(step)
    }
  })

/**
 * The cluster did not reach the expected state in time: `message` says what the last check
 * found.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotConverged extends Data.TaggedError("NotConverged")<{
  readonly message: string
  readonly last: unknown
}> {}

/**
 * Runs `check` until it succeeds, advancing time by `step` (default 1 second) between tries,
 * for at most `timeout` (default 10 minutes; simulated under the test clock). Fails with
 * {@link NotConverged} carrying the last failure. With `stable`, the check must then keep
 * holding for that long.
 *
 * @example
 * ```ts
 * import { Builtins } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Runner, SimCluster } from "@kubefx/testing"
 *
 * const converged = Effect.gen(function*() {
 *   const sim = yield* SimCluster.SimCluster
 *   yield* Runner.eventually(
 *     Effect.flatMap(sim.objects(Builtins.persistentVolumeClaims, "default"), (pvcs) =>
 *       pvcs.length === 1 ? Effect.void : Effect.fail(`${pvcs.length} claims`)
 *     )
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category convergence
 */
export const eventually = <A, E, R>(
  check: Effect.Effect<A, E, R>,
  options: {
    readonly timeout?: Duration.Input
    readonly step?: Duration.Input
    readonly stable?: Duration.Input
  } = {}
): Effect.Effect<A, NotConverged, R> =>
  Effect.gen(function* () {
    const step = Duration.fromInputUnsafe(options.step ?? "1 second")
    const timeout = Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? "10 minutes"))
    let elapsed = 0
    for (;;) {
      const result = yield* Effect.exit(check)
      if (Exit.isSuccess(result)) {
        if (options.stable === undefined) return result.value
        yield* advance(options.stable)
        const again = yield* Effect.exit(check)
        if (Exit.isSuccess(again)) return again.value
        return yield* new NotConverged({
          message: `converged, then did not hold for ${Duration.format(Duration.fromInputUnsafe(options.stable))}: ${describe(again)}`,
          last: again
        })
      }
      if (elapsed >= timeout)
        return yield* new NotConverged({
          message: `not converged after ${Duration.format(Duration.millis(timeout))}: ${describe(result)}`,
          last: result
        })
      yield* advance(step)
      elapsed += Duration.toMillis(step)
    }
  })

/** The registry without its admission handlers and conversions (same prototype: `pipe` stays). */
const withoutWebhooks = <R>(registry: Registry.Registry<R>): Registry.Registry<R> =>
  Object.assign(Object.create(Object.getPrototypeOf(registry)), registry, {
    webhooks: [],
    conversions: []
  })

const describe = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ok"
  const error = Option.getOrUndefined(Exit.findErrorOption(exit))
  if (error === undefined) return String(exit.cause)
  if (typeof error === "string") return error
  if (error instanceof Error) return error.message
  return JSON.stringify(error)
}

/**
 * A runner of the registry's operator. On the simulated cluster (a {@link SimCluster} in the
 * context) every operator process gets its own connection; otherwise the context's `Kube` is
 * used. Its services `R` are taken from the context now. The operator is stopped when the
 * scope closes.
 *
 * @example
 * ```ts
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Runner, SimCluster } from "@kubefx/testing"
 *
 * const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.succeed({ seen: true })))
 * const test = Effect.gen(function*() {
 *   const runner = yield* Runner.make(registry, { namespaces: ["default"] })
 *   yield* runner.restart({ crash: true })
 *   yield* runner.stop
 * }).pipe(Effect.scoped, Effect.provide(SimCluster.layer()))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(
  registry: Registry.Registry<R>,
  settings: Settings.Input = {},
  options: RunnerOptions = {}
): Effect.Effect<Runner, Operator.StartError, Kube | R | Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<R | Kube>()
    const sim = yield* Effect.serviceOption(SimCluster)
    const kube = yield* Kube
    let current:
      | {
          readonly scope: Scope.Closeable
          readonly operator: Operator.Operator
          readonly cut: Effect.Effect<void>
          readonly stall: ((duration: Duration.Input) => Effect.Effect<void>) | undefined
        }
      | undefined
    let starts = 0

    const start = Effect.gen(function* () {
      if (current !== undefined) return
      const scope = yield* Scope.make()
      const conn = Option.isSome(sim)
        ? yield* Scope.provide(sim.value.connect, scope)
        : { kube, close: Effect.void, blackhole: undefined }
      // In the simulation the API server calls the admission handlers itself, while this
      // process runs: the operator serves no webhook server there.
      if (Option.isSome(sim))
        yield* Scope.provide(sim.value.serveWebhooks(registry.webhooks, context), scope)
      const served = Option.isSome(sim) ? withoutWebhooks(registry) : registry
      const operator = yield* Operator.start(served, settings).pipe(
        Effect.provideService(Kube, conn.kube),
        Scope.provide(scope),
        Effect.provideContext(context),
        drive,
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      starts++
      current = { scope, operator, cut: conn.close, stall: conn.blackhole }
      yield* drive(operator.ready).pipe(
        Effect.onError(() =>
          Effect.suspend(() => {
            current = undefined
            return Scope.close(scope, Exit.void)
          })
        )
      )
    })

    const halt = (cut: boolean) =>
      Effect.suspend(() => {
        const c = current
        if (c === undefined) return Effect.void
        current = undefined
        return (cut ? c.cut : Effect.void).pipe(
          Effect.andThen(drive(Scope.close(c.scope, Exit.void)))
        )
      })

    yield* Effect.addFinalizer(() => halt(false))

    const runner: Runner = {
      start,
      stop: halt(false),
      crash: halt(true),
      restart: (o = {}) => Effect.andThen(halt(o.crash === true), start),
      stall: (duration) =>
        Effect.suspend(() =>
          current?.stall === undefined
            ? Effect.die(
                new Error(
                  "Runner.stall needs a running operator on the simulated cluster; on a real one, use the fault proxy of @kubefx/controlplane"
                )
              )
            : current.stall(duration)
        ),
      operator: Effect.sync(() => Option.fromUndefinedOr(current?.operator)),
      starts: Effect.sync(() => starts)
    }
    if (options.start ?? true) yield* start
    return runner
  })
