/**
 * Cause detection: from the object as it is now, the last-handled essence and the progress kept
 * on it, its finalizers and `deletionTimestamp`, decide one reason and the finalizer action.
 *
 * | condition (first that holds)                                  | reason   |
 * | ------------------------------------------------------------- | -------- |
 * | the watch reported the object deleted                         | `gone`   |
 * | `deletionTimestamp` set, our finalizer present                | `delete` |
 * | `deletionTimestamp` set, our finalizer absent                 | `gone`   |
 * | no last-handled essence                                       | `create` |
 * | the essence's digest differs from the last-handled one        | `update` |
 * | a resume is in progress for this essence, or first sight      | `resume` |
 * | otherwise                                                     | `noop`   |
 *
 * Finalizer: `add` when needed (a non-optional delete handler exists) and absent on a live
 * object; `remove` when present and not needed, or when deleting (the reconciler holds the
 * removal back until the delete handlers are done); else `none`.
 *
 * Every cause has a `key` naming the change it handles (`reason:digest`): progress recorded for
 * another key is stale. The key stays the same while a change is in progress (an update's key is
 * the digest it updates from), so edits made while handlers retry are folded into the running
 * change, as in Kopf.
 *
 * @since 0.1.0
 */
import * as Diff from "./Diff.ts"
import * as Essence from "./Essence.ts"
import * as Json from "./Json.ts"
import * as Progress from "./Progress.ts"
import * as Storage from "./Storage.ts"

/**
 * The reason of a reconciliation step.
 *
 * @example
 * ```ts
 * import type { Causes } from "@kubefx/core"
 *
 * const r: Causes.Reason = "update"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Reason = "create" | "update" | "delete" | "resume" | "noop" | "gone"

/**
 * What to do with kubefx's finalizer.
 *
 * @example
 * ```ts
 * import type { Causes } from "@kubefx/core"
 *
 * const a: Causes.FinalizerAction = "add"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type FinalizerAction = "add" | "remove" | "none"

/**
 * A detected cause.
 *
 * @example
 * ```ts
 * import { Causes } from "@kubefx/core"
 *
 * const c: Causes.Cause = Causes.detect({ body: { metadata: { name: "a" } } })
 * c.reason // "create"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Cause {
  readonly reason: Reason
  readonly finalizer: FinalizerAction
  /** The change being handled: progress with another key is stale. */
  readonly key: string
  /** The last-handled essence (partial when elided, `undefined` for a create or digest-only record). */
  readonly old: Json.JsonObject | undefined
  /** The current essence. */
  readonly new: Json.JsonObject
  /** From `old` to `new` (see `Essence.diff`); for a create, everything added. */
  readonly diff: Diff.Diff
  readonly lastHandled: Essence.LastHandled | undefined
}

/**
 * The input of {@link detect}. `needsFinalizer`: the registry has a non-optional delete handler
 * for this object; `firstSight`: this operator process sees the object for the first time;
 * `deleted`: the watch reported the object deleted (it no longer exists).
 *
 * @example
 * ```ts
 * import type { Causes } from "@kubefx/core"
 *
 * const input: Causes.Input = { body: {}, firstSight: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly body: Json.Json
  readonly storage?: Storage.Storage | undefined
  readonly needsFinalizer?: boolean | undefined
  readonly firstSight?: boolean | undefined
  readonly deleted?: boolean | undefined
}

/**
 * Whether the object is marked for deletion (`metadata.deletionTimestamp` set).
 *
 * @example
 * ```ts
 * import { Causes } from "@kubefx/core"
 *
 * Causes.isDeleting({ metadata: { deletionTimestamp: "2024-01-01T00:00:00Z" } }) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isDeleting = (body: Json.Json): boolean => {
  const ts = Json.get(body, ["metadata", "deletionTimestamp"])
  return ts !== undefined && ts !== null
}

/**
 * Detects the cause of a reconciliation step. Pure.
 *
 * @example
 * ```ts
 * import { Causes, Essence, Storage } from "@kubefx/core"
 *
 * const body = { metadata: { name: "a" }, spec: { size: "1G" } }
 * Causes.detect({ body, needsFinalizer: true }) // reason "create", finalizer "add"
 * const handled = { ...body, metadata: { name: "a", annotations: {
 *   "kubefx.dev/last-handled": JSON.stringify(Essence.toJson(Essence.record({ spec: { size: "1G" } })))
 * } } }
 * Causes.detect({ body: handled }).reason // "noop"
 * Causes.detect({ body: handled, firstSight: true }).reason // "resume"
 * ```
 *
 * @since 0.1.0
 * @category detection
 */
export const detect = (input: Input): Cause => {
  const storage = input.storage ?? Storage.defaults
  const body = input.body
  const current = Essence.make(body, Storage.ignoresAnnotation(storage))
  const currentDigest = Json.digest(current)
  const lastHandled = Storage.readLastHandled(storage, body)
  const present = Storage.hasFinalizer(storage, body)
  const deleting = isDeleting(body)
  const needs = input.needsFinalizer ?? false
  const finalizer: FinalizerAction = input.deleted
    ? "none"
    : deleting
      ? present
        ? "remove"
        : "none"
      : needs && !present
        ? "add"
        : !needs && present
          ? "remove"
          : "none"
  const old = lastHandled?.essence
  const base = { finalizer, old, new: current, lastHandled }
  if (input.deleted || (deleting && !present))
    return { ...base, reason: "gone", key: "gone:", diff: [] }
  if (deleting) return { ...base, reason: "delete", key: "delete:", diff: [] }
  if (lastHandled === undefined)
    return { ...base, reason: "create", key: "create:", diff: Diff.make(undefined, current) }
  if (lastHandled.digest !== currentDigest)
    return {
      ...base,
      reason: "update",
      key: `update:${lastHandled.digest}`,
      diff: Essence.diff(lastHandled, current)
    }
  const resumeKey = `resume:${currentDigest}`
  const resuming = Object.values(Storage.readProgress(storage, body)).some(
    (s) => s.cause === resumeKey && !Progress.isDone(s)
  )
  if (resuming || input.firstSight) return { ...base, reason: "resume", key: resumeKey, diff: [] }
  return { ...base, reason: "noop", key: "noop:", diff: [] }
}
