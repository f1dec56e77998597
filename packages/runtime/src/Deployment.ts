/**
 * The manifests that run an operator in a cluster: its ServiceAccount (what {@link Rbac} binds
 * the roles to) and a Deployment of its image.
 *
 * One replica with the `Recreate` strategy by default: two replicas would handle each object
 * twice, and so would an old pod still running beside a new one. With `leaderElection` (one
 * replica handles, the others stand by) or `sharding` (each handles its share), `replicas` may
 * be more than one and the strategy is `RollingUpdate` (a new pod starts beside the old one,
 * which hands over as it stops); the operator must then run with the same setting
 * (`Settings.leaderElection`, `Settings.sharding`; `kubefx run --leader-elect`, `--sharded`).
 * More than one replica without either is refused ({@link TooManyReplicas}). The pod
 * runs as the ServiceAccount (in-cluster credentials), as a non-root user (uid 1000, the `node`
 * user of Node's images) with a read-only root filesystem, no privilege escalation, no
 * capabilities, the runtime's default seccomp profile and a writable `/tmp`. With a
 * `healthPort`, the container exposes it and kubelet probes `/healthz` (liveness) and `/readyz`
 * (readiness) there.
 *
 * @since 0.1.0
 */
import { type KubeObject, Registry, Selector } from "@kubefx/core"
import { Data } from "effect"

/**
 * Compute resources of the container, as Kubernetes quantities.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resources {
  readonly requests?: Readonly<Record<string, string>> | undefined
  readonly limits?: Readonly<Record<string, string>> | undefined
}

/**
 * What {@link manifests} is told.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The name of the ServiceAccount, the Deployment and its pods' `app.kubernetes.io/name`. */
  readonly name: string
  readonly image: string
  readonly namespace: string
  /** Default 1; more only with `leaderElection` or `sharding`. */
  readonly replicas?: number | undefined
  /** The operator runs with leader election (`Settings.leaderElection`). */
  readonly leaderElection?: boolean | undefined
  /** The operator runs sharded (`Settings.sharding`). */
  readonly sharding?: boolean | undefined
  /** The container's arguments (default: the image's command). */
  readonly args?: ReadonlyArray<string> | undefined
  /** Environment variables of the container, in this order. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Default {@link defaultResources}. */
  readonly resources?: Resources | undefined
  /** The port of the operator's health server (`/healthz`, `/readyz`): exposed and probed. */
  readonly healthPort?: number | undefined
  /**
   * The webhook server: its port is exposed, a Service `<name>-webhook` (port 443) leads to it,
   * and the Secret `secret` (a `kubernetes.io/tls` Secret, e.g. cert-manager's) is mounted at
   * {@link webhookCertDir}; run the operator with `--webhook-port <port> --webhook-cert-dir
   * /etc/kubefx/webhook` (in `args`).
   */
  readonly webhook?: { readonly port: number; readonly secret: string } | undefined
}

/**
 * Where the Deployment mounts the webhook server's certificate Secret.
 *
 * @example
 * ```ts
 * import { Deployment } from "@kubefx/runtime"
 *
 * Deployment.webhookCertDir // "/etc/kubefx/webhook"
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const webhookCertDir = "/etc/kubefx/webhook"

/**
 * More than one replica of an operator that runs neither leader election nor sharding: each
 * would handle every object.
 *
 * @example
 * ```ts
 * import { Deployment } from "@kubefx/runtime"
 *
 * const e = new Deployment.TooManyReplicas({ message: "..." })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyReplicas extends Data.TaggedError("TooManyReplicas")<{
  readonly message: string
}> {}

/**
 * The container's resources unless told otherwise: 50m CPU and 96Mi memory requested, 256Mi
 * memory at most.
 *
 * @example
 * ```ts
 * import { Deployment } from "@kubefx/runtime"
 *
 * Deployment.defaultResources.limits // { memory: "256Mi" }
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultResources: Resources = {
  requests: { cpu: "50m", memory: "96Mi" },
  limits: { memory: "256Mi" }
}

/** The uid and gid of the `node` user in Node's images. */
const nodeUser = 1000

const probes = (port: number | undefined) =>
  port === undefined
    ? {}
    : {
        ports: [{ name: "health", containerPort: port, protocol: "TCP" }],
        livenessProbe: { httpGet: { path: "/healthz", port: "health" }, periodSeconds: 10 },
        readinessProbe: { httpGet: { path: "/readyz", port: "health" }, periodSeconds: 5 }
      }

const container = (options: Options) => {
  const health = probes(options.healthPort)
  const webhookPort =
    options.webhook === undefined
      ? []
      : [{ name: "webhook", containerPort: options.webhook.port, protocol: "TCP" }]
  const ports = [...(health.ports ?? []), ...webhookPort]
  return {
    name: "operator",
    image: options.image,
    ...(options.args === undefined ? {} : { args: [...options.args] }),
    ...(options.env === undefined
      ? {}
      : { env: Object.entries(options.env).map(([name, value]) => ({ name, value })) }),
    ...health,
    ...(ports.length === 0 ? {} : { ports }),
    resources: options.resources ?? defaultResources,
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] }
    },
    volumeMounts: [
      { name: "tmp", mountPath: "/tmp" },
      ...(options.webhook === undefined
        ? []
        : [{ name: "webhook-tls", mountPath: webhookCertDir, readOnly: true }])
    ]
  }
}

/** What the operator serves, for people reading the Deployment (`plural.group, ...`). */
const serves = (registry: Registry.Registry<unknown>): string =>
  Registry.selectors(registry)
    .map((s) =>
      s.plural === undefined
        ? Selector.format(s)
        : s.group === undefined || s.group === ""
          ? s.plural
          : `${s.plural}.${s.group}`
    )
    .join(", ")

/**
 * The ServiceAccount and the Deployment that run the operator of `registry` (see the module's
 * documentation); the Deployment's `kubefx.dev/serves` annotation names what it serves.
 * Throws {@link TooManyReplicas} for more than one replica without leader election or sharding.
 *
 * @example
 * ```ts
 * import { Handler, Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Deployment } from "@kubefx/runtime"
 *
 * const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
 * const [serviceAccount, deployment] = Deployment.manifests(registry, {
 *   name: "my-operator",
 *   image: "registry.example.com/my-operator:1.0.0",
 *   namespace: "operators",
 *   env: { LOG_LEVEL: "info" },
 *   healthPort: 8080
 * })
 * ```
 *
 * @since 0.1.0
 * @category generating
 */
export const manifests = (
  registry: Registry.Registry<unknown>,
  options: Options
): ReadonlyArray<KubeObject.KubeObject> => {
  const replicas = options.replicas ?? 1
  const several = options.leaderElection === true || options.sharding === true
  if (replicas > 1 && !several)
    throw new TooManyReplicas({
      message: `kubefx: ${replicas} replicas of ${options.name} would each handle every object; run it with leader election or sharding (kubefx run --leader-elect or --sharded; generate with the same flag), or keep one replica`
    })
  const labels = () => ({ "app.kubernetes.io/name": options.name })
  const serviceAccount = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: options.name, namespace: options.namespace, labels: labels() }
  }
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: options.name,
      namespace: options.namespace,
      labels: labels(),
      annotations: { "kubefx.dev/serves": serves(registry) }
    },
    spec: {
      replicas,
      strategy: several
        ? { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }
        : { type: "Recreate" },
      selector: { matchLabels: labels() },
      template: {
        metadata: { labels: labels() },
        spec: {
          serviceAccountName: options.name,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: nodeUser,
            runAsGroup: nodeUser,
            seccompProfile: { type: "RuntimeDefault" }
          },
          containers: [container(options)],
          volumes: [
            { name: "tmp", emptyDir: {} },
            ...(options.webhook === undefined
              ? []
              : [{ name: "webhook-tls", secret: { secretName: options.webhook.secret } }])
          ]
        }
      }
    }
  }
  if (options.webhook === undefined) return [serviceAccount, deployment]
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `${options.name}-webhook`, namespace: options.namespace, labels: labels() },
    spec: {
      selector: labels(),
      ports: [{ name: "webhook", port: 443, targetPort: "webhook", protocol: "TCP" }]
    }
  }
  return [serviceAccount, deployment, service]
}
