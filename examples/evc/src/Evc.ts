/**
 * The EphemeralVolumeClaim resource: its spec and status as Effect Schemas, the one source from
 * which the CRD manifest (`deploy/crd.yaml`), the handlers' types and the decoder all come.
 */
import { Crd, Resource } from "@kubefx/core"
import { Schema } from "effect"

/**
 * A Kubernetes quantity such as `1G`, `500Mi` or `1.5Gi` (the API server's own pattern). The `u`
 * flag matters: Effect exports a pattern to JSON Schema (and so to the CRD) only with it.
 */
export const Quantity = Schema.String.check(
  Schema.isPattern(/^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/u)
).annotate({ description: "A storage quantity, e.g. 1G or 500Mi" })

/**
 * The spec. `size` is optional in the schema on purpose: an EVC without one is accepted by the
 * API server and reported by the operator as a permanent error (in its status and as an Event),
 * as in the seeds; a malformed size is refused by the API server already.
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
