/**
 * What the API server does with a custom resource and its CRD's structural OpenAPI v3 schema:
 * pruning of unknown fields (unless `x-kubernetes-preserve-unknown-fields`), then validation of
 * `type`, `properties`, `required`, `items`, `additionalProperties`, `enum`, `pattern`,
 * `minimum` / `maximum`, `minLength` / `maxLength`, `minItems` / `maxItems`, `nullable`,
 * `x-kubernetes-int-or-string`. (Not covered: `x-kubernetes-validations` CEL rules, formats,
 * `oneOf` / `anyOf` / `allOf` / `not` value validations, defaults.)
 */

export type Schema = { readonly [key: string]: unknown }

export interface Cause {
  readonly reason: string
  readonly message: string
  readonly field: string
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const sub = (schema: Schema, key: string): Schema | undefined => {
  const v = schema[key]
  return isObject(v) ? v : undefined
}

/** Removes fields the schema does not know, in place; answers the value. */
export const prune = (value: unknown, schema: Schema | undefined): unknown => {
  if (schema === undefined) return value
  if (isObject(value)) {
    const props = sub(schema, "properties")
    const additional = schema.additionalProperties
    if (props !== undefined) {
      for (const key of Object.keys(value)) {
        const p = sub(props, key)
        if (p !== undefined) value[key] = prune(value[key], p)
        else if (schema["x-kubernetes-preserve-unknown-fields"] !== true) delete value[key]
      }
    } else if (isObject(additional)) {
      for (const key of Object.keys(value)) value[key] = prune(value[key], additional)
    } else if (schema["x-kubernetes-preserve-unknown-fields"] !== true && additional !== true) {
      for (const key of Object.keys(value)) delete value[key]
    }
    return value
  }
  if (Array.isArray(value)) {
    const items = sub(schema, "items")
    return items === undefined ? value : value.map((v) => prune(v, items))
  }
  return value
}

const typeName = (v: unknown): string =>
  v === null
    ? "null"
    : Array.isArray(v)
      ? "array"
      : typeof v === "number"
        ? Number.isInteger(v)
          ? "integer"
          : "number"
        : typeof v

const show = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v))

/** Validates a value against a structural schema; answers the causes of refusal. */
export const validate = (
  value: unknown,
  schema: Schema | undefined,
  path: string
): Array<Cause> => {
  const out: Array<Cause> = []
  if (schema === undefined) return out
  const invalid = (message: string, reason = "FieldValueInvalid") =>
    out.push({ reason, field: path, message: `Invalid value: ${show(value)}: ${message}` })
  if (value === null) {
    if (schema.nullable !== true && schema.type !== undefined)
      invalid(
        `${path} in body must be of type ${String(schema.type)}: "null"`,
        "FieldValueTypeInvalid"
      )
    return out
  }
  const actual = typeName(value)
  const expected = schema.type
  if (schema["x-kubernetes-int-or-string"] === true) {
    if (actual !== "integer" && actual !== "string")
      invalid(
        `${path} in body must be of type integer,string: "${actual}"`,
        "FieldValueTypeInvalid"
      )
  } else if (typeof expected === "string") {
    const ok =
      expected === actual ||
      (expected === "number" && actual === "integer") ||
      (expected === "object" && actual === "object")
    if (!ok) {
      out.push({
        reason: "FieldValueTypeInvalid",
        field: path,
        message: `Invalid value: "${actual}": ${path} in body must be of type ${expected}: "${actual}"`
      })
      return out
    }
  }
  if (
    Array.isArray(schema.enum) &&
    !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))
  )
    out.push({
      reason: "FieldValueNotSupported",
      field: path,
      message: `Unsupported value: ${show(value)}: supported values: ${schema.enum.map(show).join(", ")}`
    })
  if (typeof value === "string") {
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value))
      invalid(`${path} in body should match '${schema.pattern}'`)
    if (typeof schema.maxLength === "number" && value.length > schema.maxLength)
      out.push({
        reason: "FieldValueTooLong",
        field: path,
        message: `Too long: may not be more than ${schema.maxLength} bytes`
      })
    if (typeof schema.minLength === "number" && value.length < schema.minLength)
      invalid(`${path} in body should be at least ${schema.minLength} chars long`)
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum)
      invalid(`${path} in body should be greater than or equal to ${schema.minimum}`)
    if (typeof schema.maximum === "number" && value > schema.maximum)
      invalid(`${path} in body should be less than or equal to ${schema.maximum}`)
  }
  if (Array.isArray(value)) {
    if (typeof schema.maxItems === "number" && value.length > schema.maxItems)
      out.push({
        reason: "FieldValueTooMany",
        field: path,
        message: `Too many: ${value.length}: must have at most ${schema.maxItems} items`
      })
    if (typeof schema.minItems === "number" && value.length < schema.minItems)
      invalid(`${path} in body should have at least ${schema.minItems} items`)
    const items = sub(schema, "items")
    value.forEach((v, i) => {
      out.push(...validate(v, items, `${path}[${i}]`))
    })
  }
  if (isObject(value)) {
    const props = sub(schema, "properties") ?? {}
    if (Array.isArray(schema.required))
      for (const r of schema.required)
        if (typeof r === "string" && !Object.hasOwn(value, r))
          out.push({
            reason: "FieldValueRequired",
            field: `${path}.${r}`,
            message: "Required value"
          })
    for (const [k, v] of Object.entries(value)) {
      const p = sub(props, k) ?? sub(schema, "additionalProperties")
      out.push(...validate(v, p, path === "" ? k : `${path}.${k}`))
    }
  }
  return out
}
