/**
 * Where a Kube client comes from: a kubeconfig file (a context, client certificates, bearer
 * tokens, token files, basic auth, CA bundles), the pod's service account, or the usual lookup
 * of both, read here without `@kubernetes/client-node`. That library (it costs ~88 MiB of
 * memory) is loaded lazily, only for what it alone knows: exec credential plugins, auth
 * providers, proxies, several `$KUBECONFIG` files; {@link make} takes one of its `KubeConfig`s.
 *
 * @since 0.1.0
 */
import type { KubeConfig } from "@kubernetes/client-node"
import { Data, Duration, Effect, type Schedule } from "effect"
import type * as Scope from "effect/Scope"
import { fromConnection } from "./internal/client.ts"
import * as Http from "./internal/http.ts"
import * as KubeConfigFile from "./internal/kubeconfig.ts"
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
