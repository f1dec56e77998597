import { existsSync, readFileSync } from "node:fs"
import { connect } from "node:net"
import { assert, describe, it, layer } from "@effect/vitest"
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
  Watch
} from "@kubernetes/client-node"
import { Effect, Schedule } from "effect"
import { Audit, ControlPlane } from "../src/index.ts"

/** Runs a client-node call; a rejection becomes a typed failure carrying the HTTP code. */
const call = <A>(f: () => Promise<A>) =>
  Effect.tryPromise({
    try: f,
    catch: (error) => ({ code: (error as { code?: number }).code ?? 0, error })
  })

/** Retries `check` until it succeeds, up to `seconds`. */
const eventually = <A, E>(seconds: number, check: Effect.Effect<A, E>) =>
  check.pipe(
    Effect.retry({ schedule: Schedule.spaced("250 millis"), times: seconds * 4 }),
    Effect.orDie
  )

const clients = (kubeconfigPath: string) => {
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfigPath)
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    crds: kc.makeApiClient(ApiextensionsV1Api),
    custom: kc.makeApiClient(CustomObjectsApi)
  }
}

let namespaceCounter = 0
const freshNamespace = (core: CoreV1Api) =>
  Effect.gen(function* () {
    const name = `t${process.pid}-${++namespaceCounter}`
    yield* call(() => core.createNamespace({ body: { metadata: { name } } }))
    return name
  })

const widgetCrd = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.test.kubefx.dev" },
  spec: {
    group: "test.kubefx.dev",
    scope: "Namespaced",
    names: { plural: "widgets", singular: "widget", kind: "Widget" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: { type: "object", properties: { size: { type: "string" } } }
            }
          }
        }
      }
    ]
  }
}

layer(ControlPlane.layer, { excludeTestServices: true, timeout: "5 minutes" })(
  "a real control plane",
  (it) => {
    it.effect("authenticates client certificates and authorizes with RBAC", () =>
      Effect.gen(function* () {
        const cluster = yield* ControlPlane.ControlPlane
        const admin = clients(cluster.kubeconfig)
        const restricted = clients(cluster.restrictedKubeconfig)

        const namespaces = yield* call(() => admin.core.listNamespace())
        const names = namespaces.items.map((ns) => ns.metadata?.name)
        assert.include(names, "default")
        assert.include(names, "kube-system")

        const refused = yield* Effect.flip(call(() => restricted.core.listNamespace()))
        assert.strictEqual(refused.code, 403)
        const refusedRead = yield* Effect.flip(
          call(() => restricted.core.listNamespacedConfigMap({ namespace: "default" }))
        )
        assert.strictEqual(refusedRead.code, 403)

        // A user made on demand, granted one namespace by a RoleBinding, can read it and no other.
        const namespace = yield* freshNamespace(admin.core)
        const reader = clients(yield* cluster.userKubeconfig("kubefx-reader"))
        yield* call(() =>
          admin.core.createNamespacedConfigMap({
            namespace,
            body: { metadata: { name: "hello" }, data: { a: "1" } }
          })
        )
        const rbac = admin.kc.makeApiClient(RbacAuthorizationV1Api)
        yield* call(() =>
          rbac.createNamespacedRoleBinding({
            namespace,
            body: {
              metadata: { name: "reader-view" },
              roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
              subjects: [
                { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "kubefx-reader" }
              ]
            }
          })
        )
        const seen = yield* eventually(
          10,
          call(() => reader.core.readNamespacedConfigMap({ namespace, name: "hello" }))
        )
        assert.strictEqual(seen.data?.a, "1")
        const elsewhere = yield* Effect.flip(
          call(() => reader.core.listNamespacedConfigMap({ namespace: "default" }))
        )
        assert.strictEqual(elsewhere.code, 403)
      })
    )

    it.effect("establishes a CRD, and lists and watches its custom objects", () =>
      Effect.gen(function* () {
        const cluster = yield* ControlPlane.ControlPlane
        const { kc, core, crds, custom } = clients(cluster.kubeconfig)
        yield* call(() => crds.createCustomResourceDefinition({ body: widgetCrd }))
        yield* eventually(
          30,
          call(() => crds.readCustomResourceDefinition({ name: widgetCrd.metadata.name })).pipe(
            Effect.flatMap((crd) =>
              crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")
                ? Effect.void
                : Effect.fail("not established yet")
            )
          )
        )
        const namespace = yield* freshNamespace(core)
        const widgets = { group: "test.kubefx.dev", version: "v1", namespace, plural: "widgets" }

        // Watch from the start, in the background, collecting event types for "w1". Right after
        // a CRD is established the API server may answer a watch with 429 while its watch cache
        // for the new resource initialises: start again until the watch is open.
        const events: Array<string> = []
        let watchEnded: unknown
        const openWatch = Effect.gen(function* () {
          watchEnded = undefined
          const controller = yield* call(() =>
            new Watch(kc).watch(
              `/apis/test.kubefx.dev/v1/namespaces/${namespace}/widgets`,
              {},
              (type, obj) => {
                if (obj?.metadata?.name === "w1") events.push(type)
              },
              (error) => (watchEnded = error ?? "closed")
            )
          )
          if (watchEnded !== undefined) return yield* Effect.fail(watchEnded)
          return controller
        })
        const watching = yield* eventually(30, openWatch)
        yield* Effect.addFinalizer(() => Effect.sync(() => watching.abort()))

        yield* call(() =>
          custom.createNamespacedCustomObject({
            ...widgets,
            body: {
              apiVersion: "test.kubefx.dev/v1",
              kind: "Widget",
              metadata: { name: "w1" },
              spec: { size: "1G" }
            }
          })
        )
        const listed = (yield* call(() => custom.listNamespacedCustomObject(widgets))) as {
          items: Array<{ metadata: { name: string }; spec: { size: string } }>
        }
        assert.deepStrictEqual(
          listed.items.map((w) => [w.metadata.name, w.spec.size]),
          [["w1", "1G"]]
        )
        yield* call(() =>
          custom.patchNamespacedCustomObject({
            ...widgets,
            name: "w1",
            body: [{ op: "replace", path: "/spec/size", value: "2G" }]
          })
        )
        yield* call(() => custom.deleteNamespacedCustomObject({ ...widgets, name: "w1" }))
        yield* eventually(
          10,
          Effect.suspend(() =>
            events.length >= 3
              ? Effect.void
              : Effect.fail(`events so far: [${events}], watch ended: ${watchEnded}`)
          )
        )
        assert.deepStrictEqual(events, ["ADDED", "MODIFIED", "DELETED"])
      })
    )

    it.effect("garbage-collects a child when its owner is deleted", () =>
      Effect.gen(function* () {
        const cluster = yield* ControlPlane.ControlPlane
        const { core } = clients(cluster.kubeconfig)
        const namespace = yield* freshNamespace(core)
        const owner = yield* call(() =>
          core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "owner" } } })
        )
        yield* call(() =>
          core.createNamespacedConfigMap({
            namespace,
            body: {
              metadata: {
                name: "child",
                ownerReferences: [
                  { apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata!.uid! }
                ]
              }
            }
          })
        )
        yield* call(() => core.deleteNamespacedConfigMap({ namespace, name: "owner" }))
        const gone = yield* eventually(
          60,
          Effect.flip(call(() => core.readNamespacedConfigMap({ namespace, name: "child" })))
        )
        assert.strictEqual(gone.code, 404)
      })
    )

    it.effect("completes namespace deletion and gives namespaces a default ServiceAccount", () =>
      Effect.gen(function* () {
        const cluster = yield* ControlPlane.ControlPlane
        const { core } = clients(cluster.kubeconfig)
        const namespace = yield* freshNamespace(core)
        const account = yield* eventually(
          30,
          call(() => core.readNamespacedServiceAccount({ namespace, name: "default" }))
        )
        assert.strictEqual(account.metadata?.name, "default")
        yield* call(() =>
          core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "content" } } })
        )
        yield* call(() => core.deleteNamespace({ name: namespace }))
        const gone = yield* eventually(
          60,
          Effect.flip(call(() => core.readNamespace({ name: namespace })))
        )
        assert.strictEqual(gone.code, 404)
      })
    )
  }
)

const alive = (pid: number) =>
  existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ")

const portAccepts = (port: number) =>
  Effect.promise(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, "127.0.0.1")
        socket.once("connect", () => {
          socket.destroy()
          resolve(true)
        })
        socket.once("error", () => resolve(false))
      })
  )

describe("ControlPlane.start", () => {
  it.live(
    "stops every process, frees its port and removes its data folder when its scope closes",
    () =>
      Effect.gen(function* () {
        const started = yield* Effect.scoped(
          Effect.gen(function* () {
            const cluster = yield* ControlPlane.start({ controllerManager: false })
            const pids = cluster.processes.map(({ pid }) => pid)
            assert.deepStrictEqual(
              cluster.processes.map(({ name }) => name),
              ["etcd", "kube-apiserver"]
            )
            assert.isTrue(pids.every(alive))
            const port = Number(new URL(cluster.server).port)
            assert.isTrue(yield* portAccepts(port))
            return { pids, port, dataDir: cluster.dataDir }
          })
        )
        assert.deepStrictEqual(started.pids.filter(alive), [])
        assert.isFalse(yield* portAccepts(started.port))
        assert.isFalse(existsSync(started.dataDir))
      }),
    120_000
  )
})

describe("ControlPlane.start with a restartable API server and an audit log", () => {
  it.live(
    "restarts kube-apiserver (killed, then stopped) on the same port and etcd data",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* ControlPlane.start({ controllerManager: false })
          const { core } = clients(cluster.kubeconfig)
          const namespace = yield* freshNamespace(core)
          yield* call(() =>
            core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "kept" } } })
          )
          const pidOf = (name: string) => cluster.processes.find((p) => p.name === name)?.pid
          const [etcd, apiserver] = [pidOf("etcd"), pidOf("kube-apiserver")]

          yield* cluster.restart("kube-apiserver", { signal: "SIGKILL" })
          assert.isFalse(alive(apiserver ?? 0), "the old server was killed")
          assert.notStrictEqual(pidOf("kube-apiserver"), apiserver)
          assert.strictEqual(pidOf("etcd"), etcd, "etcd kept running")
          const kept = yield* call(() => core.readNamespacedConfigMap({ namespace, name: "kept" }))
          assert.strictEqual(kept.metadata?.name, "kept")

          yield* cluster.stop("kube-apiserver", { signal: "SIGTERM" })
          assert.isFalse(yield* portAccepts(Number(new URL(cluster.server).port)))
          yield* cluster.start("kube-apiserver")
          const listed = yield* call(() => core.listNamespacedConfigMap({ namespace }))
          assert.include(
            listed.items.map((c) => c.metadata?.name),
            "kept"
          )
        })
      ),
    120_000
  )

  it.live(
    "records request bodies of the chosen resources and metadata of the others",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* ControlPlane.start({
            controllerManager: false,
            auditRequestBodies: [{ group: "", resources: ["configmaps"] }]
          })
          const { core } = clients(cluster.kubeconfig)
          const namespace = yield* freshNamespace(core)
          yield* call(() =>
            core.createNamespacedConfigMap({
              namespace,
              body: { metadata: { name: "recorded" }, data: { a: "1" } }
            })
          )
          yield* call(() =>
            core.createNamespacedSecret({
              namespace,
              body: { metadata: { name: "not-recorded" }, stringData: { b: "2" } }
            })
          )
          assert.strictEqual(cluster.auditLog, `${cluster.dataDir}/audit.log`)
          const creates = Audit.read(cluster.auditLog ?? "").filter(
            (e) =>
              e.stage === "ResponseComplete" &&
              e.verb === "create" &&
              e.objectRef?.namespace === namespace
          )
          assert.deepStrictEqual(
            creates.map((e) => [e.objectRef?.resource, e.objectRef?.name, e.responseStatus?.code]),
            [
              ["configmaps", "recorded", 201],
              ["secrets", "not-recorded", 201]
            ]
          )
          const [configMap, secret] = creates
          assert.deepStrictEqual((configMap?.requestObject as { data?: unknown })?.data, { a: "1" })
          assert.isUndefined(secret?.requestObject)
          assert.strictEqual(configMap?.user.username, "kubefx-admin")
        })
      ),
    120_000
  )
})
