/**
 * The harness of the replicas suite: one control plane (audit log with the request bodies of
 * EVCs, their status and PVCs), the EVC CRD, StorageClass and ClusterRole, a fault proxy, and
 * a {@link Group} of operator processes (the fault suite's `operator.ts`), each with a user of
 * its own, so that the audit log says which replica wrote what.
 */
import { Audit, ControlPlane, FaultProxy, Kubeconfig, Ports } from "@kubefx/controlplane"
import { Builtins, type KubeObject, Lease, Shard } from "@kubefx/core"
import { Kube, type KubeService, Manifests, type Settings } from "@kubefx/runtime"
import { Context, type Duration, Effect, Layer, Schedule, type Scope } from "effect"
import * as Deploy from "../../src/Deploy.ts"
import * as Checks from "../faults/checks.ts"
import { evcs } from "../faults/checks.ts"
import { claim, print } from "../faults/harness.ts"
import * as OperatorProcess from "../faults/OperatorProcess.ts"

/** What the tests share. */
export class Suite extends Context.Service<
  Suite,
  {
    readonly cluster: ControlPlane.Info
    readonly admin: KubeService
    readonly proxy: FaultProxy.FaultProxy
  }
>()("test/replicas/Suite") {}

const auditRequestBodies: ReadonlyArray<Audit.Bodies> = [
  { group: "kopf.dev", resources: ["ephemeralvolumeclaims", "ephemeralvolumeclaims/status"] },
  { group: "", resources: ["persistentvolumeclaims"] }
]

export const SuiteLive = Layer.effect(
  Suite,
  Effect.gen(function* () {
    const cluster = yield* ControlPlane.start({ auditRequestBodies })
    const admin = yield* Kube.make(yield* Kube.loadFile(cluster.kubeconfig))
    yield* Manifests.apply([
      ...Deploy.read("crd.yaml"),
      ...Deploy.read("storageclass.yaml"),
      ...Deploy.read("rbac.yaml").filter((o) => o.kind === "ClusterRole")
    ]).pipe(Effect.provideService(Kube, admin))
    yield* Manifests.awaitEstablished("ephemeralvolumeclaims.kopf.dev").pipe(
      Effect.provideService(Kube, admin)
    )
    const proxy = yield* FaultProxy.make({
      host: "127.0.0.1",
      port: Number(new URL(cluster.server).port)
    })
    return { cluster, admin, proxy }
  }).pipe(Effect.orDie)
)

/** The timing of the replicas: shorter than client-go's defaults, to keep the suite short. */
export const timing = { leaseDuration: 8, renewDeadline: 5, retryPeriod: 1 }
const durations = {
  leaseDuration: `${timing.leaseDuration} seconds` as Duration.Input,
  renewDeadline: `${timing.renewDeadline} seconds` as Duration.Input,
  retryPeriod: `${timing.retryPeriod} seconds` as Duration.Input
}

/** One replica: its process, user and health URL. */
export interface Replica {
  readonly identity: string
  readonly user: string
  readonly process: OperatorProcess.OperatorProcess
  readonly healthUrl: string
}

/** The user of a replica's identity. */
export const userOf = (identity: string) => `kubefx-replica-${identity}`

/** A namespace of its own, with the replicas' users bound to the EVC ClusterRole and to the
 * Leases of the namespace. */
const prepare = (admin: KubeService, title: string, identities: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const namespace = `r-${title}-${Date.now().toString(36)}`
    const subjects = identities.map((i) => ({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "User",
      name: userOf(i)
    }))
    yield* admin.create(Builtins.namespaces, {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespace }
    })
    const rbac = "rbac.authorization.k8s.io/v1"
    yield* Manifests.apply([
      {
        apiVersion: rbac,
        kind: "ClusterRoleBinding",
        metadata: { name: namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "kubefx-evc" },
        subjects
      },
      {
        apiVersion: rbac,
        kind: "Role",
        metadata: { name: "leases", namespace },
        rules: [
          {
            apiGroups: ["coordination.k8s.io"],
            resources: ["leases"],
            verbs: ["get", "list", "watch", "create", "update", "delete"]
          }
        ]
      },
      {
        apiVersion: rbac,
        kind: "RoleBinding",
        metadata: { name: "leases", namespace },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "leases" },
        subjects
      }
    ] as ReadonlyArray<KubeObject.KubeObject>).pipe(Effect.provideService(Kube, admin))
    return namespace
  }).pipe(Effect.orDie)

/** GET `url`'s status (0 without an answer). */
const status = (url: string) =>
  Effect.promise(() =>
    fetch(url)
      .then((r) => r.status)
      .catch(() => 0)
  )

/** The sum of a metric's series whose labels include `label`, from a replica's `/metrics`. */
export const metric = (replica: Replica, name: string, label: string) =>
  Effect.promise(() =>
    fetch(`${replica.healthUrl}/metrics`)
      .then((r) => r.text())
      .catch(() => "")
  ).pipe(
    Effect.map((text) =>
      text
        .split("\n")
        .filter((l) => l.startsWith(`${name}{`) && l.includes(label))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0)
    )
  )

/** A group of replicas in a namespace of its own, and what a test does with them. */
export interface Group {
  readonly namespace: string
  readonly replicas: Map<string, Replica>
  readonly auditFrom: number
  /** Starts a replica (`proxied`: through the fault proxy) and waits until it is ready. */
  readonly start: (
    identity: string,
    options?: { readonly proxied?: boolean }
  ) => Effect.Effect<Replica, string, Scope.Scope>
  /** Creates EVCs `<prefix>-<i>`; answers their uids by name. */
  readonly create: (prefix: string, count: number) => Effect.Effect<Map<string, string>>
  /** Waits until every EVC created so far converged; answers the milliseconds it took. */
  readonly converged: (within: number) => Effect.Effect<number, string>
  /** The EVCs created so far. */
  readonly names: () => ReadonlyArray<string>
  /** The audit log's verdict: every EVC's PVC created once and its result written once. */
  readonly exactlyOnce: Effect.Effect<ReadonlyArray<string>>
  /** Who wrote each EVC's result. */
  readonly writers: () => Map<string, Array<string>>
  /** Every replica's output, for a failure's message. */
  readonly logs: () => string
}

/**
 * A group of replicas running with `settings(identity)` (the sharding or leader-election part;
 * the namespace, health server and timing are added) and the environment variables `env`.
 */
export const group = (
  title: string,
  identities: ReadonlyArray<string>,
  settings: (identity: string, namespace: string) => Settings.Input,
  env: Readonly<Record<string, string>> = {}
): Effect.Effect<Group, never, Suite | Scope.Scope> =>
  Effect.gen(function* () {
    const { cluster, admin, proxy } = yield* Suite
    const namespace = yield* prepare(admin, title, identities)
    const auditFrom = Audit.offset(cluster.auditLog ?? "")
    const replicas = new Map<string, Replica>()
    const uids = new Map<string, string>()
    const users = new Set(identities.map(userOf))

    const start: Group["start"] = (identity, options = {}) =>
      Effect.gen(function* () {
        const direct = yield* Effect.orDie(cluster.userKubeconfig(userOf(identity)))
        const kubeconfig = options.proxied
          ? Kubeconfig.through(direct, `https://127.0.0.1:${proxy.port}`)
          : direct
        const port = yield* Effect.orDie(Ports.free)
        const process = yield* OperatorProcess.start(
          kubeconfig,
          {
            namespaces: [namespace],
            health: { port, host: "127.0.0.1" },
            ...settings(identity, namespace)
          },
          env
        )
        const replica = {
          identity,
          user: userOf(identity),
          process,
          healthUrl: `http://127.0.0.1:${port}`
        }
        replicas.set(identity, replica)
        const deadline = Date.now() + 60_000
        while ((yield* status(`${replica.healthUrl}/readyz`)) !== 200) {
          const ended = process.ended()
          if (ended !== undefined || Date.now() > deadline)
            return yield* Effect.fail(
              `replica ${identity} ${ended === undefined ? "not ready within 60 s" : `ended (${Checks.describeEnd(ended)})`}:\n${process.tail(30)}`
            )
          yield* Effect.sleep("200 millis")
        }
        return replica
      })

    const create: Group["create"] = (prefix, count) =>
      Effect.forEach(
        Array.from({ length: count }, (_, i) => `${prefix}-${i}`),
        (name) =>
          admin.create(evcs, claim(namespace, name)).pipe(
            Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 60 }),
            Effect.orDie,
            Effect.map((made) => [name, made.metadata?.uid ?? ""] as const)
          )
      ).pipe(
        Effect.map((made) => {
          for (const [name, uid] of made) uids.set(name, uid)
          return new Map(made)
        })
      )

    const converged: Group["converged"] = (within) => {
      const started = Date.now()
      return Checks.converge(admin, namespace, [...uids.keys()], within, () => undefined).pipe(
        Effect.map(() => Date.now() - started)
      )
    }

    const logs = () =>
      [...replicas.values()]
        .map(
          (r) =>
            `--- replica ${r.identity} (pid ${r.process.pid}), last lines:\n${r.process.tail(40)}`
        )
        .join("\n\n")

    return {
      namespace,
      replicas,
      auditFrom,
      start,
      create,
      converged,
      names: () => [...uids.keys()],
      exactlyOnce: Effect.sync(() =>
        Checks.audit(
          cluster.auditLog ?? "",
          namespace,
          users,
          [...uids.keys()],
          false,
          auditFrom
        ).map((f) => f.message)
      ),
      writers: () => Checks.resultWriters(cluster.auditLog ?? "", namespace, users, auditFrom),
      logs
    } satisfies Group
  })

/** Sharding settings of a replica: the group `evcs` in the test's namespace. */
export const sharded =
  (extra: Partial<Settings.Input> = {}) =>
  (identity: string, namespace: string): Settings.Input => ({
    sharding: { group: "evcs", namespace, identity, ...durations },
    ...extra
  })

/** Leader-election settings of a replica: the Lease `evcs` in the test's namespace. */
export const elected = (identity: string, namespace: string): Settings.Input => ({
  leaderElection: { leaseName: "evcs", namespace, identity, ...durations }
})

/** The holder of the leader-election Lease. */
export const leader = (namespace: string) =>
  Effect.flatMap(Suite, ({ admin }) =>
    admin.get(Builtins.leases, "evcs", { namespace }).pipe(
      Effect.map((l) => Lease.read(l).holder),
      Effect.orElseSucceed(() => undefined)
    )
  )

/** Each start and stop of an EVC's daemon, from the replicas' JSON logs, oldest first. */
export const daemonLog = (g: Group) =>
  [...g.replicas.values()]
    .flatMap((r) =>
      r.process.lines().flatMap((line) => {
        if (!line.startsWith("{")) return []
        const entry = JSON.parse(line) as { time?: string; message?: string; name?: string }
        const what =
          entry.message === "daemon watch started"
            ? "start"
            : entry.message === "daemon watch stopped"
              ? "stop"
              : undefined
        return what === undefined
          ? []
          : [{ at: Date.parse(entry.time ?? ""), what, evc: entry.name ?? "", replica: r.identity }]
      })
    )
    .sort((a, b) => a.at - b.at)

/** The replica the split of `members` gives each EVC to, by name. */
export const owners = (uids: ReadonlyMap<string, string>, members: ReadonlyArray<string>) => {
  const split = Shard.split(members)
  return new Map([...uids].map(([name, uid]) => [name, split[Shard.bucketOf(uid)] ?? ""]))
}

export { print }
