/**
 * The RBAC an operator needs, computed from its registry: the rules name exactly what the
 * runtime calls and what the handlers declare they call ({@link Registry.uses}).
 *
 * - **Served resources** (what the handlers select): `list` and `watch` (the watcher), `get`
 *   (the re-read after a 409 Conflict), `patch` (finalizers, kubefx's annotations, the
 *   handlers' own patches) and `patch` on `<plural>/status` (progress and results).
 * - **Events**: `create` on core `events` (the runtime posts core/v1 Events in the object's
 *   namespace, `default` for cluster-scoped objects), unless `postEvents` is `"none"`.
 * - **Indexed resources** (what the registry's indexes watch): `list` and `watch`.
 * - **Namespaces**: `list` and `watch` when the namespaces are given with globs or exclusions
 *   (the watcher follows the namespaces that match).
 * - **Declared uses**: the verbs of each `Registry.uses(resource, verbs)`.
 * - **Webhook configurations**, with `manageWebhooks`: `get`, `create`, `patch` and `delete` on
 *   the Validating- and MutatingWebhookConfigurations its admission handlers have (cluster-scoped:
 *   the server-side apply that keeps them, and their removal on stop); `patch` on CRDs when the
 *   registry converts versions (their `spec.conversion` points at the webhook server).
 * - **Leases** (`coordination.k8s.io`), in the namespace where they live: `get`, `create` and
 *   `update` with leader election; also `list`, `watch` and `delete` with sharding (members
 *   find each other, and remove the Leases of replicas that are gone).
 *
 * Discovery is not granted: every authenticated user may read it by default.
 *
 * Where: without namespaces, or with globs, one ClusterRole and its ClusterRoleBinding; with
 * plain namespace names (Kopf's `--namespace`), a Role and a RoleBinding in each namespace,
 * and a ClusterRole only for what is cluster-scoped. Rules come one per resource, ordered by
 * API group and resource, verbs in kubectl's order; namespaces in name order.
 *
 * @since 0.1.0
 */
import { Builtins, Index, type KubeObject, Registry, type Resource, Selector } from "@kubefx/core"
import { Data } from "effect"
import type * as Settings from "./Settings.ts"
import * as Watcher from "./Watcher.ts"

/**
 * One RBAC policy rule.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rule {
  readonly apiGroups: ReadonlyArray<string>
  readonly resources: ReadonlyArray<string>
  readonly verbs: ReadonlyArray<Registry.Verb>
}

/**
 * What {@link manifests} is told: the ServiceAccount the roles are bound to, and where the
 * operator watches (as `Settings.namespaces`; default: the whole cluster).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The ServiceAccount's name, also the name of the roles and bindings. */
  readonly name: string
  /** The ServiceAccount's namespace. */
  readonly namespace: string
  /** Names, globs and exclusions, as the operator's `namespaces` setting reads them. */
  readonly namespaces?: ReadonlyArray<string> | undefined
  /** Which Events the operator posts (default `"warnings"`); `"none"` needs no rule. */
  readonly postEvents?: Settings.PostEvents | undefined
  /** The operator keeps its webhook configurations (`Settings.webhooks.managed`): the rights
   * to create, update and delete them. */
  readonly manageWebhooks?: boolean | undefined
  /** Leader election is on, with its Lease in this namespace (`Settings.leaderElection`). */
  readonly leaderElection?: { readonly namespace: string } | undefined
  /** Sharding is on, with its Leases in this namespace (`Settings.sharding`). */
  readonly sharding?: { readonly namespace: string } | undefined
}

/**
 * A handler selects a resource whose API group or scope only the API server knows: it is
 * neither a built-in resource nor declared with its `Resource`.
 *
 * @example
 * ```ts
 * import { Rbac } from "@kubefx/runtime"
 *
 * const e = new Rbac.UnknownResource({ message: "handler 'a' selects widgets ..." })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownResource extends Data.TaggedError("UnknownResource")<{
  readonly message: string
}> {}

type Scoped = Pick<Resource.ApiResource, "group" | "plural" | "namespaced">

/** A grant of verbs on a resource, in a namespace or (`undefined`) cluster-wide. */
interface Grant {
  readonly group: string
  readonly resource: string
  readonly namespace: string | undefined
  readonly verbs: ReadonlyArray<Registry.Verb>
}

const builtins: ReadonlyArray<Resource.ApiResource> = Object.values(Builtins)

/** The resource a handler serves (or an index watches), as far as known without an API server. */
const servedBy = (declared: {
  readonly what: string
  readonly resource: Resource.ApiResource | undefined
  readonly selector: Selector.Selector
}): Scoped => {
  if (declared.resource !== undefined) return declared.resource
  const matching = builtins.filter((r) =>
    Selector.matches(declared.selector, { ...r, spec: undefined })
  )
  // As discovery does: the core group first.
  const found = matching.find((r) => r.group === "") ?? matching[0]
  if (found !== undefined) return found
  throw new UnknownResource({
    message: `kubefx: cannot compute RBAC for ${declared.what}: ${Selector.format(declared.selector)} is not a built-in resource, so its API group and scope are known only to the API server; declare it with its Resource (Resource.make({ group, version, plural, kind, namespaced }))`
  })
}

const served = (registry: Registry.Registry<unknown>): ReadonlyArray<Scoped> => {
  const out = new Map<string, Scoped>()
  for (const h of registry.handlers) {
    const r = servedBy({ what: `handler '${h.id}'`, ...h })
    out.set(`${r.plural}.${r.group}`, r)
  }
  return [...out.values()]
}

/** The resources the registry's indexes watch. */
const indexed = (registry: Registry.Registry<unknown>): ReadonlyArray<Scoped> =>
  registry.indexes.map((i) => {
    const d = Index.definition(i)
    return servedBy({ what: `index '${d.id}'`, resource: d.resource, selector: d.selector })
  })

/** Every grant the operator needs, unmerged. */
const grants = (registry: Registry.Registry<unknown>, options: Options): ReadonlyArray<Grant> => {
  const scope =
    options.namespaces === undefined ? Watcher.cluster : Watcher.namespaces(options.namespaces)
  const places = scope._tag === "Namespaces" ? scope.namespaces : [undefined]
  const at = (r: Scoped) => (r.namespaced ? places : [undefined])
  const out: Array<Grant> = []
  const grant = (
    r: Scoped,
    resource: string,
    where: ReadonlyArray<string | undefined>,
    verbs: ReadonlyArray<Registry.Verb>
  ) => {
    for (const namespace of where) out.push({ group: r.group, resource, namespace, verbs })
  }
  for (const r of served(registry)) {
    grant(r, r.plural, at(r), ["get", "list", "watch", "patch"])
    grant(r, `${r.plural}/status`, at(r), ["patch"])
    if (options.postEvents !== "none") {
      const eventsAt = r.namespaced
        ? places
        : scope._tag === "Namespaces"
          ? ["default"]
          : [undefined]
      grant(Builtins.events, Builtins.events.plural, eventsAt, ["create"])
    }
  }
  for (const r of indexed(registry)) grant(r, r.plural, at(r), ["list", "watch"])
  if (scope._tag === "Matching")
    grant(Builtins.namespaces, "namespaces", [undefined], ["list", "watch"])
  for (const use of registry.uses)
    grant(use.resource, use.resource.plural, at(use.resource), use.verbs)
  if (options.manageWebhooks === true)
    for (const [kind, r] of [
      ["validate", Builtins.validatingWebhookConfigurations],
      ["mutate", Builtins.mutatingWebhookConfigurations]
    ] as const)
      if (registry.webhooks.some((w) => w.kind === kind))
        grant(r, r.plural, [undefined], ["get", "create", "patch", "delete"])
  if (options.manageWebhooks === true && registry.conversions.length > 0)
    grant(Builtins.customResourceDefinitions, "customresourcedefinitions", [undefined], ["patch"])
  const leases = Builtins.leases
  if (options.leaderElection !== undefined)
    grant(leases, leases.plural, [options.leaderElection.namespace], ["get", "create", "update"])
  if (options.sharding !== undefined)
    grant(
      leases,
      leases.plural,
      [options.sharding.namespace],
      ["get", "list", "watch", "create", "update", "delete"]
    )
  return out
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** The grants of one place as rules: one per resource, ordered, verbs merged and ordered. */
const rulesOf = (place: ReadonlyArray<Grant>): ReadonlyArray<Rule> => {
  const merged = new Map<string, { group: string; resource: string; verbs: Set<Registry.Verb> }>()
  for (const g of place) {
    const key = `${g.group}\u0000${g.resource}`
    const entry = merged.get(key) ?? { group: g.group, resource: g.resource, verbs: new Set() }
    for (const verb of g.verbs) entry.verbs.add(verb)
    merged.set(key, entry)
  }
  return [...merged.values()]
    .sort((a, b) => byName(a.group, b.group) || byName(a.resource, b.resource))
    .map((e) => ({
      apiGroups: [e.group],
      resources: [e.resource],
      verbs: Registry.verbs.filter((v) => e.verbs.has(v))
    }))
}

const rbacVersion = "rbac.authorization.k8s.io/v1"

const labels = (name: string) => ({ "app.kubernetes.io/name": name })

const role = (options: Options, namespace: string | undefined, rules: ReadonlyArray<Rule>) => {
  const metadata = () => ({
    name: options.name,
    ...(namespace === undefined ? {} : { namespace }),
    labels: labels(options.name)
  })
  const kind = namespace === undefined ? "ClusterRole" : "Role"
  const subject = { kind: "ServiceAccount", name: options.name, namespace: options.namespace }
  return [
    { apiVersion: rbacVersion, kind, metadata: metadata(), rules },
    {
      apiVersion: rbacVersion,
      kind: `${kind}Binding`,
      metadata: metadata(),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind, name: options.name },
      subjects: [subject]
    }
  ] as ReadonlyArray<KubeObject.KubeObject>
}

/**
 * The roles and bindings the operator of `registry` needs, bound to the ServiceAccount
 * `options.name` in `options.namespace` (see the module's documentation; the ServiceAccount
 * itself comes with the Deployment). Throws {@link UnknownResource} when a handler's selector
 * is neither a built-in resource nor a `Resource`.
 *
 * @example
 * ```ts
 * import { Builtins, Handler, Registry, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Rbac } from "@kubefx/runtime"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const registry = Registry.make(Handler.onCreate(widgets, () => Effect.void)).pipe(
 *   Registry.uses(Builtins.configMaps, ["create"])
 * )
 * const cluster = Rbac.manifests(registry, { name: "widgets", namespace: "operators" })
 * // [ClusterRole, ClusterRoleBinding]
 * const roles = Rbac.manifests(registry, { name: "widgets", namespace: "operators", namespaces: ["team-a"] })
 * // [Role, RoleBinding] in team-a
 * ```
 *
 * @since 0.1.0
 * @category generating
 */
export const manifests = (
  registry: Registry.Registry<unknown>,
  options: Options
): ReadonlyArray<KubeObject.KubeObject> => {
  const places = new Map<string | undefined, Array<Grant>>()
  for (const g of grants(registry, options)) {
    const place = places.get(g.namespace) ?? []
    place.push(g)
    places.set(g.namespace, place)
  }
  const cluster = places.get(undefined)
  const namespaces = [...places.keys()].filter((n) => n !== undefined).sort(byName)
  return [
    ...(cluster === undefined ? [] : role(options, undefined, rulesOf(cluster))),
    ...namespaces.flatMap((n) => role(options, n, rulesOf(places.get(n) ?? [])))
  ]
}
