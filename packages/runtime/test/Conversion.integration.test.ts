/**
 * CRD version conversion through the real kube-apiserver: the CRD has two versions with
 * different spec Schemas (v2 stored), the operator points its conversion at its webhook server,
 * and an object created as v1, read as v2, updated as v2 and read as v1 loses nothing; a list
 * as v1 converts every object.
 */
import { assert, layer } from "@effect/vitest"
import { Conversion, type KubeObject, Registry } from "@kubefx/core"
import { Effect, Schedule, Schema, SchemaTransformation } from "effect"
import { ApiPatch, Certificates, Kube, Manifests } from "../src/index.ts"
import { ClusterLayer, freshNamespace, withOperator } from "./support.ts"

const group = "conversion.kubefx.test"
const V1 = Schema.Struct({
  size: Schema.String.check(Schema.isPattern(/^(0|[1-9][0-9]{0,5})(Mi|Gi)$/u)),
  replicas: Schema.optionalKey(Schema.Int)
})
const V2 = Schema.Struct({
  size: Schema.Struct({ amount: Schema.Int, unit: Schema.Literals(["Mi", "Gi"]) }),
  replicas: Schema.optionalKey(Schema.Int)
})
const volumes = Conversion.make({
  group,
  kind: "Volume",
  plural: "volumes",
  storage: "v2",
  versions: [
    { name: "v1", spec: V1 },
    { name: "v2", spec: V2 }
  ],
  conversions: [
    Conversion.between(
      "v1",
      "v2",
      V1.pipe(
        Schema.decodeTo(
          V2,
          SchemaTransformation.transform({
            decode: ({ size, ...rest }) => {
              const [, amount, unit] = /^(\d+)(Mi|Gi)$/.exec(size) ?? []
              return { ...rest, size: { amount: Number(amount), unit: unit as "Mi" | "Gi" } }
            },
            encode: ({ size, ...rest }) => ({ ...rest, size: `${size.amount}${size.unit}` })
          })
        )
      )
    )
  ]
})
const v1 = Conversion.resource(volumes, "v1")
const v2 = Conversion.resource(volumes, "v2")

const volume = (
  namespace: string,
  name: string,
  spec: typeof V1.Encoded
): KubeObject.KubeObject => ({
  apiVersion: `${group}/v1`,
  kind: "Volume",
  metadata: { name, namespace, labels: { tier: "gold" }, annotations: { note: "kept" } },
  spec
})

/** An object without what the server changes on each write or version. */
const stable = (o: KubeObject.KubeObject) => {
  const { resourceVersion: _r, managedFields: _m, generation: _g, ...metadata } = o.metadata ?? {}
  return { metadata, spec: o.spec, status: o.status }
}

layer(ClusterLayer, { excludeTestServices: true, timeout: "3 minutes" })("CRD conversion", (it) => {
  it.effect("create as v1, read as v2, update as v2, read as v1: nothing is lost", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* Manifests.apply([Conversion.crd(volumes) as KubeObject.KubeObject])
      yield* Manifests.awaitEstablished(`volumes.${group}`)
      const namespace = yield* freshNamespace
      const at = { namespace }
      yield* withOperator(Registry.make(volumes), {
        namespaces: [namespace],
        webhooks: {
          port: 0,
          host: "127.0.0.1",
          certificates: Certificates.generated(["127.0.0.1"]),
          managed: "volumes.conversion.kubefx.test"
        }
      })
      // The API server picks the CRD's new conversion up shortly after the operator set it.
      yield* kube
        .create(v1, volume(namespace, "probe", { size: "1Mi" }), { ...at, dryRun: true })
        .pipe(
          Effect.retry(
            Schedule.spaced("200 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))
          )
        )

      const created = yield* kube.create(
        v1,
        volume(namespace, "a", { size: "3Gi", replicas: 2 }),
        at
      )
      assert.deepStrictEqual(created.spec, { size: "3Gi", replicas: 2 })
      const asV2 = yield* kube.get(v2, "a", at)
      assert.strictEqual(asV2.apiVersion, `${group}/v2`)
      assert.deepStrictEqual(asV2.spec, { size: { amount: 3, unit: "Gi" }, replicas: 2 })
      assert.deepStrictEqual(stable(asV2).metadata, stable(created).metadata)

      yield* kube.patch(v2, "a", ApiPatch.merge({ spec: { size: { amount: 5 } } }), at)
      yield* kube.patch(v1, "a", ApiPatch.merge({ status: { phase: "Bound" } }), {
        ...at,
        subresource: "status"
      })
      const asV1 = yield* kube.get(v1, "a", at)
      assert.deepStrictEqual(asV1.spec, { size: "5Gi", replicas: 2 })
      assert.deepStrictEqual(asV1.status, { phase: "Bound" })
      assert.deepStrictEqual(stable(asV1).metadata, stable(created).metadata)
      assert.deepStrictEqual((yield* kube.get(v2, "a", at)).status, { phase: "Bound" })

      yield* kube.create(v1, volume(namespace, "b", { size: "7Mi" }), at)
      const listed = yield* kube.list(v1, at)
      assert.deepStrictEqual(
        listed.items.map((o) => [o.metadata?.name, o.spec]),
        [
          ["a", { size: "5Gi", replicas: 2 }],
          ["b", { size: "7Mi" }]
        ]
      )
    })
  )
})
