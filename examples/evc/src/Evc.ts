/**
 * The EphemeralVolumeClaim resource: its spec and status as Effect Schemas, the one source from
 * which the CRD manifest (`deploy/crd.yaml`), the handlers' types and the decoder all come.
 */
import { Crd, Resource } from "@kubefx/core"
import { Schema } from "effect"

/**
 * A positive Kubernetes quantity without a sign: Kubernetes' quantity grammar (digits with an
 * optional fraction, then a decimal suffix `n u m k M G T P E`, a binary one `Ki Mi Gi Ti Pi Ei`,
 * or an exponent `e3`, `E-2`), with a non-zero digit somewhere in the number. `0`, `0.0`, `-1`,
 * `+1G`, `.` and `1iiii` are refused; a size never needs a sign, so `+` is refused too.
 * The `u` flag matters: Effect exports a pattern to JSON Schema (and so to the CRD) only with it.
 */
export const positiveQuantity =
  /^([0-9]*[1-9][0-9]*(\.[0-9]*)?|[0-9]*\.[0-9]*[1-9][0-9]*)([numkMGTPE]|[KMGTPE]i|[eE][-+]?[0-9]+)?$/u

/** What a user reads when a size is refused, from the API server or from the decoder. */
export const quantityMessage = "must be a positive quantity without a sign, e.g. 1G, 500Mi or 1.5Gi"

/**
 * The size's schema. The CRD carries both the pattern (which the simulated cluster checks as
 * well) and a CEL rule of the API server's quantity library (which parses exactly as the PVC's
 * validation does, and gives the readable message).
 */
export const Quantity = Schema.String.check(
  Schema.isPattern(positiveQuantity, { message: `size ${quantityMessage}` })
).annotate({
  description: "The PVC's size: a positive quantity without a sign, e.g. 1G, 500Mi or 1.5Gi",
  "x-kubernetes-validations": [
    {
      rule: "!self.startsWith('+') && isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",
      message: quantityMessage
    }
  ]
})

/**
 * The spec. `size` is optional in the schema on purpose: an EVC without one is accepted by the
 * API server and reported by the operator as a permanent error (in its status and as an Event),
 * as in Kopf's walkthrough; a malformed, zero or negative size is refused by the API server already.
 */
export const EvcSpec = Schema.Struct({
  size: Schema.optionalKey(Quantity)
})
export type EvcSpec = typeof EvcSpec.Type

/** What the handlers write: each handler's result lands under its id. */
export const EvcStatus = Schema.Struct({
  create_fn: Schema.optionalKey(Schema.Struct({ pvcName: Schema.String })),
  update_fn: Schema.optionalKey(Schema.Struct({ pvcName: Schema.String, size: Schema.String }))
})

export const evc = Resource.make({
  group: "kopf.dev",
  version: "v1",
  plural: "ephemeralvolumeclaims",
  kind: "EphemeralVolumeClaim",
  spec: EvcSpec
})

/** The CRD manifest, generated from the schemas above. */
export const crd = Crd.make({
  group: evc.group,
  kind: evc.kind,
  plural: evc.plural,
  shortNames: ["evc", "evcs"],
  versions: [
    {
      name: evc.version,
      spec: EvcSpec,
      status: EvcStatus,
      printerColumns: [
        { name: "Size", type: "string", jsonPath: ".spec.size" },
        { name: "PVC", type: "string", jsonPath: ".status.create_fn.pvcName" },
        { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }
      ]
    }
  ]
})
