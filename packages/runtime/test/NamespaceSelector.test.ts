import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { NamespaceSelector, Watcher } from "../src/index.ts"

const { make, matches, names } = NamespaceSelector

/** A reference glob matcher: backtracking over `*`, `?`, `[...]` (no ranges needed here). */
const reference = (pattern: string, name: string): boolean => {
  if (pattern === "") return name === ""
  const c = pattern.charAt(0)
  if (c === "*")
    return [...Array(name.length + 1).keys()].some((i) =>
      reference(pattern.slice(1), name.slice(i))
    )
  if (name === "") return false
  if (c === "?") return reference(pattern.slice(1), name.slice(1))
  if (c === "[") {
    const end = pattern.indexOf("]", 2)
    if (end > 0) {
      const negated = pattern.charAt(1) === "!"
      const set = pattern.slice(negated ? 2 : 1, end)
      return (
        set.includes(name.charAt(0)) !== negated && reference(pattern.slice(end + 1), name.slice(1))
      )
    }
  }
  return c === name.charAt(0) && reference(pattern.slice(1), name.slice(1))
}

const dns = fc.string({
  unit: fc.constantFrom("a", "b", "c", "-", "1"),
  minLength: 1,
  maxLength: 8
})
const glob = fc
  .array(fc.oneof(fc.constantFrom("a", "b", "-", "*", "?", "[ab]", "[!a]", "[bc]")), {
    minLength: 1,
    maxLength: 6
  })
  .map((parts) => parts.join(""))

describe("NamespaceSelector", () => {
  it("plain names, globs, sets, ranges and exclusions", () => {
    const s = make(["team-a", "team-*", "!team-secret", "ns-?", "x-[ab]", "y-[a-c]", "z-[!a]"])
    const yes = ["team-a", "team-b", "team-", "ns-1", "x-a", "x-b", "y-b", "z-b"]
    const no = ["team-secret", "other", "ns-12", "ns-", "x-c", "y-d", "z-a", "z-", "xteam-a"]
    for (const n of yes) assert.isTrue(matches(s, n), n)
    for (const n of no) assert.isFalse(matches(s, n), n)
    assert.isFalse(matches(make(["team-*", "!team-*"]), "team-a"), "exclusions win")
    assert.isTrue(matches(make(["[!^]"]), "a"))
    assert.isTrue(matches(make(["a[b"]), "a[b"), "an unclosed [ is a plain character")
    assert.isTrue(matches(make(["a.b"]), "a.b"))
    assert.isFalse(matches(make(["a.b"]), "axb"), "regex characters are plain")
  })

  it("exclusions only select every other namespace; the empty selection none", () => {
    assert.isTrue(matches(make(["!kube-*"]), "default"))
    assert.isFalse(matches(make(["!kube-*"]), "kube-system"))
    assert.isFalse(matches(make([]), "default"))
    assert.isFalse(matches(make(["", "  ", "!"]), "default"))
  })

  it("names: the fixed set only when every inclusion is a plain name", () => {
    assert.deepStrictEqual(names(make(["a", "b", "a", " c "])), ["a", "b", "c"])
    assert.deepStrictEqual(names(make(["a", "b", "!b"])), ["a"])
    assert.deepStrictEqual(names(make(["a", "team-x", "!team-*"])), ["a"])
    assert.deepStrictEqual(names(make([])), [])
    assert.isUndefined(names(make(["team-*"])))
    assert.isUndefined(names(make(["!b"])), "exclusions only: every other namespace")
  })

  it("parse and format: Kopf's comma-separated form", () => {
    const s = NamespaceSelector.parse("team-*, !team-secret,,a")
    assert.deepStrictEqual(s.entries, ["team-*", "!team-secret", "a"])
    assert.strictEqual(NamespaceSelector.format(s), "team-*,!team-secret,a")
  })

  it("Watcher.namespaces: a fixed scope for names, a matching scope for globs", () => {
    assert.deepStrictEqual(Watcher.namespaces(["a", "b", "!b"]), {
      _tag: "Namespaces",
      namespaces: ["a"]
    })
    assert.deepStrictEqual(Watcher.namespaces([]), { _tag: "Namespaces", namespaces: [] })
    assert.strictEqual(Watcher.namespaces(["team-*"])._tag, "Matching")
    assert.strictEqual(Watcher.namespaces(["!kube-system"])._tag, "Matching")
    assert.strictEqual(
      Watcher.describeScope(Watcher.namespaces(["team-*", "!team-secret"])),
      "namespaces matching team-*,!team-secret"
    )
  })

  it("property: a glob matches as a backtracking reference matcher does", () => {
    fc.assert(
      fc.property(glob, dns, (pattern, name) => {
        assert.strictEqual(matches(make([pattern]), name), reference(pattern, name), pattern)
      }),
      { numRuns: 2000 }
    )
  })

  it("property: plain names select exactly themselves; exclusions always win", () => {
    fc.assert(
      fc.property(
        fc.array(dns, { maxLength: 5 }),
        fc.array(fc.oneof(dns, glob), { maxLength: 3 }),
        dns,
        (included, excluded, name) => {
          const s = make([...included, ...excluded.map((e) => `!${e}`)])
          const isExcluded = excluded.some((e) => reference(e, name))
          const expected = isExcluded
            ? false
            : included.length === 0
              ? excluded.length > 0
              : included.includes(name)
          assert.strictEqual(matches(s, name), expected)
          const fixed = names(s)
          if (included.length > 0) {
            assert.isDefined(fixed)
            assert.strictEqual(fixed?.includes(name), included.includes(name) && !isExcluded)
          }
        }
      ),
      { numRuns: 1000 }
    )
  })
})
