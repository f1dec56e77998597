/**
 * Objects as the simulated API server holds them: mutable JSON records, copied on every way in
 * and out, and the few readers every part of it shares.
 */

/** A stored object (or any JSON object inside one). */
export type Obj = Record<string, unknown>

/** A deep copy. */
export const clone = <A>(v: A): A => structuredClone(v)

export const isRecord = (v: unknown): v is Obj =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/** The value if it is a string. */
export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined)

/** The object at `key`, or an empty one (not stored back). */
export const recordAt = (o: Obj, key: string): Obj => {
  const v = o[key]
  return isRecord(v) ? v : {}
}

/** The object's `metadata`, made an object first if it is not one. */
export const metaOf = (o: Obj): Obj => {
  if (!isRecord(o.metadata)) o.metadata = {}
  return o.metadata as Obj
}

/** The finalizers of a `metadata`, as strings. */
export const finalizersOf = (m: Obj): Array<string> =>
  Array.isArray(m.finalizers) ? m.finalizers.map(String) : []

/** JSON with every object's keys sorted: equal values give equal strings. */
export const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    isRecord(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x
  )

/** A timestamp as the API server writes it (RFC 3339, whole seconds). */
export const timestamp = (now: number) => new Date(now).toISOString().replace(/\.\d+Z$/, "Z")
