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

/** A JSON Schema / OpenAPI object, as plain JSON. @since 0.1.0 */
export type JsonSchema = Json.JsonObject

/** The schema cannot be expressed as a structural OpenAPI 3.0 schema; `path` says where. @since 0.1.0 */
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
 */
export const structural = (
  schema: JsonSchema,
  definitions: Readonly<Record<string, JsonSchema>> = {}
): JsonSchema => lower(schema, definitions, "", [])

const lower = (
  schema: JsonSchema,
  definitions: Readonly<Record<string, JsonSchema>>,
  path: string,
  refs: ReadonlyArray<string>
): Record<string, Json.Json> => {
  const at = path === "" ? "<root>" : path
  if (typeof schema.$ref === "string") {
    const key = decodeURIComponent(schema.$ref.replace(/^#\/(\$defs|definitions)\//, ""))
    const target = definitions[key]
    if (target === undefined)
      throw new CrdError({ path: at, reason: `unknown $ref ${schema.$ref}` })
    if (refs.includes(key)) {
      throw new CrdError({
        path: at,
        reason: `recursive schema "${key}" cannot be a structural CRD schema`
      })
    }
    const { $ref: _, ...rest } = schema
    return lower({ ...target, ...rest }, definitions, path, [...refs, key])
  }
  if (Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf)) {
    const options = (schema.anyOf ?? schema.oneOf) as ReadonlyArray<JsonSchema>
    const { anyOf: _a, oneOf: _o, ...rest } = schema
    const nonNull = options.filter((option) => !isNullSchema(option))
    const nullable = nonNull.length < options.length
    // A union the user marked as int-or-string or free-form is structural as it is.
    if (
      rest["x-kubernetes-int-or-string"] === true ||
      rest["x-kubernetes-preserve-unknown-fields"] === true
    ) {
      return lower({ ...rest, ...(nullable ? { nullable: true } : {}) }, definitions, path, refs)
    }
    if (nonNull.length === 1) {
      return lower(
        { ...nonNull[0], ...rest, ...(nullable ? { nullable: true } : {}) },
        definitions,
        path,
        refs
      )
    }
    // A union of literals of one type (e.g. Schema.Literals) is an enum of that type.
    const lowered = nonNull.map((option) => lower(option, definitions, path, refs))
    const types = new Set(lowered.map((option) => option.type))
    if (types.size === 1 && lowered.every((option) => Array.isArray(option.enum))) {
      return {
        ...lower(rest, definitions, path, refs),
        type: lowered[0]!.type ?? null,
        enum: lowered.flatMap((option) => option.enum as ReadonlyArray<Json.Json>),
        ...(nullable ? { nullable: true } : {})
      }
    }
    throw new CrdError({
      path: at,
      reason: `a union of ${[...types].join(" | ")} is not structural: give the field one type, or annotate it with "x-kubernetes-preserve-unknown-fields"`
    })
  }
  if (Array.isArray(schema.allOf)) {
    const { allOf, ...rest } = schema
    return lower(
      Object.assign({}, ...(allOf as ReadonlyArray<JsonSchema>), rest),
      definitions,
      path,
      refs
    )
  }

  const out: Record<string, Json.Json> = {}
  for (const [key, value] of Object.entries(schema)) {
    if (keptKeys.has(key) || key.startsWith("x-kubernetes-")) out[key] = value
  }
  if ("const" in schema) out.enum = [schema.const]
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((type) => type !== "null")
    if (types.length !== 1) {
      throw new CrdError({
        path: at,
        reason: `a field of types ${schema.type.join(", ")} is not structural`
      })
    }
    out.type = types[0]
    if (types.length < schema.type.length) out.nullable = true
  }
  if (out.type === "null")
    throw new CrdError({ path: at, reason: "a field that is always null is not structural" })

  if (isObject(schema.properties)) {
    out.type = "object"
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([name, property]) => [
        name,
        lower(property as JsonSchema, definitions, `${path}.${name}`, refs)
      ])
    )
    if (Array.isArray(schema.required) && schema.required.length === 0) delete out.required
  } else if (isObject(schema.additionalProperties)) {
    out.type = "object"
    out.additionalProperties = lower(schema.additionalProperties, definitions, `${path}.*`, refs)
  } else if (out.type === "object" && out["x-kubernetes-preserve-unknown-fields"] === undefined) {
    // An object with no declared fields: keep whatever it holds.
    out["x-kubernetes-preserve-unknown-fields"] = true
  }
  if (schema.type === "array" || out.type === "array") {
    if (Array.isArray(schema.prefixItems)) {
      throw new CrdError({
        path: at,
        reason: "tuples are not structural: use an array of one item type"
      })
    }
    out.items = isObject(schema.items)
      ? lower(schema.items, definitions, `${path}[]`, refs)
      : { "x-kubernetes-preserve-unknown-fields": true }
  }
  if (out.type === undefined && out["x-kubernetes-int-or-string"] !== true) {
    if (
      Object.keys(out).every((key) => key === "description" || key === "title" || key === "default")
    ) {
      out["x-kubernetes-preserve-unknown-fields"] = true
    } else {
      throw new CrdError({ path: at, reason: `no type: ${JSON.stringify(schema)}` })
    }
  }
  return out
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

/** A printer column (`kubectl get` output). @since 0.1.0 */
export interface PrinterColumn {
  readonly name: string
  readonly type: "string" | "integer" | "number" | "boolean" | "date"
  readonly jsonPath: string
  readonly description?: string
  readonly priority?: number
}

/** One served version of a CRD. @since 0.1.0 */
export interface Version {
  readonly name: string
  readonly spec: Schema.Top
  /** The status the user's code writes; kubefx's own fields are kept beside it. */
  readonly status?: Schema.Top
  readonly served?: boolean
  readonly storage?: boolean
  readonly printerColumns?: ReadonlyArray<PrinterColumn>
}

/** What {@link make} needs. @since 0.1.0 */
export interface Definition {
  readonly group: string
  readonly kind: string
  readonly plural: string
  readonly singular?: string
  readonly shortNames?: ReadonlyArray<string>
  readonly categories?: ReadonlyArray<string>
  readonly scope?: "Namespaced" | "Cluster"
  readonly versions: ReadonlyArray<Version>
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
      versions
    }
  }
}
