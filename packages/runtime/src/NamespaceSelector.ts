/**
 * Which namespaces an operator serves, as Kopf's `--namespace` says it: plain names, glob
 * patterns and exclusions.
 *
 * - `team-a`: that namespace;
 * - `team-*`, `ns-?`, `ns-[abc]`, `ns-[a-c]`, `ns-[!x]` (or `[^x]`): every namespace whose whole
 *   name matches the glob (`*` any run of characters, `?` one character, `[...]` one character of
 *   the set or range, `[!...]` / `[^...]` one character not in it);
 * - `!team-secret`, `!kube-*`: never that namespace (a name or a glob), whatever else matches.
 *
 * A namespace matches when no exclusion matches it and some inclusion does; with exclusions
 * only (`["!kube-system"]`), every namespace not excluded matches. The empty selection matches
 * nothing (as `Watcher.namespaces([])` watches nothing).
 *
 * What this costs in RBAC (see {@link names}): when every inclusion is a plain name, the set is
 * fixed (`names` answers it, exclusions already removed) and the watcher lists and watches each
 * namespace on its own: no cluster-scoped right at all. Otherwise (a glob, or exclusions only)
 * the set changes as namespaces come and go, and the watcher also lists and watches
 * `namespaces` cluster-wide: that is then the only cluster-wide right the operator needs.
 *
 * @since 0.1.0
 */

/**
 * One compiled entry: a plain name or a glob.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pattern {
  /** As given (without the `!` of an exclusion). */
  readonly source: string
  /** Whether it has glob syntax (`*`, `?`, `[`). */
  readonly glob: boolean
  readonly regex: RegExp
}

/**
 * A parsed selection of namespaces.
 *
 * @since 0.1.0
 * @category models
 */
export interface NamespaceSelector {
  readonly _tag: "NamespaceSelector"
  /** The entries as given: trimmed, without empty ones and duplicates. */
  readonly entries: ReadonlyArray<string>
  readonly include: ReadonlyArray<Pattern>
  readonly exclude: ReadonlyArray<Pattern>
}

/**
 * Whether an entry has glob syntax (`*`, `?` or `[`).
 *
 * @example
 * ```ts
 * import { NamespaceSelector } from "@kubefx/runtime"
 *
 * NamespaceSelector.isGlob("team-*") // true
 * NamespaceSelector.isGlob("team-a") // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isGlob = (pattern: string): boolean => /[*?[]/.test(pattern)

const escapeRegExp = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&")

/**
 * Compiles a glob into an anchored regular expression (`*`, `?`, `[set]`, `[a-z]`, `[!set]`,
 * `[^set]`; a `[` without its `]` is a plain character).
 *
 * @example
 * ```ts
 * import { NamespaceSelector } from "@kubefx/runtime"
 *
 * NamespaceSelector.globToRegExp("team-*").test("team-a") // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const globToRegExp = (pattern: string): RegExp => {
  let out = ""
  let i = 0
  while (i < pattern.length) {
    const c = pattern.charAt(i)
    if (c === "*") {
      out += ".*"
      i++
    } else if (c === "?") {
      out += "."
      i++
    } else if (c === "[") {
      // the set ends at the first `]` after its first character (so `[]a]` holds `]`)
      let j = i + 1
      if (pattern.charAt(j) === "!" || pattern.charAt(j) === "^") j++
      if (pattern.charAt(j) === "]") j++
      while (j < pattern.length && pattern.charAt(j) !== "]") j++
      if (j >= pattern.length) {
        out += escapeRegExp(c)
        i++
        continue
      }
      let body = pattern.slice(i + 1, j)
      const negated = body.startsWith("!") || body.startsWith("^")
      if (negated) body = body.slice(1)
      let set = ""
      for (let k = 0; k < body.length; k++) {
        const ch = body.charAt(k)
        const to = body.charAt(k + 2)
        if (body.charAt(k + 1) === "-" && to !== "" && ch <= to) {
          set += `${escapeRegExp(ch)}-${escapeRegExp(to)}`
          k += 2
        } else if (body.charAt(k + 1) === "-" && to !== "") {
          // an empty range (`[z-a]`) matches nothing of its own
          k += 2
        } else {
          set += escapeRegExp(ch)
        }
      }
      out += set === "" ? (negated ? "." : "(?!)") : `[${negated ? "^" : ""}${set}]`
      i = j + 1
    } else {
      out += escapeRegExp(c)
      i++
    }
  }
  return new RegExp(`^${out}$`, "s")
}

const compile = (source: string): Pattern => ({
  source,
  glob: isGlob(source),
  regex: isGlob(source) ? globToRegExp(source) : new RegExp(`^${escapeRegExp(source)}$`)
})

/**
 * Parses entries: names, globs, and exclusions with a leading `!`. Entries are trimmed; empty
 * ones (and a lone `!`) are ignored.
 *
 * @example
 * ```ts
 * import { NamespaceSelector } from "@kubefx/runtime"
 *
 * const selector = NamespaceSelector.make(["team-*", "!team-secret"])
 * NamespaceSelector.matches(selector, "team-a") // true
 * NamespaceSelector.matches(selector, "team-secret") // false
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (entries: ReadonlyArray<string>): NamespaceSelector => {
  const seen = new Set<string>()
  const include: Array<Pattern> = []
  const exclude: Array<Pattern> = []
  for (const raw of entries) {
    const entry = raw.trim()
    if (entry === "" || seen.has(entry)) continue
    if (entry.startsWith("!")) {
      const source = entry.slice(1).trim()
      if (source === "") continue
      exclude.push(compile(source))
    } else {
      include.push(compile(entry))
    }
    seen.add(entry)
  }
  return { _tag: "NamespaceSelector", entries: [...seen], include, exclude }
}

/**
 * Parses Kopf's command-line form: entries separated by commas (`"team-*,!team-secret"`), e.g.
 * from an environment variable.
 *
 * @example
 * ```ts
 * import { NamespaceSelector } from "@kubefx/runtime"
 *
 * const selector = NamespaceSelector.parse("team-*, !team-secret")
 * selector.entries // ["team-*", "!team-secret"]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: string): NamespaceSelector => make(text.split(","))

/**
 * Whether a namespace is selected: no exclusion matches it, and some inclusion does (or there
 * are exclusions only).
 *
 * @example
 * ```ts
 * import { NamespaceSelector } from "@kubefx/runtime"
 *
 * const selector = NamespaceSelector.make(["!kube-*"])
 * NamespaceSelector.matches(selector, "default") // true
 * NamespaceSelector.matches(selector, "kube-system") // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const matches = (selector: NamespaceSelector, namespace: string): boolean => {
  if (selector.exclude.some((p) => p.regex.test(namespace))) return false
  if (selector.include.length === 0) return selector.exclude.length > 0
  return selector.include.some((p) => p.regex.test(namespace))
}

/**
 * The fixed set of namespaces when every inclusion is a plain name (exclusions removed), or
 * `undefined` when the set depends on which namespaces exist (a glob, or exclusions only).
 *
 * @example
 * ```ts
 * import { NamespaceSelector } from "@kubefx/runtime"
 *
 * NamespaceSelector.names(NamespaceSelector.make(["a", "b", "!b"])) // ["a"]
 * NamespaceSelector.names(NamespaceSelector.make(["team-*"])) // undefined
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const names = (selector: NamespaceSelector): ReadonlyArray<string> | undefined => {
  if (selector.include.length === 0) return selector.exclude.length === 0 ? [] : undefined
  if (selector.include.some((p) => p.glob)) return undefined
  return selector.include.map((p) => p.source).filter((name) => matches(selector, name))
}

/**
 * The entries, comma-separated (what {@link parse} reads back).
 *
 * @example
 * ```ts
 * import { NamespaceSelector } from "@kubefx/runtime"
 *
 * NamespaceSelector.format(NamespaceSelector.make(["team-*", "!team-secret"])) // "team-*,!team-secret"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (selector: NamespaceSelector): string => selector.entries.join(",")
