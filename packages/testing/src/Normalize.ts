/**
 * Object states without what differs between two runs of the same scenario (uids,
 * resourceVersions, timestamps, managed fields, generated names, the namespace's name), so
 * that a scenario on the simulation and on a real API server can be compared with `deepEqual`.
 *
 * @since 0.1.0
 */
import type { KubeObject } from "@kubefx/core"

type Json = unknown

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const volatileMeta = new Set([
  "uid",
  "resourceVersion",
  "creationTimestamp",
  "managedFields",
  "selfLink"
])

/**
 * A normaliser: `uids` maps a uid to a stable name (`uid:Kind/name`), so that references
 * (ownerReferences, involvedObject) compare by what they point at.
 *
 * @since 0.1.0
 * @category models
 */
export interface Normalizer {
  /** Remembers the uid of an object (its kind and name stand for it from now on). */
  readonly learn: (object: KubeObject.KubeObject) => void
  /** The normalised copy of a value. */
  readonly normalize: (value: Json) => Json
}

/**
 * Builds a normaliser for one run; `namespace` is replaced by `<ns>` in every string.
 *
 * @example
 * ```ts
 * import { Normalize } from "@kubefx/testing"
 *
 * const n = Normalize.make("t-123")
 * n.normalize({ metadata: { name: "a", namespace: "t-123", uid: "u", resourceVersion: "7" } })
 * // => { metadata: { name: "a", namespace: "<ns>" } }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (namespace?: string): Normalizer => {
  const uids = new Map<string, string>()
  const learn = (o: KubeObject.KubeObject) => {
    const uid = o.metadata?.uid
    if (uid !== undefined && !uids.has(uid))
      uids.set(uid, `uid:${o.kind ?? "?"}/${o.metadata?.name ?? "?"}`)
  }
  const text = (s: string): string => {
    let out = s
    for (const [uid, name] of uids) out = out.split(uid).join(name)
    if (namespace !== undefined && namespace !== "") out = out.split(namespace).join("<ns>")
    return out
  }
  const walk = (v: Json, key: string | undefined): Json => {
    if (typeof v === "string") {
      if (/Timestamp$|Time$/.test(key ?? "")) return "<time>"
      return text(v)
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, undefined))
    if (!isRecord(v)) return v
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) {
      if (key === "metadata" && volatileMeta.has(k)) continue
      if (key === "metadata" && k === "name" && typeof v.generateName === "string") {
        out[k] = `${text(v.generateName)}<generated>`
        continue
      }
      if (k === "resourceVersion" && key === "involvedObject") {
        out[k] = "<rv>"
        continue
      }
      if (k === "uid") {
        out[k] = typeof v[k] === "string" ? (uids.get(v[k] as string) ?? "<uid>") : v[k]
        continue
      }
      out[k] = walk(v[k], k)
    }
    return out
  }
  return { learn, normalize: (value) => walk(value, undefined) }
}
