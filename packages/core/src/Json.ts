/**
 * Plain JSON values, paths into them and the few pure helpers the core needs: deep equality,
 * a canonical serialization, a stable digest, and {@link findInvalid} for values JSON cannot
 * hold. Objects are never mutated. It stays one module over 400 lines because it is the one JSON
 * vocabulary every package reads as `Json.*`; its code is about 200 lines, the rest is the
 * documentation and examples of its 23 exports.
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
 * @category models
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
 * @category models
 */
export type JsonObject = Schema.JsonObject

/**
 * A path into a JSON value, outermost first: the keys of nested objects, and {@link isIndex}
 * segments (`"0"`, `"12"`) that index arrays (`["metadata", "ownerReferences", "0", "uid"]`).
 * A segment is read as an index only where the value is an array; on an object it is a plain
 * key. Diffs and merge patches still treat arrays as whole values: a diff reports a changed
 * array once, at the array's own path (`Diff.scope` narrows it to an element), and a merge patch
 * cannot address an element (`Patch.at` refuses index segments).
 *
 * @example
 * ```ts
 * import type { Json } from "@kubefx/core"
 *
 * const path: Json.Path = ["spec", "size"]
 * const owner: Json.Path = ["metadata", "ownerReferences", "0", "uid"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Path = ReadonlyArray<string>

/**
 * A path as users write it: `"spec.size"` (split on dots; `"spec.items.0.size"` indexes an
 * array) or an array of keys, for keys that contain dots
 * (`["metadata", "labels", "app.kubernetes.io/name"]`).
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
 * @category models
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
 * @category paths
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
 * @category paths
 */
export const formatPath = (p: Path): string => p.join(".")

/**
 * Whether a path segment indexes an array: a non-negative integer in canonical form (`"0"`,
 * `"12"`; not `"01"`, `"-1"` or `"1.5"`), at most `Number.MAX_SAFE_INTEGER`.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.isIndex("0") // true
 * Json.isIndex("01") // false
 * ```
 *
 * @since 0.1.0
 * @category paths
 */
export const isIndex = (segment: string): boolean =>
  /^(?:0|[1-9][0-9]{0,15})$/.test(segment) && Number(segment) <= Number.MAX_SAFE_INTEGER

/**
 * What is wrong with a path as written, or `undefined` when it is well formed: a string that
 * looks like a JSON pointer (`"/spec/field"`), or has an empty key (`"spec..size"`, `".spec"`,
 * `"spec."`), or an array with an empty key. The empty string (the root) is well formed. The
 * answer says what was found and the fix, with the path rewritten as keys separated by dots.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.pathProblem("spec.size") // undefined
 * Json.pathProblem("/spec/field")
 * // 'the field path "/spec/field" is a JSON pointer; write it as "spec.field": keys separated by dots, or an array of keys'
 * ```
 *
 * @since 0.1.0
 * @category paths
 */
export const pathProblem = (input: PathInput): string | undefined => {
  const fix = (keys: ReadonlyArray<string>) =>
    `write it as ${JSON.stringify(keys.filter((k) => k !== "").join("."))}: keys separated by dots, or an array of keys`
  if (typeof input !== "string") {
    if (!input.includes("")) return undefined
    return `the field path ${JSON.stringify(input)} has an empty key; leave it out: ${JSON.stringify(input.filter((k) => k !== ""))}`
  }
  if (input === "") return undefined
  if (input.startsWith("/"))
    return `the field path ${JSON.stringify(input)} is a JSON pointer; ${fix(input.split("/"))}`
  const keys = input.split(".")
  if (!keys.includes("")) return undefined
  return `the field path ${JSON.stringify(input)} has an empty key; ${fix(keys)}`
}

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
 * @category guards
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
 * @category getters
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
 * @category getters
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
 * @category setters
 */
export const assign = <V>(obj: Record<string, V>, key: string, value: V): void => {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
}

/**
 * Reads the value at a path, or `undefined` when any step is missing: an object without the
 * key, an array without the element (or a segment that is not an {@link isIndex} there), or a
 * scalar.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.get({ spec: { size: "1G" } }, "spec.size") // "1G"
 * Json.get({ metadata: { ownerReferences: [{ uid: "u1" }] } }, "metadata.ownerReferences.0.uid") // "u1"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const get = (value: Json | undefined, at: PathInput): Json | undefined => {
  let current: Json | undefined = value
  for (const key of path(at)) {
    if (Array.isArray(current)) {
      if (!isIndex(key)) return undefined
      current = (current as ReadonlyArray<Json>)[Number(key)]
    } else if (isObject(current) && Object.hasOwn(current, key)) current = current[key]
    else return undefined
  }
  return current
}

/**
 * Returns a copy of `value` with the value at `at` replaced (`undefined` removes it). Where the
 * value is an array and the segment an {@link isIndex}, the element is replaced in a copy of the
 * array (`undefined` removes it, shifting the later ones; the index one past the end appends);
 * an index further past the end throws a `RangeError` naming the path. Missing or scalar
 * intermediate values, and arrays stepped through with a key, become objects. The input is not
 * mutated.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.set({ spec: {} }, "spec.size", "2G") // { spec: { size: "2G" } }
 * Json.set({ items: [1, 2] }, "items.1", 3) // { items: [1, 3] }
 * ```
 *
 * @since 0.1.0
 * @category setters
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
    if (Array.isArray(current) && isIndex(key)) {
      const items = current as ReadonlyArray<Json>
      const index = Number(key)
      if (index > items.length)
        throw new RangeError(
          `kubefx: Json.set: ${formatPath(keys.slice(0, i + 1))} is past the end of the array (length ${items.length})`
        )
      const child = go(items[index], i + 1)
      const copy = [...items]
      if (child !== undefined) copy[index] = child
      else if (index < copy.length) copy.splice(index, 1)
      return copy
    }
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
 * @category equality
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
 * @category encoding
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
 * @category digests
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
 * @category digests
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
 * @category encoding
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
 * @category encoding
 */
export const parse = (text: string): Json | undefined => {
  try {
    return JSON.parse(text) as Json
  } catch {
    return undefined
  }
}

/**
 * A value JSON cannot hold, found by {@link findInvalid}: where it is and what it is, with a hint
 * to fix it.
 *
 * @example
 * ```ts
 * import type { Json } from "@kubefx/core"
 *
 * const i: Json.Invalid = { path: ["count"], reason: "a bigint (convert it to a number or a string)" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Invalid {
  readonly path: Path
  readonly reason: string
}

const describeNumber = (n: number): string | undefined =>
  Number.isFinite(n)
    ? undefined
    : `${String(n)} (JSON has no ${Number.isNaN(n) ? "NaN" : "infinite numbers"}: JSON.stringify writes null; use a finite number, null or a string)`

const describeObject = (o: object): string | undefined => {
  if (Array.isArray(o)) return undefined
  const proto = Object.getPrototypeOf(o)
  if (proto === Object.prototype || proto === null) return undefined
  if (o instanceof Date) return "a Date (convert it with toISOString())"
  if (o instanceof Map) return "a Map (convert it with Object.fromEntries(map))"
  if (o instanceof Set) return "a Set (convert it to an array with [...set])"
  if (o instanceof RegExp) return "a RegExp (use its source string)"
  if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer)
    return "binary data (encode it as a base64 string)"
  const name = typeof proto?.constructor === "function" ? proto.constructor.name : ""
  return name === "" || name === "Object"
    ? "an object with a prototype (copy its fields into a plain object)"
    : `an instance of ${name} (convert it to a plain object)`
}

/**
 * Finds the first value (depth first, keys in order) that JSON cannot hold as the core treats
 * it: a bigint, a function, a symbol, `undefined` as an array element (or a hole), `NaN` or
 * an infinite number, an object that is not plain (a `Map`, `Set`, `Date`, class instance, ...),
 * or a cycle. Answers its path (array elements by index) and a reason with a hint, or
 * `undefined` when the value is plain JSON. `undefined` as the value of an object key is
 * accepted (JSON leaves the key out), as is `undefined` at the root.
 *
 * @example
 * ```ts
 * import { Json } from "@kubefx/core"
 *
 * Json.findInvalid({ a: [1, { b: 2 }] }) // undefined
 * Json.findInvalid({ at: new Date(0) })
 * // { path: ["at"], reason: "a Date (convert it with toISOString())" }
 * ```
 *
 * @since 0.1.0
 * @category validity
 */
export const findInvalid = (value: unknown): Invalid | undefined => {
  const ancestors = new Set<object>()
  const go = (v: unknown, p: Path, inArray: boolean): Invalid | undefined => {
    const bad = (reason: string): Invalid => ({ path: p, reason })
    switch (typeof v) {
      case "string":
      case "boolean":
        return undefined
      case "number": {
        const reason = describeNumber(v)
        return reason === undefined ? undefined : bad(reason)
      }
      case "bigint":
        return bad("a bigint (convert it to a number or a string)")
      case "function":
        return bad("a function (call it, or leave it out)")
      case "symbol":
        return bad("a symbol (use a string)")
      case "undefined":
        return inArray
          ? bad("undefined in an array (JSON.stringify writes null: use null, or leave it out)")
          : undefined
    }
    if (v === null) return undefined
    const o = v as object
    const notPlain = describeObject(o)
    if (notPlain !== undefined) return bad(notPlain)
    if (ancestors.has(o)) return bad("a cycle (the value contains itself: JSON cannot hold it)")
    ancestors.add(o)
    let found: Invalid | undefined
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length && found === undefined; i++)
        found = go(o[i], [...p, String(i)], true)
    } else {
      for (const k of Object.keys(o)) {
        found = go((o as Record<string, unknown>)[k], [...p, k], false)
        if (found !== undefined) break
      }
    }
    ancestors.delete(o)
    return found
  }
  return go(value, [], false)
}
