/**
 * Sub-handlers (`ctx.execute`): the sub-handlers of one run of a change handler, each run like a
 * handler of its own under the id `<parent>/<name>`, with its own progress. Which of them run:
 * those not done and not delayed into the future, in the record's order, each seeing the object
 * as the ones before it left it. What they record (their new progress, runs and events) goes to
 * the step through {@link Children}; their results and patches go into the parent's patch.
 *
 * @internal
 */
import { Effect } from "effect"
import type * as Handler from "../Handler.ts"
import * as Json from "../Json.ts"
import * as Outcome from "../Outcome.ts"
import * as Patch from "../Patch.ts"
import * as Progress from "../Progress.ts"

/** One run of a sub-handler, as the step records it. @internal */
export interface ChildRun {
  readonly id: string
  readonly outcome: Outcome.Outcome
  readonly state: Progress.HandlerState
}

/** Where a change handler's sub-handlers read their progress and record their runs. @internal */
export interface Children {
  /** The stored progress of a sub-handler (by its full id) for this change, if any. */
  readonly state: (id: string) => Progress.HandlerState | undefined
  readonly record: (run: ChildRun) => void
}

/** What a sub-handler's run is given by its parent's. @internal */
export interface Parent {
  readonly handler: Handler.Handler<unknown>
  readonly body: Json.JsonObject
  readonly now: number
  readonly cause: string
  readonly children: Children | undefined
  /** The parent's patch so far (the body the next sub-handler sees) and where its own goes. */
  readonly patch: { readonly get: Effect.Effect<Patch.MergePatch>; readonly builder: Patch.Builder }
}

/** Runs one sub-handler (a handler of its own) on the given body and progress. @internal */
export type Invoke = (
  handler: Handler.Handler<unknown>,
  body: Json.JsonObject,
  state: Progress.HandlerState
) => Effect.Effect<{ readonly outcome: Outcome.Outcome; readonly patch: Patch.MergePatch }>

const permanent = (message: string) => new Outcome.PermanentError({ message })

/** Where a sub-handler stands before this run. */
type Standing =
  | { readonly _tag: "Done"; readonly state: Progress.HandlerState }
  | { readonly _tag: "Waiting"; readonly delayMillis: number }
  | { readonly _tag: "Due"; readonly state: Progress.HandlerState }

const standing = (parent: Parent, children: Children, id: string): Standing => {
  const stored = children.state(id)
  if (stored === undefined) return { _tag: "Due", state: Progress.start(parent.cause, parent.now) }
  if (Progress.isDone(stored)) return { _tag: "Done", state: stored }
  if (!Progress.isDue(stored, parent.now))
    return { _tag: "Waiting", delayMillis: (stored.delayed ?? parent.now) - parent.now }
  return { _tag: "Due", state: stored }
}

/**
 * The `execute` of a change handler's context. `used` holds the names already executed in this
 * run (a name executed twice is the operator's mistake, reported as a permanent failure).
 *
 * @internal
 */
export const makeExecute =
  (parent: Parent, invoke: Invoke, used: Set<string>) =>
  (
    subs: Handler.SubHandlers<unknown>
  ): Effect.Effect<Json.JsonObject, Outcome.SubHandlersPending | Outcome.PermanentError> =>
    Effect.gen(function* () {
      const { handler, children } = parent
      if (children === undefined)
        return yield* permanent(
          `Handler '${handler.id}' called ctx.execute: only change handlers (create, update, field, resume, delete) have sub-handlers.`
        )
      const names = Object.keys(subs)
      const bad = names.find((n) => n === "" || n.includes("/") || used.has(n))
      if (bad !== undefined)
        return yield* permanent(
          used.has(bad)
            ? `Handler '${handler.id}' executed sub-handler '${bad}' twice in one run.`
            : `Handler '${handler.id}' has a sub-handler named ${JSON.stringify(bad)}: a name may not be empty nor contain '/'.`
        )
      for (const n of names) used.add(n)
      const waiting: Array<{ readonly name: string; readonly delayMillis: number }> = []
      const failed: Array<string> = []
      for (const name of names) {
        const id = `${handler.id}/${name}`
        let now = standing(parent, children, id)
        if (now._tag === "Due") {
          const body = Json.asObject(Patch.apply(parent.body, yield* parent.patch.get))
          const child: Handler.Handler<unknown> = { ...handler, id, run: subs[name] as never }
          const { outcome, patch } = yield* invoke(child, body, now.state)
          const state = Progress.next(now.state, outcome, parent.now)
          children.record({ id, outcome, state })
          yield* parent.patch.builder.merge(resultPatch(body, id, outcome, patch))
          now =
            outcome._tag === "Retry"
              ? { _tag: "Waiting", delayMillis: outcome.delayMillis }
              : { _tag: "Done", state }
        }
        if (now._tag === "Waiting") waiting.push({ name, delayMillis: now.delayMillis })
        else if (now.state.failure) failed.push(`'${id}' (${now.state.message ?? "failed"})`)
      }
      if (waiting.length > 0)
        return yield* new Outcome.SubHandlersPending({
          message: `waiting for sub-handlers: ${waiting.map((w) => w.name).join(", ")}`,
          delayMillis: Math.max(0, Math.min(...waiting.map((w) => w.delayMillis)))
        })
      if (failed.length > 0) return yield* permanent(`Sub-handlers failed: ${failed.join("; ")}`)
      const status = Json.asObject(
        Json.get(Patch.apply(parent.body, yield* parent.patch.get), ["status"])
      )
      const results: Record<string, Json.Json> = {}
      for (const name of names) {
        const result = Json.own(status, `${handler.id}/${name}`)
        if (result !== undefined) Json.assign(results, name, result)
      }
      return results
    })

/** A sub-handler's patch, with its result (when it succeeded with one) at `status["<id>"]`. */
const resultPatch = (
  body: Json.JsonObject,
  id: string,
  outcome: Outcome.Outcome,
  patch: Patch.MergePatch
): Patch.MergePatch =>
  outcome._tag === "Success" && outcome.result !== undefined
    ? Patch.combine(patch, {
        status: { [id]: Patch.make(Json.get(body, ["status", id]), outcome.result) }
      })
    : patch
