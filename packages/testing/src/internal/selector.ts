/**
 * Label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`) and field
 * selectors (`path=value`, `path!=value` on dotted paths such as `metadata.name` or
 * `involvedObject.name`), as the API server evaluates them.
 */

export type Matcher = (object: unknown) => boolean

const at = (object: unknown, path: ReadonlyArray<string>): unknown => {
  let node = object
  for (const p of path) {
    if (typeof node !== "object" || node === null) return undefined
    node = (node as Record<string, unknown>)[p]
  }
  return node
}

/** Splits on commas outside parentheses. */
const terms = (selector: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  let depth = 0
  let current = ""
  for (const ch of selector) {
    if (ch === "(") depth++
    if (ch === ")") depth--
    if (ch === "," && depth === 0) {
      out.push(current.trim())
      current = ""
    } else current += ch
  }
  if (current.trim() !== "") out.push(current.trim())
  return out
}

/** A label selector's matcher; throws on syntax it cannot read. */
export const labels = (selector: string | undefined): Matcher => {
  if (selector === undefined || selector.trim() === "") return () => true
  const tests = terms(selector).map((term): ((l: Record<string, string>) => boolean) => {
    let m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term)
    if (m !== null) {
      const key = m[1]!
      const values = m[3]!.split(",").map((v) => v.trim())
      return m[2] === "in"
        ? (l) => Object.hasOwn(l, key) && values.includes(l[key]!)
        : (l) => !Object.hasOwn(l, key) || !values.includes(l[key]!)
    }
    m = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)$/.exec(term)
    if (m !== null) {
      const key = m[1]!
      const value = m[3]!
      return m[2] === "!="
        ? (l) => l[key] !== value
        : (l) => Object.hasOwn(l, key) && l[key] === value
    }
    m = /^(!?)([^\s!=]+)$/.exec(term)
    if (m !== null) {
      const key = m[2]!
      return m[1] === "!" ? (l) => !Object.hasOwn(l, key) : (l) => Object.hasOwn(l, key)
    }
    throw new Error(`unable to parse requirement: ${term}`)
  })
  return (object) => {
    const l = (at(object, ["metadata", "labels"]) ?? {}) as Record<string, string>
    return tests.every((t) => t(l))
  }
}

/** A field selector's matcher (values compared as strings; a missing field is ""). */
export const fields = (selector: string | undefined): Matcher => {
  if (selector === undefined || selector.trim() === "") return () => true
  const tests = terms(selector).map((term) => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term)
    if (m === null) throw new Error(`invalid field selector: ${term}`)
    const path = m[1]!.split(".")
    const value = m[3]!
    const neg = m[2] === "!="
    return (o: unknown) => {
      const v = at(o, path)
      const s = v === undefined || v === null ? "" : String(v)
      return neg ? s !== value : s === value
    }
  })
  return (object) => tests.every((t) => t(object))
}
