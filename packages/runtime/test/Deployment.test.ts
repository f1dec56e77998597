import { assert, describe, it } from "@effect/vitest"
import { Handler, Json, Registry, Resource } from "@kubefx/core"
import { Effect } from "effect"
import { Deployment } from "../src/index.ts"

const widgets = Resource.make({
  group: "example.com",
  version: "v1",
  plural: "widgets",
  kind: "Widget"
})
const registry = Registry.make(
  Handler.onCreate(widgets, () => Effect.void),
  Handler.onCreate("configmaps", () => Effect.void)
)
const options = { name: "op", image: "example.com/op:1.0.0", namespace: "operators" }

const container = (deployment: unknown) =>
  Json.get(deployment as Json.Json, ["spec", "template", "spec", "containers", "0"])

describe("Deployment.manifests", () => {
  it("runs one replica of the image as the ServiceAccount, recreated, non-root and read-only", () => {
    const [account, deployment] = Deployment.manifests(registry, options)
    assert.deepStrictEqual(account, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "op", namespace: "operators", labels: { "app.kubernetes.io/name": "op" } }
    })
    const spec = Json.get(deployment as Json.Json, ["spec"])
    assert.strictEqual(Json.get(spec, ["replicas"]), 1)
    assert.deepStrictEqual(Json.get(spec, ["strategy"]), { type: "Recreate" })
    assert.deepStrictEqual(Json.get(spec, ["selector", "matchLabels"]), {
      "app.kubernetes.io/name": "op"
    })
    assert.deepStrictEqual(Json.get(spec, ["template", "metadata", "labels"]), {
      "app.kubernetes.io/name": "op"
    })
    assert.strictEqual(Json.get(spec, ["template", "spec", "serviceAccountName"]), "op")
    assert.strictEqual(
      Json.get(spec, ["template", "spec", "securityContext", "runAsNonRoot"]),
      true
    )
    const c = container(deployment)
    assert.strictEqual(Json.get(c, ["image"]), "example.com/op:1.0.0")
    assert.deepStrictEqual(Json.get(c, ["securityContext"]), {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] }
    })
    assert.deepStrictEqual(Json.get(c, ["resources"]), Deployment.defaultResources as Json.Json)
    assert.isUndefined(Json.get(c, ["args"]))
    assert.isUndefined(Json.get(c, ["livenessProbe"]))
    assert.strictEqual(
      Json.get(deployment as Json.Json, ["metadata", "annotations", "kubefx.dev/serves"]),
      "widgets.example.com, configmaps"
    )
  })

  it("passes arguments, environment (in order), replicas and resources through", () => {
    const [, deployment] = Deployment.manifests(registry, {
      ...options,
      replicas: 2,
      leaderElection: true,
      args: ["--namespace", "a"],
      env: { B: "2", A: "1" },
      resources: { requests: { cpu: "1" } }
    })
    const c = container(deployment)
    assert.strictEqual(Json.get(deployment as Json.Json, ["spec", "replicas"]), 2)
    assert.deepStrictEqual(Json.get(c, ["args"]), ["--namespace", "a"])
    assert.deepStrictEqual(Json.get(c, ["env"]), [
      { name: "B", value: "2" },
      { name: "A", value: "1" }
    ])
    assert.deepStrictEqual(Json.get(c, ["resources"]), { requests: { cpu: "1" } })
  })

  it("with a health port, exposes it and probes /healthz and /readyz there", () => {
    const c = container(Deployment.manifests(registry, { ...options, healthPort: 8080 })[1])
    assert.deepStrictEqual(Json.get(c, ["ports"]), [
      { name: "health", containerPort: 8080, protocol: "TCP" }
    ])
    assert.deepStrictEqual(Json.get(c, ["livenessProbe", "httpGet"]), {
      path: "/healthz",
      port: "health"
    })
    assert.deepStrictEqual(Json.get(c, ["readinessProbe", "httpGet"]), {
      path: "/readyz",
      port: "health"
    })
  })

  it("runs several replicas only with leader election or sharding, then rolling", () => {
    assert.throws(
      () => Deployment.manifests(registry, { ...options, replicas: 3 }),
      /3 replicas of op would each handle every object; run it with leader election or sharding/
    )
    const [, deployment] = Deployment.manifests(registry, {
      ...options,
      replicas: 3,
      leaderElection: true
    })
    const spec = Json.get(deployment as Json.Json, ["spec"])
    assert.strictEqual(Json.get(spec, ["replicas"]), 3)
    assert.deepStrictEqual(Json.get(spec, ["strategy"]), {
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 }
    })
    const [, sharded] = Deployment.manifests(registry, { ...options, replicas: 4, sharding: true })
    assert.strictEqual(Json.get(sharded as Json.Json, ["spec", "replicas"]), 4)
  })
})
