/**
 * Where kubefx keeps its state on the object: per-handler progress, the last-handled essence,
 * the error summary and the finalizer's name. A storage is a value; reading is a pure function
 * of the body and writing returns a merge patch. It stays one module over 400 lines because each
 * read must match its write in place, names and encoding, which this header and its functions
 * keep side by side (its code is under 200 lines; the rest is the documentation of its exports).
 *
 * Default:
 * - progress in `status.kubefx.progress` (`{ [handlerId]: state }`): small, any id is a valid key;
 * - the last-handled essence in `status.kubefx.lastHandled`, as a bounded record
 *   (`Essence.record`, at most 16 KiB: a large spec cannot break the operator), so that one
 *   write of the status subresource records a handled change (in an annotation, it would take
 *   a second write when the CRD has a status subresource);
 * - handler failures summarized in `status.kubefx.errors` (`{ [handlerId]: message }`);
 * - the finalizer `kubefx.dev/finalizer`.
 *
 * Progress and the last-handled record may each live in annotations (`annotations({ prefix })`)
 * or in status (`status({ field })`):
 * - A merge patch cannot store `null` and merges into what is there, so the last-handled record
 *   is always stored as a JSON string (in status too), and a progress entry in status lists its
 *   absent fields as `null` (deleting the previous values).
 * - Progress in annotations is one annotation per handler, `<prefix>/<name>`, the name being the
 *   handler id when it is a valid name part (at most 63 characters of `[-A-Za-z0-9_.]`,
 *   alphanumeric at both ends), else a deterministic shortening (sanitized, truncated, plus a
 *   hash of the id); the value carries the full id.
 * - Status storage requires the CRD's status schema to preserve the field
 *   (`x-kubernetes-preserve-unknown-fields`), as Kopf's does; Kubernetes' own kinds keep nothing
 *   unknown in status and need annotations for both (the runtime picks them there).
 * - A backup restore that drops status (Velero does) loses a status-stored record, so create
 *   handlers run again (Kopf's default, an annotation, survives it); idempotent handlers must
 *   tolerate that anyway.
 *
 * @since 0.1.0
 */
import * as Essence from "./Essence.ts"
import * as Json from "./Json.ts"
import * as Patch from "./Patch.ts"
import * as Progress from "./Progress.ts"

/**
 * A place on the object: annotations under a prefix (a DNS subdomain), or a field of `status`.
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * const where: Storage.Location = Storage.annotations({ prefix: "example.com" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Location =
  | { readonly _tag: "Annotations"; readonly prefix: string }
  | { readonly _tag: "Status"; readonly field: Json.Path }

/**
 * The storage configuration.
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.defaults.finalizer // "kubefx.dev/finalizer"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Storage {
  readonly progress: Location
  readonly lastHandled: Location
  /** The status field for the failure summary (`status.<errors>`). */
  readonly errors: Json.Path
  readonly finalizer: string
  /** Bound of the serialized last-handled record. */
  readonly maxEssenceBytes: number
}

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const namePart = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/

/**
 * The annotation name (after `prefix/`) holding the last-handled record.
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.lastHandledName // "last-handled"
 * ```
 *
 * @since 0.1.0
 * @category annotation names
 */
export const lastHandledName = "last-handled"

/**
 * Annotations under a prefix. Throws on a prefix that is not a DNS subdomain of at most 253
 * characters (a programming error, found at declaration time).
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.annotations({ prefix: "kubefx.dev" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const annotations = (options: { readonly prefix: string }): Location => {
  if (options.prefix.length > 253 || !dnsSubdomain.test(options.prefix))
    throw new Error(`kubefx: invalid annotation prefix ${JSON.stringify(options.prefix)}`)
  return { _tag: "Annotations", prefix: options.prefix }
}

const storagePath = (what: string, input: Json.PathInput): Json.Path => {
  const problem = Json.pathProblem(input)
  if (problem !== undefined) throw new Error(`kubefx: ${what}: ${problem}`)
  const keys = Json.path(input)
  const index = keys.find(Json.isIndex)
  if (index !== undefined)
    throw new Error(
      `kubefx: ${what}: the key ${JSON.stringify(index)} of ${JSON.stringify(Json.formatPath(keys))} is a number, which paths read as an array index; name the field with a word`
    )
  return keys
}

/**
 * A field of `status` (`"kubefx"` or `["kubefx"]` means `status.kubefx`). Throws on a malformed
 * path (see `Json.pathProblem`) or a key that is a number (a programming error, found at
 * declaration time).
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.status({ field: "kubefx" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const status = (options: { readonly field: Json.PathInput }): Location => ({
  _tag: "Status",
  field: storagePath("Storage.status field", options.field)
})

/**
 * Builds a storage from options; every option has a default (see the module's documentation).
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * const s = Storage.make({ progress: Storage.annotations({ prefix: "example.com" }), finalizer: "example.com/cleanup" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: {
    readonly progress?: Location | undefined
    readonly lastHandled?: Location | undefined
    readonly errors?: Json.PathInput | undefined
    readonly finalizer?: string | undefined
    readonly maxEssenceBytes?: number | undefined
  } = {}
): Storage => ({
  progress: options.progress ?? status({ field: "kubefx" }),
  lastHandled: options.lastHandled ?? status({ field: "kubefx" }),
  errors: storagePath("Storage.make errors", options.errors ?? "kubefx.errors"),
  finalizer: options.finalizer ?? "kubefx.dev/finalizer",
  maxEssenceBytes: options.maxEssenceBytes ?? Essence.defaultMaxBytes
})

/**
 * The default storage.
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.defaults.progress // { _tag: "Status", field: ["kubefx"] }
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaults: Storage = make()

/**
 * Whether a string is a valid annotation name part: at most 63 characters of `[-A-Za-z0-9_.]`,
 * alphanumeric at both ends.
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.isValidName("create_fn") // true
 * Storage.isValidName("-x") // false
 * ```
 *
 * @since 0.1.0
 * @category annotation names
 */
export const isValidName = (name: string): boolean => name.length <= 63 && namePart.test(name)

/**
 * The annotation name part for a handler id: the id itself when valid (and not reserved), else a
 * deterministic shortening: invalid characters replaced by `-`, truncated, and suffixed with a
 * 16-hex-digit hash of the whole id. Always valid; distinct ids give distinct names (up to hash
 * collisions).
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.nameFor("create_fn") // "create_fn"
 * Storage.nameFor("on-field/spec.resources.requests/storage").length <= 63 // true
 * ```
 *
 * @since 0.1.0
 * @category annotation names
 */
export const nameFor = (id: string): string => {
  if (isValidName(id) && id !== lastHandledName) return id
  const hash = Json.hashString(id)
  const trim = (s: string) => s.replace(/^[^A-Za-z0-9]+/, "").replace(/[^A-Za-z0-9]+$/, "")
  const base = trim(trim(id.replace(/[^-A-Za-z0-9_.]/g, "-")).slice(0, 63 - 17))
  return base === "" ? hash : `${base}-${hash}`
}

const annotationsOf = (body: Json.Json): Json.JsonObject =>
  Json.asObject(Json.get(body, ["metadata", "annotations"]))

/**
 * Whether an annotation belongs to kubefx's storage (and so is not part of the essence): the
 * storage's annotation prefixes, and `kubefx.dev/` always (what another setting wrote).
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.ignoresAnnotation(Storage.defaults)("kubefx.dev/last-handled") // true
 * ```
 *
 * @since 0.1.0
 * @category annotation names
 */
export const ignoresAnnotation =
  (storage: Storage) =>
  (key: string): boolean =>
    key.startsWith("kubefx.dev/") ||
    [storage.progress, storage.lastHandled].some(
      (l) => l._tag === "Annotations" && key.startsWith(`${l.prefix}/`)
    )

/**
 * Reads the progress of all handlers (malformed entries are skipped).
 *
 * @example
 * ```ts
 * import { Progress, Storage } from "@kubefx/core"
 *
 * const patch = Storage.writeProgress(Storage.defaults, { a: Progress.start("create:", 0) })
 * Storage.readProgress(Storage.defaults, patch) // { a: Progress.start("create:", 0) }
 * ```
 *
 * @since 0.1.0
 * @category progress
 */
export const readProgress = (storage: Storage, body: Json.Json): Progress.Progress => {
  const out: Record<string, Progress.HandlerState> = {}
  const loc = storage.progress
  if (loc._tag === "Status") {
    const entries = Json.asObject(Json.get(body, ["status", ...loc.field, "progress"]))
    for (const [id, v] of Object.entries(entries)) {
      const state = Progress.fromJson(v)
      if (state !== undefined) Json.assign(out, id, state)
    }
    return out
  }
  for (const [key, v] of Object.entries(annotationsOf(body))) {
    if (!key.startsWith(`${loc.prefix}/`) || typeof v !== "string") continue
    const name = key.slice(loc.prefix.length + 1)
    if (name === lastHandledName) continue
    const json = Json.parse(v)
    const id = Json.get(json, "id")
    const state = Progress.fromJson(json)
    if (typeof id === "string" && state !== undefined && nameFor(id) === name)
      Json.assign(out, id, state)
  }
  return out
}

/**
 * The patch that writes (or, for `undefined`, deletes) the progress of the given handlers.
 *
 * @example
 * ```ts
 * import { Progress, Storage } from "@kubefx/core"
 *
 * Storage.writeProgress(Storage.defaults, { a: Progress.start("create:", 0), b: undefined })
 * // { status: { kubefx: { progress: { a: {...}, b: null } } } }
 * ```
 *
 * @since 0.1.0
 * @category progress
 */
export const writeProgress = (
  storage: Storage,
  changes: Readonly<Record<string, Progress.HandlerState | undefined>>
): Patch.MergePatch => {
  const loc = storage.progress
  const entries: Record<string, Json.Json> = {}
  for (const [id, state] of Object.entries(changes)) {
    if (loc._tag === "Status")
      Json.assign(
        entries,
        id,
        state === undefined
          ? null
          : { stopped: null, delayed: null, message: null, ...Progress.toJson(state) }
      )
    else
      Json.assign(
        entries,
        `${loc.prefix}/${nameFor(id)}`,
        state === undefined ? null : JSON.stringify({ id, ...Progress.toJson(state) })
      )
  }
  if (Object.keys(entries).length === 0) return Patch.empty
  return loc._tag === "Status"
    ? Patch.at(["status", ...loc.field, "progress"], entries)
    : { metadata: { annotations: entries } }
}

/**
 * The patch that deletes all stored progress.
 *
 * @example
 * ```ts
 * import { Progress, Storage } from "@kubefx/core"
 *
 * const body = Storage.writeProgress(Storage.defaults, { a: Progress.start("create:", 0) })
 * Storage.purgeProgress(Storage.defaults, body) // { status: { kubefx: { progress: null } } }
 * ```
 *
 * @since 0.1.0
 * @category progress
 */
export const purgeProgress = (storage: Storage, body: Json.Json): Patch.MergePatch => {
  const loc = storage.progress
  if (loc._tag === "Status") {
    return Json.get(body, ["status", ...loc.field, "progress"]) === undefined
      ? Patch.empty
      : Patch.at(["status", ...loc.field, "progress"], null)
  }
  const ids = Object.keys(readProgress(storage, body))
  return writeProgress(storage, Object.fromEntries(ids.map((id) => [id, undefined])))
}

/**
 * Reads the last-handled record; `undefined` when absent or malformed.
 *
 * @example
 * ```ts
 * import { Essence, Storage } from "@kubefx/core"
 *
 * const r = Essence.record({ spec: { size: "1G" } })
 * Storage.readLastHandled(Storage.defaults, Storage.writeLastHandled(Storage.defaults, r)) // equal to r
 * ```
 *
 * @since 0.1.0
 * @category last handled
 */
export const readLastHandled = (
  storage: Storage,
  body: Json.Json
): Essence.LastHandled | undefined => {
  const loc = storage.lastHandled
  const v =
    loc._tag === "Status"
      ? Json.get(body, ["status", ...loc.field, "lastHandled"])
      : annotationsOf(body)[`${loc.prefix}/${lastHandledName}`]
  return typeof v === "string" ? Essence.fromJson(Json.parse(v)) : undefined
}

/**
 * The patch that writes the last-handled record.
 *
 * @example
 * ```ts
 * import { Essence, Storage } from "@kubefx/core"
 *
 * Storage.writeLastHandled(Storage.defaults, Essence.record({ spec: {} }))
 * // { metadata: { annotations: { "kubefx.dev/last-handled": "{\"digest\":...}" } } }
 * ```
 *
 * @since 0.1.0
 * @category last handled
 */
export const writeLastHandled = (
  storage: Storage,
  record: Essence.LastHandled
): Patch.MergePatch => {
  const loc = storage.lastHandled
  const text = JSON.stringify(Essence.toJson(record))
  return loc._tag === "Status"
    ? Patch.at(["status", ...loc.field, "lastHandled"], text)
    : {
        metadata: {
          annotations: {
            [`${loc.prefix}/${lastHandledName}`]: text
          }
        }
      }
}

/**
 * Whether the object carries this storage's finalizer.
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.hasFinalizer(Storage.defaults, { metadata: { finalizers: ["kubefx.dev/finalizer"] } }) // true
 * ```
 *
 * @since 0.1.0
 * @category finalizer
 */
export const hasFinalizer = (storage: Storage, body: Json.Json): boolean => {
  const f = Json.get(body, ["metadata", "finalizers"])
  return Array.isArray(f) && f.includes(storage.finalizer)
}

/**
 * The object's finalizers with this storage's finalizer added or removed (other finalizers kept
 * in order).
 *
 * @example
 * ```ts
 * import { Storage } from "@kubefx/core"
 *
 * Storage.finalizersWith(Storage.defaults, { metadata: { finalizers: ["other"] } }, true)
 * // ["other", "kubefx.dev/finalizer"]
 * ```
 *
 * @since 0.1.0
 * @category finalizer
 */
export const finalizersWith = (
  storage: Storage,
  body: Json.Json,
  present: boolean
): Array<string> => {
  const f = Json.get(body, ["metadata", "finalizers"])
  const others = (Array.isArray(f) ? f : []).filter(
    (x): x is string => typeof x === "string" && x !== storage.finalizer
  )
  return present ? [...others, storage.finalizer] : others
}
