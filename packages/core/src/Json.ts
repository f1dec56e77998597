/**
 * Plain JSON values, paths into them and the few pure helpers the core needs: deep equality,
 * a canonical serialization and a stable digest. Objects are never mutated.
 *
 * @since 0.1.0
 */
import type { Schema } from "effect"
import { Predicate } from "effect"

/**
 * A JSON value, read-only (a mutable JSON value is accepted wherever a `Json` is expected).
 *
 * @example
 * ```ts
 * import type { Json } from "@kubefx/core"
 *
 * const body: Json.Json = { spec: { size: "1G" } }
 * ```
 *
 * @since 0.1.0
 */
export type Json = Schema.Json

/**
 * A JSON object.
 *
 * @example
 * ```ts
 * import type { Json } from "@kubefx/core"
 *
 * const meta: Json.JsonObject = { name: "my-claim" }
 * ```
 *
 * @since 0.1.0
 */
export type JsonObject = Schema.JsonObject

/**
 * A path into a JSON value: the keys of nested objects, outermost first. Arrays are treated as
 * whole values, so a path never indexes into an array.
 *
 * @example
 * ```ts
 * import type { Json } from "@kubefx/core"
 *
 * const path: Json.Path = ["spec", "size"]
 * ```
 *
 * @since 0.1.0
 */
export type Path = ReadonlyArray<string>

/**
 * A path as users write it: `"spec.size"` (split on dots) or an array of keys, for keys that
 * contain dots (`["metadata", "labels", "app.kubernetes.io/name"]`).
 *
 * @example
 * ```ts
 * import type { Json } from "@kubefx/core"
 *
 * const a: Json.PathInput = "spec.size"
 * const b: Json.PathInput = ["metadata", "labels", "app.kubernetes.io/name"]
 * ```
 *
 * @since 0.1.0
 */
export type PathInput = string | Path

/**
 * Normalizes a {@link PathInput} into a {@link Path}. The empty string is the root.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.path("spec.size") // ["spec", "size"]
 * ```
 *
 * @since 0.1.0
 */
export const path = (input: PathInput): Path =>
  typeof input === "string" ? (input === "" ? [] : input.split(".")) : input

/**
 * Formats a path for messages and ids: keys joined with dots.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.formatPath(["spec", "size"]) // "spec.size"
 * ```
 *
 * @since 0.1.0
 */
export const formatPath = (p: Path): string => p.join(".")

/**
 * Whether a JSON value is an object (not an array, not null).
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.isObject({ a: 1 }) // true
 * Json.isObject([1]) // false
 * ```
 *
 * @since 0.1.0
 */
export const isObject = (value: unknown): value is JsonObject =>
  Predicate.isObject(value) && !Array.isArray(value)

/**
 * The object at a value, or the empty object when the value is not an object.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.asObject(undefined) // {}
 * ```
 *
 * @since 0.1.0
 */
export const asObject = (value: Json | undefined): JsonObject => (isObject(value) ? value : {})

/**
 * The value of an object's own key (never an inherited one, so `"__proto__"` is a plain key).
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.own({ a: 1 }, "a") // 1
 * Json.own({}, "__proto__") // undefined
 * ```
 *
 * @since 0.1.0
 */
export const own = <V>(obj: Readonly<Record<string, V>>, key: string): V | undefined =>
  Object.hasOwn(obj, key) ? obj[key] : undefined

/**
 * Sets an own key of a (fresh, mutable) object, also when the key is `"__proto__"`.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * const o: Record<string, number> = {}
 * Json.assign(o, "__proto__", 1)
 * Object.keys(o) // ["__proto__"]
 * ```
 *
 * @since 0.1.0
 */
export const assign = <V>(obj: Record<string, V>, key: string, value: V): void => {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
}

/**
 * Reads the value at a path, or `undefined` when any step is missing or not an object.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.get({ spec: { size: "1G" } }, "spec.size") // "1G"
 * ```
 *
 * @since 0.1.0
 */
export const get = (value: Json | undefined, at: PathInput): Json | undefined => {
  let current: Json | undefined = value
  for (const key of path(at)) {
    if (!isObject(current) || !Object.hasOwn(current, key)) return undefined
    current = current[key]
  }
  return current
}

/**
 * Returns a copy of `value` with the value at `at` replaced (`undefined` removes the key).
 * Missing or non-object intermediate values become objects. The input is not mutated.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.set({ spec: {} }, "spec.size", "2G") // { spec: { size: "2G" } }
 * ```
 *
 * @since 0.1.0
 */
export const set = (
  value: Json | undefined,
  at: PathInput,
  next: Json | undefined
): Json | undefined => {
  const keys = path(at)
  const go = (current: Json | undefined, i: number): Json | undefined => {
    if (i === keys.length) return next
    const key = keys[i]!
    const obj = asObject(current)
    const child = go(own(obj, key), i + 1)
    const copy: Record<string, Json> = { ...obj }
    if (child === undefined) delete copy[key]
    else assign(copy, key, child)
    return copy
  }
  return go(value, 0)
}

/**
 * Deep structural equality of JSON values (object key order does not matter).
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.equals({ a: 1, b: 2 }, { b: 2, a: 1 }) // true
 * ```
 *
 * @since 0.1.0
 */
export const equals = (a: Json | undefined, b: Json | undefined): boolean => {
  if (a === b) return true
  if (a === undefined || b === undefined || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    return a.every((x, i) => equals(x, b[i]))
  }
  if (isObject(a)) {
    if (!isObject(b)) return false
    const ka = Object.keys(a)
    if (ka.length !== Object.keys(b).length) return false
    return ka.every((k) => Object.hasOwn(b, k) && equals(a[k], b[k]))
  }
  return false
}

/**
 * Serializes a JSON value with object keys sorted, so that equal values serialize identically.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.canonical({ b: 1, a: [2] }) // '{"a":[2],"b":1}'
 * ```
 *
 * @since 0.1.0
 */
export const canonical = (value: Json): string => {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  if (isObject(value)) {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k]!)}`).join(",")}}`
  }
  return JSON.stringify(value)
}

/**
 * A 64-bit non-cryptographic hash of a string (two 32-bit lanes, cyrb53 style), as 16 hex digits.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.hashString("hello").length // 16
 * ```
 *
 * @since 0.1.0
 */
export const hashString = (input: string, seed = 0): string => {
  let h1 = 0xdeadbeef ^ seed
  let h2 = 0x41c6ce57 ^ seed
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 2654435761)
    h2 = Math.imul(h2 ^ c, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0")
}

/**
 * The digest of a JSON value: {@link hashString} of its {@link canonical} form. Equal values have
 * equal digests.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.digest({ a: 1, b: 2 }) === Json.digest({ b: 2, a: 1 }) // true
 * ```
 *
 * @since 0.1.0
 */
export const digest = (value: Json): string => hashString(canonical(value))

/**
 * Size in bytes of the UTF-8 encoding of a string.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.byteLength("é") // 2
 * ```
 *
 * @since 0.1.0
 */
export const byteLength = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

/**
 * Parses a JSON string, returning `undefined` instead of throwing on malformed input.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.parse("{\"a\":1}") // { a: 1 }
 * Json.parse("{") // undefined
 * ```
 *
 * @since 0.1.0
 */
export const parse = (text: string): Json | undefined => {
  try {
    return JSON.parse(text) as Json
  } catch {
    return undefined
  }
}
