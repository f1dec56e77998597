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
 * - `login`: a program that answers the {@link ConnectionInfo} to reach the API server with
 *   (Kopf's `@kopf.on.login`), run before anything else and again when the API server answers
 *   401 to its credentials or they are about to expire. The runtime's `Login.layer` makes the
 *   operator's client from the registry's login activities; with several, their credentials are
 *   used in declaration order, the next one when the API server refuses the current one, and
 *   all of them run again when none is left. Failures are retried as a startup's.
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
export type Kind = "startup" | "cleanup" | "probe" | "login"

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
  /** Startup and login: how many times a failed attempt is tried again (`undefined`: without
   * end). */
  readonly retries: number | undefined
  /** Startup and login: the delays between attempts (a `TemporaryError`'s own delay comes
   * first). */
  readonly backoff: Backoff.Backoff
  /** Startup, cleanup and login: the bound of one attempt (cleanup: 10 s unless given). */
  readonly timeout: Duration.Duration | undefined
}

/**
 * How to reach the API server, as a login activity answers it. PEM material is given as text;
 * read files yourself (`fs.readFileSync(path, "utf8")`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionInfo {
  /** The API server's URL, e.g. `https://10.0.0.1:6443`. */
  readonly server: string
  /** PEM of the CA certificates the server's certificate is checked against (default: the
   * system's trusted CAs). */
  readonly certificateAuthority?: string | undefined
  /** Do not check the server's certificate (for development only). */
  readonly insecure?: boolean | undefined
  /** The name to check the server's certificate for, when it differs from the URL's host. */
  readonly tlsServerName?: string | undefined
  /** A bearer token. */
  readonly token?: string | undefined
  /** Basic authentication (when no token is given). */
  readonly username?: string | undefined
  readonly password?: string | undefined
  /** A client certificate and its key, as PEM. */
  readonly clientCertificate?: string | undefined
  readonly clientKey?: string | undefined
  /** When the credentials expire: they are renewed shortly before (a minute, or a tenth of
   * their remaining life when that is shorter). */
  readonly expiration?: Date | undefined
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

/** A startup or login activity: attempts bounded by `timeout`, retried after `backoff`. */
const retried = <R>(
  kind: "startup" | "login",
  id: string,
  run: Effect.Effect<unknown, unknown, R>,
  options: StartupOptions
): Activity<R> => {
  if (
    options.retries !== undefined &&
    (!Number.isSafeInteger(options.retries) || options.retries < 0)
  )
    throw new Error(
      `kubefx: ${kind} activity ${JSON.stringify(id)}: retries must be a non-negative integer`
    )
  return {
    _tag: "Activity",
    kind,
    id: checkId(kind, id),
    run,
    retries: options.retries,
    backoff: options.backoff ?? Backoff.defaultBackoff,
    timeout: durationOf(kind, id, options.timeout)
  }
}

/**
 * A startup activity (see the module's documentation).
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const access = Activity.startup("check-access", Effect.log("ok"), { retries: 5 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const startup = <E, R>(
  id: string,
  run: Effect.Effect<unknown, E, R>,
  options: StartupOptions = {}
): Activity<R> => retried("startup", id, run, options)

/**
 * A login activity (see the module's documentation): answers the credentials to reach the API
 * server with. It needs no services: it runs before the operator's client exists.
 *
 * @example
 * ```ts
 * import { Activity } from "@kubefx/core"
 * import { Effect } from "effect"
 * import * as fs from "node:fs"
 *
 * const login = Activity.login(
 *   "token-file",
 *   Effect.sync(() => ({
 *     server: "https://10.0.0.1:6443",
 *     certificateAuthority: fs.readFileSync("/etc/my-operator/ca.crt", "utf8"),
 *     token: fs.readFileSync("/etc/my-operator/token", "utf8").trim()
 *   })),
 *   { retries: 5, timeout: "30 seconds" }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const login = <E>(
  id: string,
  run: Effect.Effect<ConnectionInfo, E>,
  options: StartupOptions = {}
): Activity<never> => retried("login", id, run, options)

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
