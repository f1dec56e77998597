import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Json } from "@kubefx/core"

import { Quantity, SimCluster } from "@kubefx/testing"
import { Effect, Exit, Schema } from "effect"
import * as fc from "fast-check"
import { parse } from "yaml"
import { crd, EvcSpec, evc, quantityMessage } from "../src/Evc.ts"
import { crdYaml, files } from "../src/generate.ts"
import * as Template from "../src/Template.ts"
import * as Sizes from "./sizes.ts"

describe("the EVC example", () => {
  it("keeps deploy/'s CRD, RBAC and Deployment in step with the sources (run the generate script if this fails)", () => {
    for (const file of files()) assert.strictEqual(readFileSync(file.path, "utf8"), file.content)
  })

  it("fills the PVC template from Kopf's walkthrough", () => {
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

  describe("sizes", () => {
    const decode = Schema.decodeUnknownExit(EvcSpec)
    const [version] = (parse(crdYaml()) as { spec: { versions: ReadonlyArray<Json.Json> } }).spec
      .versions
    const sizeSchema = Json.get(version, "schema.openAPIV3Schema.properties.spec.properties.size")
    const pattern = new RegExp(String(Json.get(sizeSchema, "pattern")), "u")

    it("admits positive quantities, in the decoder and the CRD's pattern alike", () => {
      for (const size of Sizes.admitted) {
        assert.deepStrictEqual(decode({ size }), Exit.succeed({ size }), size)
        assert.isTrue(pattern.test(size), size)
      }
      assert.deepStrictEqual(decode({}), Exit.succeed({}))
    })

    it("refuses zero, negative, signed and malformed sizes with a message a user understands", () => {
      for (const size of Sizes.refused) {
        const exit = decode({ size })
        assert.isTrue(Exit.isFailure(exit), size)
        assert.include(String(exit), "size must be a positive quantity without a sign", size)
        assert.isFalse(pattern.test(size), size)
      }
    })

    it("carries the API server's CEL quantity rule and its message into the CRD", () => {
      assert.deepStrictEqual(Json.get(sizeSchema, "x-kubernetes-validations"), [
        {
          rule: "!self.startsWith('+') && isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",
          message: quantityMessage
        }
      ])
    })

    it("admits exactly the unsigned quantities greater than zero (by an independent parser)", () => {
      // At most 5 characters, so that no exponent underflows the parser's floating point (the
      // API server rounds any positive quantity up to 1n).
      const quantityish = fc.string({
        unit: fc.constantFrom(..."0123456789.+-eEinumkKMGTP"),
        maxLength: 5
      })
      fc.assert(
        fc.property(quantityish, (size) => {
          const positive = (Quantity.parse(size) ?? 0) > 0 && !/^[+-]/.test(size)
          assert.strictEqual(Exit.isSuccess(decode({ size })), positive, size)
          assert.strictEqual(pattern.test(size), positive, size)
        }),
        { numRuns: 5000 }
      )
    })

    it.effect("the simulated cluster admits and refuses the same sizes", () =>
      Effect.gen(function* () {
        const sim = yield* SimCluster.SimCluster
        const sizes: ReadonlyArray<string> = [...Sizes.admitted, ...Sizes.refused]
        const outcomes = yield* Effect.forEach(sizes, (size, i) =>
          sim.admin
            .create(evc, {
              apiVersion: "kopf.dev/v1",
              kind: evc.kind,
              metadata: { name: `e${i}`, namespace: "default" },
              spec: { size }
            })
            .pipe(
              Effect.map(() => `${size}: admitted`),
              Effect.catchTag("Invalid", () => Effect.succeed(`${size}: refused`))
            )
        )
        assert.deepStrictEqual(outcomes, [
          ...Sizes.admitted.map((size) => `${size}: admitted`),
          ...Sizes.refused.map((size) => `${size}: refused`)
        ])
      }).pipe(Effect.provide(SimCluster.layer({ objects: [crd] })))
    )
  })
})
