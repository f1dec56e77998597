/**
 * "Did you mean ...?": the closest of some candidates to a word a user wrote, for the messages
 * of mistakes (a field path the schema lacks, a resource the API server does not serve).
 *
 * @since 0.1.0
 */

/**
 * Optimal string alignment distance: insertions, deletions and substitutions, with a swap of
 * two neighbours counting as one edit.
 *
 * @example
 * ```ts
 * import { Suggest } from "@kubefx/core"
 *
 * Suggest.distance("feild", "field") // 1
 * ```
 *
 * @since 0.1.0
 * @category distance
 */
export const distance = (a: string, b: string): number => {
  const d: Array<Array<number>> = []
  for (let i = 0; i <= a.length; i++) d.push([i])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

/**
 * The `count` candidates closest to `word` by {@link distance} (ties keep their order), each
 * candidate scored by the closest of its spellings (`spellings(candidate)`, default itself).
 *
 * @example
 * ```ts
 * import { Suggest } from "@kubefx/core"
 *
 * Suggest.closest("widgest", ["gadgets", "widgets", "pods"], { count: 1 }) // ["widgets"]
 * ```
 *
 * @since 0.1.0
 * @category suggestions
 */
export const closest = <A>(
  word: string,
  candidates: Iterable<A>,
  options: {
    readonly count?: number | undefined
    readonly spellings?: ((candidate: A) => ReadonlyArray<string>) | undefined
  } = {}
): ReadonlyArray<A> => {
  const spellings = options.spellings ?? ((c: A) => [String(c)])
  return Array.from(candidates, (candidate) => ({
    candidate,
    score: Math.min(...spellings(candidate).map((s) => distance(word, s)))
  }))
    .sort((a, b) => a.score - b.score)
    .slice(0, options.count ?? 3)
    .map((s) => s.candidate)
}
