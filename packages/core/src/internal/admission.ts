/**
 * The running of admission handlers (Kopf's `serve_admission_request`): builds each handler's
 * context from the request, checks its filters, decodes its spec, bounds its run, and turns how
 * the run ends into a decision (see `Admission`'s documentation for the rules).
 *
 * @internal
 */
import { Cause, Duration, Effect, Exit, JsonPatch, Option, Predicate, Schema } from "effect"
import type * as Admission from "../Admission.ts"
import * as Diff from "../Diff.ts"
import * as Filter from "../Filter.ts"
import * as Json from "../Json.ts"
import * as Patch from "../Patch.ts"
import { logger, stringMap } from "./metadata.ts"

/** How one handler's run ended: allowed (with the object as it changed it), denied, or failed. */
type Outcome =
  | { readonly _tag: "Allowed"; readonly object: Json.JsonObject | undefined }
  | { readonly _tag: "Denied"; readonly code: number; readonly message: string }
  | { readonly _tag: "Failed"; readonly message: string }

const allowed = (object: Json.JsonObject | undefined): Outcome => ({ _tag: "Allowed", object })

/** The webhooks' decision, in order; the first denial or failure without `ignoreFailure` ends it. */
export const decide = <R>(
  webhooks: ReadonlyArray<Admission.Webhook<R>>,
  request: Admission.Request,
  timeout: Duration.Duration | undefined
): Effect.Effect<Admission.Decision, never, R> =>
  Effect.gen(function* () {
    const warnings: Array<string> = []
    const original = request.object ?? undefined
    let object = original
    for (const webhook of webhooks) {
      const outcome = yield* runOne(webhook, request, object, timeout, warnings)
      if (outcome._tag === "Allowed") object = outcome.object
      else if (outcome._tag === "Failed" && webhook.ignoreFailure)
        warnings.push(`${outcome.message}; admitted (ignoreFailure)`)
      else {
        const status =
          outcome._tag === "Denied"
            ? { code: outcome.code, message: outcome.message }
            : { code: 500, message: outcome.message }
        return { uid: request.uid, allowed: false, status, patch: [], warnings }
      }
    }
    const patch =
      original === undefined || object === undefined || object === original
        ? []
        : JsonPatch.get(original, object)
    return { uid: request.uid, allowed: true, patch, warnings }
  })

const describe = (webhook: Admission.Webhook<unknown>) =>
  `${webhook.kind === "validate" ? "validating" : "mutating"} handler ${JSON.stringify(webhook.id)}`

/** One handler on the object as the handlers before it left it. */
const runOne = <R>(
  webhook: Admission.Webhook<R>,
  request: Admission.Request,
  object: Json.JsonObject | undefined,
  timeout: Duration.Duration | undefined,
  warnings: Array<string>
): Effect.Effect<Outcome, never, R> =>
  Effect.gen(function* () {
    const old = request.oldObject ?? undefined
    const body = object ?? old ?? {}
    const filterContext = {
      body,
      reason: request.operation.toLowerCase(),
      old,
      new: object,
      diff: Diff.make(old, object)
    }
    if (!Filter.matches(webhook.filter, filterContext)) return allowed(object)
    const spec = decodeSpec(webhook, body)
    if (spec._tag === "Failure")
      return { _tag: "Failed", message: `${describe(webhook)}: invalid spec: ${spec.failure}` }
    const patched = recorder(body)
    const ctx = context(webhook, request, body, object, spec.success, patched.builder, warnings)
    const bound = timeout === undefined ? webhook.timeout : Duration.min(timeout, webhook.timeout)
    const exit = yield* Effect.exit(
      Effect.timeoutOption(
        Effect.suspend(() => webhook.run(ctx)),
        bound
      ).pipe(Effect.annotateLogs(logAnnotations(webhook, ctx.name, ctx.namespace)))
    )
    if (Exit.isFailure(exit)) return failed(webhook, exit.cause)
    if (Option.isNone(exit.value))
      return {
        _tag: "Failed",
        message: `${describe(webhook)} did not answer within ${Duration.format(bound)}`
      }
    if (webhook.kind === "validate" || object === undefined) return allowed(object)
    const result = patched.current()
    const invalid = Json.findInvalid(result)
    if (invalid !== undefined)
      return {
        _tag: "Failed",
        message: `${describe(webhook)}: its patch is not JSON at ${Json.formatPath(invalid.path)}: ${invalid.reason}`
      }
    return allowed(result)
  })

/**
 * A patch builder that applies each merge patch to the object at once, in order (combining
 * them first would lose a deletion followed by a write of an object at the same key).
 */
const recorder = (start: Json.JsonObject) => {
  let current = start
  const merge = (patch: Patch.MergePatch) =>
    Effect.sync(() => {
      current = Json.asObject(Patch.apply(current, patch))
    })
  const builder: Patch.Builder = {
    merge,
    status: (fields) => merge({ status: fields }),
    labels: (labels) => merge({ metadata: { labels } }),
    annotations: (annotations) => merge({ metadata: { annotations } })
  }
  return { builder, current: () => current }
}

type Decoded =
  | { readonly _tag: "Success"; readonly success: unknown }
  | { readonly _tag: "Failure"; readonly failure: string }

const decodeSpec = (webhook: Admission.Webhook<unknown>, body: Json.JsonObject): Decoded => {
  if (webhook.spec === undefined) return { _tag: "Success", success: Json.asObject(body.spec) }
  const exit = Schema.decodeUnknownExit(webhook.spec)(body.spec)
  if (Exit.isSuccess(exit)) return { _tag: "Success", success: exit.value }
  return { _tag: "Failure", failure: messageOf(Cause.squash(exit.cause)) }
}

/** A failed run: the handler's denial, or a failure naming the handler. */
const failed = (webhook: Admission.Webhook<unknown>, cause: Cause.Cause<unknown>): Outcome => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error) && Predicate.isTagged(error.value, "AdmissionError")) {
    const denial = error.value as unknown as { readonly message: string; readonly code?: number }
    return { _tag: "Denied", code: denial.code ?? 403, message: denial.message }
  }
  const what = Cause.hasInterruptsOnly(cause)
    ? "was interrupted"
    : `failed: ${messageOf(Cause.squash(cause))}`
  return { _tag: "Failed", message: `${describe(webhook)} ${what}` }
}

const messageOf = (e: unknown): string => {
  if (Predicate.hasProperty(e, "message") && typeof e.message === "string" && e.message !== "")
    return e.message
  if (Predicate.hasProperty(e, "_tag") && typeof e._tag === "string") return e._tag
  return String(e)
}

const logAnnotations = (
  webhook: Admission.Webhook<unknown>,
  name: string,
  namespace: string | undefined
) => ({
  handler: webhook.id,
  object: namespace === undefined ? name : `${namespace}/${name}`
})

/** The handler's context (a mutating one's: validating handlers' types have no `patch`). */
const context = (
  webhook: Admission.Webhook<unknown>,
  request: Admission.Request,
  body: Json.JsonObject,
  object: Json.JsonObject | undefined,
  spec: unknown,
  patch: Patch.Builder,
  warnings: Array<string>
): Admission.MutateContext<unknown> => {
  const meta = Json.asObject(body.metadata)
  const name = typeof meta.name === "string" ? meta.name : (request.name ?? "")
  const namespace = typeof meta.namespace === "string" ? meta.namespace : request.namespace
  const annotations = logAnnotations(webhook, name, namespace)
  return {
    id: webhook.id,
    resource: webhook.resource,
    operation: request.operation,
    subresource: request.subResource,
    dryRun: request.dryRun === true,
    userInfo: request.userInfo,
    body,
    spec,
    new: object,
    old: request.oldObject ?? undefined,
    name,
    namespace: namespace === "" ? undefined : namespace,
    labels: stringMap(meta.labels),
    annotations: stringMap(meta.annotations),
    warn: (message) => Effect.sync(() => void warnings.push(message)),
    logger: logger(annotations),
    patch
  }
}
