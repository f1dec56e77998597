/**
 * Admission webhooks as values (Kopf's `@kopf.on.validate` and `@kopf.on.mutate`): a
 * {@link Webhook} is a handler the API server calls before it stores a write, to allow it, deny
 * it with a message, or (mutating) change it. `Handler.validate` and `Handler.mutate` build them;
 * they go in the registry beside the other handlers. The runtime serves them over HTTPS and keeps
 * their webhook configurations; this module decides, without I/O:
 *
 * - {@link decodeReview}: an `AdmissionReview` (`admission.k8s.io/v1`) body, or a message saying
 *   what is wrong with it (the server answers 400);
 * - {@link decide}: what the webhooks make of a request, as a {@link Decision} (allowed or not, the
 *   status, the JSON patch of the mutations, the warnings);
 * - {@link response}: the `AdmissionReview` answer of a decision.
 *
 * How a handler's run becomes a decision:
 *
 * - it succeeds: allowed; a mutating handler's `ctx.patch` (merge patches, combined) becomes
 *   the JSON patch from the object to the object with the merge patch applied;
 * - it fails with {@link AdmissionError}: denied, with its message and code (403 unless given),
 *   whatever `ignoreFailure` says (a denial is the handler's answer, not a failure);
 * - it fails otherwise, dies, its spec does not decode with its Schema, its patch is not JSON, or
 *   it runs out of time: a failure, with a message naming the handler; denied with code 500, or,
 *   with `ignoreFailure`, allowed with a warning saying so;
 * - warnings (`ctx.warn`) are answered whatever the outcome.
 *
 * Several webhooks decide in declaration order, each mutation seeing the object as the ones
 * before it changed it; the first denial ends the decision (its patch and later webhooks are
 * dropped), as the API server stops at the first denying webhook.
 *
 * @since 0.1.0
 */
import { Data, Duration, type Effect, type JsonPatch, Option, Result, Schema } from "effect"
import { Base64 } from "effect/encoding"
import * as Filter from "./Filter.ts"
import type * as Handler from "./Handler.ts"
import * as internal from "./internal/admission.ts"
import type * as Json from "./Json.ts"
import type * as Patch from "./Patch.ts"
import type * as Resource from "./Resource.ts"

/**
 * The operations an admission webhook can be called for.
 *
 * @example
 * ```ts
 * import type { Admission } from "@kubefx/core"
 *
 * const op: Admission.Operation = "CREATE"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Operation = "CREATE" | "UPDATE" | "DELETE" | "CONNECT"

/**
 * Every operation, in the API's order.
 *
 * @example
 * ```ts
 * import { Admission } from "@kubefx/core"
 *
 * Admission.operations.length // 4
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const operations: ReadonlyArray<Operation> = ["CREATE", "UPDATE", "DELETE", "CONNECT"]

/**
 * A handler's denial (Kopf's `kopf.AdmissionError`): the client sees `message`, the request is
 * answered with `code` (default 403 Forbidden).
 *
 * @example
 * ```ts
 * import { Admission } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const deny = Effect.fail(new Admission.AdmissionError({ message: "size must be below 10Gi", code: 422 }))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AdmissionError extends Data.TaggedError("AdmissionError")<{
  readonly message: string
  readonly code?: number | undefined
}> {}

/**
 * Who asked for the operation, as the API server authenticated them.
 *
 * @example
 * ```ts
 * import type { Admission } from "@kubefx/core"
 *
 * const admin: Admission.UserInfo = { username: "kubernetes-admin", groups: ["system:masters"] }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface UserInfo {
  readonly username?: string | undefined
  readonly uid?: string | undefined
  readonly groups?: ReadonlyArray<string> | undefined
  readonly extra?: Readonly<Record<string, ReadonlyArray<string>>> | undefined
}

/**
 * What a validating handler receives. `body` is the object the operation is about: the new one,
 * or the old one for `DELETE` (where `new` is `undefined`); `old` is there for `UPDATE` and
 * `DELETE`. `spec` is the body's spec decoded with the handler's Schema.
 *
 * @example
 * ```ts
 * import type { Admission } from "@kubefx/core"
 *
 * const who = (ctx: Admission.Context<unknown>) => `${ctx.operation} by ${ctx.userInfo.username}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Context<Spec> {
  /** The handler's id. */
  readonly id: string
  readonly resource: Resource.Resource<unknown>
  readonly operation: Operation
  /** The subresource written (`status`, `scale`, ...), `undefined` for the object itself. */
  readonly subresource: string | undefined
  /** The request will not be stored (`kubectl --dry-run=server`): have no side effects. */
  readonly dryRun: boolean
  readonly userInfo: UserInfo
  readonly body: Json.JsonObject
  readonly spec: Spec
  readonly new: Json.JsonObject | undefined
  readonly old: Json.JsonObject | undefined
  /** The object's name (empty on a `CREATE` with `generateName`: the server names it later). */
  readonly name: string
  readonly namespace: string | undefined
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
  /** Adds a warning the client shows (`kubectl` prints `Warning: ...`). */
  readonly warn: (message: string) => Effect.Effect<void>
  readonly logger: Handler.Logger
}

/**
 * What a mutating handler receives: a validating handler's context and a patch builder whose
 * merge patches change the object before it is stored.
 *
 * @example
 * ```ts
 * import type { Admission } from "@kubefx/core"
 *
 * const label = (ctx: Admission.MutateContext<unknown>) => ctx.patch.labels({ "example.com/seen": "yes" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface MutateContext<Spec> extends Context<Spec> {
  readonly patch: Patch.Builder
}

/**
 * The options of an admission handler (Kopf's, where they apply):
 *
 * - `id`: the handler's id, in its URL path and its webhook's name (default: the function's
 *   name, else `validate` / `mutate`); letters, digits, `-`, `_` and `.`;
 * - `operations`: the operations it is called for (default all);
 * - `subresource`: a subresource it is called for instead of the object (`"status"`), or
 *   `"*"` for the object and every subresource (default: the object only);
 * - `labels`, `annotations`, `when`, `filter`: as for other handlers; a request they do not match
 *   is allowed without running the handler. Plain `labels` (values, `Filter.present`,
 *   `Filter.absent`) also become the webhook's `objectSelector`, so the API server does not call
 *   for objects they rule out;
 * - `ignoreFailure`: the webhook's `failurePolicy` is `Ignore` (the API server admits when it
 *   cannot reach the operator) and a failing handler admits too, with a warning; default `Fail`;
 * - `sideEffects`: the handler has side effects, skipped on dry runs (`NoneOnDryRun`); default
 *   none (`None`);
 * - `timeout`: how long the API server waits (1 to 30 seconds, default 10); the handler is
 *   answered for before that;
 * - `spec`: the spec's Schema, when the resource has none.
 *
 * @example
 * ```ts
 * import type { Admission } from "@kubefx/core"
 *
 * const o: Admission.Options<unknown> = { id: "check-size", operations: ["CREATE", "UPDATE"], timeout: "5 seconds" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Spec> {
  readonly id?: string | undefined
  readonly operations?: ReadonlyArray<Operation> | undefined
  readonly subresource?: string | undefined
  readonly labels?: Readonly<Record<string, Filter.ValueMatcher>> | undefined
  readonly annotations?: Readonly<Record<string, Filter.ValueMatcher>> | undefined
  readonly when?: ((ctx: Filter.Context) => boolean) | undefined
  readonly filter?: Filter.Filter | undefined
  readonly ignoreFailure?: boolean | undefined
  readonly sideEffects?: boolean | undefined
  readonly timeout?: Duration.Input | undefined
  readonly spec?: Schema.Decoder<Spec> | undefined
}

/**
 * The kinds of admission webhooks.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "validate" | "mutate"

/**
 * A declared admission handler. `R` is the services its Effect requires.
 *
 * @example
 * ```ts
 * import { Admission, Handler, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const w: Admission.Webhook<never> = Handler.validate(widgets, { id: "check" }, () => Effect.void)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Webhook<out R> {
  readonly _tag: "Webhook"
  readonly kind: Kind
  readonly id: string
  /** Whether `id` was given (an explicit id is never renamed by the registry). */
  readonly explicitId: boolean
  readonly resource: Resource.Resource<unknown>
  /** The operations it is called for (never empty). */
  readonly operations: ReadonlyArray<Operation>
  readonly subresource: string | undefined
  readonly filter: Filter.Filter
  /** The label matchers the API server can apply (the webhook's `objectSelector`). */
  readonly labels: Readonly<Record<string, Filter.ValueMatcher>> | undefined
  readonly ignoreFailure: boolean
  readonly sideEffects: boolean
  readonly timeout: Duration.Duration
  readonly spec: Schema.Decoder<unknown> | undefined
  readonly run: (ctx: MutateContext<unknown>) => Effect.Effect<unknown, unknown, R>
}

/**
 * Whether a value is an admission webhook.
 *
 * @example
 * ```ts
 * import { Admission } from "@kubefx/core"
 *
 * Admission.isWebhook({ _tag: "Webhook" }) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isWebhook = (u: unknown): u is Webhook<unknown> =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Webhook"

const idPattern = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/

/**
 * Builds a webhook (what `Handler.validate` and `Handler.mutate` do), or throws an `Error` naming
 * the handler and what is wrong with its options: an id that cannot be part of a URL and a
 * webhook's name, an unknown or empty `operations`, a `timeout` outside 1 to 30 seconds.
 *
 * @example
 * ```ts
 * import { Admission, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const w = Admission.make("validate", widgets, { id: "check" }, () => Effect.void)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Spec, E, R>(
  kind: Kind,
  resource: Resource.Resource<Spec>,
  options: Options<Spec>,
  fn: (ctx: MutateContext<Spec>) => Effect.Effect<unknown, E, R>
): Webhook<R> => {
  const id = options.id ?? (fn.name !== "" && fn.name !== "anonymous" ? fn.name : kind)
  const refuse = (problem: string): never => {
    throw new Error(`kubefx: ${kind} handler ${JSON.stringify(id)}: ${problem}`)
  }
  if (!idPattern.test(id))
    refuse(
      "an id may hold letters, digits, '-', '_' and '.', and start and end with one of the first two"
    )
  const ops = options.operations ?? operations
  if (ops.length === 0) refuse("operations is empty; leave it out for all operations")
  for (const op of ops)
    if (!operations.includes(op))
      refuse(`unknown operation ${JSON.stringify(op)}; use ${operations.join(", ")}`)
  const timeout = Duration.fromInput(options.timeout ?? "10 seconds")
  const seconds = Option.map(timeout, Duration.toSeconds)
  if (Option.isNone(seconds) || seconds.value < 1 || seconds.value > 30)
    refuse(
      `timeout ${JSON.stringify(String(options.timeout))} must be 1 to 30 seconds (the API server's bounds)`
    )
  const filters: Array<Filter.Filter> = []
  if (options.labels !== undefined) filters.push(Filter.labels(options.labels))
  if (options.annotations !== undefined) filters.push(Filter.annotations(options.annotations))
  if (options.when !== undefined) filters.push(Filter.when(options.when))
  if (options.filter !== undefined) filters.push(options.filter)
  return {
    _tag: "Webhook",
    kind,
    id,
    explicitId: options.id !== undefined,
    resource,
    operations: [...new Set(ops)],
    subresource: options.subresource,
    filter: filters.length === 0 ? Filter.all : Filter.and(...filters),
    labels: options.labels,
    ignoreFailure: options.ignoreFailure ?? false,
    sideEffects: options.sideEffects ?? false,
    timeout: Option.getOrThrow(timeout),
    spec: (options.spec ?? resource.spec) as Schema.Decoder<unknown> | undefined,
    run: fn as Webhook<R>["run"]
  }
}

const GroupVersionKind = Schema.Struct({
  group: Schema.String,
  version: Schema.String,
  kind: Schema.String
})

const GroupVersionResource = Schema.Struct({
  group: Schema.String,
  version: Schema.String,
  resource: Schema.String
})

const Strings = Schema.Array(Schema.String)

const JsonObjectOrNull = Schema.optionalKey(
  Schema.NullOr(Schema.Record(Schema.String, Schema.Json))
)

/**
 * The `request` of an `AdmissionReview` (`admission.k8s.io/v1`), as the API server sends it.
 *
 * @example
 * ```ts
 * import { Admission } from "@kubefx/core"
 * import { Schema } from "effect"
 *
 * const decode = Schema.decodeUnknownSync(Admission.Request)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Request = Schema.Struct({
  uid: Schema.String,
  kind: GroupVersionKind,
  resource: GroupVersionResource,
  subResource: Schema.optionalKey(Schema.String),
  requestKind: Schema.optionalKey(GroupVersionKind),
  requestResource: Schema.optionalKey(GroupVersionResource),
  requestSubResource: Schema.optionalKey(Schema.String),
  name: Schema.optionalKey(Schema.String),
  namespace: Schema.optionalKey(Schema.String),
  operation: Schema.Literals(operations),
  userInfo: Schema.Struct({
    username: Schema.optionalKey(Schema.String),
    uid: Schema.optionalKey(Schema.String),
    groups: Schema.optionalKey(Strings),
    extra: Schema.optionalKey(Schema.Record(Schema.String, Strings))
  }),
  object: JsonObjectOrNull,
  oldObject: JsonObjectOrNull,
  dryRun: Schema.optionalKey(Schema.Boolean),
  options: Schema.optionalKey(Schema.NullOr(Schema.Json))
})

/**
 * An admission request.
 *
 * @since 0.1.0
 * @category models
 */
export type Request = typeof Request.Type

/**
 * An `AdmissionReview` request body.
 *
 * @example
 * ```ts
 * import { Admission } from "@kubefx/core"
 * import { Schema } from "effect"
 *
 * const isReview = Schema.is(Admission.Review)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Review = Schema.Struct({
  apiVersion: Schema.Literal("admission.k8s.io/v1"),
  kind: Schema.Literal("AdmissionReview"),
  request: Request
})

/**
 * An admission review.
 *
 * @since 0.1.0
 * @category models
 */
export type Review = typeof Review.Type

/**
 * Decodes a review body (parsed JSON), or says what is wrong with it.
 *
 * @example
 * ```ts
 * import { Admission } from "@kubefx/core"
 *
 * Admission.decodeReview({ kind: "AdmissionReview" })._tag // "Failure"
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeReview = (body: unknown): Result.Result<Review, string> =>
  Result.mapError(
    Schema.decodeUnknownResult(Review)(body),
    (issue) => `not an AdmissionReview (admission.k8s.io/v1): ${String(issue)}`
  )

/**
 * What the webhooks make of a request: allowed or not; when denied, the status the client sees;
 * when mutated, the JSON patch (RFC 6902) from the request's object to the object to store; the
 * warnings for the client.
 *
 * @example
 * ```ts
 * import type { Admission } from "@kubefx/core"
 *
 * const d: Admission.Decision = { uid: "1", allowed: false, status: { code: 403, message: "no" }, patch: [], warnings: [] }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Decision {
  readonly uid: string
  readonly allowed: boolean
  readonly status?: { readonly code: number; readonly message: string } | undefined
  readonly patch: JsonPatch.JsonPatch
  readonly warnings: ReadonlyArray<string>
}

/**
 * Whether a webhook is called for a request: the same resource (group and plural: the API
 * server converts objects to the version a webhook registered for), one of its operations, and
 * its subresource. Filters are checked when it runs.
 *
 * @example
 * ```ts
 * import { Admission, Handler, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const check = Handler.validate(widgets, { operations: ["CREATE"] }, () => Effect.void)
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const serves = (webhook: Webhook<unknown>, request: Request): boolean =>
  request.resource.group === webhook.resource.group &&
  request.resource.resource === webhook.resource.plural &&
  webhook.operations.includes(request.operation) &&
  (webhook.subresource === "*" || (request.subResource ?? "") === (webhook.subresource ?? ""))

/**
 * Runs the webhooks that serve the request, in order, and decides (see the module's
 * documentation). Never fails. `timeout` bounds each handler's run below its own `timeout`
 * (the runtime gives the time left before the API server gives up).
 *
 * @example
 * ```ts
 * import { Admission, Handler, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const noRed = Handler.validate(widgets, { id: "no-red" }, (ctx) =>
 *   ctx.body.spec !== null && (ctx.body.spec as { colour?: string })?.colour === "red"
 *     ? Effect.fail(new Admission.AdmissionError({ message: "no red widgets" }))
 *     : Effect.void
 * )
 * declare const request: Admission.Request
 * const decision = Admission.decide([noRed], request)
 * ```
 *
 * @since 0.1.0
 * @category deciding
 */
export const decide = <R>(
  webhooks: ReadonlyArray<Webhook<R>>,
  request: Request,
  options: { readonly timeout?: Duration.Input | undefined } = {}
): Effect.Effect<Decision, never, R> =>
  internal.decide(
    webhooks.filter((w) => serves(w, request)),
    request,
    options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout)
  )

/**
 * The `AdmissionReview` answer of a decision: `patch` base64-encoded with `patchType:
 * "JSONPatch"` when there is one, `status` when denied, `warnings` when any.
 *
 * @example
 * ```ts
 * import { Admission } from "@kubefx/core"
 *
 * Admission.response({ uid: "1", allowed: true, patch: [], warnings: [] })
 * // { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: "1", allowed: true } }
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const response = (decision: Decision): Json.JsonObject => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  response: {
    uid: decision.uid,
    allowed: decision.allowed,
    ...(decision.status === undefined ? {} : { status: { ...decision.status } }),
    ...(decision.patch.length === 0
      ? {}
      : {
          patchType: "JSONPatch",
          patch: Base64.encode(JSON.stringify(decision.patch))
        }),
    ...(decision.warnings.length === 0 ? {} : { warnings: [...decision.warnings] })
  }
})

/**
 * A webhook's name in a webhook configuration: its id (`_` and `/` as `-` and `.`) under a
 * domain (`check-size.widgets.example.com`), as Kubernetes wants a qualified name of at least
 * three segments.
 *
 * @example
 * ```ts
 * import { Admission } from "@kubefx/core"
 *
 * Admission.webhookName("check_size", "kubefx.example.com") // "check-size.kubefx.example.com"
 * ```
 *
 * @since 0.1.0
 * @category naming
 */
export const webhookName = (id: string, domain: string): string =>
  `${id.toLowerCase().replaceAll("_", "-").replaceAll("/", ".")}.${domain}`
