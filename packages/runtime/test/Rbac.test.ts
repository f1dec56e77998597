import { assert, describe, it } from "@effect/vitest"
import { Builtins, Handler, Index, type KubeObject, Registry, Resource } from "@kubefx/core"
import { Effect } from "effect"
import { Rbac } from "../src/index.ts"

const evcs = Resource.make({
  group: "kopf.dev",
  version: "v1",
  plural: "ephemeralvolumeclaims",
  kind: "EphemeralVolumeClaim"
})
const widgets = Resource.make({
  group: "example.com",
  version: "v1",
  plural: "widgets",
  kind: "Widget",
  namespaced: false
})

const evcRegistry = Registry.make(
  Handler.onCreate(evcs, () => Effect.void),
  Handler.onUpdate(evcs, () => Effect.void)
).pipe(Registry.uses(Builtins.persistentVolumeClaims, ["get", "create", "patch"]))

const account = { name: "op", namespace: "operators" }

const summary = (objects: ReadonlyArray<KubeObject.KubeObject>) =>
  objects.map((o) => `${o.kind} ${o.metadata?.namespace ?? "-"}/${o.metadata?.name}`)

const rulesOf = (objects: ReadonlyArray<KubeObject.KubeObject>, kind: string, namespace?: string) =>
  (
    objects.find((o) => o.kind === kind && o.metadata?.namespace === namespace) as
      | { rules: ReadonlyArray<Rbac.Rule> }
      | undefined
  )?.rules

const rule = (group: string, resource: string, ...verbs: ReadonlyArray<Registry.Verb>) => ({
  apiGroups: [group],
  resources: [resource],
  verbs
})

const evcRules = [
  rule("", "events", "create"),
  rule("", "persistentvolumeclaims", "get", "create", "patch"),
  rule("kopf.dev", "ephemeralvolumeclaims", "get", "list", "watch", "patch"),
  rule("kopf.dev", "ephemeralvolumeclaims/status", "patch")
]

describe("Rbac.manifests", () => {
  it("grants a cluster-wide operator what the runtime calls and the handlers declare, in one ClusterRole", () => {
    const objects = Rbac.manifests(evcRegistry, account)
    assert.deepStrictEqual(summary(objects), ["ClusterRole -/op", "ClusterRoleBinding -/op"])
    assert.deepStrictEqual(rulesOf(objects, "ClusterRole"), evcRules)
    assert.deepStrictEqual((objects[1] as { subjects: unknown }).subjects, [
      { kind: "ServiceAccount", name: "op", namespace: "operators" }
    ])
    assert.deepStrictEqual((objects[1] as { roleRef: unknown }).roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "op"
    })
  })

  it("grants an operator of named namespaces a Role in each, and nothing cluster-wide", () => {
    const objects = Rbac.manifests(evcRegistry, { ...account, namespaces: ["team-b", "team-a"] })
    assert.deepStrictEqual(summary(objects), [
      "Role team-a/op",
      "RoleBinding team-a/op",
      "Role team-b/op",
      "RoleBinding team-b/op"
    ])
    assert.deepStrictEqual(rulesOf(objects, "Role", "team-a"), evcRules)
    assert.deepStrictEqual(rulesOf(objects, "Role", "team-b"), evcRules)
  })

  it("removes excluded names as the operator does", () => {
    const objects = Rbac.manifests(evcRegistry, { ...account, namespaces: ["a", "b", "!b"] })
    assert.deepStrictEqual(summary(objects), ["Role a/op", "RoleBinding a/op"])
  })

  it("with globs, grants the resources cluster-wide and list and watch on namespaces", () => {
    const objects = Rbac.manifests(evcRegistry, { ...account, namespaces: ["team-*"] })
    assert.deepStrictEqual(summary(objects), ["ClusterRole -/op", "ClusterRoleBinding -/op"])
    assert.deepStrictEqual(rulesOf(objects, "ClusterRole"), [
      rule("", "events", "create"),
      rule("", "namespaces", "list", "watch"),
      ...evcRules.slice(1)
    ])
  })

  it("grants a cluster-scoped resource in a ClusterRole, and its Events in namespace default", () => {
    const registry = Registry.make(
      Handler.onCreate(evcs, () => Effect.void),
      Handler.onCreate(widgets, () => Effect.void)
    )
    const objects = Rbac.manifests(registry, { ...account, namespaces: ["team-a"] })
    assert.deepStrictEqual(summary(objects), [
      "ClusterRole -/op",
      "ClusterRoleBinding -/op",
      "Role default/op",
      "RoleBinding default/op",
      "Role team-a/op",
      "RoleBinding team-a/op"
    ])
    assert.deepStrictEqual(rulesOf(objects, "ClusterRole"), [
      rule("example.com", "widgets", "get", "list", "watch", "patch"),
      rule("example.com", "widgets/status", "patch")
    ])
    assert.deepStrictEqual(rulesOf(objects, "Role", "default"), [rule("", "events", "create")])
  })

  it("needs no Events rule when no Events are posted", () => {
    const objects = Rbac.manifests(evcRegistry, { ...account, postEvents: "none" })
    assert.deepStrictEqual(rulesOf(objects, "ClusterRole"), evcRules.slice(1))
  })

  it("merges the verbs declared on a served resource into its rule", () => {
    const registry = evcRegistry.pipe(Registry.uses(evcs, ["create", "get"]))
    assert.deepStrictEqual(rulesOf(Rbac.manifests(registry, account), "ClusterRole")?.[2], {
      apiGroups: ["kopf.dev"],
      resources: ["ephemeralvolumeclaims"],
      verbs: ["get", "list", "watch", "create", "patch"]
    })
  })

  it("answers the same manifests whatever the order of handlers and declarations", () => {
    const reordered = Registry.make(
      Handler.onUpdate(evcs, () => Effect.void),
      Handler.onCreate("configmaps", () => Effect.void),
      Handler.onCreate(evcs, () => Effect.void)
    ).pipe(Registry.uses(Builtins.persistentVolumeClaims, ["patch", "create", "get"]))
    const ordered = Registry.make(
      Handler.onCreate(evcs, () => Effect.void),
      Handler.onCreate("configmaps", () => Effect.void),
      Handler.onUpdate(evcs, () => Effect.void)
    ).pipe(Registry.uses(Builtins.persistentVolumeClaims, ["get", "create", "patch"]))
    const options = { ...account, namespaces: ["z", "a"] }
    assert.deepStrictEqual(Rbac.manifests(reordered, options), Rbac.manifests(ordered, options))
  })

  it("grants list and watch on what the indexes watch", () => {
    const byNode = Index.make("by-node", "pods", () => ({}))
    const registry = Registry.make(
      Handler.onCreate("configmaps", () => Effect.void),
      byNode
    )
    assert.deepStrictEqual(rulesOf(Rbac.manifests(registry, account), "ClusterRole"), [
      rule("", "configmaps", "get", "list", "watch", "patch"),
      rule("", "configmaps/status", "patch"),
      rule("", "events", "create"),
      rule("", "pods", "list", "watch")
    ])
  })

  it("knows built-in resources selected by plural or kind, in the core group first", () => {
    const registry = Registry.make(
      Handler.onCreate("configmaps", () => Effect.void),
      Handler.onCreate("Deployment", () => Effect.void)
    )
    assert.deepStrictEqual(rulesOf(Rbac.manifests(registry, account), "ClusterRole"), [
      rule("", "configmaps", "get", "list", "watch", "patch"),
      rule("", "configmaps/status", "patch"),
      rule("", "events", "create"),
      rule("apps", "deployments", "get", "list", "watch", "patch"),
      rule("apps", "deployments/status", "patch")
    ])
  })

  it("refuses a selector whose group only the API server knows, naming the handler and the fix", () => {
    const registry = Registry.make(Handler.onCreate("widgets", { id: "make" }, () => Effect.void))
    assert.throws(
      () => Rbac.manifests(registry, account),
      "kubefx: cannot compute RBAC for handler 'make': widgets is not a built-in resource, so its API group and scope are known only to the API server; declare it with its Resource (Resource.make({ group, version, plural, kind, namespaced }))"
    )
  })

  it("grants leader election its Lease, in the Lease's namespace", () => {
    const objects = Rbac.manifests(evcRegistry, {
      ...account,
      leaderElection: { namespace: "operators" }
    })
    assert.deepStrictEqual(summary(objects), [
      "ClusterRole -/op",
      "ClusterRoleBinding -/op",
      "Role operators/op",
      "RoleBinding operators/op"
    ])
    assert.deepStrictEqual(rulesOf(objects, "ClusterRole"), evcRules)
    assert.deepStrictEqual(rulesOf(objects, "Role", "operators"), [
      rule("coordination.k8s.io", "leases", "get", "create", "update")
    ])
  })

  it("grants sharding its Leases: members list, watch and remove each other's", () => {
    const objects = Rbac.manifests(evcRegistry, {
      ...account,
      sharding: { namespace: "operators" }
    })
    assert.deepStrictEqual(rulesOf(objects, "Role", "operators"), [
      rule("coordination.k8s.io", "leases", "get", "list", "watch", "create", "update", "delete")
    ])
  })
})
