/**
 * Typed errors of the Kubernetes API, one class per answer that callers treat differently.
 *
 * The API server answers a failed request with a `Status` object (`kind: Status`) that carries
 * an HTTP `code`, a machine-readable `reason` (`NotFound`, `AlreadyExists`, `Conflict`,
 * `Invalid`, `Expired`, ...) and a human `message`. {@link fromResponse} turns it into one of the
 * classes below; {@link isTransient} tells which of them may succeed when tried again. One
 * module for all of them: callers match on the union, and each class is a line of code and its
 * documentation.
 *
 * {@link Invalid} (422) and {@link BadRequest} (other 4xx) declare themselves permanent to the
 * core (`Outcome.permanent`): a handler that fails with one fails for good, recording what the
 * API refused (`... is invalid: ... (422 Invalid, POST /api/v1/...)`), unless it catches it.
 *
 * @since 0.1.0
 */
import { Outcome } from "@kubefx/core"
import { Data, Duration, Option, Predicate } from "effect"

/**
 * Where a failed request went: its method and path (with query), for messages and logs.
 *
 * @since 0.1.0
 */
export interface RequestInfo {
  readonly method: string
  readonly path: string
}

/**
 * Fields common to every error the API server answered with a `Status`.
 *
 * @since 0.1.0
 */
export interface StatusFields extends RequestInfo {
  /** HTTP status code. */
  readonly status: number
  /** The `Status.reason` (for example `NotFound`), or `""` when the body had none. */
  readonly reason: string
  /** The `Status.message`, or the raw body when it was not a `Status`. */
  readonly message: string
}

/** What the API refused, for the core's permanent failure: message, code, reason, request. */
const refusal = (e: StatusFields): string =>
  `${e.message === "" ? "the API server refused the request" : e.message} (${e.status}${e.reason === "" ? "" : ` ${e.reason}`}, ${e.method} ${e.path})`

/**
 * One entry of `Status.details.causes` of a 422 Invalid answer.
 *
 * @since 0.1.0
 */
export interface StatusCause {
  readonly reason: string
  readonly message: string
  readonly field: string
}

/**
 * 401: the credentials were missing, expired or not recognised.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Unauthorized } from "@kubefx/runtime"
 *
 * const onUnauthorized = (e: Unauthorized) => Effect.logError(`login again: ${e.message}`)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Data.TaggedError("Unauthorized")<StatusFields> {}

/**
 * 403: the authenticated user has no right to do this (RBAC said no).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Builtins } from "@kubefx/core"
 * import { Kube } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   return yield* kube.list(Builtins.secrets, { namespace: "kube-system" })
 * }).pipe(Effect.catchTag("Forbidden", (e) => Effect.logWarning(e.message)))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Forbidden extends Data.TaggedError("Forbidden")<StatusFields> {}

/**
 * 404: the object (or the resource type, or the namespace) does not exist.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Builtins } from "@kubefx/core"
 * import { Kube } from "@kubefx/runtime"
 *
 * const maybe = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   return yield* kube.get(Builtins.configMaps, "x", { namespace: "default" })
 * }).pipe(Effect.map(Option.some), Effect.catchTag("NotFound", () => Effect.succeedNone))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Data.TaggedError("NotFound")<StatusFields> {}

/**
 * 409 with reason `Conflict`: the object changed since it was read (stale
 * `metadata.resourceVersion`), or a server-side apply hit a field owned by another manager.
 * Read again and retry the whole read-modify-write.
 *
 * @example
 * ```ts
 * import type { Conflict } from "@kubefx/runtime"
 *
 * const describe = (e: Conflict) => `${e.method} ${e.path}: ${e.message}`
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Conflict extends Data.TaggedError("Conflict")<StatusFields> {}

/**
 * 409 with reason `AlreadyExists`: a create found an object of that name.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Builtins, type KubeObject } from "@kubefx/core"
 * import { Kube } from "@kubefx/runtime"
 *
 * const ensure = (body: KubeObject.KubeObject) =>
 *   Effect.gen(function*() {
 *     const kube = yield* Kube
 *     return yield* kube.create(Builtins.configMaps, body)
 *   }).pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AlreadyExists extends Data.TaggedError("AlreadyExists")<StatusFields> {}

/**
 * 410 Gone (reason `Expired` or `Gone`): a watch or a list continuation asked for a
 * resourceVersion the server no longer keeps. List again from scratch.
 *
 * @example
 * ```ts
 * import type { Expired } from "@kubefx/runtime"
 *
 * const mustRelist = (e: Expired) => e.status === 410
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Expired extends Data.TaggedError("Expired")<StatusFields> {}

/**
 * 422 Invalid: validation refused the object; `causes` lists each failing field. Permanent
 * for handlers (`Outcome.permanent`): the same object is refused again.
 *
 * @example
 * ```ts
 * import type { Invalid } from "@kubefx/runtime"
 *
 * const fields = (e: Invalid) => e.causes.map((c) => `${c.field}: ${c.message}`)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class Invalid extends Data.TaggedError("Invalid")<
  StatusFields & { readonly causes: ReadonlyArray<StatusCause> }
> {
  /** What a handler failing with this error records (see `Outcome.permanent`). */
  get [Outcome.permanent](): string {
    return refusal(this)
  }
}

/**
 * 429 Too Many Requests (API priority and fairness, or an eviction budget). `retryAfter` is the
 * server's `Retry-After` header (or `details.retryAfterSeconds`) when it gave one.
 *
 * @example
 * ```ts
 * import { Duration, Option } from "effect"
 * import type { TooManyRequests } from "@kubefx/runtime"
 *
 * const wait = (e: TooManyRequests) => Option.getOrElse(e.retryAfter, () => Duration.seconds(1))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TooManyRequests extends Data.TaggedError("TooManyRequests")<
  StatusFields & { readonly retryAfter: Option.Option<Duration.Duration> }
> {}

/**
 * 5xx: the server (or etcd, or a webhook) failed; may succeed later.
 *
 * @example
 * ```ts
 * import type { ServerError } from "@kubefx/runtime"
 *
 * const isTimeout = (e: ServerError) => e.status === 504
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerError extends Data.TaggedError("ServerError")<StatusFields> {}

/**
 * Any other 4xx answer (400 BadRequest, 405, 406, 415, ...): the request itself is wrong and
 * will not succeed when repeated. Permanent for handlers (`Outcome.permanent`).
 *
 * @example
 * ```ts
 * import type { BadRequest } from "@kubefx/runtime"
 *
 * const code = (e: BadRequest) => e.status
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequest extends Data.TaggedError("BadRequest")<StatusFields> {
  /** What a handler failing with this error records (see `Outcome.permanent`). */
  get [Outcome.permanent](): string {
    return refusal(this)
  }
}

/**
 * The request never got an HTTP answer: connection refused or reset, TLS failure, DNS, a
 * dropped response body, a watch that went silent. `code` is Node's error code when known
 * (`ECONNREFUSED`, `ECONNRESET`, ...).
 *
 * @example
 * ```ts
 * import type { TransportError } from "@kubefx/runtime"
 *
 * const refused = (e: TransportError) => e.code === "ECONNREFUSED"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Data.TaggedError("TransportError")<
  RequestInfo & { readonly code: string; readonly message: string; readonly cause?: unknown }
> {}

/**
 * The server answered with something that is not the JSON we expected.
 *
 * @example
 * ```ts
 * import type { DecodeError } from "@kubefx/runtime"
 *
 * const text = (e: DecodeError) => e.message
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Data.TaggedError("DecodeError")<
  RequestInfo & { readonly message: string }
> {}

/**
 * Every error of the Kube client.
 *
 * @since 0.1.0
 * @category errors
 */
export type KubeError =
  | Unauthorized
  | Forbidden
  | NotFound
  | Conflict
  | AlreadyExists
  | Expired
  | Invalid
  | TooManyRequests
  | ServerError
  | BadRequest
  | TransportError
  | DecodeError

/**
 * Errors that may succeed when the same request is tried again later: 429, 5xx and transport
 * errors. Every other 4xx is final (a conflict needs a new read, not the same request again).
 *
 * @example
 * ```ts
 * import { KubeError } from "@kubefx/runtime"
 *
 * KubeError.isTransient(
 *   new KubeError.TransportError({ method: "GET", path: "/api", code: "ECONNRESET", message: "reset" })
 * )
 * // => true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (error: KubeError): boolean =>
  error._tag === "TooManyRequests" ||
  error._tag === "ServerError" ||
  error._tag === "TransportError"

const str = (value: unknown): string => (Predicate.isString(value) ? value : "")

const parseCauses = (details: unknown): ReadonlyArray<StatusCause> => {
  if (!Predicate.isObject(details) || !("causes" in details) || !Array.isArray(details.causes)) {
    return []
  }
  return details.causes.filter(Predicate.isObject).map((c) => ({
    reason: "reason" in c ? str(c.reason) : "",
    message: "message" in c ? str(c.message) : "",
    field: "field" in c ? str(c.field) : ""
  }))
}

/**
 * Parses an HTTP `Retry-After` header: delay seconds, or an HTTP date (relative to `now`).
 *
 * @example
 * ```ts
 * import { KubeError } from "@kubefx/runtime"
 *
 * KubeError.parseRetryAfter("3", 0) // => Option.some(Duration.seconds(3))
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseRetryAfter = (
  header: string | undefined,
  now: number
): Option.Option<Duration.Duration> => {
  if (header === undefined || header.trim() === "") return Option.none()
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return Option.some(Duration.seconds(seconds))
  const date = Date.parse(header)
  if (Number.isNaN(date)) return Option.none()
  return Option.some(Duration.millis(Math.max(0, date - now)))
}

/**
 * Builds the typed error for a failed HTTP answer from its status code, `Retry-After` header
 * and body (a `Status` object as JSON, or anything else).
 *
 * @example
 * ```ts
 * import { KubeError } from "@kubefx/runtime"
 *
 * const e = KubeError.fromResponse({ method: "POST", path: "/api/v1/namespaces" }, 409, undefined,
 *   '{"kind":"Status","reason":"AlreadyExists","message":"exists","code":409}', 0)
 * e._tag // => "AlreadyExists"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (
  request: RequestInfo,
  status: number,
  retryAfterHeader: string | undefined,
  body: string,
  now: number
): KubeError => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    parsed = undefined
  }
  const status_: Record<string, unknown> | undefined =
    Predicate.isObject(parsed) && "kind" in parsed && parsed.kind === "Status"
      ? (parsed as Record<string, unknown>)
      : undefined
  const reason = status_ === undefined ? "" : str(status_.reason)
  const message = status_ === undefined ? body.slice(0, 2000) : str(status_.message)
  const details = status_?.details
  const fields: StatusFields = { ...request, status, reason, message }
  switch (status) {
    case 401:
      return new Unauthorized(fields)
    case 403:
      return new Forbidden(fields)
    case 404:
      return new NotFound(fields)
    case 409:
      return reason === "AlreadyExists" ? new AlreadyExists(fields) : new Conflict(fields)
    case 410:
      return new Expired(fields)
    case 422:
      return new Invalid({ ...fields, causes: parseCauses(details) })
    case 429: {
      const fromDetails =
        Predicate.isObject(details) &&
        "retryAfterSeconds" in details &&
        Predicate.isNumber(details.retryAfterSeconds)
          ? Option.some(Duration.seconds(details.retryAfterSeconds))
          : Option.none<Duration.Duration>()
      const retryAfter = Option.orElse(parseRetryAfter(retryAfterHeader, now), () => fromDetails)
      return new TooManyRequests({ ...fields, retryAfter })
    }
    default:
      return status >= 500 ? new ServerError(fields) : new BadRequest(fields)
  }
}
