/**
 * CustomResourceDefinitions from Effect Schemas: one source of truth for a resource's spec and
 * status, from which kubefx derives the CRD manifest, the types handlers see, and the decoder.
 *
 * Effect writes JSON Schema draft 2020-12; Kubernetes accepts only *structural* OpenAPI 3.0
 * schemas. {@link structural} lowers one to the other:
 *
 * - `anyOf: [X, { type: "null" }]` (from `Schema.NullOr`, `Schema.optional`) becomes X with
 *   `nullable: true`;
 * - `{}` (`Schema.Unknown`, `Schema.Any`) becomes `x-kubernetes-preserve-unknown-fields: true`;
 * - a union annotated `x-kubernetes-int-or-string` (e.g. `Schema.Union([Schema.String,
 *   Schema.Int])`) or `x-kubernetes-preserve-unknown-fields` is kept as it is;
 * - `$ref`s to definitions are inlined (recursive schemas cannot be structural and are refused);
 * - `additionalProperties` beside `properties` is dropped (Kubernetes prunes unknown fields,
 *   as Effect's decoder ignores them by default); `const` becomes a one-value `enum`;
 * - a numeric `exclusiveMinimum` / `exclusiveMaximum` (draft 2020-12, from
 *   `Schema.isGreaterThan`, `Schema.isLessThan`) becomes `minimum` / `maximum` with the boolean
 *   `exclusiveMinimum` / `exclusiveMaximum: true` of OpenAPI 3.0;
 * - keys Kubernetes does not know (`examples`, `$id`, `contentEncoding`, ...) are dropped, and
 *   annotations named `x-kubernetes-*` are carried through;
 * - Effect exports a `Schema.isPattern` check to JSON Schema only when its RegExp has the `u`
 *   flag (`/^[a-z]+$/u`); without it the CRD silently lacks the `pattern`;
 * - anything that cannot be made structural (a union of different types, a tuple) fails with
 *   {@link CrdError} naming the path, instead of a manifest the API server would refuse.
 *
 * @since 0.1.0
 */
import { Data, Schema } from "effect"
import * as Json from "./Json.ts"

/**
 * A JSON Schema / OpenAPI object, as plain JSON.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonSchema = Json.JsonObject

/**
 * The schema cannot be expressed as a structural OpenAPI 3.0 schema; `path` says where.
 *
 * @since 0.1.0
 * @category errors
 */
export class CrdError extends Data.TaggedError("CrdError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.path}: ${this.reason}`
  }
}

const keptKeys = new Set([
  "type",
  "format",
  "title",
  "description",
  "default",
  "enum",
  "maximum",
  "minimum",
  "exclusiveMaximum",
  "exclusiveMinimum",
  "maxLength",
  "minLength",
  "pattern",
  "maxItems",
  "minItems",
  "uniqueItems",
  "multipleOf",
  "maxProperties",
  "minProperties",
  "required",
  "nullable"
])

const isObject = Json.isObject as (value: unknown) => value is Record<string, Json.Json>

const isNullSchema = (value: unknown) => isObject(value) && value.type === "null"

/**
 * Lowers a draft 2020-12 JSON Schema (with its `definitions`) to a structural OpenAPI 3.0 schema.
 *
 * @example
 * ```ts
 * import { Crd } from "@kubefx/core"
 *
 * Crd.structural({ anyOf: [{ type: "string" }, { type: "null" }] })
 * // { type: "string", nullable: true }
 * ```
 * @since 0.1.0
 * @category lowering
 */
export const structural = (
  schema: JsonSchema,
  definitions: Readonly<Record<string, JsonSchema>> = {}
): JsonSchema => lower(schema, { definitions, path: "", refs: [] })

/** Where the lowering is: the definitions, the path (for messages), the `$ref`s inlined on the way. */
interface At {
  readonly definitions: Readonly<Record<string, JsonSchema>>
  readonly path: string
  readonly refs: ReadonlyArray<string>
}

type Lowered = Record<string, Json.Json>

const lower = (schema: JsonSchema, at: At): Lowered => {
  if (typeof schema.$ref === "string") return lowerRef(schema, schema.$ref, at)
  if (Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf)) return lowerUnion(schema, at)
  if (Array.isArray(schema.allOf)) {
    const { allOf, ...rest } = schema
    return lower(Object.assign({}, ...(allOf as ReadonlyArray<JsonSchema>), rest), at)
  }
  return lowerTyped(schema, at)
}

const refused = (at: At, reason: string): CrdError =>
  new CrdError({ path: at.path === "" ? "<root>" : at.path, reason })

/** A `$ref` is inlined, its target under the referring schema's own keys. */
const lowerRef = (schema: JsonSchema, ref: string, at: At): Lowered => {
  const key = decodeURIComponent(ref.replace(/^#\/(\$defs|definitions)\//, ""))
  const target = at.definitions[key]
  if (target === undefined) throw refused(at, `unknown $ref ${ref}`)
  if (at.refs.includes(key))
    throw refused(at, `recursive schema "${key}" cannot be a structural CRD schema`)
  const { $ref: _, ...rest } = schema
  return lower({ ...target, ...rest }, { ...at, refs: [...at.refs, key] })
}

/** `anyOf` / `oneOf`: nullable, marked int-or-string or free-form, one option, or an enum. */
const lowerUnion = (schema: JsonSchema, at: At): Lowered => {
  const options = (schema.anyOf ?? schema.oneOf) as ReadonlyArray<JsonSchema>
  const { anyOf: _a, oneOf: _o, ...rest } = schema
  const nonNull = options.filter((option) => !isNullSchema(option))
  const nullable = nonNull.length < options.length ? { nullable: true } : {}
  // A union the user marked as int-or-string or free-form is structural as it is.
  if (
    rest["x-kubernetes-int-or-string"] === true ||
    rest["x-kubernetes-preserve-unknown-fields"] === true
  )
    return lower({ ...rest, ...nullable }, at)
  if (nonNull.length === 1) return lower({ ...nonNull[0], ...rest, ...nullable }, at)
  // A union of literals of one type (e.g. Schema.Literals) is an enum of that type.
  const lowered = nonNull.map((option) => lower(option, at))
  const types = new Set(lowered.map((option) => option.type))
  if (types.size === 1 && lowered.every((option) => Array.isArray(option.enum))) {
    return {
      ...lower(rest, at),
      type: lowered[0]!.type ?? null,
      enum: lowered.flatMap((option) => option.enum as ReadonlyArray<Json.Json>),
      ...nullable
    }
  }
  throw refused(
    at,
    `a union of ${[...types].join(" | ")} is not structural: give the field one type, or annotate it with "x-kubernetes-preserve-unknown-fields"`
  )
}

/** A schema without combinators: its kept keys, its one type, and its fields or items. */
const lowerTyped = (schema: JsonSchema, at: At): Lowered => {
  const out: Lowered = {}
  for (const [key, value] of Object.entries(schema))
    if (keptKeys.has(key) || key.startsWith("x-kubernetes-")) out[key] = value
  if ("const" in schema) out.enum = [schema.const]
  lowerBound(out, "minimum", "exclusiveMinimum", (a, b) => a > b)
  lowerBound(out, "maximum", "exclusiveMaximum", (a, b) => a < b)
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((type) => type !== "null")
    if (types.length !== 1)
      throw refused(at, `a field of types ${schema.type.join(", ")} is not structural`)
    out.type = types[0]
    if (types.length < schema.type.length) out.nullable = true
  }
  if (out.type === "null") throw refused(at, "a field that is always null is not structural")
  lowerFields(schema, out, at)
  lowerItems(schema, out, at)
  if (
    out.type === undefined &&
    out["x-kubernetes-int-or-string"] !== true &&
    out["x-kubernetes-preserve-unknown-fields"] !== true
  ) {
    const onlyDocs = Object.keys(out).every(
      (key) => key === "description" || key === "title" || key === "default"
    )
    if (!onlyDocs) throw refused(at, `no type: ${JSON.stringify(schema)}`)
    out["x-kubernetes-preserve-unknown-fields"] = true
  }
  return out
}

/**
 * A draft 2020-12 exclusive bound (a number) as OpenAPI 3.0 writes it: the bound under `inclusive`
 * and `exclusive: true`. Where both bounds are given, the stricter one is kept.
 */
const lowerBound = (
  out: Lowered,
  inclusive: "minimum" | "maximum",
  exclusive: "exclusiveMinimum" | "exclusiveMaximum",
  stricter: (a: number, b: number) => boolean
): void => {
  const bound = out[exclusive]
  if (typeof bound !== "number") return
  const other = out[inclusive]
  if (typeof other === "number" && stricter(other, bound)) delete out[exclusive]
  else {
    out[inclusive] = bound
    out[exclusive] = true
  }
}

/** An object's `properties`, or its `additionalProperties`, or else it keeps unknown fields. */
const lowerFields = (schema: JsonSchema, out: Lowered, at: At): void => {
  if (isObject(schema.properties)) {
    out.type = "object"
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([name, property]) => [
        name,
        lower(property as JsonSchema, { ...at, path: `${at.path}.${name}` })
      ])
    )
    if (Array.isArray(schema.required) && schema.required.length === 0) delete out.required
  } else if (isObject(schema.additionalProperties)) {
    out.type = "object"
    out.additionalProperties = lower(schema.additionalProperties, { ...at, path: `${at.path}.*` })
  } else if (out.type === "object" && out["x-kubernetes-preserve-unknown-fields"] === undefined) {
    // An object with no declared fields: keep whatever it holds.
    out["x-kubernetes-preserve-unknown-fields"] = true
  }
}

/** An array's one item type (tuples are refused). */
const lowerItems = (schema: JsonSchema, out: Lowered, at: At): void => {
  if (schema.type !== "array" && out.type !== "array") return
  if (Array.isArray(schema.prefixItems))
    throw refused(at, "tuples are not structural: use an array of one item type")
  out.items = isObject(schema.items)
    ? lower(schema.items, { ...at, path: `${at.path}[]` })
    : { "x-kubernetes-preserve-unknown-fields": true }
}

/**
 * The structural schema of an Effect Schema's JSON form.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Crd } from "@kubefx/core"
 *
 * Crd.fromSchema(Schema.Struct({ size: Schema.String }))
 * // { type: "object", properties: { size: { type: "string" } }, required: ["size"] }
 * ```
 * @since 0.1.0
 * @category lowering
 */
export const fromSchema = <S extends Schema.Top>(schema: S): JsonSchema => {
  const document = Schema.toJsonSchemaDocument(schema, {
    includeAnnotationKey: (key) => key.startsWith("x-kubernetes-")
  })
  return structural(
    document.schema as JsonSchema,
    document.definitions as Record<string, JsonSchema>
  )
}

/**
 * A printer column (`kubectl get` output).
 *
 * @since 0.1.0
 * @category models
 */
export interface PrinterColumn {
  readonly name: string
  readonly type: "string" | "integer" | "number" | "boolean" | "date"
  readonly jsonPath: string
  readonly description?: string
  readonly priority?: number
}

/**
 * One served version of a CRD.
 *
 * @since 0.1.0
 * @category models
 */
export interface Version {
  readonly name: string
  readonly spec: Schema.Top
  /** The status the user's code writes; kubefx's own fields are kept beside it. */
  readonly status?: Schema.Top
  readonly served?: boolean
  readonly storage?: boolean
  readonly printerColumns?: ReadonlyArray<PrinterColumn>
}

/**
 * What {@link make} needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Definition {
  readonly group: string
  readonly kind: string
  readonly plural: string
  readonly singular?: string
  readonly shortNames?: ReadonlyArray<string>
  readonly categories?: ReadonlyArray<string>
  readonly scope?: "Namespaced" | "Cluster"
  readonly versions: ReadonlyArray<Version>
  /** Versions converted by a webhook: `strategy: Webhook` with `conversionReviewVersions:
   * ["v1"]` and this `clientConfig` (a `url` or a `service`, and a `caBundle`); see
   * `Conversion.crd`. Without it, the API server converts by changing `apiVersion` only. */
  readonly conversion?: { readonly clientConfig: Json.JsonObject } | undefined
}

/**
 * The CustomResourceDefinition manifest (`apiextensions.k8s.io/v1`) of a resource whose spec
 * and status are Effect Schemas, with the status subresource enabled.
 *
 * The status schema keeps unknown fields (`x-kubernetes-preserve-unknown-fields`) because
 * kubefx stores handler results and progress there, beside the fields the user declared.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Crd } from "@kubefx/core"
 *
 * const crd = Crd.make({
 *   group: "kopf.dev",
 *   kind: "EphemeralVolumeClaim",
 *   plural: "ephemeralvolumeclaims",
 *   shortNames: ["evc"],
 *   versions: [{ name: "v1", spec: Schema.Struct({ size: Schema.String }) }]
 * })
 * crd.metadata.name // "ephemeralvolumeclaims.kopf.dev"
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (definition: Definition) => {
  const versions = definition.versions.map((version, index) => {
    const status = version.status === undefined ? { type: "object" } : fromSchema(version.status)
    return {
      name: version.name,
      served: version.served ?? true,
      storage: version.storage ?? index === 0,
      subresources: { status: {} },
      schema: {
        openAPIV3Schema: {
          type: "object",
          properties: {
            spec: fromSchema(version.spec),
            status: { ...status, "x-kubernetes-preserve-unknown-fields": true }
          }
        }
      },
      ...(version.printerColumns === undefined
        ? {}
        : { additionalPrinterColumns: version.printerColumns.map((column) => ({ ...column })) })
    }
  })
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${definition.plural}.${definition.group}` },
    spec: {
      group: definition.group,
      scope: definition.scope ?? "Namespaced",
      names: {
        kind: definition.kind,
        plural: definition.plural,
        singular: definition.singular ?? definition.kind.toLowerCase(),
        ...(definition.shortNames === undefined ? {} : { shortNames: definition.shortNames }),
        ...(definition.categories === undefined ? {} : { categories: definition.categories })
      },
      versions,
      ...(definition.conversion === undefined
        ? {}
        : {
            conversion: {
              strategy: "Webhook",
              webhook: {
                conversionReviewVersions: ["v1"],
                clientConfig: definition.conversion.clientConfig
              }
            }
          })
    }
  }
}
