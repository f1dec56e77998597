/**
 * CRDs lowered from Effect Schemas by the core are accepted by the real API server, which then
 * enforces the Schema's checks: a valid object is stored, each out-of-bounds field is refused.
 */
import { assert, layer } from "@effect/vitest"
import { Builtins, Crd, Resource } from "@kubefx/core"
import { Effect, Schema } from "effect"
import { Kube } from "../src/index.ts"
import { ClusterLayer, eventually, freshNamespace } from "./support.ts"

const group = "crd.kubefx.test"
const Spec = Schema.Struct({
  replicas: Schema.Int.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(10)),
  ratio: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1)),
  name: Schema.String.check(Schema.isMinLength(1), Schema.isPattern(/^[a-z]+$/u)),
  mode: Schema.optional(Schema.Literals(["fast", "slow"]))
})
const crd = Crd.make({
  group,
  kind: "Bounded",
  plural: "boundeds",
  versions: [{ name: "v1", spec: Spec }]
})
const boundeds = Resource.make({ group, version: "v1", plural: "boundeds", kind: "Bounded" })

layer(ClusterLayer, { excludeTestServices: true, timeout: "5 minutes" })(
  "CRDs from Effect Schemas on a real API server",
  (it) => {
    it.effect("the server accepts the CRD and enforces the Schema's checks", () =>
      Effect.gen(function* () {
        const kube = yield* Kube
        yield* kube
          .create(Builtins.customResourceDefinitions, crd as never)
          .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
        const namespace = yield* freshNamespace
        yield* eventually(kube.list(boundeds, { namespace, limit: 1 }))
        const object = (name: string, spec: Record<string, unknown>) => ({
          apiVersion: `${group}/v1`,
          kind: "Bounded",
          metadata: { name, namespace },
          spec: { replicas: 1, ratio: 0.5, name: "abc", ...spec }
        })
        yield* kube.create(boundeds, object("valid", {}) as never, { namespace })
        const refused = [
          { replicas: 0 },
          { replicas: 11 },
          { ratio: 1 },
          { ratio: -0.1 },
          { name: "" },
          { name: "ABC" },
          { mode: "medium" }
        ]
        for (const [index, spec] of refused.entries()) {
          const exit = yield* kube
            .create(boundeds, object(`bad-${index}`, spec) as never, { namespace })
            .pipe(Effect.flip)
          assert.strictEqual(exit._tag, "Invalid", `${JSON.stringify(spec)} is refused`)
        }
      })
    )
  }
)
