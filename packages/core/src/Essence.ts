/**
 * The essence of an object is the part that counts for change: the object without `status`,
 * `apiVersion`, `kind` and volatile metadata (only `metadata.labels` and `metadata.annotations`
 * are kept, minus kubefx's own annotations and `kubectl.kubernetes.io/last-applied-configuration`).
 *
 * The last-handled essence is kept on the object as a bounded {@link LastHandled} record: its
 * digest always, and the essence itself as far as it fits in `maxBytes`. When the essence is too
 * large, its largest leaves (strings, numbers, arrays: the atomic units of a diff) are elided and
 * only their digests are kept; if even that does not fit, only the digest of the whole is kept.
 * Change detection is exact in every case (by digest); an update's `old` values and `diff` are
 * exact outside elided paths and say "changed, old unknown" (`old: undefined`) at them. This is
 * how a large spec cannot break the operator (Kopf stores the whole essence in one annotation).
 *
 * @since 0.1.0
 */
import * as Diff from "./Diff.ts"
import * as Json from "./Json.ts"

/**
 * Annotations never part of the essence, whatever the storage: kubectl's own copy of the object.
 *
 * @example
 * ```ts
 * import { Essence } from "@kubefx/core"
 *
 * Essence.volatileAnnotations.includes("kubectl.kubernetes.io/last-applied-configuration") // true
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const volatileAnnotations: ReadonlyArray<string> = [
  "kubectl.kubernetes.io/last-applied-configuration"
]

/**
 * Computes the essence of an object. `ignoreAnnotation` drops the framework's own annotations
 * (see `Storage.ignoresAnnotation`); by default, none but the volatile ones.
 *
 * @example
 * ```ts
 * import { Essence } from "@kubefx/core"
 *
 * Essence.make({
 *   apiVersion: "v1", kind: "X",
 *   metadata: { name: "a", resourceVersion: "7", labels: { app: "a" } },
 *   spec: { size: "1G" },
 *   status: { phase: "Ready" }
 * })
 * // { metadata: { labels: { app: "a" } }, spec: { size: "1G" } }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  body: Json.Json,
  ignoreAnnotation: (key: string) => boolean = () => false
): Json.JsonObject => {
  const obj = Json.asObject(body)
  const out: Record<string, Json.Json> = {}
  for (const [k, v] of Object.entries(obj)) {
    if (k === "status" || k === "metadata" || k === "apiVersion" || k === "kind") continue
    Json.assign(out, k, v)
  }
  const meta = Json.asObject(obj.metadata)
  const labels = Json.asObject(meta.labels)
  const annotations: Record<string, Json.Json> = {}
  for (const [k, v] of Object.entries(Json.asObject(meta.annotations))) {
    if (volatileAnnotations.includes(k) || ignoreAnnotation(k)) continue
    Json.assign(annotations, k, v)
  }
  const metadata: Record<string, Json.Json> = {}
  if (Object.keys(labels).length > 0) metadata.labels = labels
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations
  if (Object.keys(metadata).length > 0) out.metadata = metadata
  return out
}

/**
 * A leaf of the essence that was too large to keep: its path and digest.
 *
 * @example
 * ```ts
 * import type { Essence } from "@kubefx/core"
 *
 * const e: Essence.Elided = { path: ["spec", "blob"], digest: "0123456789abcdef" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Elided {
  readonly path: Json.Path
  readonly digest: string
}

/**
 * The last-handled essence as stored: the digest of the whole essence, the essence with large
 * leaves removed (`undefined` when only the digest could be kept), and the removed leaves.
 *
 * @example
 * ```ts
 * import { Essence } from "@kubefx/core"
 *
 * const r: Essence.LastHandled = Essence.record({ spec: { size: "1G" } })
 * r.elided.length // 0
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LastHandled {
  readonly digest: string
  readonly essence: Json.JsonObject | undefined
  readonly elided: ReadonlyArray<Elided>
}

/**
 * The default bound, in bytes, of a serialized {@link LastHandled} record (16 KiB; the API server
 * allows 256 KiB for all annotations of an object together).
 *
 * @example
 * ```ts
 * import { Essence } from "@kubefx/core"
 *
 * Essence.defaultMaxBytes // 16384
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultMaxBytes = 16 * 1024

/**
 * Serializes a record to its JSON form (a plain JSON object).
 *
 * @example
 * ```ts
 * import { Essence } from "@kubefx/core"
 *
 * Essence.toJson(Essence.record({ spec: {} }))
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const toJson = (record: LastHandled): Json.JsonObject => {
  const out: Record<string, Json.Json> = { digest: record.digest }
  if (record.essence !== undefined) out.essence = record.essence
  if (record.elided.length > 0)
    out.elided = record.elided.map((e) => ({ path: [...e.path], digest: e.digest }))
  return out
}

/**
 * Reads a record from its JSON form; `undefined` when malformed.
 *
 * @example
 * ```ts
 * import { Essence } from "@kubefx/core"
 *
 * const r = Essence.record({ spec: { size: "1G" } })
 * Essence.fromJson(Essence.toJson(r)) // equal to r
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const fromJson = (json: Json.Json | undefined): LastHandled | undefined => {
  if (!Json.isObject(json) || typeof json.digest !== "string") return undefined
  const essence = json.essence
  if (essence !== undefined && !Json.isObject(essence)) return undefined
  const elidedJson = json.elided ?? []
  if (!Array.isArray(elidedJson)) return undefined
  const elided: Array<Elided> = []
  for (const e of elidedJson as ReadonlyArray<Json.Json>) {
    if (!Json.isObject(e) || typeof e.digest !== "string" || !Array.isArray(e.path))
      return undefined
    const p = e.path as ReadonlyArray<Json.Json>
    if (!p.every((k): k is string => typeof k === "string")) return undefined
    elided.push({ path: p, digest: e.digest })
  }
  return { digest: json.digest, essence, elided }
}

/**
 * The size in bytes of a record's serialized JSON.
 *
 * @example
 * ```ts
 * import { Essence } from "@kubefx/core"
 *
 * Essence.size(Essence.record({ spec: {} })) > 0 // true
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const size = (record: LastHandled): number => Json.byteLength(JSON.stringify(toJson(record)))

const leaves = (value: Json.JsonObject): Array<{ path: Json.Path; bytes: number }> => {
  const out: Array<{ path: Json.Path; bytes: number }> = []
  const go = (p: Json.Path, v: Json.Json): void => {
    if (Json.isObject(v) && Object.keys(v).length > 0) {
      for (const k of Object.keys(v)) go([...p, k], v[k]!)
    } else if (p.length > 0) {
      out.push({ path: p, bytes: Json.byteLength(JSON.stringify(v)) })
    }
  }
  go([], value)
  return out
}

/**
 * Builds the bounded record of an essence: the serialized record is at most `maxBytes` (or, if
 * even a digest-only record exceeds it, a digest-only record of about 40 bytes).
 *
 * @example
 * ```ts
 * import { Essence } from "@kubefx/core"
 *
 * const big = { spec: { blob: "x".repeat(100_000), size: "1G" } }
 * const r = Essence.record(big, 1024)
 * r.elided.map((e) => e.path) // [["spec", "blob"]]
 * Essence.size(r) <= 1024 // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const record = (
  essence: Json.JsonObject,
  maxBytes: number = defaultMaxBytes
): LastHandled => {
  const digest = Json.digest(essence)
  const full: LastHandled = { digest, essence, elided: [] }
  let bytes = size(full)
  if (bytes <= maxBytes) return full
  const candidates = leaves(essence).sort(
    (a, b) => b.bytes - a.bytes || Json.formatPath(a.path).localeCompare(Json.formatPath(b.path))
  )
  let current: Json.Json | undefined = essence
  const elided: Array<Elided> = []
  for (const leaf of candidates) {
    if (bytes <= maxBytes) break
    const entryBytes = Json.byteLength(JSON.stringify({ path: leaf.path, digest })) + 1
    const keyBytes = Json.byteLength(JSON.stringify(leaf.path[leaf.path.length - 1]!)) + 2
    if (leaf.bytes + keyBytes <= entryBytes) break
    const value = Json.get(essence, leaf.path)!
    current = Json.set(current, leaf.path, undefined)
    elided.push({ path: leaf.path, digest: Json.digest(value) })
    bytes += entryBytes - leaf.bytes - keyBytes
  }
  const partial: LastHandled = { digest, essence: Json.asObject(current), elided }
  if (size(partial) <= maxBytes) return partial
  return { digest, essence: undefined, elided: [] }
}

/**
 * The value at an elided leaf's path, stepping through objects only: elided paths are object
 * keys (arrays are leaves), so where an array now stands on the way, the leaf is gone.
 */
const leafAt = (value: Json.Json, p: Json.Path): Json.Json | undefined => {
  let current: Json.Json | undefined = value
  for (const key of p) current = Json.isObject(current) ? Json.own(current, key) : undefined
  return current
}

const removeIfPresent = (value: Json.Json, p: Json.Path): Json.Json =>
  leafAt(value, p) === undefined ? value : (Json.set(value, p, undefined) ?? {})

/**
 * The diff from a last-handled record to the current essence. Exact when nothing was elided
 * (then equal to `Diff.make(old, current)`); at elided paths, a change has `old: undefined`;
 * with a digest-only record, any change is one item at the root with `old: undefined`. Empty
 * exactly when the current essence's digest equals the record's.
 *
 * @example
 * ```ts
 * import { Essence } from "@kubefx/core"
 *
 * const old = Essence.record({ spec: { size: "1G" } })
 * Essence.diff(old, { spec: { size: "2G" } })
 * // [{ op: "change", path: ["spec", "size"], old: "1G", new: "2G" }]
 * ```
 *
 * @since 0.1.0
 * @category comparing
 */
export const diff = (last: LastHandled, current: Json.JsonObject): Diff.Diff => {
  if (Json.digest(current) === last.digest) return []
  if (last.essence === undefined) return [{ op: "change", path: [], old: undefined, new: current }]
  let stripped: Json.Json = current
  for (const e of last.elided) stripped = removeIfPresent(stripped, e.path)
  const items = [...Diff.make(last.essence, stripped)]
  for (const e of last.elided) {
    const now = leafAt(current, e.path)
    if (now === undefined)
      items.push({ op: "remove", path: e.path, old: undefined, new: undefined })
    else if (Json.digest(now) !== e.digest)
      items.push({ op: "change", path: e.path, old: undefined, new: now })
  }
  return items
}
