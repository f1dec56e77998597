/**
 * The kubefx side of the admission benchmark: one validating handler, the same rule as
 * `kopf_operator.py`'s (a Probe's `spec.size` above 100 is refused with 422), run by
 * `kubefx run ... --webhook-port ... --webhook-cert-dir ... --webhook-managed ...`.
 */
import { Admission, Handler, Registry, Resource } from "@kubefx/core"
import { Effect, Schema } from "effect"

export const probes = Resource.make({
  group: "bench.kubefx.dev",
  version: "v1",
  plural: "probes",
  kind: "Probe",
  spec: Schema.Struct({ size: Schema.Int })
})

export const registry = Registry.make(
  Handler.validate(probes, { id: "size-limit", operations: ["CREATE"] }, (ctx) =>
    ctx.spec.size > 100
      ? Effect.fail(
          new Admission.AdmissionError({ message: `size ${ctx.spec.size} is above 100`, code: 422 })
        )
      : Effect.void
  )
)
