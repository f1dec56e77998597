/**
 * Operator-wide activities (Kopf's `@kopf.on.startup`, `@kopf.on.cleanup`, `@kopf.on.probe`),
 * declared in the registry beside the handlers:
 *
 * - `startup`: runs once per operator process, in declaration order, before any watch starts.
 *   A `TemporaryError` (or an unexpected failure) runs it again after its delay (else the
 *   backoff) up to `retries` times; a `PermanentError`, or retries exhausted, stops the
 *   operator with an error naming the activity.
 * - `cleanup`: runs once when the operator stops gracefully (SIGTERM, `stop`), after the
 *   handlers have finished, in declaration order, each bounded by its `timeout` (default 10 s);
 *   a failure is logged and the next one runs.
 * - `probe`: a named value computed on demand: the health server answers `GET /probes` with a
 *   JSON object of every probe's value (or its error).
 *
 * @example
 * ```ts
 * import { Activity, Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const registry = Registry.make(
 *   Handler.onCreate("configmaps", () => Effect.void),
 *   Activity.startup("warm-cache", Effect.log("warming up")),
 *   Activity.cleanup("flush", Effect.log("flushed"), { timeout: "5 seconds" }),
 *   Activity.probe("queue-depth", Effect.succeed(0))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Duration, type Effect } from "effect"
import * as Backoff from "./Backoff.ts"
import type * as Json from "./Json.ts"

/**
 * The kinds of activities.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "startup" | "cleanup" | "probe"

/**
 * A declared activity. `R` is the services its Effect requires.
 *
 * @since 0.1.0
 * @category models
 */
export interface Activity<out R> {
  readonly _tag: "Activity"
  readonly kind: Kind
  readonly id: string
  readonly run: Effect.Effect<unknown, unknown, R>
  /** Startup: how many times a failed attempt is tried again (`undefined`: without end). */
  readonly retries: number | undefined
  /** Startup: the delays between attempts (a `TemporaryError`'s own delay comes first). */
  readonly backoff: Backoff.Backoff
  /** Startup and cleanup: the bound of one attempt (cleanup: 10 s unless given). */
  readonly timeout: Duration.Duration | undefined
}

/**
 * Options of a startup activity.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartupOptions {
  readonly retries?: number | undefined
  readonly backoff?: Backoff.Backoff | undefined
  readonly timeout?: Duration.Input | undefined
}

const checkId = (kind: Kind, id: string): string => {
  if (id.trim() === "") throw new Error(`kubefx: a ${kind} activity needs an id`)
  return id
}

const durationOf = (kind: Kind, id: string, input: Duration.Input | undefined) => {
  if (input === undefined) return undefined
  const d = Duration.fromInput(input)
  if (d._tag === "None" || !Duration.isFinite(d.value) || Duration.toMillis(d.value) <= 0)
    throw new Error(
      `kubefx: ${kind} activity ${JSON.stringify(id)}: timeout ${JSON.stringify(String(input))} is not a positive duration`
    )
  return d.value
}

/**
 * A startup activity (see the module's documentation).
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const login = Activity.startup("check-access", Effect.log("ok"), { retries: 5 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const startup = <E, R>(
  id: string,
  run: Effect.Effect<unknown, E, R>,
  options: StartupOptions = {}
): Activity<R> => {
  if (
    options.retries !== undefined &&
    (!Number.isSafeInteger(options.retries) || options.retries < 0)
  )
    throw new Error(
      `kubefx: startup activity ${JSON.stringify(id)}: retries must be a non-negative integer`
    )
  return {
    _tag: "Activity",
    kind: "startup",
    id: checkId("startup", id),
    run,
    retries: options.retries,
    backoff: options.backoff ?? Backoff.defaultBackoff,
    timeout: durationOf("startup", id, options.timeout)
  }
}

/**
 * A cleanup activity (see the module's documentation).
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const flush = Activity.cleanup("flush", Effect.log("flushed"))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const cleanup = <E, R>(
  id: string,
  run: Effect.Effect<unknown, E, R>,
  options: { readonly timeout?: Duration.Input | undefined } = {}
): Activity<R> => ({
  _tag: "Activity",
  kind: "cleanup",
  id: checkId("cleanup", id),
  run,
  retries: 0,
  backoff: Backoff.defaultBackoff,
  timeout: durationOf("cleanup", id, options.timeout) ?? Duration.seconds(10)
})

/**
 * A probe (see the module's documentation): its value must be JSON.
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const depth = Activity.probe("queue-depth", Effect.succeed(3))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const probe = <E, R>(id: string, run: Effect.Effect<Json.Json, E, R>): Activity<R> => ({
  _tag: "Activity",
  kind: "probe",
  id: checkId("probe", id),
  run,
  retries: 0,
  backoff: Backoff.defaultBackoff,
  timeout: Duration.seconds(10)
})

/**
 * Whether a value is an activity.
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * Activity.isActivity(Activity.probe("p", Effect.succeed(1))) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isActivity = (u: unknown): u is Activity<unknown> =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Activity"
