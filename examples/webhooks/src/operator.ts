/**
 * The Bucket operator: a `Bucket` asks for storage of a size in a storage class. It shows
 * kubefx's webhooks, served by the operator itself and called by the API server:
 *
 * - **validation** (`Handler.validate`): `limits` refuses a bucket above 1000 Gi or of an
 *   unknown class (with a warning for one above 100 Gi); `protect` refuses to delete a bucket
 *   labelled `buckets.kubefx.dev/protected: "true"`;
 * - **mutation** (`Handler.mutate`): `defaults` gives a new bucket the `standard` class when it
 *   names none, and labels it with the user who created it;
 * - **conversion** (`Conversion.make`): `v1` writes the size as text (`"10Gi"`), `v2` (stored)
 *   as `{ amount, unit }` and calls the class `storageClass`; the API server asks the operator
 *   to convert between them, so clients of either version see every bucket;
 * - a plain create handler (`provision`) writes `status.provision` as any operator would.
 *
 *   kubefx generate crd examples/webhooks/src/operator.ts | kubectl apply -f -
 *   kubefx run examples/webhooks/src/operator.ts -n default --webhook-port 9443 \
 *     --webhook-generate-cert 127.0.0.1 --webhook-managed buckets.kubefx.dev
 *
 * @since 0.1.0
 */
import { Admission, Conversion, Handler, Registry, Resource } from "@kubefx/core"
import { Effect, Schema, SchemaTransformation } from "effect"

/** The storage classes a bucket may name. @since 0.1.0 */
export const classes = ["standard", "fast", "archive"] as const

const Unit = Schema.Literals(["Mi", "Gi"])

/** `v1`: the size as text, `"<amount><unit>"` (no leading zeros: one text per size). @since 0.1.0 */
export const BucketV1 = Schema.Struct({
  size: Schema.String.check(Schema.isPattern(/^(0|[1-9][0-9]{0,6})(Mi|Gi)$/u)),
  class: Schema.optionalKey(Schema.String)
})

/** `v2`, stored: the size as a number and a unit; `class` is now `storageClass`. @since 0.1.0 */
export const BucketV2 = Schema.Struct({
  size: Schema.Struct({
    amount: Schema.Int.check(
      Schema.isGreaterThanOrEqualTo(0),
      Schema.isLessThanOrEqualTo(9_999_999)
    ),
    unit: Unit
  }),
  storageClass: Schema.optionalKey(Schema.String)
})

/** `v1` to `v2` and back, as a Schema transformation. @since 0.1.0 */
export const v1ToV2 = BucketV1.pipe(
  Schema.decodeTo(
    BucketV2,
    SchemaTransformation.transform({
      decode: (v1) => {
        const [, amount, unit] = /^(\d+)(Mi|Gi)$/.exec(v1.size) ?? []
        return {
          size: { amount: Number(amount), unit: unit as "Mi" | "Gi" },
          ...(v1.class === undefined ? {} : { storageClass: v1.class })
        }
      },
      encode: (v2) => ({
        size: `${v2.size.amount}${v2.size.unit}`,
        ...(v2.storageClass === undefined ? {} : { class: v2.storageClass })
      })
    })
  )
)

/** The Bucket's versions and their conversion. @since 0.1.0 */
export const buckets = Conversion.make({
  group: "buckets.kubefx.dev",
  kind: "Bucket",
  plural: "buckets",
  storage: "v2",
  versions: [
    { name: "v1", spec: BucketV1 },
    {
      name: "v2",
      spec: BucketV2,
      printerColumns: [
        { name: "Class", type: "string", jsonPath: ".spec.storageClass" },
        { name: "Amount", type: "integer", jsonPath: ".spec.size.amount" },
        { name: "Unit", type: "string", jsonPath: ".spec.size.unit" }
      ]
    }
  ],
  conversions: [Conversion.between("v1", "v2", v1ToV2)]
})

/** The stored version, which the handlers serve (`ctx.spec` typed by `BucketV2`). @since 0.1.0 */
export const bucketsV2 = Resource.make({
  group: buckets.group,
  version: "v2",
  plural: buckets.plural,
  kind: buckets.kind,
  spec: BucketV2
})

/** The `v1` view, for clients of the old version. @since 0.1.0 */
export const bucketsV1 = Resource.make({
  group: buckets.group,
  version: "v1",
  plural: buckets.plural,
  kind: buckets.kind,
  spec: BucketV1
})

/** The CRD (every version, v2 stored); the operator points its conversion at itself. @since 0.1.0 */
export const crd = Conversion.crd(buckets)

/** The label that protects a bucket from deletion. @since 0.1.0 */
export const protectedLabel = "buckets.kubefx.dev/protected"

/** The label naming who created a bucket. @since 0.1.0 */
export const ownerLabel = "buckets.kubefx.dev/created-by"

const gibibytes = (size: (typeof BucketV2.Type)["size"]) =>
  size.unit === "Gi" ? size.amount : size.amount / 1024

/** The operator. @since 0.1.0 */
export const registry = Registry.make(
  buckets,
  Handler.mutate(bucketsV2, { id: "defaults", operations: ["CREATE"] }, (ctx) =>
    Effect.gen(function* () {
      if (ctx.spec.storageClass === undefined)
        yield* ctx.patch.merge({ spec: { storageClass: "standard" } })
      yield* ctx.patch.labels({
        [ownerLabel]: (ctx.userInfo.username ?? "unknown").replaceAll(":", ".")
      })
    })
  ),
  Handler.validate(bucketsV2, { id: "limits", operations: ["CREATE", "UPDATE"] }, (ctx) =>
    Effect.gen(function* () {
      const size = gibibytes(ctx.spec.size)
      if (size > 1000)
        return yield* new Admission.AdmissionError({
          message: `a bucket holds at most 1000Gi; this one asks for ${ctx.spec.size.amount}${ctx.spec.size.unit}`,
          code: 422
        })
      const storageClass = ctx.spec.storageClass ?? "standard"
      if (!(classes as ReadonlyArray<string>).includes(storageClass))
        return yield* new Admission.AdmissionError({
          message: `unknown storage class ${JSON.stringify(storageClass)}; use one of ${classes.join(", ")}`,
          code: 422
        })
      if (size > 100) yield* ctx.warn(`a bucket of ${size}Gi is large; consider the archive class`)
    })
  ),
  Handler.validate(bucketsV2, { id: "protect", operations: ["DELETE"] }, (ctx) =>
    ctx.labels[protectedLabel] === "true"
      ? Effect.fail(
          new Admission.AdmissionError({
            message: `bucket ${ctx.name} is protected; remove the label ${protectedLabel} first`
          })
        )
      : Effect.void
  ),
  Handler.onCreate(bucketsV2, { id: "provision" }, (ctx) =>
    Effect.succeed({
      storageClass: ctx.spec.storageClass ?? "standard",
      gibibytes: gibibytes(ctx.spec.size)
    })
  )
)
