/**
 * The object store of the simulated API server: a table per served type, one increasing
 * `resourceVersion` counter (as etcd's revision), uids, the watch history (the last
 * `historySize` changes) and the fan-out of each change to the open watches, with an object
 * leaving a watch's selector seen as DELETED by it. It keeps objects; what a write may do is
 * decided before (`admission.ts`, `operations.ts`).
 */
import type { KubeObject } from "@kubefx/core"
import * as Faults from "../../Faults.ts"
import { apiVersionOf, builtins, type Def } from "./defs.ts"
import { clone, isRecord, metaOf, type Obj, str } from "./object.ts"

/** One change, as the watch cache keeps it. */
export interface Change {
  readonly rv: number
  readonly def: string
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  readonly object: Obj
  readonly old: Obj | undefined
}

/** An open watch. */
export interface Watch {
  readonly def: string
  readonly namespace: string | undefined
  readonly match: (o: unknown) => boolean
  readonly deliver: (type: "ADDED" | "MODIFIED" | "DELETED", object: Obj) => void
}

/** What opening a watch from a version answers: the changes to send first, or an expiry. */
export type Opened =
  | { readonly _tag: "Expired" }
  | { readonly _tag: "Open"; readonly initial: ReadonlyArray<Change> }

/** The object store. */
export interface Objects {
  /** The served types by key, built-ins first. */
  readonly defs: Map<string, Def>
  /** Serves a type (from then on, until `unserve`). */
  readonly serve: (d: Def) => void
  /** Stops serving a type and forgets its table. */
  readonly unserve: (d: Def) => void
  readonly table: (d: Def) => Map<string, Obj>
  readonly lookup: (d: Def, namespace: string | undefined, name: string) => Obj | undefined
  /** The stored object of a uid, with its type. */
  readonly byUid: (uid: string) => readonly [Def, Obj] | undefined
  /** Every stored object with its type, types in the order they were served. */
  readonly everything: () => Array<[Def, Obj]>
  /** The objects of a type (in a namespace) that match, sorted by namespace and name. */
  readonly select: (
    d: Def,
    namespace: string | undefined,
    match: (o: unknown) => boolean
  ) => Array<Obj>
  /** Stores a change under the next version, records and delivers it; answers the object. */
  readonly commit: (d: Def, type: Change["type"], object: Obj, old: Obj | undefined) => Obj
  /** Calls `f` after every commit (after the watches had it), in the order registered. */
  readonly onCommit: (f: (d: Def, change: Change) => void) => void
  /** Opens a watch from a version (`undefined`, `""` or `"0"`: the current objects). */
  readonly watch: (d: Def, w: Watch, from: string | undefined) => Opened
  readonly unwatch: (w: Watch) => void
  /** Delivers a change to a watch, as its namespace and selector see it. */
  readonly deliver: (w: Watch, c: Change) => void
  /** Forgets the history: watches from any version known so far get 410. */
  readonly compact: () => void
  readonly version: () => number
  /** A copy to answer, at the requested version. */
  readonly out: (d: Def, o: Obj, version?: string) => KubeObject.KubeObject
  readonly newUid: () => string
  /** A `generateName` suffix. */
  readonly suffix: () => string
  readonly mark: () => IdentityMark
  readonly reset: (mark: IdentityMark) => void
  /** Admission webhooks' say on a write (see `admission.ts`); by default none. */
  admission: Admission
}

/** What the admission webhooks make of a write in one phase: the object to go on with
 * (`undefined`: unchanged), or a thrown `Fail` (denied) or `NeedAdmission`. */
export type Admission = (
  phase: "mutate" | "validate",
  attrs: AdmissionAttributes
) => Obj | undefined

/** Thrown by an {@link Admission} that has no answer yet: the write runs again once it has. */
export class NeedAdmission {
  readonly phase: "mutate" | "validate"
  readonly attributes: AdmissionAttributes
  constructor(phase: "mutate" | "validate", attributes: AdmissionAttributes) {
    this.phase = phase
    this.attributes = attributes
  }
}

/** A write as the admission webhooks see it. */
export interface AdmissionAttributes {
  readonly def: Def
  /** The version the request was made at. */
  readonly version: string
  readonly operation: "CREATE" | "UPDATE" | "DELETE"
  readonly name: string
  readonly namespace: string | undefined
  readonly subresource: string | undefined
  readonly object: Obj | undefined
  readonly old: Obj | undefined
  readonly dryRun: boolean
}

/** Built-in types are Go structs: empty maps and lists (`omitempty`) vanish when stored. */
export const omitEmpty = (o: Obj) => {
  for (const [k, v] of Object.entries(o)) {
    if (isRecord(v)) {
      omitEmpty(v)
      if (Object.keys(v).length === 0 && k !== "spec" && k !== "status") delete o[k]
    } else if (Array.isArray(v) && v.length === 0) delete o[k]
  }
}

const objKey = (namespace: string | undefined, name: string) =>
  namespace === undefined ? name : `${namespace}/${name}`

const byNamespaceAndName = (a: Obj, b: Obj) => {
  const x = objKey(str(metaOf(a).namespace), String(metaOf(a).name))
  const y = objKey(str(metaOf(b).namespace), String(metaOf(b).name))
  return x < y ? -1 : x > y ? 1 : 0
}

/** Delivers a change to a watch: ADDED, MODIFIED or DELETED as its selector saw it before. */
export const deliver = (w: Watch, c: Change) => {
  if (w.def !== c.def) return
  const ns = str(metaOf(c.object).namespace)
  if (w.namespace !== undefined && ns !== w.namespace) return
  const now = c.type !== "DELETED" && w.match(c.object)
  const before = c.type === "DELETED" ? w.match(c.object) : c.old !== undefined && w.match(c.old)
  if (c.type === "DELETED") {
    if (before) w.deliver("DELETED", c.object)
  } else if (now && before) w.deliver("MODIFIED", c.object)
  else if (now) w.deliver("ADDED", c.object)
  else if (before) w.deliver("DELETED", c.object)
}

/** A point in the sequence of uids and generated names. */
export interface IdentityMark {
  readonly uids: number
  readonly names: number
}

/** Uids (random but for a counter at the end, so never twice) and generated-name suffixes. */
const identities = (seed: number) => {
  const names = Faults.prng(seed ^ 0x5eed)
  let uidCounter = 0
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(names.next() * 16).toString(16)).join("")
  return {
    /** Where the identities are now; `reset(mark())` makes the next ones the same again. */
    mark: (): IdentityMark => ({ uids: uidCounter, names: names.state() }),
    reset: (mark: IdentityMark): void => {
      uidCounter = mark.uids
      names.restore(mark.names)
    },
    newUid: () => {
      uidCounter++
      return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${uidCounter.toString(16).padStart(12, "0")}`
    },
    suffix: () =>
      Array.from(
        { length: 5 },
        () => "bcdfghjklmnpqrstvwxz2456789"[Math.floor(names.next() * 27)]
      ).join("")
  }
}

/** The tables: the served types, their objects by namespace and name, and where each uid is. */
const tables = () => {
  const defs = new Map<string, Def>()
  const byType = new Map<string, Map<string, Obj>>()
  const uids = new Map<string, { readonly def: string; readonly key: string }>()
  const table = (d: Def) => {
    let t = byType.get(d.key)
    if (t === undefined) {
      t = new Map()
      byType.set(d.key, t)
    }
    return t
  }
  const served = {
    defs,
    table,
    serve: (d: Def) => {
      defs.set(d.key, d)
      table(d)
    },
    unserve: (d: Def) => {
      defs.delete(d.key)
      byType.delete(d.key)
    },
    lookup: (d: Def, namespace: string | undefined, name: string) =>
      table(d).get(objKey(d.namespaced ? namespace : undefined, name)),
    byUid: (uid: string): readonly [Def, Obj] | undefined => {
      const at = uids.get(uid)
      const d = at === undefined ? undefined : defs.get(at.def)
      const o = d === undefined || at === undefined ? undefined : table(d).get(at.key)
      return d === undefined || o === undefined ? undefined : [d, o]
    },
    everything: (): Array<[Def, Obj]> => {
      const all: Array<[Def, Obj]> = []
      for (const d of defs.values()) for (const o of table(d).values()) all.push([d, o])
      return all
    },
    select: (d: Def, namespace: string | undefined, match: (o: unknown) => boolean) =>
      [...table(d).values()]
        .filter(
          (o) => !d.namespaced || namespace === undefined || metaOf(o).namespace === namespace
        )
        .filter(match)
        .sort(byNamespaceAndName)
  }
  /** Stores a committed object, or forgets a deleted one. */
  const write = (d: Def, type: Change["type"], object: Obj) => {
    const m = metaOf(object)
    const key = objKey(d.namespaced ? str(m.namespace) : undefined, String(m.name))
    const uid = String(m.uid)
    if (type === "DELETED") {
      table(d).delete(key)
      uids.delete(uid)
    } else {
      table(d).set(key, object)
      uids.set(uid, { def: d.key, key })
    }
  }
  return { served, write }
}

/** The watch history (the last `historySize` changes) and the open watches. */
const watchCache = (historySize: number) => {
  const history: Array<Change> = []
  const watches = new Set<Watch>()
  /** Versions below this one were compacted away; nothing is, until the history overflows. */
  let floor = 0
  return {
    /** Keeps a change and delivers it to the open watches. */
    record: (change: Change) => {
      history.push(change)
      while (history.length > historySize) floor = history.shift()!.rv
      for (const w of [...watches]) deliver(w, change)
    },
    /** Opens a watch from a version, or from `current` (the objects as ADDED changes). */
    open: (w: Watch, from: string | undefined, current: () => Array<Change>): Opened => {
      let initial: Array<Change>
      if (from === undefined || from === "" || from === "0") initial = current()
      else {
        const n = Number(from)
        if (!Number.isInteger(n) || n < floor) return { _tag: "Expired" }
        initial = history.filter((c) => c.rv > n)
      }
      watches.add(w)
      return { _tag: "Open", initial }
    },
    unwatch: (w: Watch) => void watches.delete(w),
    compact: (rv: number) => {
      history.length = 0
      floor = rv
    }
  }
}

/** A store with the built-in types served and nothing in it. */
export const make = (options: { readonly historySize: number; readonly seed: number }): Objects => {
  const { served, write } = tables()
  for (const d of builtins) served.serve(d)
  const cache = watchCache(options.historySize)
  const listeners: Array<(d: Def, change: Change) => void> = []
  let rv = 1000
  const commit = (d: Def, type: Change["type"], object: Obj, old: Obj | undefined): Obj => {
    if (!d.custom) omitEmpty(object)
    rv++
    metaOf(object).resourceVersion = String(rv)
    write(d, type, object)
    const change: Change = { rv, def: d.key, type, object: clone(object), old }
    cache.record(change)
    for (const f of listeners) f(d, change)
    return object
  }
  const current = (d: Def, w: Watch) => () =>
    [...served.table(d).values()]
      .filter((o) => w.namespace === undefined || metaOf(o).namespace === w.namespace)
      .map((o) => ({ rv, def: d.key, type: "ADDED" as const, object: clone(o), old: undefined }))
  return {
    ...served,
    commit,
    onCommit: (f) => void listeners.push(f),
    watch: (d, w, from) => cache.open(w, from, current(d, w)),
    unwatch: cache.unwatch,
    deliver,
    compact: () => cache.compact(rv),
    version: () => rv,
    out: (d, o, version) => {
      const c = clone(o)
      c.apiVersion = apiVersionOf(d.group, version ?? d.versions[0]!)
      return c as KubeObject.KubeObject
    },
    ...identities(options.seed),
    admission: () => undefined
  }
}
