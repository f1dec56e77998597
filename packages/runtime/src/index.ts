/**
 * `@kubefx/runtime`: carries kubefx decisions out against a real Kubernetes API server.
 *
 * - {@link Kube}: the client service (discovery, list, watch, CRUD, patches, status, events),
 *   with typed errors ({@link KubeError}) and retries of transient failures.
 * - {@link Discovery}: which served resource a handler's selector means, waiting for an API
 *   server that is down or restarting.
 * - {@link Watcher}: list-then-watch streams with bookmarks, relist on 410 and reconnection,
 *   over the cluster, named namespaces, or those a {@link NamespaceSelector} (globs,
 *   exclusions) matches.
 * - {@link WorkQueue}: one worker per object, latest state wins, bounded concurrency, requeues.
 * - {@link Processor}: one object's step: the core's decision carried out (patches, events,
 *   conflicts, stale copies).
 * - {@link Operator}: `run` / `start` an operator for a registry, with graceful shutdown;
 *   {@link Settings} with documented defaults.
 * - {@link Health}, {@link HealthServer} and {@link Metrics}: the probes, `/healthz`, `/readyz`
 *   and `/metrics` (controller-runtime's metric names); {@link Tracing}: the spans' export
 *   over OTLP/HTTP when the `OTEL_*` variables ask for it.
 * - {@link LeaderElection}: several replicas, one of which handles objects (a Lease, with
 *   client-go's semantics); {@link Sharding}: several replicas that each handle a share.
 * - {@link Rbac} and {@link Deployment}: the manifests that let it run in a cluster, computed
 *   from the registry.
 *
 * @since 0.1.0
 */

/**
 * The registry's activities while an operator runs: startup, cleanup, probes.
 *
 * @since 0.1.0
 */
export * as Activities from "./Activities.ts"
/**
 * @since 0.1.0
 */
export * as ApiPatch from "./ApiPatch.ts"
/**
 * The webhook server's TLS material: PEM files (cert-manager's Secret) or generated at start.
 *
 * @since 0.1.0
 */
export * as Certificates from "./Certificates.ts"
/**
 * @since 0.1.0
 */
export * as Config from "./Config.ts"
/**
 * @since 0.1.0
 */
export { KubeConfigError, type KubeOptions } from "./Config.ts"
/**
 * @since 0.1.0
 */
export * as Deployment from "./Deployment.ts"
/**
 * @since 0.1.0
 */
export * as Discovery from "./Discovery.ts"
/**
 * @since 0.1.0
 */
export * as Events from "./Events.ts"
/**
 * @since 0.1.0
 */
export * as Health from "./Health.ts"
/**
 * @since 0.1.0
 */
export * as HealthServer from "./HealthServer.ts"
/**
 * The indexes of a registry while an operator runs: stores fed by the watchers, provided to
 * the handlers.
 *
 * @since 0.1.0
 */
export * as Indexer from "./Indexer.ts"
/**
 * @since 0.1.0
 */
export {
  type DeleteOptions,
  Kube,
  type KubeService,
  type ListOptions,
  type ObjectList,
  type RawRequest,
  type RawWatchEvent,
  type WatchOptions,
  type WriteOptions
} from "./Kube.ts"
/**
 * @since 0.1.0
 */
export * as KubeError from "./KubeError.ts"
/**
 * @since 0.1.0
 */
export {
  AlreadyExists,
  BadRequest,
  Conflict,
  DecodeError,
  Expired,
  Forbidden,
  Invalid,
  NotFound,
  ServerError,
  TooManyRequests,
  TransportError,
  Unauthorized
} from "./KubeError.ts"
/**
 * Leader election on a Lease: one replica handles objects, the others stand by.
 *
 * @since 0.1.0
 */
export * as LeaderElection from "./LeaderElection.ts"
/**
 * @since 0.1.0
 */
export * as Logging from "./Logging.ts"
/**
 * @since 0.1.0
 */
export * as Manifests from "./Manifests.ts"
/**
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.ts"
/**
 * @since 0.1.0
 */
export * as NamespaceSelector from "./NamespaceSelector.ts"
/**
 * @since 0.1.0
 */
export * as Operator from "./Operator.ts"
/**
 * @since 0.1.0
 */
export * as Paging from "./Paging.ts"
/**
 * @since 0.1.0
 */
export * as Paths from "./Paths.ts"
/**
 * @since 0.1.0
 */
export * as Processor from "./Processor.ts"
/**
 * @since 0.1.0
 */
export * as Rbac from "./Rbac.ts"
/**
 * @since 0.1.0
 */
export * as RequestPolicy from "./RequestPolicy.ts"
/**
 * @since 0.1.0
 */
export * as Settings from "./Settings.ts"
/**
 * Sharding: several replicas that each handle a share of the objects, never one object twice.
 *
 * @since 0.1.0
 */
export * as Sharding from "./Sharding.ts"
/**
 * @since 0.1.0
 */
export * as StatusWriter from "./StatusWriter.ts"
/**
 * @since 0.1.0
 */
export * as StreamBackoff from "./StreamBackoff.ts"
/**
 * @since 0.1.0
 */
export * as Tracing from "./Tracing.ts"
/**
 * @since 0.1.0
 */
export * as Watcher from "./Watcher.ts"
/**
 * @since 0.1.0
 */
export * as WatchState from "./WatchState.ts"
/**
 * The managed Validating- and MutatingWebhookConfigurations of a registry's admission handlers.
 *
 * @since 0.1.0
 */
export * as WebhookConfig from "./WebhookConfig.ts"
/**
 * The HTTPS server of the admission (and conversion) webhooks.
 *
 * @since 0.1.0
 */
export * as WebhookServer from "./WebhookServer.ts"
/**
 * The operator's webhooks while it runs: the server and its managed configurations.
 *
 * @since 0.1.0
 */
export * as Webhooks from "./Webhooks.ts"
/**
 * @since 0.1.0
 */
export * as WorkQueue from "./WorkQueue.ts"
