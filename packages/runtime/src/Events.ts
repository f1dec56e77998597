/**
 * core/v1 Events about objects: what kubectl describe shows under "Events". {@link post}
 * creates one with any Kube client (the real one or a simulated one).
 *
 * @since 0.1.0
 */
import { Builtins, type KubeObject } from "@kubefx/core"
import { Clock, Effect } from "effect"
import type { KubeService } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import type * as Settings from "./Settings.ts"

/**
 * A core/v1 Event to post about an object.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventSpec {
  /** The object the event is about (needs apiVersion, kind, metadata.name). */
  readonly involvedObject: KubeObject.KubeObject
  readonly type: "Normal" | "Warning"
  /** Short CamelCase reason, e.g. `Created`. */
  readonly reason: string
  /** Human message (truncated to 1024 characters). */
  readonly message: string
  /** Who reports: `reportingComponent` and `source.component`. */
  readonly reportingComponent: string
  readonly reportingInstance?: string | undefined
}

/**
 * The core/v1 Event for `e` at `now` (epoch milliseconds): in the object's namespace (`default`
 * for cluster-scoped objects), named after it, the message cut to 1024 characters.
 *
 * @example
 * ```ts
 * import { Events } from "@kubefx/runtime"
 *
 * const event = Events.make(
 *   { involvedObject: { metadata: { name: "a", namespace: "ns" } }, type: "Normal", reason: "Done",
 *     message: "ok", reportingComponent: "kubefx" },
 *   Date.UTC(2026, 0, 1)
 * )
 * event.metadata?.namespace // "ns"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (e: EventSpec, now: number): KubeObject.KubeObject => {
  const timestamp = new Date(now).toISOString().replace(/\.\d+Z$/, "Z")
  const meta = e.involvedObject.metadata ?? {}
  const namespace =
    meta.namespace !== undefined && meta.namespace !== "" ? meta.namespace : "default"
  const involvedObject: Record<string, string> = {}
  const fields = {
    apiVersion: e.involvedObject.apiVersion,
    kind: e.involvedObject.kind,
    name: meta.name,
    namespace: meta.namespace,
    uid: meta.uid,
    resourceVersion: meta.resourceVersion
  }
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) involvedObject[k] = v
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { generateName: `${meta.name ?? "object"}.`, namespace },
    involvedObject,
    type: e.type,
    reason: e.reason,
    message: e.message.length > 1024 ? `${e.message.slice(0, 1021)}...` : e.message,
    source: { component: e.reportingComponent },
    reportingComponent: e.reportingComponent,
    reportingInstance: e.reportingInstance ?? e.reportingComponent,
    firstTimestamp: timestamp,
    lastTimestamp: timestamp,
    count: 1
  }
}

/**
 * Posts an Event about an object, now (the `Clock`'s time).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Events, Kube } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   yield* Events.post(kube, {
 *     involvedObject: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "default" } },
 *     type: "Warning",
 *     reason: "Invalid",
 *     message: "data.size is missing",
 *     reportingComponent: "my-operator"
 *   })
 * })
 * ```
 *
 * @since 0.1.0
 * @category posting
 */
export const post = (
  kube: KubeService,
  e: EventSpec
): Effect.Effect<KubeObject.KubeObject, KubeError.KubeError> =>
  Effect.gen(function* () {
    const body = make(e, yield* Clock.currentTimeMillis)
    return yield* kube.create(Builtins.events, body, { namespace: body.metadata?.namespace })
  })

/**
 * An Event as a decision names it: type, reason and message (`Reconcile.Event`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Note {
  readonly type: "Normal" | "Warning"
  readonly reason: string
  readonly message: string
}

/**
 * A poster of a decision's Events about an object, as the operator posts them: only those
 * `which` selects; a failure to post is logged, never the step's failure.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Events, Kube } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   const post = Events.poster(kube, { which: "warnings", reportingComponent: "my-operator" })
 *   yield* post({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "default" } }, [
 *     { type: "Warning", reason: "Failed", message: "Handler 'x' failed permanently: boom" }
 *   ])
 * })
 * ```
 *
 * @since 0.1.0
 * @category posting
 */
export const poster =
  (
    kube: KubeService,
    options: {
      readonly which: Settings.PostEvents
      readonly reportingComponent: string
      readonly reportingInstance?: string | undefined
    }
  ) =>
  (object: KubeObject.KubeObject, notes: ReadonlyArray<Note>): Effect.Effect<void> =>
    options.which === "none"
      ? Effect.void
      : Effect.forEach(
          options.which === "all" ? notes : notes.filter((n) => n.type === "Warning"),
          (n) =>
            post(kube, {
              involvedObject: object,
              type: n.type,
              reason: n.reason,
              message: n.message,
              reportingComponent: options.reportingComponent,
              reportingInstance: options.reportingInstance
            }).pipe(
              Effect.catch((error) =>
                Effect.logWarning(
                  `could not post the event ${n.reason}: ${error._tag}: ${"message" in error ? error.message : ""}`
                )
              )
            ),
          { discard: true }
        )
