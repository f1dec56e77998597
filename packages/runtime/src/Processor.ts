/**
 * The processor of one resource: turns the watcher's events into queue items, and processes
 * one object at a time: runs the core's step (`Reconcile.reconcile`) and carries its decision
 * out against the API server.
 *
 * ## Applying a decision (calls per step)
 *
 * - An empty patch (no keys, or only empty objects) is not sent.
 * - Without a `status` subresource: **one** merge patch with everything.
 * - With one: the `status` part goes to `/status`, the rest (annotations, finalizers, the
 *   handlers' own patches) to the object, so **one** call when only one part is non-empty and
 *   **two** otherwise: status first, so that a crash in between re-runs handlers (at least once)
 *   rather than losing their results. When the core guards the patch with
 *   `metadata.resourceVersion` (a finalizer change), the status patch carries that guard and the
 *   second call carries the version the first one answered, so both fail with 409 if anybody
 *   else wrote meanwhile.
 * - Every write carries the object's `metadata.uid`, a precondition: a decision about an object
 *   that was deleted and re-created under its name (the watch may deliver both at once) fails
 *   with 409 instead of landing on the new object.
 * - 409 Conflict: GET the object and run the step again on the fresh copy (at most
 *   `conflictRetries` times; the handlers run again: they run at least once per change); a
 *   fresh copy with another uid is a new object, left to its own events.
 * - 404 Not Found: the object is gone; stop (its deletion event cleans up).
 * - Any other failure: logged with the object's identity; the object comes back after
 *   `errorBackoff` (a comeback, in memory). One object never stops the operator.
 * - Then the decision's Events are posted (failures to post are logged, not fatal), and its
 *   `requeueAfter` becomes the queue's comeback.
 *
 * ## Stale copies (waiting for our own write)
 *
 * Watch events arrive in order. After a patch, the processor remembers the resourceVersion the
 * server answered for the object; until the watch delivers the event carrying that version,
 * events for the object are stale copies (from before our write) and are not processed (they
 * stay the newest item; a comeback wakes the object when the wait runs out). The expectation is
 * cleared when our version arrives (that event is processed), by a relist of the namespace (the
 * listed copy is processed), by the object's deletion, or after `ownWriteTimeout` (then the
 * newest copy is processed). The watcher's recent versions of each object are remembered, so a
 * write the watch delivered before the patch call returned is not waited for; nor is a patch
 * that changed nothing (same version).
 *
 * ## Other rules
 *
 * - `firstSight`: the object was not yet processed by this process (gives the `resume` cause);
 *   kept across the step that only adds the finalizer.
 * - `event` (for `onEvent` handlers): `ADDED` for the first copy this process sees, `MODIFIED`
 *   for later ones, `DELETED` on deletion; given once per delivered version (not on comebacks
 *   nor retries after a conflict). Collapsed events (the newest state wins) are seen once.
 * - A deletion runs the step with `DELETED` (event handlers only), then forgets the object.
 * - Every log line of a step is annotated with `resource` and `object` (`namespace/name`).
 * - A status the API server prunes: when the storage keeps the last-handled record in `status`
 *   (the default for custom resources) and the object the server answers lacks the record just
 *   written, the CRD's status schema drops unknown fields (no
 *   `x-kubernetes-preserve-unknown-fields` on `status` or `status.kubefx`). The processor logs
 *   an error saying so, writes the record as the annotation `kubefx.dev/last-handled`, and keeps
 *   progress and records of this resource in annotations from then on: no handler runs twice for
 *   a change it finished (handler results in `status.<id>` are still dropped, as the CRD says).
 *   A restarted process switches as soon as it meets an object whose record is only in the
 *   annotation, before that object's step.
 *
 * @since 0.1.0
 */
import {
  Backoff,
  Patch as CorePatch,
  Resource as CoreResource,
  Json,
  Reconcile,
  Registry,
  Storage
} from "@kubefx/core"
import { Clock, Duration, Effect, Option } from "effect"
import type { Target } from "./Discovery.ts"
import * as Events from "./Events.ts"
import { Kube, type KubeService } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import * as Patch from "./Patch.ts"
import * as Resource from "./Resource.ts"
import * as Settings from "./Settings.ts"
import type * as WatchState from "./WatchState.ts"

type KubeObject = Resource.KubeObject

/**
 * What the queue holds for an object: its newest state, or its deletion.
 *
 * @since 0.1.0
 * @category models
 */
export type Item =
  | { readonly _tag: "Applied"; readonly object: KubeObject }
  | { readonly _tag: "Deleted"; readonly object: KubeObject }

/**
 * A processor of one resource.
 *
 * @since 0.1.0
 * @category models
 */
export interface Processor<R> {
  readonly target: Target
  /** Takes each watch event, in order; answers the items to offer to the queue. */
  readonly observe: (event: WatchState.WatchEvent) => ReadonlyArray<Item>
  /** The queue key of an item: resource and `namespace/name/uid`. */
  readonly key: (item: Item) => string
  /** Processes the newest item of an object; answers the comeback. Never fails. */
  readonly process: (item: Item) => Effect.Effect<Option.Option<Duration.Duration>, never, R>
}

interface Expectation {
  readonly resourceVersion: string
  readonly deadline: number
}

const RECENT = 16

/** One line per handler run of a decision; event handlers are never retried, say so. */
const logRun = (run: Reconcile.Run): Effect.Effect<void> => {
  const outcome = run.outcome
  if (run.kind === "event") {
    if (outcome._tag === "Success") return Effect.logDebug(`event handler ${run.id}: Success`)
    const message = outcome._tag === "Failure" ? outcome.error.message : outcome.message
    return Effect.logWarning(`event handler ${run.id} failed (not retried): ${message}`)
  }
  const detail =
    outcome._tag === "Retry"
      ? ` (retry in ${outcome.delayMillis}ms: ${outcome.message})`
      : outcome._tag === "Failure"
        ? ` (${outcome.error.message})`
        : ""
  return Effect.logInfo(`handler ${run.id}: ${outcome._tag}${detail}`)
}

const meta = (object: KubeObject) => ({
  name: object.metadata?.name ?? "",
  namespace: object.metadata?.namespace
})

/** The raw last-handled record in status (not parsed: this runs on every step), if stored there. */
const recordInStatus = (storage: Storage.Storage, object: unknown): Json.Json | undefined =>
  storage.lastHandled._tag === "Status"
    ? Json.get(object as Json.Json, ["status", ...storage.lastHandled.field, "lastHandled"])
    : undefined

/** Whether the server dropped the last-handled record that `written` put in `status`. */
const prunesStatus = (
  storage: Storage.Storage,
  written: CorePatch.MergePatch,
  after: KubeObject
): boolean =>
  recordInStatus(storage, written) !== undefined && recordInStatus(storage, after) === undefined

const fallbackPrefix = "kubefx.dev"

/** The same storage with progress and the last-handled record in `kubefx.dev/` annotations. */
const annotationStorage = (storage: Storage.Storage): Storage.Storage => ({
  ...storage,
  progress: Storage.annotations({ prefix: fallbackPrefix }),
  lastHandled: Storage.annotations({ prefix: fallbackPrefix })
})

/**
 * Whether a merge patch changes nothing: no keys, or only (nested) empty objects.
 *
 * @example
 * ```ts
 * import { Processor } from "@kubefx/runtime"
 *
 * Processor.isNoop({ status: {} }) // true
 * Processor.isNoop({ status: { a: null } }) // false
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const isNoop = (patch: Json.Json | undefined): boolean =>
  patch === undefined ||
  (Json.isObject(patch) && Object.values(patch).every((v) => Json.isObject(v) && isNoop(v)))

/**
 * The calls that carry a decision's merge patch out (see the module's documentation): answers
 * the object as the last call left it, or `undefined` when nothing was sent.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Kube, Processor, Resource } from "@kubefx/runtime"
 *
 * const widgets = Resource.make("example.com", "v1", "widgets", "Widget")
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   const target = { resource: { ...widgets, spec: undefined }, api: widgets, statusSubresource: true }
 *   return yield* Processor.applyPatch(kube, target, { metadata: { name: "a", namespace: "ns" } }, {
 *     status: { ready: true }
 *   }, "my-operator")
 * })
 * ```
 *
 * @since 0.1.0
 * @category applying
 */
export const applyPatch = (
  kube: KubeService,
  target: Target,
  body: KubeObject,
  patch: CorePatch.MergePatch,
  fieldManager: string
): Effect.Effect<KubeObject | undefined, KubeError.KubeError> =>
  Effect.gen(function* () {
    if (isNoop(patch)) return undefined
    const { name, namespace } = meta(body)
    const options = { namespace, fieldManager }
    // Every write names the object's uid: the server refuses it (409) when the name now
    // belongs to a newer object, so a decision about a deleted object never lands on its
    // successor.
    const uid = Resource.uid(body)
    const onlyThis = (p: CorePatch.MergePatch): CorePatch.MergePatch =>
      uid === "" ? p : CorePatch.combine(p, { metadata: { uid } })
    if (!target.statusSubresource) {
      return yield* kube.patch(target.api, name, Patch.merge(onlyThis(patch)), options)
    }
    const { main, status } = CorePatch.split(patch)
    const guard = Json.get(main, ["metadata", "resourceVersion"])
    let last: KubeObject | undefined
    if (!isNoop(status)) {
      const guarded =
        typeof guard === "string"
          ? CorePatch.combine(status ?? {}, { metadata: { resourceVersion: guard } })
          : (status ?? {})
      last = yield* kube.patchStatus(target.api, name, Patch.merge(onlyThis(guarded)), options)
    }
    if (main !== undefined && !isNoop(main)) {
      const guarded =
        typeof guard === "string" && last !== undefined
          ? CorePatch.combine(main, {
              metadata: { resourceVersion: Resource.resourceVersion(last) }
            })
          : main
      last = yield* kube.patch(target.api, name, Patch.merge(onlyThis(guarded)), options)
    }
    return last
  })

/**
 * Builds the processor of one resource, with the client of the context.
 *
 * @example
 * ```ts
 * import { Handler, Registry, Resource as CoreResource } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Processor, Resource, Settings } from "@kubefx/runtime"
 *
 * const api = Resource.make("example.com", "v1", "widgets", "Widget")
 * const registry = Registry.make(Handler.onCreate("widgets", () => Effect.succeed({ ok: true })))
 * const processor = Processor.make(registry, {
 *   resource: CoreResource.make(api),
 *   api,
 *   statusSubresource: true
 * }, Settings.make())
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(
  registry: Registry.Registry<R>,
  target: Target,
  settings: Settings.Settings
): Effect.Effect<Processor<R>, never, Kube> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const resourceName = CoreResource.format(target.resource)
    const apiVersion = Resource.apiVersion(target.api)
    const hasEventHandlers = Registry.forResource(registry, target.resource).some(
      (h) => h.kind === "event"
    )
    let storage = Settings.storageFor(settings, target.api)
    const seen = new Set<string>()
    const eventVersion = new Map<string, string>()
    const expected = new Map<string, Expectation>()
    const recent = new Map<string, Array<string>>()
    const failures = new Map<string, number>()

    const keyOf = (object: KubeObject) => Resource.identity(object)
    const key = (item: Item) => `${resourceName}|${keyOf(item.object)}`

    /** Lists from the API omit apiVersion and kind for built-in types: fill them in. */
    const normalize = (object: KubeObject): KubeObject =>
      object.apiVersion !== undefined && object.kind !== undefined
        ? object
        : { ...object, apiVersion, kind: target.api.kind }

    const remember = (k: string, rv: string) => {
      if (rv === "") return
      const list = recent.get(k) ?? []
      list.push(rv)
      if (list.length > RECENT) list.shift()
      recent.set(k, list)
      if (expected.get(k)?.resourceVersion === rv) expected.delete(k)
    }

    const forget = (k: string) => {
      seen.delete(k)
      eventVersion.delete(k)
      expected.delete(k)
      recent.delete(k)
      failures.delete(k)
    }

    const observe = (event: WatchState.WatchEvent): ReadonlyArray<Item> => {
      switch (event._tag) {
        case "Applied": {
          const object = normalize(event.object)
          remember(keyOf(object), Resource.resourceVersion(object))
          return [{ _tag: "Applied", object }]
        }
        case "Deleted": {
          const object = normalize(event.object)
          expected.delete(keyOf(object))
          return [{ _tag: "Deleted", object }]
        }
        case "Synced": {
          const out: Array<Item> = []
          for (const raw of event.objects) {
            const object = normalize(raw)
            const k = keyOf(object)
            if (expected.delete(k)) out.push({ _tag: "Applied", object })
          }
          return out
        }
      }
    }

    const postEvents = (object: KubeObject, events: ReadonlyArray<Reconcile.Event>) =>
      settings.postEvents !== "none"
        ? Effect.forEach(
            settings.postEvents === "all" ? events : events.filter((e) => e.type === "Warning"),
            (e) =>
              Events.post(kube, {
                involvedObject: object,
                type: e.type,
                reason: e.reason,
                message: e.message,
                reportingComponent: settings.reportingComponent,
                reportingInstance: settings.reportingInstance
              }).pipe(
                Effect.catch((error) =>
                  Effect.logWarning(
                    `could not post the event ${e.reason}: ${error._tag}: ${"message" in error ? error.message : ""}`
                  )
                )
              ),
            { discard: true }
          )
        : Effect.void

    /** Switches this resource to annotations, once (steps may race here). */
    const useAnnotations = (used: Storage.Storage) =>
      Effect.suspend(() => {
        if (storage !== used) return Effect.void
        storage = annotationStorage(used)
        return Effect.logError(
          `the API server drops status.kubefx of ${resourceName} (its CRD's status schema does not preserve unknown fields): kubefx keeps its state in kubefx.dev/ annotations instead; add "x-kubernetes-preserve-unknown-fields: true" to the status schema (handler results in status are dropped too)`
        )
      })

    /**
     * The storage for a step on `body`: an object whose record is only in the annotation (an
     * earlier process found status pruned) switches this resource to annotations before its
     * step, so a restarted operator does not handle it again.
     */
    const storageOf = (body: KubeObject) =>
      Effect.gen(function* () {
        const used = storage
        if (
          used.lastHandled._tag === "Status" &&
          body.metadata?.annotations?.[`${fallbackPrefix}/${Storage.lastHandledName}`] !==
            undefined &&
          recordInStatus(used, body) === undefined
        ) {
          yield* useAnnotations(used)
        }
        return storage
      })

    /**
     * Writes the record the server pruned from status as an annotation, and switches this
     * resource to annotations (once; steps already running with the status storage come here
     * too). Answers the object after that write, so its copies from before it are stale.
     */
    const keepStateInAnnotations = (
      after: KubeObject,
      written: CorePatch.MergePatch,
      used: Storage.Storage
    ) =>
      Effect.gen(function* () {
        yield* useAnnotations(used)
        const record = Storage.readLastHandled(used, written)
        if (record === undefined) return after
        const { name, namespace } = meta(after)
        const patch = CorePatch.combine(Storage.writeLastHandled(annotationStorage(used), record), {
          metadata: { uid: Resource.uid(after) }
        })
        return yield* kube
          .patch(target.api, name, Patch.merge(patch), {
            namespace,
            fieldManager: settings.fieldManager
          })
          .pipe(
            Effect.catch((error) =>
              Effect.logWarning(`could not write the last-handled annotation: ${error._tag}`).pipe(
                Effect.as(after)
              )
            )
          )
      })

    const backoff = (k: string, error: KubeError.KubeError) =>
      Effect.gen(function* () {
        const n = failures.get(k) ?? 0
        failures.set(k, n + 1)
        const delay = yield* Backoff.delayMillis(settings.errorBackoff, n, k)
        const ms = Option.getOrElse(delay, () => 60_000)
        yield* Effect.logError(
          `writing the decision failed (${error._tag}: ${"message" in error ? error.message : ""}); trying again in ${Duration.format(Duration.millis(ms))}`
        )
        return Option.some(Duration.millis(ms))
      })

    const step = (
      k: string,
      body: KubeObject,
      event: "ADDED" | "MODIFIED" | undefined,
      conflicts: number
    ): Effect.Effect<Option.Option<Duration.Duration>, never, R> =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const used = yield* storageOf(body)
        const decision = yield* Reconcile.reconcile(registry, {
          resource: target.resource,
          body: body as unknown as Json.Json,
          now,
          firstSight: !seen.has(k),
          event,
          storage: used
        })
        const { cause } = decision
        yield* Effect.logDebug(
          `step: ${cause.reason}${cause.finalizer === "none" ? "" : `, finalizer ${cause.finalizer}`}${decision.done ? ", done" : ""}`
        )
        for (const run of decision.runs) yield* logRun(run)
        return yield* applyPatch(kube, target, body, decision.patch, settings.fieldManager).pipe(
          Effect.matchEffect({
            onSuccess: (written) =>
              Effect.gen(function* () {
                if (cause.finalizer !== "add") seen.add(k)
                failures.delete(k)
                const after =
                  written !== undefined && prunesStatus(used, decision.patch, written)
                    ? yield* keepStateInAnnotations(written, decision.patch, used)
                    : written
                if (after !== undefined) {
                  const rv = Resource.resourceVersion(after)
                  const known = recent.get(k) ?? []
                  if (rv !== "" && rv !== Resource.resourceVersion(body) && !known.includes(rv)) {
                    const at = yield* Clock.currentTimeMillis
                    expected.set(k, {
                      resourceVersion: rv,
                      deadline: at + Duration.toMillis(settings.ownWriteTimeout)
                    })
                  }
                  yield* Effect.logDebug(`patched; now at ${rv}`)
                }
                yield* postEvents(after ?? body, decision.events)
                return decision.requeueAfter
              }),
            onFailure: (error) => {
              switch (error._tag) {
                case "NotFound":
                  return Effect.logDebug("the object is gone").pipe(Effect.as(Option.none()))
                case "Conflict":
                  return conflicts >= settings.conflictRetries
                    ? backoff(k, error)
                    : reread(k, body, conflicts + 1)
                default:
                  return backoff(k, error)
              }
            }
          })
        )
      })

    const reread = (
      k: string,
      body: KubeObject,
      conflicts: number
    ): Effect.Effect<Option.Option<Duration.Duration>, never, R> =>
      Effect.gen(function* () {
        yield* Effect.logInfo(`conflict (409): re-reading the object (retry ${conflicts})`)
        const { name, namespace } = meta(body)
        const fresh = yield* kube.get(target.api, name, { namespace }).pipe(Effect.result)
        if (fresh._tag === "Failure") {
          if (fresh.failure._tag === "NotFound") {
            yield* Effect.logDebug("the object is gone")
            return Option.none()
          }
          return yield* backoff(k, fresh.failure)
        }
        const object = normalize(fresh.success)
        if (Resource.uid(object) !== Resource.uid(body)) return Option.none()
        remember(k, Resource.resourceVersion(object))
        return yield* step(k, object, undefined, conflicts)
      })

    const processDeleted = (k: string, object: KubeObject) =>
      Effect.gen(function* () {
        if (hasEventHandlers) {
          const decision = yield* Reconcile.reconcile(registry, {
            resource: target.resource,
            body: object as unknown as Json.Json,
            now: yield* Clock.currentTimeMillis,
            firstSight: !seen.has(k),
            event: "DELETED",
            storage
          })
          for (const run of decision.runs) yield* logRun(run)
        }
        yield* Effect.logDebug("deleted; forgotten")
        forget(k)
        return Option.none<Duration.Duration>()
      })

    const process = (item: Item): Effect.Effect<Option.Option<Duration.Duration>, never, R> => {
      const k = keyOf(item.object)
      const { name, namespace } = meta(item.object)
      const annotated = <A, E, R2>(effect: Effect.Effect<A, E, R2>) =>
        Effect.annotateLogs(effect, {
          resource: resourceName,
          object: namespace === undefined ? name : `${namespace}/${name}`
        })
      if (item._tag === "Deleted") return annotated(processDeleted(k, item.object))
      return annotated(
        Effect.gen(function* () {
          const rv = Resource.resourceVersion(item.object)
          const wait = expected.get(k)
          if (wait !== undefined) {
            if (wait.resourceVersion === rv) {
              expected.delete(k)
            } else {
              const now = yield* Clock.currentTimeMillis
              if (now < wait.deadline) {
                yield* Effect.logDebug(
                  `skipping stale copy ${rv}: waiting for our write ${wait.resourceVersion}`
                )
                return Option.some(Duration.millis(wait.deadline - now))
              }
              expected.delete(k)
              yield* Effect.logWarning(
                `our write ${wait.resourceVersion} did not come back within ${Duration.format(settings.ownWriteTimeout)}; processing ${rv}`
              )
            }
          }
          const event =
            eventVersion.get(k) === rv ? undefined : eventVersion.has(k) ? "MODIFIED" : "ADDED"
          eventVersion.set(k, rv)
          return yield* step(k, item.object, event, 0)
        })
      )
    }

    return { target, observe, key, process } satisfies Processor<R>
  })
