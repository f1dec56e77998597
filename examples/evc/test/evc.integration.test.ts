/**
 * The EVC operator end to end, against the real control plane. The operator runs as a user that
 * is bound only to the example's ClusterRole (`deploy/rbac.yaml`), not as an admin: a right the
 * operator needs and the role lacks fails these tests.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, Json, type KubeObject, type Resource } from "@kubefx/core"
import { ApiPatch, Kube, type KubeService, Manifests, Operator } from "@kubefx/runtime"
import { Context, Duration, Effect, Exit, Layer, Schedule, Schema, type Scope } from "effect"
import * as fc from "fast-check"
import * as Deploy from "../src/Deploy.ts"
import { EvcSpec, evc, quantityMessage } from "../src/Evc.ts"
import { registry } from "../src/handlers.ts"
import * as Label from "../src/Label.ts"
import * as Settings from "../src/Settings.ts"
import { awaitGarbageCollectorKnowsEvcs } from "./gc.ts"
import * as Sizes from "./sizes.ts"

const pvcs = Builtins.persistentVolumeClaims
const events = Builtins.events
const namespaces = Builtins.namespaces
const OPERATOR_USER = "kubefx-evc-operator"
/** A user whose role is the example's without `patch` on PVCs. */
const NO_PATCH_USER = "kubefx-evc-no-pvc-patch"

/**
 * The admin client, the kubeconfig of the operator's user (bound to the example's role), and
 * that of a user bound to the same role without `patch` on PVCs.
 */
class Cluster extends Context.Service<
  Cluster,
  {
    readonly admin: KubeService
    readonly operatorKubeconfig: string
    readonly noPatchKubeconfig: string
  }
>()("test/Cluster") {}

const binding = (name: string, role: string, user: string) => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRoleBinding",
  metadata: { name },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
  subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }]
})

/** The example's ClusterRole without `patch` on persistentvolumeclaims. */
const withoutPvcPatch = (role: KubeObject.KubeObject): KubeObject.KubeObject => {
  const rules = (
    role as { rules: ReadonlyArray<{ resources: Array<string>; verbs: Array<string> }> }
  ).rules
  return {
    ...role,
    metadata: { name: NO_PATCH_USER },
    rules: rules.map((rule) =>
      rule.resources.includes("persistentvolumeclaims")
        ? { ...rule, verbs: rule.verbs.filter((verb) => verb !== "patch") }
        : rule
    )
  } as KubeObject.KubeObject
}

/** A StorageClass that does not allow expansion. */
const fixedClass = {
  apiVersion: "storage.k8s.io/v1",
  kind: "StorageClass",
  metadata: { name: "kubefx-fixed" },
  provisioner: "kubefx.dev/none",
  allowVolumeExpansion: false,
  volumeBindingMode: "Immediate"
}

const ClusterLive = Layer.effect(
  Cluster,
  Effect.gen(function* () {
    const cp = yield* ControlPlane.ControlPlane
    const admin = yield* Kube.make(yield* Kube.loadFile(cp.kubeconfig))
    const role = Deploy.read("rbac.yaml").filter((o) => o.kind === "ClusterRole")
    yield* Manifests.apply([
      ...Deploy.read("crd.yaml"),
      ...Deploy.read("storageclass.yaml"),
      fixedClass,
      ...role,
      binding("kubefx-evc-test", "kubefx-evc", OPERATOR_USER),
      ...role.map(withoutPvcPatch),
      binding(NO_PATCH_USER, NO_PATCH_USER, NO_PATCH_USER)
    ]).pipe(Effect.provideService(Kube, admin))
    yield* Manifests.awaitEstablished("ephemeralvolumeclaims.kopf.dev").pipe(
      Effect.provideService(Kube, admin)
    )
    yield* awaitGarbageCollectorKnowsEvcs(admin)
    return {
      admin,
      operatorKubeconfig: yield* cp.userKubeconfig(OPERATOR_USER),
      noPatchKubeconfig: yield* cp.userKubeconfig(NO_PATCH_USER)
    }
  }).pipe(Effect.orDie)
).pipe(Layer.provide(ControlPlane.layer))

/**
 * Starts the operator in the test's scope, and waits until it listed: as the user of
 * `kubeconfig` (default: the one bound to the example's role), making PVCs of `storageClass`.
 */
const operatorAs = (options: { readonly kubeconfig?: string; readonly storageClass?: string }) =>
  Effect.gen(function* () {
    const { operatorKubeconfig } = yield* Cluster
    // As main.ts does: the kubeconfig read by kubefx itself (no client-node).
    const kube = yield* Layer.build(Kube.layerFromFile(options.kubeconfig ?? operatorKubeconfig))
    const operator = yield* Operator.start(registry, {
      reportingComponent: "kubefx-evc",
      fieldManager: "kubefx-evc"
    }).pipe(
      Effect.provideContext(kube),
      Effect.provide(
        Settings.layer({
          storageClass: options.storageClass ?? "kubefx-expandable",
          resizeRetry: Duration.seconds(1)
        })
      )
    )
    yield* operator.ready
    return operator
  }).pipe(Effect.orDie)

/** The operator as the user bound to the example's role. */
const startOperator: Effect.Effect<Operator.Operator, never, Cluster | Scope.Scope> = operatorAs({})

let counter = 0
const freshNamespace = Effect.gen(function* () {
  const { admin } = yield* Cluster
  const name = `evc-${Date.now().toString(36)}-${counter++}`
  yield* admin.create(namespaces, { apiVersion: "v1", kind: "Namespace", metadata: { name } })
  return name
}).pipe(Effect.orDie)

/** Retries `check` every 200 ms for up to 30 s. */
const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  check.pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 150 }), Effect.orDie)

const expect = (condition: boolean, what: string) =>
  condition ? Effect.void : Effect.fail(`not yet: ${what}`)

const claim = (namespace: string, name: string, spec: Json.JsonObject) => ({
  apiVersion: "kopf.dev/v1",
  kind: "EphemeralVolumeClaim",
  metadata: { name, namespace },
  spec
})

const get = (resource: Resource.ApiResource, namespace: string, name: string) =>
  Effect.gen(function* () {
    const { admin } = yield* Cluster
    return yield* admin.get(resource, name, { namespace })
  })

const storage = (pvc: KubeObject.KubeObject) =>
  Json.get(pvc as Json.Json, ["spec", "resources", "requests", "storage"])

/** Stands in for a provisioner: marks the PVC Bound through its status subresource. */
const markBound = (namespace: string, name: string, size: string) =>
  Effect.gen(function* () {
    const { admin } = yield* Cluster
    return yield* admin.patchStatus(
      pvcs,
      name,
      ApiPatch.merge({
        status: { phase: "Bound", accessModes: ["ReadWriteOnce"], capacity: { storage: size } }
      }),
      { namespace }
    )
  })

const eventsAbout = (namespace: string, name: string) =>
  Effect.gen(function* () {
    const { admin } = yield* Cluster
    const list = yield* admin.list(events, { namespace })
    return list.items
      .filter((e) => Json.get(e as Json.Json, ["involvedObject", "name"]) === name)
      .map((e) => ({
        type: String(Json.get(e as Json.Json, ["type"])),
        reason: String(Json.get(e as Json.Json, ["reason"])),
        message: String(Json.get(e as Json.Json, ["message"]))
      }))
  })

/** A bare PVC of `size` (to ask the API server what it thinks of the size). */
const claimOfSize = (namespace: string, size: string) => ({
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: { name: "probe", namespace },
  spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: size } } }
})

/** Waits until `create_fn` has run on the EVC. */
const created = (namespace: string, name: string) =>
  eventually(
    get(evc, namespace, name).pipe(
      Effect.tap((o) =>
        expect(Json.get(o as Json.Json, ["status", "create_fn"]) !== undefined, "created")
      )
    )
  )

/** The message of `update_fn`'s progress, once it has been retried. */
const retryMessage = (namespace: string, name: string) =>
  eventually(
    get(evc, namespace, name).pipe(
      Effect.map((o) => Json.get(o as Json.Json, ["status", "kubefx", "progress", "update_fn"])),
      Effect.tap((p) => expect(Number(Json.get(p, ["retries"]) ?? 0) >= 1, "a retry recorded")),
      Effect.map((p) => String(Json.get(p, ["message"])))
    )
  )

/** Waits for a Warning `Retrying` Event about the EVC that says `text`. */
const warned = (namespace: string, name: string, text: string) =>
  eventually(
    eventsAbout(namespace, name).pipe(
      Effect.tap((es) =>
        expect(
          es.some(
            (e) => e.type === "Warning" && e.reason === "Retrying" && e.message.includes(text)
          ),
          `a Warning Event saying ${text}`
        )
      )
    )
  )

layer(ClusterLive, { excludeTestServices: true, timeout: "5 minutes" })(
  "the EVC operator",
  (it) => {
    it.effect("creates the PVC with the size, its owner and labels, and records its name", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        yield* startOperator
        const created = yield* admin.create(evc, claim(ns, "my-claim", { size: "1G" }))

        const pvc = yield* eventually(get(pvcs, ns, "my-claim"))
        assert.strictEqual(storage(pvc), "1G")
        assert.strictEqual(
          Json.get(pvc as Json.Json, ["spec", "storageClassName"]),
          "kubefx-expandable"
        )
        assert.deepStrictEqual(Json.get(pvc as Json.Json, ["metadata", "ownerReferences"]), [
          {
            apiVersion: "kopf.dev/v1",
            kind: "EphemeralVolumeClaim",
            name: "my-claim",
            uid: created.metadata?.uid ?? "?",
            controller: true,
            blockOwnerDeletion: true
          }
        ])
        assert.strictEqual(pvc.metadata?.labels?.["kopf.dev/evc"], "my-claim")
        assert.strictEqual(pvc.metadata?.labels?.["app.kubernetes.io/managed-by"], "kubefx-evc")

        const done = yield* eventually(
          get(evc, ns, "my-claim").pipe(
            Effect.tap((o) =>
              expect(
                Json.get(o as Json.Json, ["status", "create_fn", "pvcName"]) === "my-claim",
                "status"
              )
            )
          )
        )
        assert.isUndefined(
          done.metadata?.finalizers,
          "no finalizer: the PVC goes by garbage collection"
        )
        // Success posts no Event by default (only retries and failures do).
        const seen = yield* eventsAbout(ns, "my-claim")
        assert.isFalse(seen.some((e) => e.type === "Warning"))
      })
    )

    it.effect("resizes a bound PVC when the EVC's size changes", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        yield* startOperator
        yield* admin.create(evc, claim(ns, "grow", { size: "1G" }))
        yield* eventually(get(pvcs, ns, "grow"))
        yield* markBound(ns, "grow", "1G")
        yield* eventually(
          get(evc, ns, "grow").pipe(
            Effect.tap((o) =>
              expect(Json.get(o as Json.Json, ["status", "create_fn"]) !== undefined, "created")
            )
          )
        )
        yield* admin.patch(evc, "grow", ApiPatch.merge({ spec: { size: "2G" } }), {
          namespace: ns
        })
        yield* eventually(
          get(pvcs, ns, "grow").pipe(Effect.tap((pvc) => expect(storage(pvc) === "2G", "resized")))
        )
        const evcNow = yield* eventually(
          get(evc, ns, "grow").pipe(
            Effect.tap((o) =>
              expect(
                Json.get(o as Json.Json, ["status", "update_fn", "size"]) === "2G",
                "update_fn result"
              )
            )
          )
        )
        assert.isUndefined(Json.get(evcNow as Json.Json, ["status", "kubefx", "errors"]))
      })
    )

    it.effect("retries the resize of an unbound PVC, says why, and resizes once it is bound", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        yield* startOperator
        yield* admin.create(evc, claim(ns, "pending", { size: "1G" }))
        yield* eventually(
          get(evc, ns, "pending").pipe(
            Effect.tap((o) =>
              expect(Json.get(o as Json.Json, ["status", "create_fn"]) !== undefined, "created")
            )
          )
        )
        yield* admin.patch(evc, "pending", ApiPatch.merge({ spec: { size: "3G" } }), {
          namespace: ns
        })

        const retrying = yield* eventually(
          get(evc, ns, "pending").pipe(
            Effect.map((o) =>
              Json.get(o as Json.Json, ["status", "kubefx", "progress", "update_fn"])
            ),
            Effect.tap((p) =>
              expect(Number(Json.get(p, ["retries"]) ?? 0) >= 1, "a retry recorded")
            )
          )
        )
        assert.include(String(Json.get(retrying, ["message"])), "cannot be resized yet")
        const warnings = yield* eventually(
          eventsAbout(ns, "pending").pipe(
            Effect.tap((es) =>
              expect(
                es.some((e) => e.reason === "Retrying"),
                "Retrying event"
              )
            )
          )
        )
        assert.isTrue(
          warnings.some((e) => e.type === "Warning" && e.message.includes("cannot be resized yet"))
        )
        assert.strictEqual(storage(yield* get(pvcs, ns, "pending")), "1G")

        yield* markBound(ns, "pending", "1G")
        yield* eventually(
          get(pvcs, ns, "pending").pipe(
            Effect.tap((pvc) => expect(storage(pvc) === "3G", "resized"))
          )
        )
        yield* eventually(
          get(evc, ns, "pending").pipe(
            Effect.tap((o) =>
              expect(
                Json.get(o as Json.Json, ["status", "update_fn", "size"]) === "3G" &&
                  Json.get(o as Json.Json, ["status", "kubefx", "progress", "update_fn"]) ===
                    undefined,
                "done"
              )
            )
          )
        )
      })
    )

    it.effect("reports shrinking a bound PVC below its capacity as a permanent error", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        yield* startOperator
        yield* admin.create(evc, claim(ns, "shrink", { size: "2G" }))
        yield* eventually(get(pvcs, ns, "shrink"))
        yield* markBound(ns, "shrink", "2G")
        yield* eventually(
          get(evc, ns, "shrink").pipe(
            Effect.tap((o) =>
              expect(Json.get(o as Json.Json, ["status", "create_fn"]) !== undefined, "created")
            )
          )
        )
        yield* admin.patch(evc, "shrink", ApiPatch.merge({ spec: { size: "1G" } }), {
          namespace: ns
        })
        const failed = yield* eventually(
          get(evc, ns, "shrink").pipe(
            Effect.map((o) =>
              Json.get(o as Json.Json, ["status", "kubefx", "errors", "update_fn"])
            ),
            Effect.tap((m) => expect(m !== undefined, "error recorded"))
          )
        )
        assert.include(String(failed), "cannot shrink to 1G")
        assert.strictEqual(storage(yield* get(pvcs, ns, "shrink")), "2G")
      })
    )

    it.effect("reports a missing size as a permanent error and creates nothing", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        yield* startOperator
        yield* admin.create(evc, claim(ns, "no-size", {}))
        const failed = yield* eventually(
          get(evc, ns, "no-size").pipe(
            Effect.map((o) =>
              Json.get(o as Json.Json, ["status", "kubefx", "errors", "create_fn"])
            ),
            Effect.tap((m) => expect(m !== undefined, "error recorded"))
          )
        )
        assert.include(String(failed), "Size must be set")
        const warnings = yield* eventually(
          eventsAbout(ns, "no-size").pipe(
            Effect.tap((es) =>
              expect(
                es.some((e) => e.reason === "Failed"),
                "Failed event"
              )
            )
          )
        )
        assert.isTrue(
          warnings.some((e) => e.type === "Warning" && e.message.includes("Size must be set"))
        )
        const missing = yield* Effect.flip(get(pvcs, ns, "no-size"))
        assert.strictEqual(missing._tag, "NotFound")
      })
    )

    it.effect("refuses sizes that are not positive quantities at the API server, saying so", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        const dryRun = { dryRun: true }
        for (const size of Sizes.refused) {
          const refused = yield* Effect.flip(admin.create(evc, claim(ns, "bad", { size }), dryRun))
          assert.strictEqual(refused._tag, "Invalid", size)
          assert.include(refused.message, "spec.size", size)
          assert.include(refused.message, quantityMessage, size)
        }
        // What the CRD spares the operator: the PVC refuses all of them but `+1G` (which the
        // CRD refuses because a size never needs a sign).
        for (const size of Sizes.refused.filter((s) => s !== "+1G")) {
          const pvc = yield* Effect.flip(admin.create(pvcs, claimOfSize(ns, size), dryRun))
          assert.include(["Invalid", "BadRequest"], pvc._tag, size)
        }
      })
    )

    it.effect("admits positive quantities, each of which makes a valid PVC", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        for (const size of Sizes.admitted) {
          yield* admin.create(evc, claim(ns, "good", { size }), { dryRun: true })
          yield* admin.create(pvcs, claimOfSize(ns, size), { dryRun: true })
        }
      }).pipe(Effect.orDie)
    )

    it.effect("agrees with the decoder on random quantity-like sizes, and the PVC with both", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        const decode = Schema.decodeUnknownExit(EvcSpec)
        const unit = fc.constantFrom(..."0123456789.+-eEinumkKMGTP")
        const sizes = [...new Set(fc.sample(fc.string({ unit, maxLength: 6 }), 300))]
        const disagreements: Array<string> = []
        for (const size of sizes) {
          const decoded = Exit.isSuccess(decode({ size }))
          const evcAdmitted = yield* admin
            .create(evc, claim(ns, "random", { size }), { dryRun: true })
            .pipe(
              Effect.as(true),
              Effect.catchTag("Invalid", () => Effect.succeed(false))
            )
          if (evcAdmitted !== decoded)
            disagreements.push(`${size}: API ${evcAdmitted}, decoder ${decoded}`)
          if (evcAdmitted) {
            const pvcExit = yield* Effect.exit(
              admin.create(pvcs, claimOfSize(ns, size), { dryRun: true })
            )
            if (Exit.isFailure(pvcExit)) disagreements.push(`${size}: the PVC refuses it`)
          }
        }
        assert.deepStrictEqual(disagreements, [])
      }).pipe(Effect.orDie)
    )

    it.effect("makes the PVC of an EVC whose name is too long for a label value", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        const name = `${"a-very-long-claim-name.".repeat(6)}end`
        assert.isAbove(name.length, 100)
        yield* startOperator
        yield* admin.create(evc, claim(ns, name, { size: "1G" }))
        const pvc = yield* eventually(get(pvcs, ns, name))
        assert.strictEqual(pvc.metadata?.labels?.[Label.key], Label.value(name))
        const selected = yield* admin.list(pvcs, {
          namespace: ns,
          labelSelector: Label.selector(name)
        })
        assert.deepStrictEqual(
          selected.items.map((o) => o.metadata?.name),
          [name]
        )
        yield* eventually(
          get(evc, ns, name).pipe(
            Effect.tap((o) =>
              expect(
                Json.get(o as Json.Json, ["status", "create_fn", "pvcName"]) === name,
                "status"
              )
            )
          )
        )
      })
    )

    it.effect("says which permission is missing when the operator may not patch PVCs", () =>
      Effect.gen(function* () {
        const { admin, noPatchKubeconfig } = yield* Cluster
        const ns = yield* freshNamespace
        yield* operatorAs({ kubeconfig: noPatchKubeconfig })
        yield* admin.create(evc, claim(ns, "no-patch", { size: "1G" }))
        yield* created(ns, "no-patch")
        yield* admin.patch(evc, "no-patch", ApiPatch.merge({ spec: { size: "2G" } }), {
          namespace: ns
        })
        const missing = `user "${NO_PATCH_USER}" may not patch persistentvolumeclaims; add "patch" on persistentvolumeclaims to the operator's role`
        const message = yield* retryMessage(ns, "no-patch")
        assert.include(message, missing)
        assert.notInclude(message, "StorageClass")
        yield* warned(ns, "no-patch", missing)
        assert.strictEqual(storage(yield* get(pvcs, ns, "no-patch")), "1G")
      })
    )

    it.effect("names the StorageClass when it does not allow expansion", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        yield* operatorAs({ storageClass: "kubefx-fixed" })
        yield* admin.create(evc, claim(ns, "fixed", { size: "1G" }))
        yield* eventually(get(pvcs, ns, "fixed"))
        yield* markBound(ns, "fixed", "1G")
        yield* created(ns, "fixed")
        yield* admin.patch(evc, "fixed", ApiPatch.merge({ spec: { size: "2G" } }), {
          namespace: ns
        })
        const fixed = `its StorageClass "kubefx-fixed" does not allow volume expansion`
        const message = yield* retryMessage(ns, "fixed")
        assert.include(message, fixed)
        assert.notInclude(message, "may not patch")
        yield* warned(ns, "fixed", fixed)
        assert.strictEqual(storage(yield* get(pvcs, ns, "fixed")), "1G")
      })
    )

    it.effect("lets the garbage collector delete the PVC with its EVC", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        yield* startOperator
        yield* admin.create(evc, claim(ns, "short-lived", { size: "1G" }))
        yield* eventually(get(pvcs, ns, "short-lived"))
        yield* admin.delete(evc, "short-lived", { namespace: ns })
        const evcGone = yield* eventually(Effect.flip(get(evc, ns, "short-lived")))
        assert.strictEqual(evcGone._tag, "NotFound")
        const pvcGone = yield* eventually(Effect.flip(get(pvcs, ns, "short-lived")))
        assert.strictEqual(pvcGone._tag, "NotFound")
      })
    )

    it.effect("adopts its own PVC after a restart and does not run handlers again", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        // As if an operator had created the PVC and died before writing the EVC's status.
        const created = yield* admin.create(evc, claim(ns, "adopted", { size: "1G" }))
        yield* admin.create(pvcs, {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: {
            name: "adopted",
            namespace: ns,
            ownerReferences: [
              {
                apiVersion: "kopf.dev/v1",
                kind: "EphemeralVolumeClaim",
                name: "adopted",
                uid: created.metadata?.uid ?? "",
                controller: true
              }
            ]
          },
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: "kubefx-expandable",
            resources: { requests: { storage: "1G" } }
          }
        })
        const first = yield* Effect.scoped(
          Effect.gen(function* () {
            yield* startOperator
            return yield* eventually(
              get(evc, ns, "adopted").pipe(
                Effect.tap((o) =>
                  expect(
                    Json.get(o as Json.Json, ["status", "create_fn", "pvcName"]) === "adopted",
                    "adopted"
                  )
                )
              )
            )
          })
        )
        assert.isUndefined(Json.get(first as Json.Json, ["status", "kubefx", "errors"]))
        const pvcList = yield* admin.list(pvcs, { namespace: ns })
        assert.strictEqual(pvcList.items.length, 1)
        const eventsBefore = (yield* eventsAbout(ns, "adopted")).length

        // A second operator process resumes: nothing to do, nothing written, nothing posted.
        const operator = yield* startOperator
        yield* Effect.sleep("2 seconds")
        yield* operator.stop
        const after = yield* get(evc, ns, "adopted")
        assert.strictEqual(after.metadata?.resourceVersion, first.metadata?.resourceVersion)
        assert.strictEqual((yield* eventsAbout(ns, "adopted")).length, eventsBefore)
        assert.strictEqual((yield* admin.list(pvcs, { namespace: ns })).items.length, 1)
      })
    )

    it.effect("reports a PVC of the same name that is not its own as a permanent error", () =>
      Effect.gen(function* () {
        const { admin } = yield* Cluster
        const ns = yield* freshNamespace
        yield* admin.create(pvcs, {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: "taken", namespace: ns },
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "5G" } } }
        })
        yield* startOperator
        yield* admin.create(evc, claim(ns, "taken", { size: "1G" }))
        const failed = yield* eventually(
          get(evc, ns, "taken").pipe(
            Effect.map((o) =>
              Json.get(o as Json.Json, ["status", "kubefx", "errors", "create_fn"])
            ),
            Effect.tap((m) => expect(m !== undefined, "error recorded"))
          )
        )
        assert.include(String(failed), "not owned by this EVC")
        const pvc = yield* get(pvcs, ns, "taken")
        assert.strictEqual(storage(pvc), "5G")
        assert.isUndefined(pvc.metadata?.ownerReferences)
      })
    )
  }
)
