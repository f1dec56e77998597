/**
 * The object store: one version counter, uids, the watch history and the fan-out of changes
 * to watches as their namespace and selector see them.
 */
import { assert, describe, it } from "@effect/vitest"
import { builtins, keys } from "../../src/internal/store/defs.ts"
import type { Obj } from "../../src/internal/store/object.ts"
import * as Objects from "../../src/internal/store/objects.ts"

const configMaps = builtins.find((d) => d.key === "/configmaps")!
const namespaces = builtins.find((d) => d.key === keys.namespaces)!

const cm = (name: string, namespace = "default", labels: Record<string, string> = {}): Obj => ({
  kind: "ConfigMap",
  metadata: { name, namespace, uid: `uid-${namespace}-${name}`, labels },
  data: {}
})

/** A watch that records what it is sent. */
const recording = (
  options: { readonly namespace?: string; readonly match?: (o: unknown) => boolean } = {}
) => {
  const seen: Array<string> = []
  const w: Objects.Watch = {
    def: configMaps.key,
    namespace: options.namespace,
    match: options.match ?? (() => true),
    deliver: (type, object) => seen.push(`${type} ${String((object.metadata as Obj).name)}`)
  }
  return { w, seen }
}

const labelled = (value: string) => (o: unknown) =>
  ((o as Obj).metadata as { labels?: Record<string, string> }).labels?.w === value

describe("object store", () => {
  it("every commit takes the next version; the object carries it", () => {
    const objects = Objects.make({ historySize: 10, seed: 1 })
    const start = objects.version()
    const a = objects.commit(configMaps, "ADDED", cm("a"), undefined)
    const b = objects.commit(configMaps, "ADDED", cm("b"), undefined)
    assert.strictEqual((a.metadata as Obj).resourceVersion, String(start + 1))
    assert.strictEqual((b.metadata as Obj).resourceVersion, String(start + 2))
    assert.strictEqual(objects.version(), start + 2)
  })

  it("built-in objects lose empty maps and lists when stored, custom ones keep them", () => {
    const objects = Objects.make({ historySize: 10, seed: 1 })
    const stored = objects.commit(configMaps, "ADDED", { ...cm("a"), binaryData: {} }, undefined)
    assert.deepStrictEqual(Object.keys(stored).sort(), ["kind", "metadata"])
    const custom = { ...configMaps, key: "x/things", custom: true }
    objects.serve(custom)
    const kept = objects.commit(custom, "ADDED", { ...cm("a"), data: { list: [] } }, undefined)
    assert.deepStrictEqual(kept.data, { list: [] })
  })

  it("finds objects by uid until they are deleted", () => {
    const objects = Objects.make({ historySize: 10, seed: 1 })
    const a = objects.commit(configMaps, "ADDED", cm("a"), undefined)
    assert.strictEqual(objects.byUid("uid-default-a")?.[1], a)
    objects.commit(configMaps, "DELETED", cm("a"), a)
    assert.isUndefined(objects.byUid("uid-default-a"))
    assert.isUndefined(objects.lookup(configMaps, "default", "a"))
  })

  it("selects a namespace's objects sorted by namespace and name", () => {
    const objects = Objects.make({ historySize: 10, seed: 1 })
    for (const [name, ns] of [
      ["b", "x"],
      ["a", "y"],
      ["c", "x"],
      ["a", "x"]
    ] as const)
      objects.commit(configMaps, "ADDED", cm(name, ns), undefined)
    const all = objects.select(configMaps, undefined, () => true)
    assert.deepStrictEqual(
      all.map(
        (o) => `${String((o.metadata as Obj).namespace)}/${String((o.metadata as Obj).name)}`
      ),
      ["x/a", "x/b", "x/c", "y/a"]
    )
    assert.strictEqual(objects.select(configMaps, "y", () => true).length, 1)
    // a cluster-scoped type ignores the namespace asked for
    objects.commit(namespaces, "ADDED", { metadata: { name: "x", uid: "n" } }, undefined)
    assert.strictEqual(objects.select(namespaces, "y", () => true).length, 1)
  })

  it("a watch from now gets the current objects of its namespace, then every change", () => {
    const objects = Objects.make({ historySize: 10, seed: 1 })
    objects.commit(configMaps, "ADDED", cm("a"), undefined)
    objects.commit(configMaps, "ADDED", cm("elsewhere", "other"), undefined)
    const { w, seen } = recording({ namespace: "default" })
    const opened = objects.watch(configMaps, w, undefined)
    assert.strictEqual(opened._tag, "Open")
    if (opened._tag === "Open") for (const c of opened.initial) objects.deliver(w, c)
    objects.commit(configMaps, "ADDED", cm("b"), undefined)
    objects.commit(configMaps, "ADDED", cm("c", "other"), undefined)
    assert.deepStrictEqual(seen, ["ADDED a", "ADDED b"])
  })

  it("a watch from a version replays the changes after it", () => {
    const objects = Objects.make({ historySize: 10, seed: 1 })
    objects.commit(configMaps, "ADDED", cm("a"), undefined)
    const from = String(objects.version())
    const b = objects.commit(configMaps, "ADDED", cm("b"), undefined)
    objects.commit(configMaps, "MODIFIED", { ...cm("b"), data: { x: "1" } }, b)
    const opened = objects.watch(configMaps, recording().w, from)
    assert.deepStrictEqual(
      opened._tag === "Open" ? opened.initial.map((c) => c.type) : opened._tag,
      ["ADDED", "MODIFIED"]
    )
  })

  it("versions that fell out of the history, or were compacted, are expired", () => {
    const objects = Objects.make({ historySize: 2, seed: 1 })
    const first = String(objects.version())
    for (const name of ["a", "b", "c"]) objects.commit(configMaps, "ADDED", cm(name), undefined)
    assert.strictEqual(objects.watch(configMaps, recording().w, first)._tag, "Expired")
    const recent = String(objects.version() - 1)
    assert.strictEqual(objects.watch(configMaps, recording().w, recent)._tag, "Open")
    objects.compact()
    assert.strictEqual(objects.watch(configMaps, recording().w, recent)._tag, "Expired")
    assert.strictEqual(objects.watch(configMaps, recording().w, "nonsense")._tag, "Expired")
  })

  it("an object entering a selector is ADDED for the watch, leaving it is DELETED", () => {
    const objects = Objects.make({ historySize: 10, seed: 1 })
    const { w, seen } = recording({ match: labelled("1") })
    objects.watch(configMaps, w, undefined)
    const a = objects.commit(configMaps, "ADDED", cm("a", "default", { w: "0" }), undefined)
    const a1 = objects.commit(configMaps, "MODIFIED", cm("a", "default", { w: "1" }), a)
    const a2 = objects.commit(configMaps, "MODIFIED", cm("a", "default", { w: "1" }), a1)
    const a3 = objects.commit(configMaps, "MODIFIED", cm("a", "default", { w: "0" }), a2)
    objects.commit(configMaps, "DELETED", cm("a", "default", { w: "0" }), a3)
    assert.deepStrictEqual(seen, ["ADDED a", "MODIFIED a", "DELETED a"])
  })

  it("an unwatched watch gets nothing more; listeners hear every commit after the watches", () => {
    const objects = Objects.make({ historySize: 10, seed: 1 })
    const { w, seen } = recording()
    const order: Array<string> = []
    objects.onCommit((d, c) => order.push(`${d.plural} ${c.type} after ${seen.length} events`))
    objects.watch(configMaps, w, undefined)
    objects.commit(configMaps, "ADDED", cm("a"), undefined)
    objects.unwatch(w)
    objects.commit(configMaps, "ADDED", cm("b"), undefined)
    assert.deepStrictEqual(seen, ["ADDED a"])
    assert.deepStrictEqual(order, [
      "configmaps ADDED after 1 events",
      "configmaps ADDED after 1 events"
    ])
  })

  it("uids and generated names come from the seed; uids never repeat", () => {
    const one = Objects.make({ historySize: 10, seed: 7 })
    const two = Objects.make({ historySize: 10, seed: 7 })
    const uids = Array.from({ length: 50 }, () => one.newUid())
    assert.deepStrictEqual(uids.slice(0, 3), [two.newUid(), two.newUid(), two.newUid()])
    assert.strictEqual(new Set(uids).size, uids.length)
    for (const u of uids)
      assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.match(one.suffix(), /^[bcdfghjklmnpqrstvwxz2456789]{5}$/)
  })

  it("answers copies at the version asked for", () => {
    const objects = Objects.make({ historySize: 10, seed: 1 })
    const stored = objects.commit(configMaps, "ADDED", cm("a"), undefined)
    const answered = objects.out(configMaps, stored)
    assert.strictEqual(answered.apiVersion, "v1")
    ;(answered.metadata as Obj).name = "changed"
    assert.deepStrictEqual(objects.lookup(configMaps, "default", "a")?.metadata, stored.metadata)
    assert.strictEqual((stored.metadata as Obj).name, "a")
  })
})
