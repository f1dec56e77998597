/**
 * Kubernetes quantities (`1G`, `500Mi`, `1.5Gi`, `1e3`, `100m`) as numbers, to compare sizes as
 * the API server does (`Quantity.Cmp`).
 */

const suffixes: Readonly<Record<string, number>> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60
}

const pattern =
  /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$/

/** The value of a quantity, or `undefined` when it is not one. */
export const parse = (quantity: unknown): number | undefined => {
  if (typeof quantity === "number") return quantity
  if (typeof quantity !== "string") return undefined
  const m = pattern.exec(quantity.trim())
  if (m === null) return undefined
  const base = Number(m[1])
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1))
  return base * (suffixes[m[3] ?? ""] ?? 1)
}

/** Compares two quantities (unparsable ones count as 0). */
export const compare = (a: unknown, b: unknown): number => {
  const x = parse(a) ?? 0
  const y = parse(b) ?? 0
  return x < y ? -1 : x > y ? 1 : 0
}
