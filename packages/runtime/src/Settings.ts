/**
 * The operator's settings, every one with a documented default. Build them with {@link make}
 * from a partial {@link Input}; `Operator.run` does it for you.
 *
 * | setting              | default                                   | meaning                                                                                           |
 * | -------------------- | ----------------------------------------- | ------------------------------------------------------------------------------------------------- |
 * | `scope`              | the whole cluster                         | where to watch; `namespaces: [...]` is a shortcut for `Watcher.namespaces([...])`                  |
 * | `namespaces`         | none (the `scope`)                        | names, globs (`team-*`, `ns-?`, `ns-[ab]`) and exclusions (`!team-secret`); see below              |
 * | `concurrency`        | 64                                        | how many objects are processed at the same time (one at a time per object, always)                |
 * | `batchWindow`        | 100 ms                                    | an idle object's first event goes at once; after a run, a burst settles this long (newest wins)   |
 * | `storage`            | per resource, see {@link storageFor}      | where progress, the last-handled essence and the finalizer live                                   |
 * | `finalizer`          | the storage's (`kubefx.dev/finalizer`)    | overrides `storage.finalizer`                                                                     |
 * | `shutdownTimeout`    | 10 s                                      | on shutdown, how long running handlers may take to finish before they are interrupted             |
 * | `reportingComponent` | `kubefx`                                  | the `reportingComponent` / `source.component` of posted Events                                    |
 * | `reportingInstance`  | the component                             | the `reportingInstance` of posted Events (e.g. the pod name)                                      |
 * | `fieldManager`       | `kubefx`                                  | the field manager of the operator's patches                                                       |
 * | `postEvents`         | `"warnings"`                              | which of the decisions' Events to post: `"all"`, `"warnings"` (retries, failures) or `"none"`     |
 * | `conflictRetries`    | 3                                         | on 409 Conflict, how many times to re-read the object and run the step again, then back off        |
 * | `errorBackoff`       | 1 s doubling, at most 60 s, jittered      | delay before processing an object again after its patch failed (other than 404/409)               |
 * | `ownWriteTimeout`    | 10 s                                      | after a patch, how long to skip stale copies waiting for the watch to bring it; then one GET decides |
 * | `watcher`            | the `Watcher`'s defaults                  | selectors, page size, timeouts, backoff; `keepManagedFields` (dropped by default)                 |
 * | `logFormat`          | the context's logger                      | `"plain"` (`[namespace/name]` lines for a terminal) or `"json"` (one object a line); see `Logging` |
 * | `health`             | off                                       | `{ port, host? }`: serve `/healthz`, `/readyz`, `/metrics` there (`HealthServer`; port 0: any)    |
 * | `webhooks`           | off                                       | the webhook server of the registry's admission handlers and its configurations (see {@link WebhookSettings}) |
 * | `leaderElection`     | off                                       | `true` or `{ leaseName, namespace, identity, leaseDuration, renewDeadline, retryPeriod }`: one replica handles, the others stand by (`LeaderElection`) |
 * | `sharding`           | off                                       | `true` or `{ group, namespace, identity, key, serverSide, leaseDuration, renewDeadline, retryPeriod }`: each replica handles a share (`Sharding`) |
 *
 * `namespaces` reads its entries as Kopf's `--namespace` does (`NamespaceSelector`): a namespace
 * is served when no `!` exclusion matches it and some inclusion does (with exclusions only:
 * every namespace not excluded). RBAC: plain names only (`["team-a", "team-b"]`) need the
 * resources' rights in those namespaces and nothing cluster-wide; with a glob or exclusions
 * only, the operator also needs `list` and `watch` on `namespaces` (cluster-scoped), and the
 * resources' rights in each matching namespace (a RoleBinding there suffices). Namespaces
 * created later are picked up as they appear; deleted ones are dropped.
 *
 * @since 0.1.0
 */
import { Storage } from "@kubefx/core"
import { Duration, Schedule } from "effect"
import type * as HealthServer from "./HealthServer.ts"
import * as LeaderElection from "./LeaderElection.ts"
import type * as Logging from "./Logging.ts"
import * as Sharding from "./Sharding.ts"
import * as Watcher from "./Watcher.ts"
import type * as WebhookConfig from "./WebhookConfig.ts"
import type * as WebhookServer from "./WebhookServer.ts"

/**
 * Complete settings (see the module's table for defaults).
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly scope: Watcher.WatchScope
  readonly concurrency: number
  readonly batchWindow: Duration.Duration
  /** The storage the user chose; `undefined` means the default of each resource ({@link storageFor}). */
  readonly storage: Storage.Storage | undefined
  /** The finalizer's name when the user overrides the storage's. */
  readonly finalizer: string | undefined
  readonly shutdownTimeout: Duration.Duration
  readonly reportingComponent: string
  readonly reportingInstance: string
  readonly fieldManager: string
  readonly postEvents: PostEvents
  readonly conflictRetries: number
  readonly errorBackoff: Schedule.Schedule<unknown, number>
  readonly ownWriteTimeout: Duration.Duration
  readonly watcher: Omit<Watcher.WatcherOptions, "scope">
  /** The operator's log format; `undefined`: the logger of the context. */
  readonly logFormat: Logging.Format | undefined
  /** Where the health server listens; `undefined`: no server. */
  readonly health: HealthServer.HealthOptions | undefined
  /** The webhook server and its configurations; `undefined`: no server. */
  readonly webhooks: WebhookSettings | undefined
  /** Leader election, when on (`undefined`: this replica handles everything at once). */
  readonly leaderElection: LeaderElection.Options | undefined
  /** Sharding, when on (`undefined`: this replica handles everything at once). */
  readonly sharding: Sharding.Options | undefined
}

/**
 * The webhook server (`WebhookServer.Options`: port, host, certificates, body limit) and, with
 * `managed`, the webhook configurations the operator keeps current (`WebhookConfig`):
 *
 * - `managed`: the configurations' name (with a dot: `widgets.example.com`); the operator
 *   applies them once its server listens, and again when its certificates change. Without it,
 *   the user installs them (`kubefx generate webhooks`).
 * - `client`: how the API server reaches the server: a URL or a Service (default: the server's
 *   own URL, right when the API server runs on the same machine, as in development);
 * - `removeOnStop`: delete the configurations when the operator stops gracefully (default
 *   `false`: webhooks with `failurePolicy: Fail` keep refusing writes while the operator is away,
 *   which is what `Fail` asks for; `Ignore` ones admit).
 *
 * @example
 * ```ts
 * import { Certificates, type Settings } from "@kubefx/runtime"
 *
 * const webhooks: Settings.WebhookSettings = {
 *   port: 9443,
 *   certificates: Certificates.directory("/etc/webhook/tls"),
 *   managed: "widgets.example.com",
 *   client: { _tag: "Service", namespace: "operators", name: "widgets-webhook" }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookSettings extends WebhookServer.Options {
  readonly managed?: string | undefined
  readonly client?: WebhookConfig.Client | undefined
  readonly removeOnStop?: boolean | undefined
}

/**
 * Which Events are posted: `"all"` (also `Normal` ones: a handler succeeded, an object was
 * processed: two more API calls per handled change), `"warnings"` (retries and failures, which
 * someone must see; the default) or `"none"`. Logs say everything either way.
 *
 * @since 0.1.0
 * @category models
 */
export type PostEvents = "all" | "warnings" | "none"

/**
 * Settings as given by users: every field is optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  /** Where to watch (default: the cluster). Ignored when `namespaces` is given. */
  readonly scope?: Watcher.WatchScope | undefined
  /** Watch only these namespaces: names (one list+watch each; no cluster-wide rights needed),
   * globs like `team-*` and exclusions like `!team-secret` (then `namespaces` are watched too,
   * cluster-wide); see `Watcher.namespaces`. */
  readonly namespaces?: ReadonlyArray<string> | undefined
  readonly concurrency?: number | undefined
  readonly batchWindow?: Duration.Input | undefined
  readonly storage?: Storage.Storage | undefined
  readonly finalizer?: string | undefined
  readonly shutdownTimeout?: Duration.Input | undefined
  readonly reportingComponent?: string | undefined
  readonly reportingInstance?: string | undefined
  readonly fieldManager?: string | undefined
  readonly postEvents?: PostEvents | undefined
  readonly conflictRetries?: number | undefined
  readonly errorBackoff?: Schedule.Schedule<unknown, number> | undefined
  readonly ownWriteTimeout?: Duration.Input | undefined
  readonly watcher?: Omit<Watcher.WatcherOptions, "scope"> | undefined
  /** Log as `"plain"` or `"json"` (`Logging.layer`); default: the logger of the context. */
  readonly logFormat?: Logging.Format | undefined
  /** Serve `/healthz`, `/readyz` and `/metrics` on this port (0: any free one; the handle of
   * `Operator.start` tells the URL) and host (default `0.0.0.0`). Off by default. */
  readonly health?: HealthServer.HealthOptions | undefined
  /** Serve the registry's admission handlers over HTTPS (see {@link WebhookSettings}). Off by
   * default; an operator whose registry has admission handlers needs it. */
  readonly webhooks?: WebhookSettings | undefined
  /** Run several replicas of which one handles objects (see `LeaderElection`): `true` for the
   * defaults, or the settings to change. Off by default. */
  readonly leaderElection?: LeaderElection.Input | boolean | undefined
  /** Run several replicas that each handle a share of the objects (see `Sharding`): `true`
   * for the defaults, or the settings to change. Off by default; excludes `leaderElection`. */
  readonly sharding?: Sharding.Input | boolean | undefined
}

/**
 * The default delay schedule after a failed patch: 1 s doubling, at most 60 s, jittered.
 *
 * @example
 * ```ts
 * import { Settings } from "@kubefx/runtime"
 *
 * const schedule = Settings.defaultErrorBackoff
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultErrorBackoff: Schedule.Schedule<unknown, number> = Schedule.min([
  Schedule.exponential("1 second"),
  Schedule.spaced("60 seconds")
]).pipe(Schedule.jittered)

/**
 * Fills in the defaults.
 *
 * @example
 * ```ts
 * import { Settings } from "@kubefx/runtime"
 *
 * const settings = Settings.make({ namespaces: ["team-a"], concurrency: 4 })
 * settings.shutdownTimeout // 10 seconds
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Input = {}): Settings => {
  const reportingComponent = input.reportingComponent ?? "kubefx"
  return {
    scope:
      input.namespaces !== undefined
        ? Watcher.namespaces(input.namespaces)
        : (input.scope ?? Watcher.cluster),
    concurrency: Math.max(1, input.concurrency ?? 64),
    batchWindow: Duration.fromInputUnsafe(input.batchWindow ?? "100 millis"),
    storage: input.storage,
    finalizer: input.finalizer,
    shutdownTimeout: Duration.fromInputUnsafe(input.shutdownTimeout ?? "10 seconds"),
    reportingComponent,
    reportingInstance: input.reportingInstance ?? reportingComponent,
    fieldManager: input.fieldManager ?? "kubefx",
    postEvents: input.postEvents ?? "warnings",
    conflictRetries: Math.max(0, input.conflictRetries ?? 3),
    errorBackoff: input.errorBackoff ?? defaultErrorBackoff,
    ownWriteTimeout: Duration.fromInputUnsafe(input.ownWriteTimeout ?? "10 seconds"),
    watcher: input.watcher ?? {},
    health: input.health,
    webhooks: input.webhooks,
    logFormat: input.logFormat,
    leaderElection:
      input.leaderElection === undefined || input.leaderElection === false
        ? undefined
        : LeaderElection.resolve(
            input.leaderElection === true ? {} : input.leaderElection,
            reportingComponent
          ),
    sharding:
      input.sharding === undefined || input.sharding === false
        ? undefined
        : Sharding.resolve(input.sharding === true ? {} : input.sharding, reportingComponent)
  }
}

/**
 * Kubernetes' own API groups (`""`, `apps`, `batch`, ..., and every `*.k8s.io`): their objects
 * keep no status fields they do not know, unlike custom resources whose status schema preserves
 * unknown fields.
 *
 * @example
 * ```ts
 * import { Settings } from "@kubefx/runtime"
 *
 * Settings.isBuiltInGroup("apps") // true
 * Settings.isBuiltInGroup("kopf.dev") // false
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const isBuiltInGroup = (group: string): boolean =>
  group === "" || group.endsWith(".k8s.io") || builtInGroups.has(group)

const builtInGroups = new Set(["apps", "batch", "autoscaling", "policy", "extensions"])

/**
 * Where kubefx keeps its state on objects of `resource`: the user's `storage` when given; else
 * `Storage.defaults` (progress and the last-handled record in `status.kubefx`: one write of the
 * status subresource a handled change) for custom resources, and annotations
 * (`kubefx.dev/<handler>`, `kubefx.dev/last-handled`) for built-in ones, whose status would
 * drop them (retry counts lost, every change handled again). Either way `finalizer` overrides
 * the finalizer's name.
 *
 * @example
 * ```ts
 * import { Builtins } from "@kubefx/core"
 * import { Settings } from "@kubefx/runtime"
 *
 * const settings = Settings.make()
 * Settings.storageFor(settings, Builtins.configMaps).progress
 * // { _tag: "Annotations", prefix: "kubefx.dev" }
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const storageFor = (
  settings: Pick<Settings, "storage" | "finalizer">,
  resource: { readonly group: string }
): Storage.Storage => {
  const storage =
    settings.storage ?? (isBuiltInGroup(resource.group) ? builtInStorage : Storage.defaults)
  return settings.finalizer === undefined ? storage : { ...storage, finalizer: settings.finalizer }
}

const builtInStorage = Storage.make({
  progress: Storage.annotations({ prefix: "kubefx.dev" }),
  lastHandled: Storage.annotations({ prefix: "kubefx.dev" })
})
