/** List pages: a limit answers a first page and a token for the rest, good once. */
import { assert, describe, it } from "@effect/vitest"
import type { KubeObject } from "@kubefx/core"
import * as Pages from "../../src/internal/sim/pages.ts"

const items: ReadonlyArray<KubeObject.KubeObject> = ["a", "b", "c", "d", "e"].map((name) => ({
  metadata: { name }
}))
const namesOf = (l: { readonly items: ReadonlyArray<KubeObject.KubeObject> } | undefined) =>
  l?.items.map((o) => o.metadata?.name)

describe("pages", () => {
  it("a limit cuts the list; the token holds the rest at the list's version, once", () => {
    const pages = Pages.make()
    const first = pages.slice(items, "7", 2)
    assert.deepStrictEqual(namesOf(first), ["a", "b"])
    assert.isString(first.continue)
    const rest = pages.take(first.continue ?? "")
    assert.deepStrictEqual([namesOf(rest), rest?.resourceVersion], [["c", "d", "e"], "7"])
    assert.isUndefined(pages.take(first.continue ?? ""), "spent")
  })

  it("no limit, or one the list fits in, gives one page without a token", () => {
    const pages = Pages.make()
    assert.isUndefined(pages.slice(items, "7", undefined).continue)
    assert.isUndefined(pages.slice(items, "7", 0).continue)
    assert.isUndefined(pages.slice(items, "7", 5).continue)
  })

  it("clearing forgets every token", () => {
    const pages = Pages.make()
    const first = pages.slice(items, "7", 1)
    pages.clear()
    assert.isUndefined(pages.take(first.continue ?? ""))
  })
})
