/**
 * `kubefx run <module>[#export]`: loads the operator module ({@link Module}) and runs its
 * registry with `Operator.run` until Ctrl-C or SIGTERM (graceful shutdown), with Kopf's run
 * flags. What a user gets wrong ends the command with one line: see {@link explain}.
 *
 * @since 0.1.0
 */
import * as os from "node:os"
import * as path from "node:path"
import type { Registry } from "@kubefx/core"
import {
  Certificates,
  Kube,
  type LeaderElection,
  Operator,
  type Settings,
  type Sharding,
  type WebhookConfig
} from "@kubefx/runtime"
import { Cause, Duration, Effect, Layer, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { Failure } from "./Failure.ts"
import * as Logging from "./Logging.ts"
import * as Module from "./Module.ts"

/**
 * The module argument shared by `run` and `generate`.
 *
 * @since 0.1.0
 * @category arguments
 */
export const moduleArgument = Argument.String("module").pipe(
  Argument.withDescription(
    "The operator's module, <file>[#export]: a .ts or .js file exporting a registry (the named export, else `default`, else the one registry it exports)"
  )
)

/**
 * An optional string flag with its description.
 *
 * @example
 * ```ts
 * import { Run } from "kubefx"
 *
 * const context = Run.optionalString("context", "The kubeconfig context")
 * ```
 *
 * @since 0.1.0
 * @category flags
 */
export const optionalString = (name: string, description: string) =>
  Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

const boolean = (name: string, description: string) =>
  Flag.Boolean(name).pipe(Flag.withDescription(description), Flag.withDefault(false))

/** The flags of `kubefx run`. */
const flags = {
  module: moduleArgument,
  namespace: Flag.String("namespace").pipe(
    Flag.withAlias("n"),
    Flag.withDescription(
      "Serve this namespace (repeatable): a name, a glob (team-*) or an exclusion (!team-secret)"
    ),
    Flag.atLeast(0)
  ),
  allNamespaces: boolean("all-namespaces", "Serve every namespace (the default)").pipe(
    Flag.withAlias("A")
  ),
  kubeconfig: optionalString(
    "kubeconfig",
    "The kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)"
  ),
  context: optionalString("context", "The kubeconfig context (default: its current context)"),
  inCluster: boolean("in-cluster", "Use the pod's service account"),
  verbose: boolean("verbose", "Log debug lines too"),
  debug: boolean("debug", "Log every line, traces included"),
  quiet: boolean("quiet", "Log warnings and errors only"),
  logFormat: Flag.Literals("log-format", ["plain", "json"]).pipe(
    Flag.withDescription("The log format"),
    Flag.withDefault("plain" as const)
  ),
  concurrency: Flag.Int("concurrency").pipe(
    Flag.withDescription("How many objects are processed at the same time (default 64)"),
    Flag.optional
  ),
  postEvents: Flag.Literals("post-events", ["all", "warnings", "none"]).pipe(
    Flag.withDescription("Which Events to post (default warnings: retries and failures)"),
    Flag.optional
  ),
  fieldManager: optionalString(
    "field-manager",
    "The field manager of the operator's patches (default kubefx)"
  ),
  reportingComponent: optionalString(
    "reporting-component",
    "The component named in posted Events (default kubefx)"
  ),
  healthPort: Flag.Int("health-port").pipe(
    Flag.withDescription("Serve /healthz, /readyz and /metrics on this port (default: no server)"),
    Flag.optional
  ),
  healthHost: optionalString(
    "health-host",
    "The address the health server listens on (default: every address)"
  ),
  webhookPort: Flag.Int("webhook-port").pipe(
    Flag.withDescription(
      "Serve the admission handlers over HTTPS on this port (needed when the module has Handler.validate / Handler.mutate)"
    ),
    Flag.optional
  ),
  webhookHost: optionalString(
    "webhook-host",
    "The address the webhook server listens on (default: every address)"
  ),
  webhookCertDir: optionalString(
    "webhook-cert-dir",
    "A folder with tls.crt, tls.key and ca.crt (e.g. cert-manager's Secret, mounted); read again when they change"
  ),
  webhookGenerateCert: Flag.String("webhook-generate-cert").pipe(
    Flag.withDescription(
      "Make a CA and a serving certificate at start for this host name or IP address (repeatable; for development)"
    ),
    Flag.atLeast(0)
  ),
  webhookManaged: optionalString(
    "webhook-managed",
    "Keep the webhook configurations of this name current (with a dot: widgets.example.com); default: you install them (kubefx generate webhooks)"
  ),
  webhookUrl: optionalString(
    "webhook-url",
    "The URL the API server calls the webhook server at (default: the server's own address)"
  ),
  webhookService: optionalString(
    "webhook-service",
    "The Service the API server calls the webhook server through, NAMESPACE/NAME[:PORT]"
  ),
  webhookRemoveOnStop: boolean(
    "webhook-remove-on-stop",
    "Delete the managed webhook configurations when the operator stops"
  ),
  leaderElect: boolean(
    "leader-elect",
    "Run as one of several replicas of which one handles objects (a Lease; the others stand by)"
  ),
  sharded: boolean(
    "sharded",
    "Run as one of several replicas that each handle a share of the objects (Leases; the API server's sharded watch where it has it)"
  ),
  shardKey: Flag.Literals("shard-key", ["uid", "namespace"]).pipe(
    Flag.withDescription("With --sharded: what objects are hashed by (default uid)"),
    Flag.optional
  ),
  shardFilter: Flag.Literals("shard-filter", ["server", "client"]).pipe(
    Flag.withDescription(
      "With --sharded: ask the API server for the shard (server, the default) or filter every object on the client"
    ),
    Flag.optional
  ),
  leaseName: optionalString(
    "lease-name",
    "The Lease of --leader-elect (default: <reporting component>-leader), or the group of --sharded (default: <reporting component>-shards)"
  ),
  leaseNamespace: optionalString(
    "lease-namespace",
    "Where the Lease lives (default: the pod's namespace, else default)"
  ),
  identity: optionalString(
    "identity",
    "This replica's identity, unique among the replicas (default: <hostname>_<random uuid>)"
  ),
  leaseDuration: optionalString(
    "lease-duration",
    "How long a Lease nobody renews stays held, e.g. 15s (default 15s)"
  ),
  renewDeadline: optionalString(
    "renew-deadline",
    "How long a holder may fail to renew before it stops handling, e.g. 10s (default 10s)"
  ),
  retryPeriod: optionalString(
    "retry-period",
    "How often Leases are renewed and tried, e.g. 2s (default 2s)"
  )
}

/**
 * What `kubefx run` was given.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly module: string
  readonly namespace: ReadonlyArray<string>
  readonly allNamespaces: boolean
  readonly kubeconfig: Option.Option<string>
  readonly context: Option.Option<string>
  readonly inCluster: boolean
  readonly verbose: boolean
  readonly debug: boolean
  readonly quiet: boolean
  readonly logFormat: Logging.Format
  readonly concurrency: Option.Option<number>
  readonly postEvents: Option.Option<Settings.PostEvents>
  readonly fieldManager: Option.Option<string>
  readonly reportingComponent: Option.Option<string>
  readonly healthPort: Option.Option<number>
  readonly healthHost: Option.Option<string>
  readonly webhookPort: Option.Option<number>
  readonly webhookHost: Option.Option<string>
  readonly webhookCertDir: Option.Option<string>
  readonly webhookGenerateCert: ReadonlyArray<string>
  readonly webhookManaged: Option.Option<string>
  readonly webhookUrl: Option.Option<string>
  readonly webhookService: Option.Option<string>
  readonly webhookRemoveOnStop: boolean
  readonly leaderElect: boolean
  readonly sharded: boolean
  readonly shardKey: Option.Option<"uid" | "namespace">
  readonly shardFilter: Option.Option<"server" | "client">
  readonly leaseName: Option.Option<string>
  readonly leaseNamespace: Option.Option<string>
  readonly identity: Option.Option<string>
  readonly leaseDuration: Option.Option<string>
  readonly renewDeadline: Option.Option<string>
  readonly retryPeriod: Option.Option<string>
}

/**
 * A duration flag's value: `15s`, `500ms`, `2m`, `1h`, or Effect's own form (`15 seconds`).
 *
 * @example
 * ```ts
 * import { Run } from "kubefx"
 *
 * Run.parseDuration("1500ms") // Option.some(Duration.millis(1500))
 * ```
 *
 * @since 0.1.0
 * @category settings
 */
export const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  const short = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim())
  if (short !== null) {
    const n = Number(short[1])
    const unit = { ms: "millis", s: "seconds", m: "minutes", h: "hours" }[short[2] as "ms"]
    return Option.some(Duration.fromInputUnsafe(`${n} ${unit}` as Duration.Input))
  }
  return Duration.fromInput(text as Duration.Input)
}

/** A duration flag, or the line saying it is not one. */
const durationFlag = (
  name: string,
  value: Option.Option<string>
): Effect.Effect<Option.Option<Duration.Duration>, Failure> =>
  Option.match(value, {
    onNone: () => Effect.succeed(Option.none()),
    onSome: (text) =>
      Option.match(parseDuration(text), {
        onNone: () =>
          Effect.fail(
            new Failure({
              message: `--${name} ${text} is not a duration; write it as 15s, 500ms or 2m`
            })
          ),
        onSome: (d) => Effect.succeed(Option.some(d))
      })
  })

/**
 * The settings of several replicas from the flags: `leaderElection` with `--leader-elect`,
 * `sharding` with `--sharded` (nothing without either), or the line that says why the flags
 * do not fit together.
 *
 * @example
 * ```ts
 * import { Run } from "kubefx"
 *
 * declare const input: Run.Input
 * const replicas = Run.replication({ ...input, leaderElect: true })
 * ```
 *
 * @since 0.1.0
 * @category settings
 */
export const replication = (
  input: Input
): Effect.Effect<
  { readonly leaderElection?: LeaderElection.Input; readonly sharding?: Sharding.Input },
  Failure
> =>
  Effect.gen(function* () {
    const given = (
      [
        ["lease-name", input.leaseName],
        ["lease-namespace", input.leaseNamespace],
        ["identity", input.identity],
        ["lease-duration", input.leaseDuration],
        ["renew-deadline", input.renewDeadline],
        ["retry-period", input.retryPeriod],
        ["shard-key", input.shardKey],
        ["shard-filter", input.shardFilter]
      ] as const
    ).filter(([, v]) => Option.isSome(v))
    if (input.leaderElect && input.sharded)
      return yield* new Failure({
        message:
          "--leader-elect excludes --sharded: with one, a single replica handles everything; with the other, each handles a share; give one"
      })
    if (!input.leaderElect && !input.sharded) {
      if (given.length === 0) return {}
      return yield* new Failure({
        message: `--${given[0]![0]} needs --leader-elect or --sharded; add one, or drop --${given[0]![0]}`
      })
    }
    const shardOnly = given.find(([name]) => name.startsWith("shard-"))
    if (input.leaderElect && shardOnly !== undefined)
      return yield* new Failure({
        message: `--${shardOnly[0]} needs --sharded; drop it, or run --sharded instead of --leader-elect`
      })
    const leaseDuration = yield* durationFlag("lease-duration", input.leaseDuration)
    const renewDeadline = yield* durationFlag("renew-deadline", input.renewDeadline)
    const retryPeriod = yield* durationFlag("retry-period", input.retryPeriod)
    const some = <K extends string, A>(key: K, value: Option.Option<A>) =>
      Option.match(value, { onNone: () => ({}), onSome: (v) => ({ [key]: v }) as Record<K, A> })
    const common = {
      ...some("namespace", input.leaseNamespace),
      ...some("identity", input.identity),
      ...some("leaseDuration", leaseDuration),
      ...some("renewDeadline", renewDeadline),
      ...some("retryPeriod", retryPeriod)
    }
    return input.leaderElect
      ? { leaderElection: { ...common, ...some("leaseName", input.leaseName) } }
      : {
          sharding: {
            ...common,
            ...some("group", input.leaseName),
            ...some("key", input.shardKey),
            ...some(
              "serverSide",
              Option.map(input.shardFilter, (f) => f === "server")
            )
          }
        }
  })

/**
 * The operator's settings from the flags.
 *
 * @example
 * ```ts
 * import { Option } from "effect"
 * import { Run } from "kubefx"
 *
 * declare const input: Run.Input
 * const settings = Run.settings({ ...input, namespace: ["team-*", "!team-secret"] })
 * ```
 *
 * @since 0.1.0
 * @category settings
 */
export const settings = (input: Input): Settings.Input => ({
  ...(input.namespace.length === 0 ? {} : { namespaces: input.namespace }),
  ...Option.match(input.concurrency, {
    onNone: () => ({}),
    onSome: (concurrency) => ({ concurrency })
  }),
  ...Option.match(input.postEvents, {
    onNone: () => ({}),
    onSome: (postEvents) => ({ postEvents })
  }),
  ...Option.match(input.fieldManager, {
    onNone: () => ({}),
    onSome: (fieldManager) => ({ fieldManager })
  }),
  ...Option.match(input.reportingComponent, {
    onNone: () => ({}),
    onSome: (reportingComponent) => ({ reportingComponent })
  }),
  ...Option.match(input.healthPort, {
    onNone: () => ({}),
    onSome: (port) => ({
      health: Option.match(input.healthHost, {
        onNone: () => ({ port }),
        onSome: (host) => ({ port, host })
      })
    })
  })
})

/**
 * The webhook settings of the `--webhook-*` flags: none without `--webhook-port`; a
 * {@link Failure} saying what to fix when they disagree (certificates from a folder and
 * generated, neither, a URL and a Service, a malformed Service).
 *
 * @example
 * ```ts
 * import { Run } from "kubefx"
 *
 * declare const input: Run.Input
 * const webhooks = Run.webhookSettings(input)
 * ```
 *
 * @since 0.1.0
 * @category settings
 */
export const webhookSettings = (
  input: Input
): Effect.Effect<Settings.WebhookSettings | undefined, Failure> =>
  Effect.gen(function* () {
    if (Option.isNone(input.webhookPort)) {
      const stray = [
        Option.isSome(input.webhookCertDir) ? "--webhook-cert-dir" : undefined,
        input.webhookGenerateCert.length > 0 ? "--webhook-generate-cert" : undefined,
        Option.isSome(input.webhookManaged) ? "--webhook-managed" : undefined
      ].filter((f) => f !== undefined)
      if (stray.length === 0) return undefined
      return yield* new Failure({ message: `${stray.join(", ")} need --webhook-port` })
    }
    const certificates = yield* certificatesOf(input)
    const client = yield* clientOf(input)
    return {
      port: input.webhookPort.value,
      certificates,
      removeOnStop: input.webhookRemoveOnStop,
      ...Option.match(input.webhookHost, { onNone: () => ({}), onSome: (host) => ({ host }) }),
      ...Option.match(input.webhookManaged, {
        onNone: () => ({}),
        onSome: (managed) => ({ managed })
      }),
      ...(client === undefined ? {} : { client })
    }
  })

const certificatesOf = (input: Input): Effect.Effect<Certificates.Source, Failure> => {
  const generated = input.webhookGenerateCert
  if (Option.isSome(input.webhookCertDir) && generated.length > 0)
    return Effect.fail(
      new Failure({
        message: "--webhook-cert-dir excludes --webhook-generate-cert; give one or the other"
      })
    )
  if (Option.isSome(input.webhookCertDir))
    return Effect.succeed(Certificates.directory(input.webhookCertDir.value))
  if (generated.length > 0) return Effect.succeed(Certificates.generated(generated))
  return Effect.fail(
    new Failure({
      message:
        "the webhook server needs certificates: --webhook-cert-dir DIR (tls.crt, tls.key, ca.crt; e.g. cert-manager's Secret) or --webhook-generate-cert HOST (development)"
    })
  )
}

/**
 * A Service reference `NAMESPACE/NAME[:PORT]` of a flag, as a webhook client, or a
 * {@link Failure} naming the flag.
 *
 * @example
 * ```ts
 * import { Run } from "kubefx"
 *
 * const client = Run.serviceClient("--webhook-service", "operators/widgets-webhook:443")
 * ```
 *
 * @since 0.1.0
 * @category settings
 */
export const serviceClient = (
  flag: string,
  value: string
): Effect.Effect<WebhookConfig.Client, Failure> => {
  const match = /^([a-z0-9-]+)\/([a-z0-9-]+)(?::(\d+))?$/.exec(value)
  if (match === null)
    return Effect.fail(
      new Failure({
        message: `${flag} ${JSON.stringify(value)} is not NAMESPACE/NAME[:PORT] (e.g. operators/widgets-webhook:443)`
      })
    )
  return Effect.succeed({
    _tag: "Service",
    namespace: match[1]!,
    name: match[2]!,
    ...(match[3] === undefined ? {} : { port: Number(match[3]) })
  })
}

const clientOf = (input: Input): Effect.Effect<WebhookConfig.Client | undefined, Failure> => {
  if (Option.isSome(input.webhookUrl) && Option.isSome(input.webhookService))
    return Effect.fail(
      new Failure({ message: "--webhook-url excludes --webhook-service; give one or the other" })
    )
  if (Option.isSome(input.webhookUrl))
    return Effect.succeed({ _tag: "Url", url: input.webhookUrl.value })
  if (Option.isNone(input.webhookService)) return Effect.succeed(undefined)
  return serviceClient("--webhook-service", input.webhookService.value)
}

/** `$KUBECONFIG`'s first file, else `~/.kube/config`: where `--context` alone looks. */
const defaultKubeconfig = (): string =>
  (process.env.KUBECONFIG ?? "").split(path.delimiter).find((f) => f !== "") ??
  path.join(os.homedir(), ".kube", "config")

/**
 * The Kube client the flags select, or the line that says why they contradict each other.
 *
 * @example
 * ```ts
 * import { Run } from "kubefx"
 *
 * declare const input: Run.Input
 * const kube = Run.kube(input)
 * ```
 *
 * @since 0.1.0
 * @category connection
 */
export const kube = (input: Input): Effect.Effect<Layer.Layer<Kube, unknown>, Failure> => {
  if (input.inCluster && (Option.isSome(input.kubeconfig) || Option.isSome(input.context)))
    return Effect.fail(
      new Failure({
        message: "--in-cluster excludes --kubeconfig and --context; give one or the other"
      })
    )
  if (input.inCluster) return Effect.succeed(Kube.layerInCluster())
  if (Option.isNone(input.kubeconfig) && Option.isNone(input.context))
    return Effect.succeed(Kube.layerDefault())
  const file = Option.getOrElse(input.kubeconfig, defaultKubeconfig)
  return Effect.succeed(
    Kube.layerFromFile(file, Option.isSome(input.context) ? { context: input.context.value } : {})
  )
}

/**
 * The registry's own login activities when it has some (then the connection flags would be
 * ignored, and are refused), else the client of the flags.
 */
const kubeFor = (
  input: Input,
  registry: Registry.Registry<never>,
  flagged: Layer.Layer<Kube, unknown>
): Effect.Effect<Layer.Layer<Kube, unknown>, Failure> => {
  const logins = registry.activities.filter((a) => a.kind === "login").map((a) => a.id)
  if (logins.length === 0) return Effect.succeed(flagged)
  if (input.inCluster || Option.isSome(input.kubeconfig) || Option.isSome(input.context))
    return Effect.fail(
      new Failure({
        message: `the module logs in itself (login activities: ${logins.join(", ")}); drop --kubeconfig, --context and --in-cluster`
      })
    )
  return Effect.succeed(Kube.layerFromLogin(registry))
}

/** An error's message on one line. */
const messageOf = (error: unknown): string =>
  (typeof error === "object" && error !== null && "message" in error
    ? String(error.message)
    : String(error)
  ).replace(/\s*\n\s*/g, " ")

/**
 * The one line for an error of `kubefx run`: no credentials (KubeConfigError), a resource the
 * API server does not serve (NotServed: the CRD is not installed), or another API error.
 *
 * @example
 * ```ts
 * import { Discovery } from "@kubefx/runtime"
 * import { Run } from "kubefx"
 *
 * Run.explain(new Discovery.NotServed({ selector: "widgets", message: "no resource matches widgets" }), "src/operator.ts").message
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const explain = (error: unknown, specifier: string): Failure => {
  const tag =
    typeof error === "object" && error !== null && "_tag" in error ? error._tag : undefined
  switch (tag) {
    case "Failure":
      return error as Failure
    case "KubeConfigError":
      return new Failure({
        message: `no credentials: ${messageOf(error)}; pass --kubeconfig PATH (and --context NAME), set $KUBECONFIG, or run in a pod with --in-cluster`
      })
    case "NotServed": {
      const what = messageOf(error).split("; if it is a custom resource")[0]
      return new Failure({
        message: `${what}; if its CRD is not installed, install it: kubefx generate crd ${specifier} | kubectl apply -f -`
      })
    }
    case "StartupFailed":
      return new Failure({ message: `${messageOf(error)}; the operator did not start` })
    case "WebhookServerError":
    case "CertificateError":
      return new Failure({ message: messageOf(error) })
    case "LeaseSettingsError":
      return new Failure({ message: messageOf(error).replace(/^kubefx: /, "") })
    default:
      return new Failure({
        message: `kubefx run failed: ${String(tag ?? "error")}: ${messageOf(error)}`
      })
  }
}

/** The module's own layer, on top of the client; its failure is told as the module's. */
const services = (loaded: Module.Loaded, client: Layer.Layer<Kube, unknown>) => {
  if (loaded.layer === undefined) return client
  const own = Layer.catchCause(loaded.layer, (cause) =>
    Layer.effectDiscard(
      Effect.fail(
        new Failure({
          message: `the layer exported by ${loaded.file} failed: ${messageOf(Cause.squash(cause))}`
        })
      )
    )
  )
  return Layer.provideMerge(own, client)
}

/**
 * Runs the module's registry until interrupted.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (input: Input): Effect.Effect<void, Failure> =>
  Effect.gen(function* () {
    if (input.allNamespaces && input.namespace.length > 0)
      return yield* new Failure({
        message: "--all-namespaces excludes --namespace; give one or the other"
      })
    const flagged = yield* kube(input)
    const replicas = yield* replication(input)
    const loaded = yield* Module.load(input.module)
    const where =
      input.namespace.length === 0 ? "every namespace" : `namespaces ${input.namespace.join(", ")}`
    // The module's services are not known statically; its `layer` is expected to provide them.
    const registry = loaded.registry as Registry.Registry<never>
    const client = yield* kubeFor(input, registry, flagged)
    const webhooks = yield* webhookSettings(input)
    const admission =
      registry.webhooks.length === 0 ? "" : ` and ${registry.webhooks.length} admission handlers`
    return yield* Effect.logInfo(
      `kubefx: running ${registry.handlers.length} handlers${admission} of ${loaded.file} in ${where}`
    ).pipe(
      Effect.andThen(
        Operator.run(registry, {
          ...settings(input),
          ...replicas,
          ...(webhooks === undefined ? {} : { webhooks })
        })
      ),
      Effect.provide(services(loaded, client) as Layer.Layer<Kube, unknown>)
    )
  }).pipe(
    Effect.catch((error) => Effect.fail(explain(error, input.module))),
    Effect.provide(
      Logging.layer({
        quiet: input.quiet,
        verbose: input.verbose,
        debug: input.debug,
        format: input.logFormat
      })
    )
  )

/**
 * The `run` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("run", flags, run).pipe(
  Command.withDescription(
    "Run an operator: load the module's registry (and its `layer` export, which provides the services the handlers need) and serve it until Ctrl-C or SIGTERM"
  ),
  Command.withExamples([
    { command: "kubefx run src/operator.ts", description: "Serve every namespace" },
    {
      command: "kubefx run src/operator.ts -n 'team-*' -n '!team-secret' --log-format json",
      description: "Serve matching namespaces, logging JSON"
    },
    {
      command: "kubefx run src/operator.ts --leader-elect --lease-namespace operators",
      description: "One of several replicas: the one holding the Lease handles, the others stand by"
    },
    {
      command: "kubefx run src/operator.ts --sharded --lease-namespace operators",
      description: "One of several replicas, each handling a share of the objects"
    }
  ])
)
