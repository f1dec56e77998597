import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Json } from "@kubefx/core"
import { Schema } from "effect"
import { parse } from "yaml"
import { EvcSpec } from "../src/Evc.ts"
import { crdPath, crdYaml } from "../src/generate.ts"
import * as Template from "../src/Template.ts"

describe("the EVC example", () => {
  it("keeps deploy/crd.yaml in step with the schemas (run the generate script if this fails)", () => {
    assert.strictEqual(readFileSync(crdPath, "utf8"), crdYaml())
  })

  it("fills the PVC template from the seeds", () => {
    const pvc = Template.render({ name: "my-claim", size: "1G", storageClass: "fast" })
    assert.deepStrictEqual(pvc, {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: {
        name: "my-claim",
        labels: { "app.kubernetes.io/managed-by": "kubefx-evc", "kopf.dev/evc": "my-claim" }
      },
      spec: {
        storageClassName: "fast",
        accessModes: ["ReadWriteOnce"],
        resources: { requests: { storage: "1G" } }
      }
    })
  })

  it("fills values as strings, never as YAML", () => {
    const pvc = Template.render({ name: "a\nkind: Secret", size: "{size}", storageClass: "x" })
    assert.strictEqual(Json.get(pvc, ["metadata", "name"]), "a\nkind: Secret")
    assert.strictEqual(Json.get(pvc, ["kind"]), "PersistentVolumeClaim")
    assert.strictEqual(Json.get(pvc, ["spec", "resources", "requests", "storage"]), "{size}")
  })

  it("accepts quantities and refuses malformed sizes, in the decoder and the CRD alike", () => {
    const decode = Schema.decodeUnknownSync(EvcSpec)
    const crd = parse(crdYaml()) as {
      spec: {
        versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: Json.Json } } } }>
      }
    }
    const sizeSchema = crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec
    const pattern = new RegExp(String(Json.get(sizeSchema, ["properties", "size", "pattern"])), "u")
    for (const size of ["1G", "500Mi", "1.5Gi", "10"]) {
      assert.deepStrictEqual(decode({ size }), { size })
      assert.isTrue(pattern.test(size), size)
    }
    for (const size of ["big", "1 G", "-"]) {
      assert.throws(() => decode({ size }))
      assert.isFalse(pattern.test(size), size)
    }
    assert.deepStrictEqual(decode({}), {})
  })
})
