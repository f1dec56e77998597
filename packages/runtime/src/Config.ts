/**
 * Where a Kube client comes from: a kubeconfig file (a context, client certificates, bearer
 * tokens, token files, basic auth, CA bundles), the pod's service account, or the usual lookup
 * of both, read here without `@kubernetes/client-node`; or the registry's login activities
 * ({@link fromLogin}). That library (it costs ~88 MiB of
 * memory) is loaded lazily, only for what it alone knows: exec credential plugins, auth
 * providers, proxies, several `$KUBECONFIG` files; {@link make} takes one of its `KubeConfig`s.
 *
 * @since 0.1.0
 */
import type { Activity } from "@kubefx/core"
import type { KubeConfig } from "@kubernetes/client-node"
import { Cause, Data, Duration, Effect, Exit, Option, type Schedule } from "effect"
import type * as Scope from "effect/Scope"
import * as Activities from "./Activities.ts"
import { fromConnection } from "./internal/client.ts"
import * as Http from "./internal/http.ts"
import * as KubeConfigFile from "./internal/kubeconfig.ts"
import * as Login from "./internal/login.ts"
import type { KubeService } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import * as RequestPolicy from "./RequestPolicy.ts"

/**
 * The configuration could not be loaded (no file, no current context, not in a cluster).
 *
 * @example
 * ```ts
 * import { Kube } from "@kubefx/runtime"
 *
 * const layer = Kube.layerFromFile("/nonexistent")
 * // building it fails with KubeConfigError
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class KubeConfigError extends Data.TaggedError("KubeConfigError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Options of a client.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeOptions {
  /** Retry policy for transient errors (default {@link RequestPolicy.defaultRetry}). */
  readonly retry?: Schedule.Schedule<unknown, KubeError.KubeError> | undefined
  /** How long the server may take to send a response's headers (watches included), and the
   * longest gap between two chunks of a response body (not of watches: see the watcher's
   * `idleTimeout`); default 30 seconds. A request that runs out fails with a TransportError
   * `ETIMEDOUT` (retried when it is idempotent) and its connection is closed. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Time limit of the TCP connect and TLS handshake; default 10 seconds (TransportError
   * `ECONNECTTIMEOUT`, retried: nothing was sent). */
  readonly connectTimeout?: Duration.Input | undefined
  /** An idle pooled connection is closed after this long; default 30 seconds, below the idle
   * timeouts of common load balancers and NAT gateways. */
  readonly keepAliveTimeout?: Duration.Input | undefined
}

const timeoutsOf = (options: KubeOptions): Http.Timeouts => {
  const ms = (input: Duration.Input | undefined, fallback: number) =>
    input === undefined ? fallback : Math.max(1, Duration.toMillis(Duration.fromInputUnsafe(input)))
  const request = ms(options.requestTimeout, Http.defaultTimeouts.headers)
  return {
    connect: ms(options.connectTimeout, Http.defaultTimeouts.connect),
    headers: request,
    body: request,
    keepAlive: ms(options.keepAliveTimeout, Http.defaultTimeouts.keepAlive)
  }
}

/** A client on the connection `connect` opens; the connection closes with the scope. */
const open = (
  connect: (timeouts: Http.Timeouts) => Http.Connection,
  options: KubeOptions
): Effect.Effect<KubeService, KubeConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const timeouts = timeoutsOf(options)
    const conn = yield* Effect.acquireRelease(
      Effect.try({
        try: () => connect(timeouts),
        catch: (cause) =>
          new KubeConfigError({ message: `invalid kubeconfig: ${String(cause)}`, cause })
      }),
      (c) => Effect.promise(() => c.close())
    )
    // The socket's deadlines end a silent request; this one bounds a whole attempt (credential
    // plugins included).
    const policy = RequestPolicy.make({
      retry: options.retry,
      attemptTimeout: Duration.millis(timeouts.connect + timeouts.headers + timeouts.body)
    })
    return fromConnection(conn, policy)
  })

/**
 * A client for the current context of a KubeConfig. The connections close with the scope.
 *
 * @example
 * ```ts
 * import { KubeConfig } from "@kubernetes/client-node"
 * import { Effect } from "effect"
 * import { Config } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kc = new KubeConfig()
 *   kc.loadFromFile("/path/to/kubeconfig")
 *   const kube = yield* Config.make(kc)
 *   return yield* kube.request({ method: "GET", path: "/version" })
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  kc: KubeConfig,
  options: KubeOptions = {}
): Effect.Effect<KubeService, KubeConfigError, Scope.Scope> =>
  open((timeouts) => Http.makeConnection(kc, timeouts), options)

const configError = (cause: unknown) =>
  new KubeConfigError({
    message: `cannot load kubeconfig: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

/** client-node is loaded only when needed (it costs ~88 MiB of memory): see `kubeconfig.ts`. */
const loadConfig = (
  load: (kc: KubeConfig) => void,
  context?: string
): Effect.Effect<KubeConfig, KubeConfigError> =>
  Effect.tryPromise({
    try: async () => {
      const { KubeConfig } = await import("@kubernetes/client-node")
      const kc = new KubeConfig()
      load(kc)
      if (context !== undefined) kc.setCurrentContext(context)
      if (kc.getCurrentCluster() === null) throw new Error("no current cluster")
      return kc
    },
    catch: configError
  })

/**
 * A client from what `read` finds: credentials read directly (no client-node), or, for what
 * only client-node knows (exec plugins, auth providers, proxies, merged files), a KubeConfig
 * that `fallback` loads.
 */
const fromLoaded = (
  read: () => KubeConfigFile.Loaded,
  fallback: Effect.Effect<KubeConfig, KubeConfigError>,
  options: KubeOptions
): Effect.Effect<KubeService, KubeConfigError, Scope.Scope> =>
  Effect.try({ try: read, catch: configError }).pipe(
    Effect.flatMap((loaded) =>
      loaded._tag === "Read"
        ? open((timeouts) => Http.makeStaticConnection(loaded.credentials, timeouts), options)
        : Effect.logDebug(`kubeconfig: ${loaded.reason}; using @kubernetes/client-node`).pipe(
            Effect.andThen(fallback),
            Effect.flatMap((kc) => make(kc, options))
          )
    )
  )

/**
 * Loads a kubeconfig file (optionally choosing a context) into a client-node KubeConfig.
 *
 * @example
 * ```ts
 * import { Config } from "@kubefx/runtime"
 *
 * const kc = Config.loadFile("/home/me/.kube/config", { context: "kind-dev" })
 * ```
 *
 * @since 0.1.0
 * @category configuration
 */
export const loadFile = (
  path: string,
  options: { readonly context?: string | undefined } = {}
): Effect.Effect<KubeConfig, KubeConfigError> =>
  loadConfig((kc) => kc.loadFromFile(path), options.context)

/**
 * A client from a kubeconfig file, in its current context or the one named.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config } from "@kubefx/runtime"
 *
 * const kube = Config.fromFile("/home/me/.kube/config", { context: "kind-dev" }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFile = (
  path: string,
  options: KubeOptions & { readonly context?: string | undefined } = {}
): Effect.Effect<KubeService, KubeConfigError, Scope.Scope> =>
  fromLoaded(
    () => KubeConfigFile.readFile(path, options.context),
    loadFile(path, { context: options.context }),
    options
  )

/**
 * A client from the pod's service account (`KUBERNETES_SERVICE_HOST`, the mounted token, read
 * again as it rotates, and CA).
 *
 * @example
 * ```ts
 * import { Config } from "@kubefx/runtime"
 *
 * const kube = Config.inCluster()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const inCluster = (
  options: KubeOptions = {}
): Effect.Effect<KubeService, KubeConfigError, Scope.Scope> =>
  fromLoaded(
    () => ({ _tag: "Read", credentials: KubeConfigFile.inCluster() }),
    loadConfig((kc) => kc.loadFromCluster()),
    options
  )

/**
 * The usual lookup: `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster account.
 *
 * @example
 * ```ts
 * import { Config } from "@kubefx/runtime"
 *
 * const kube = Config.fromDefault()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDefault = (
  options: KubeOptions = {}
): Effect.Effect<KubeService, KubeConfigError, Scope.Scope> =>
  fromLoaded(
    KubeConfigFile.readDefault,
    loadConfig((kc) => kc.loadFromDefault()),
    options
  )

/** The credentials of a login's answer, or a message saying what is wrong with it. */
const issuedOf = (id: string, info: unknown): Login.Issued | string => {
  const answer = info as Partial<Activity.ConnectionInfo> | undefined
  if (typeof answer !== "object" || answer === null || typeof answer.server !== "string")
    return `login activity '${id}' answered no server (it must answer a ConnectionInfo)`
  if (!URL.canParse(answer.server))
    return `login activity '${id}' answered server ${JSON.stringify(answer.server)}, which is not a URL`
  const pem = (text: string | undefined) => (text === undefined ? undefined : Buffer.from(text))
  const basic =
    answer.username === undefined
      ? undefined
      : Buffer.from(`${answer.username}:${answer.password ?? ""}`).toString("base64")
  const authorization =
    answer.token !== undefined
      ? `Bearer ${answer.token}`
      : basic === undefined
        ? undefined
        : `Basic ${basic}`
  const headers: Record<string, string> =
    authorization === undefined ? {} : { Authorization: authorization }
  return {
    id,
    credentials: {
      server: new URL(answer.server.replace(/\/$/, "")),
      tls: {
        ca: pem(answer.certificateAuthority),
        cert: pem(answer.clientCertificate),
        key: pem(answer.clientKey),
        ...(answer.insecure === true ? { rejectUnauthorized: false } : {}),
        ...(answer.tlsServerName === undefined ? {} : { servername: answer.tlsServerName })
      },
      headers: () => headers
    },
    expiresAt: answer.expiration instanceof Date ? answer.expiration.getTime() : undefined
  }
}

/** Every login activity, in order, each until it succeeds (see `Activities.persist`). */
const logIn = (logins: ReadonlyArray<Activity.Activity<never>>) =>
  Effect.forEach(logins, (activity) =>
    Effect.flatMap(Activities.persist(activity), (info) => {
      const issued = issuedOf(activity.id, info)
      return typeof issued === "string"
        ? Effect.fail(new Activities.StartupFailed({ id: activity.id, message: issued }))
        : Effect.succeed(issued)
    })
  )

/**
 * A client whose credentials come from the login activities (`Activity.login`) of a registry:
 * they all run first, in declaration order (each retried as a startup activity is), and their
 * credentials are used in that order: the next one when the API server answers 401 to the one in
 * use, and every login again when none is left or the one in use is about to expire (its
 * `expiration`). A request answered 401 is sent once more on the renewed credentials. Renewals
 * and refusals are logged; logins run again at most every 2 seconds.
 *
 * @example
 * ```ts
 * import { Activity, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Config } from "@kubefx/runtime"
 *
 * const registry = Registry.make(
 *   Activity.login("static", Effect.succeed({ server: "https://127.0.0.1:6443", token: "t0ken" }))
 * )
 * const kube = Config.fromLogin(registry).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromLogin = (
  registry: { readonly activities: ReadonlyArray<Activity.Activity<unknown>> },
  options: KubeOptions = {}
): Effect.Effect<KubeService, KubeConfigError | Activities.StartupFailed, Scope.Scope> =>
  Effect.gen(function* () {
    // A login activity requires no services (`Activity.login`).
    const logins = registry.activities.filter(
      (a) => a.kind === "login"
    ) as unknown as ReadonlyArray<Activity.Activity<never>>
    if (logins.length === 0)
      return yield* new KubeConfigError({
        message: "the registry has no login activity (Activity.login)"
      })
    const first = yield* logIn(logins)
    yield* Effect.logInfo(`logged in: ${first.map((i) => i.id).join(", ")}`)
    const context = yield* Effect.context<never>()
    const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromiseExitWith(context)(effect)
    const again = async () => {
      const exit = await run(logIn(logins))
      if (Exit.isSuccess(exit)) return exit.value
      const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
      throw new Error(error?.message ?? `login interrupted: ${Cause.pretty(exit.cause)}`)
    }
    const report: Login.Report = (level, message) =>
      void run(
        level === "info"
          ? Effect.logInfo(message)
          : level === "warning"
            ? Effect.logWarning(message)
            : Effect.logError(message)
      )
    return yield* open((timeouts) => Login.makeConnection(first, again, timeouts, report), options)
  })
