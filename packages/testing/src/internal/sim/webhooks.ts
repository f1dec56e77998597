/**
 * Admission webhooks in the simulated API server: the operator's validating and mutating
 * handlers (`Handler.validate`, `Handler.mutate`) run on every write of the resources they serve,
 * as the real server calls them: mutating ones before the schema is checked (each seeing the
 * object as the ones before changed it), validating ones after, for `CREATE`, `UPDATE` and
 * `DELETE`, dry runs included. A denial is the request's error (`admission webhook "<id>" denied
 * the request: <message>`, with the handler's code). Webhooks stay registered when their
 * operator stops, as webhook configurations do: then `failurePolicy: Fail` refuses the write
 * (500, `failed calling webhook`) and `Ignore` (`ignoreFailure`) admits it.
 *
 * The store's write functions are synchronous and the handlers are Effects: a write that needs
 * a webhook's answer throws `NeedAdmission` from the store; the answer is computed, the
 * store's uids and generated names are taken back to where they were, and the write runs again,
 * now finding the answer (a write runs at most a few times; answers are kept per object, so a
 * write whose object changed meanwhile asks again, as the real server's retried updates do).
 */
import { Admission, Filter, type Json } from "@kubefx/core"
import type { KubeError } from "@kubefx/runtime"
import { type Context, Effect, JsonPatch } from "effect"
import { fail } from "../store/failures.ts"
import { canonical, type Obj } from "../store/object.ts"
import { type AdmissionAttributes, NeedAdmission } from "../store/objects.ts"
import type * as Store from "../store.ts"

/** A registered webhook: its handler, the services it runs with, whether its operator runs. */
interface Registered {
  readonly webhook: Admission.Webhook<unknown>
  readonly context: Context.Context<unknown>
  reachable: boolean
}

/** What a phase came to: the object to go on with, or the error to answer. */
type Answer =
  | { readonly _tag: "Object"; readonly object: Obj | undefined }
  | { readonly _tag: "Denied"; readonly code: number; readonly message: string }

/** The webhooks of a simulation. */
export interface Webhooks {
  /** Registers webhooks (replacing those of the same id); `unreachable` marks them stopped. */
  readonly register: (
    webhooks: ReadonlyArray<Admission.Webhook<unknown>>,
    context: Context.Context<unknown>
  ) => { readonly unreachable: () => void }
  /** Runs a write of the store, with the webhooks' answers. */
  readonly admitted: <A>(
    store: Store.Store,
    req: KubeError.RequestInfo,
    run: () => A
  ) => Effect.Effect<A, KubeError.KubeError>
}

const keyOf = (phase: string, a: AdmissionAttributes) =>
  `${phase}\u0000${a.operation}\u0000${a.subresource ?? ""}\u0000${canonical(a.object ?? null)}\u0000${canonical(a.old ?? null)}`

let uids = 0

/** The admission request of a write, as the real server sends it. */
const requestOf = (a: AdmissionAttributes, object: Obj | undefined): Admission.Request => ({
  uid: `sim-${++uids}`,
  kind: { group: a.def.group, version: a.version, kind: a.def.kind },
  resource: { group: a.def.group, version: a.version, resource: a.def.plural },
  ...(a.subresource === undefined ? {} : { subResource: a.subresource }),
  name: a.name,
  ...(a.namespace === undefined ? {} : { namespace: a.namespace }),
  operation: a.operation,
  userInfo: { username: "kubefx-sim" },
  ...(object === undefined ? {} : { object: object as Json.JsonObject }),
  ...(a.old === undefined ? {} : { oldObject: a.old as Json.JsonObject }),
  dryRun: a.dryRun
})

/** One phase: the webhooks of its kind in order, each on the object the ones before left. */
const answer = (
  registered: ReadonlyArray<Registered>,
  phase: "mutate" | "validate",
  a: AdmissionAttributes
): Effect.Effect<Answer> =>
  Effect.gen(function* () {
    let object = a.object
    const kind = phase === "mutate" ? "mutate" : "validate"
    for (const r of registered) {
      const request = requestOf(a, object)
      if (r.webhook.kind !== kind || !Admission.serves(r.webhook, request)) continue
      if (!selects(r.webhook, object ?? a.old)) continue
      if (!r.reachable) {
        if (r.webhook.ignoreFailure) continue
        return {
          _tag: "Denied",
          code: 500,
          message: `Internal error occurred: failed calling webhook "${r.webhook.id}": the operator is not running (simulated: connection refused)`
        }
      }
      const decision = yield* Effect.provideContext(
        Admission.decide([r.webhook], request),
        r.context
      )
      if (!decision.allowed)
        return {
          _tag: "Denied",
          code: decision.status?.code ?? 400,
          message: `admission webhook "${r.webhook.id}" denied the request: ${decision.status?.message ?? ""}`
        }
      if (object !== undefined && decision.patch.length > 0)
        object = JsonPatch.apply(decision.patch, object as Json.Json) as Obj
    }
    return { _tag: "Object", object: object === a.object ? undefined : object }
  })

/** Whether the webhook's `objectSelector` (its plain label filters) selects the object, as the
 * API server checks before calling it. */
const selects = (webhook: Admission.Webhook<unknown>, object: Obj | undefined): boolean => {
  const plain = Object.entries(webhook.labels ?? {}).filter(
    ([, m]) => m === Filter.present || m === Filter.absent || typeof m === "string"
  )
  return Filter.matches(Filter.labels(Object.fromEntries(plain)), {
    body: (object ?? {}) as Json.JsonObject,
    reason: "",
    old: undefined,
    new: undefined,
    diff: []
  })
}

const reasonOf = (code: number) =>
  code === 422
    ? "Invalid"
    : code === 403
      ? "Forbidden"
      : code === 500
        ? "InternalError"
        : "BadRequest"

/** The webhooks of a new simulation: none registered. */
export const make = (): Webhooks => {
  const registered: Array<Registered> = []
  return {
    register: (webhooks, context) => {
      const entries = webhooks.map((webhook) => ({ webhook, context, reachable: true }))
      for (const entry of entries) {
        const i = registered.findIndex((r) => r.webhook.id === entry.webhook.id)
        if (i >= 0) registered.splice(i, 1, entry)
        else registered.push(entry)
      }
      return {
        unreachable: () => {
          for (const entry of entries) entry.reachable = false
        }
      }
    },
    admitted: (store, req, run) =>
      Effect.gen(function* () {
        const answers = new Map<string, Answer>()
        const hook = (phase: "mutate" | "validate", a: AdmissionAttributes) => {
          const found = answers.get(keyOf(phase, a))
          if (found === undefined) throw new NeedAdmission(phase, a)
          if (found._tag === "Denied") fail(req, found.code, reasonOf(found.code), found.message)
          return found._tag === "Object" ? found.object : undefined
        }
        for (let pass = 0; ; pass++) {
          const mark = store.mark()
          const outcome = store.withAdmission(registered.length === 0 ? undefined : hook, run)
          if (outcome._tag === "Done") return outcome.value
          if (outcome._tag === "Failed") return yield* Effect.fail(outcome.error)
          store.reset(mark)
          if (pass >= 8)
            return yield* Effect.die(
              new Error(`admission of ${req.method} ${req.path} did not settle`)
            )
          const { phase, attributes } = outcome.need
          answers.set(keyOf(phase, attributes), yield* answer(registered, phase, attributes))
        }
      })
  }
}
