/**
 * The Bucket operator on the real control plane, in-process with `ClusterRunner`: it serves its
 * webhooks over HTTPS with a generated CA, keeps their configurations and points the CRD's
 * conversion at itself. A v1 client's bucket is converted, given its defaults and stored as v2;
 * a bucket above the limit is refused with the handler's message; a protected one is not
 * deleted; the create handler still runs.
 */
import { assert, layer } from "@effect/vitest"
import { Json } from "@kubefx/core"
import { Certificates } from "@kubefx/runtime"
import { ClusterRunner } from "@kubefx/testing"
import { Effect, Schedule } from "effect"
import { bucketsV1, bucketsV2, crd, ownerLabel, protectedLabel, registry } from "../src/operator.ts"

const settings = {
  namespaces: ["default"],
  webhooks: {
    port: 0,
    host: "127.0.0.1",
    certificates: Certificates.generated(["127.0.0.1"]),
    managed: "buckets.kubefx.dev"
  }
}

const v1Bucket = (name: string, spec: Json.JsonObject, labels: Record<string, string> = {}) => ({
  apiVersion: "buckets.kubefx.dev/v1",
  kind: "Bucket",
  metadata: { name, namespace: "default", labels },
  spec
})

const at = { namespace: "default" }

layer(ClusterRunner.layer(registry, { crds: [crd], settings }), {
  excludeTestServices: true,
  timeout: "3 minutes"
})("the Bucket operator on a real API server", (it) => {
  it.effect("conversion, defaults, limits and protection, through the API server", () =>
    Effect.gen(function* () {
      const { kube } = yield* ClusterRunner.ClusterRunner
      // The API server picks the CRD's conversion up shortly after the operator set it.
      yield* kube
        .create(bucketsV1, v1Bucket("probe", { size: "1Gi" }), { ...at, dryRun: true })
        .pipe(
          Effect.retry(
            Schedule.spaced("200 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))
          )
        )

      const created = yield* kube.create(
        bucketsV1,
        v1Bucket("a", { size: "20Gi" }, { [protectedLabel]: "true" }),
        at
      )
      assert.deepStrictEqual(created.spec, { size: "20Gi", class: "standard" })
      assert.strictEqual(created.metadata?.labels?.[ownerLabel], "kubefx-admin")
      const stored = yield* kube.get(bucketsV2, "a", at)
      assert.deepStrictEqual(stored.spec, {
        size: { amount: 20, unit: "Gi" },
        storageClass: "standard"
      })

      const huge = yield* kube
        .create(bucketsV1, v1Bucket("huge", { size: "2000Gi" }), at)
        .pipe(Effect.flip)
      assert.include(
        huge.message,
        'admission webhook "limits.buckets.kubefx.dev" denied the request'
      )
      assert.include(huge.message, "a bucket holds at most 1000Gi; this one asks for 2000Gi")

      const kept = yield* kube.delete(bucketsV1, "a", at).pipe(Effect.flip)
      assert.include(kept.message, "bucket a is protected")

      const provisioned = yield* kube.get(bucketsV2, "a", at).pipe(
        Effect.filterOrFail((b) => Json.get(b, "status.provision") !== undefined),
        Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ duration: "30 seconds" })))
      )
      assert.deepStrictEqual(Json.get(provisioned, "status.provision"), {
        storageClass: "standard",
        gibibytes: 20
      })
    })
  )
})
