/**
 * The Kube client: generic, unstructured access to any resource of a Kubernetes API server.
 *
 * Configuration: the layers read kubeconfig files (a context, client certificates, bearer
 * tokens, token files, basic auth, CA bundles) and the in-cluster service account themselves,
 * and load `@kubernetes/client-node` (lazily: it costs ~88 MiB of memory) only for what it
 * alone knows: exec credential plugins, auth providers, proxies, several `$KUBECONFIG` files.
 * {@link make} takes a client-node `KubeConfig` for anything else. The HTTP is done here on
 * `node:https`, so every answer maps onto the typed errors of {@link KubeError}.
 *
 * Requests that failed transiently (429, 5xx, transport) are retried with a capped, jittered
 * exponential {@link Schedule} (a 429's `Retry-After` is honoured as a lower bound). Requests
 * that are not idempotent (POST, JSON patch) are retried only when the server surely did not act
 * on them: 429, or a refused connection.
 *
 * @since 0.1.0
 */
import type { KubeConfig } from "@kubernetes/client-node"
import {
  Clock,
  Context,
  Data,
  Duration,
  Effect,
  Layer,
  Option,
  Predicate,
  Schedule,
  Stream
} from "effect"
import type * as Scope from "effect/Scope"
import * as Http from "./internal/http.ts"
import * as KubeConfigFile from "./internal/kubeconfig.ts"
import * as KubeError from "./KubeError.ts"
import * as Patch from "./Patch.ts"
import * as Resource from "./Resource.ts"

type KubeObject = Resource.KubeObject
type ApiResource = Resource.ApiResource
type Err = KubeError.KubeError

/**
 * Options of a list request (one page).
 *
 * @since 0.1.0
 * @category models
 */
export interface ListOptions {
  /** Namespace to list in; omit for all namespaces (or for cluster-scoped resources). */
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
  /** Page size. */
  readonly limit?: number | undefined
  /** Continue token from the previous page. */
  readonly continue?: string | undefined
  readonly resourceVersion?: string | undefined
  readonly resourceVersionMatch?: string | undefined
}

/**
 * Options of a watch request.
 *
 * @since 0.1.0
 * @category models
 */
export interface WatchOptions {
  readonly namespace?: string | undefined
  readonly labelSelector?: string | undefined
  readonly fieldSelector?: string | undefined
  /** Start after this resourceVersion (opaque). */
  readonly resourceVersion?: string | undefined
  /** Ask for BOOKMARK events (default true). */
  readonly allowWatchBookmarks?: boolean | undefined
  /** Server-side timeout: the server ends the watch after that many seconds. */
  readonly timeoutSeconds?: number | undefined
}

/**
 * Options of writes (create, replace, patch).
 *
 * @since 0.1.0
 * @category models
 */
export interface WriteOptions {
  /** Defaults to `metadata.namespace` of the body for create and replace. */
  readonly namespace?: string | undefined
  readonly fieldManager?: string | undefined
  readonly dryRun?: boolean | undefined
}

/**
 * Options of a delete.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeleteOptions {
  readonly namespace?: string | undefined
  readonly propagationPolicy?: "Orphan" | "Background" | "Foreground" | undefined
  readonly gracePeriodSeconds?: number | undefined
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string } | undefined
  readonly dryRun?: boolean | undefined
}

/**
 * One event of a raw watch, as the server sent it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawWatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"
  /** The object; for ERROR a `Status` object (with `code`, `reason`, `message`). */
  readonly object: KubeObject
}

/**
 * A core/v1 Event to post about an object.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventSpec {
  /** The object the event is about (needs apiVersion, kind, metadata.name). */
  readonly involvedObject: KubeObject
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
 * A raw request for what the typed operations do not cover.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  /** Path and query, e.g. `/version`. */
  readonly path: string
  readonly body?: unknown
  readonly contentType?: string | undefined
}

/**
 * What to find with {@link Kube.discover}: a group version and either a kind or a plural.
 *
 * @since 0.1.0
 * @category models
 */
export type DiscoverQuery =
  | { readonly group: string; readonly version: string; readonly kind: string }
  | { readonly group: string; readonly version: string; readonly plural: string }

/**
 * The configuration could not be loaded (no file, no current context, not in a cluster).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Kube } from "@kubefx/runtime"
 *
 * const layer = Kube.layerFromFile("/nonexistent")
 * // building it fails with KubeConfigError
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class KubeConfigError extends Data.TaggedError("KubeConfigError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The client's interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeService {
  /** The API server's URL, e.g. `https://127.0.0.1:6443`. */
  readonly server: string
  /** Finds a resource's plural, kind and scope in the server's discovery document. */
  readonly discover: (query: DiscoverQuery) => Effect.Effect<ApiResource, Err>
  /** Lists one page. */
  readonly list: (
    resource: ApiResource,
    options?: ListOptions
  ) => Effect.Effect<Resource.ObjectList, Err>
  /** Lists every page (`limit` is the page size, default 500); an expired continue token
   * restarts the list. The result has the resourceVersion of the first page. */
  readonly listAll: (
    resource: ApiResource,
    options?: Omit<ListOptions, "continue">
  ) => Effect.Effect<Resource.ObjectList, Err>
  /** One watch request: events until the server ends it (a stream that then completes). */
  readonly watch: (
    resource: ApiResource,
    options?: WatchOptions
  ) => Stream.Stream<RawWatchEvent, Err>
  readonly get: (
    resource: ApiResource,
    name: string,
    options?: { readonly namespace?: string | undefined }
  ) => Effect.Effect<KubeObject, Err>
  readonly create: (
    resource: ApiResource,
    body: KubeObject,
    options?: WriteOptions
  ) => Effect.Effect<KubeObject, Err>
  /** PUT: replaces the whole object; a stale `metadata.resourceVersion` fails with Conflict. */
  readonly replace: (
    resource: ApiResource,
    name: string,
    body: KubeObject,
    options?: WriteOptions
  ) => Effect.Effect<KubeObject, Err>
  readonly patch: (
    resource: ApiResource,
    name: string,
    patch: Patch.Patch,
    options?: WriteOptions & { readonly subresource?: string | undefined }
  ) => Effect.Effect<KubeObject, Err>
  /** Answers the object (with a deletionTimestamp when finalizers hold it) or a Status. */
  readonly delete: (
    resource: ApiResource,
    name: string,
    options?: DeleteOptions
  ) => Effect.Effect<KubeObject, Err>
  readonly getStatus: (
    resource: ApiResource,
    name: string,
    options?: { readonly namespace?: string | undefined }
  ) => Effect.Effect<KubeObject, Err>
  readonly patchStatus: (
    resource: ApiResource,
    name: string,
    patch: Patch.Patch,
    options?: WriteOptions
  ) => Effect.Effect<KubeObject, Err>
  readonly replaceStatus: (
    resource: ApiResource,
    name: string,
    body: KubeObject,
    options?: WriteOptions
  ) => Effect.Effect<KubeObject, Err>
  /** Posts a core/v1 Event about an object. */
  readonly createEvent: (event: EventSpec) => Effect.Effect<KubeObject, Err>
  /** Any request; answers the parsed JSON body (or the text when it is not JSON). */
  readonly request: (request: RawRequest) => Effect.Effect<unknown, Err>
}

/**
 * The core/v1 Event that {@link KubeService.createEvent} posts about `e.involvedObject` at `now`
 * (epoch milliseconds): in the object's namespace (`default` for cluster-scoped objects), named
 * after it, the message cut to 1024 characters. Shared with simulated clients.
 *
 * @example
 * ```ts
 * import { eventObject } from "@kubefx/runtime"
 *
 * const event = eventObject(
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
export const eventObject = (e: EventSpec, now: number): KubeObject => {
  const timestamp = new Date(now).toISOString().replace(/\.\d+Z$/, "Z")
  const meta = e.involvedObject.metadata ?? {}
  const namespace =
    meta.namespace !== undefined && meta.namespace !== "" ? meta.namespace : "default"
  const involvedObject: Record<string, unknown> = {
    apiVersion: e.involvedObject.apiVersion,
    kind: e.involvedObject.kind,
    name: meta.name,
    uid: meta.uid,
    resourceVersion: meta.resourceVersion
  }
  if (meta.namespace !== undefined) involvedObject.namespace = meta.namespace
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
 * Options of the client.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeOptions {
  /** Retry policy for transient errors; default: exponential from 100ms capped at 10s,
   * jittered, at most 8 retries. */
  readonly retry?: Schedule.Schedule<unknown, Err> | undefined
  /** How long the server may take to send a response's headers (watches included), and the
   * longest gap between two chunks of a response body (not of watches: see the watcher's
   * `idleTimeout`); default 30 seconds. A request that runs out fails with a TransportError
   * `ETIMEDOUT` (retried when it is idempotent) and its connection is closed. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Time limit of the TCP connect and TLS handshake; default 10 seconds (TransportError
   * `ECONNECTTIMEOUT`, retried: nothing was sent). */
  readonly connectTimeout?: Duration.Input | undefined
  /** An idle pooled connection is closed after this long; default 30 seconds, below the idle
   * timeouts of common load balancers and NAT gateways. */
  readonly keepAliveTimeout?: Duration.Input | undefined
}

const timeoutsOf = (options: KubeOptions): Http.Timeouts => {
  const ms = (input: Duration.Input | undefined, fallback: number) =>
    input === undefined ? fallback : Math.max(1, Duration.toMillis(Duration.fromInputUnsafe(input)))
  const request = ms(options.requestTimeout, Http.defaultTimeouts.headers)
  return {
    connect: ms(options.connectTimeout, Http.defaultTimeouts.connect),
    headers: request,
    body: request,
    keepAlive: ms(options.keepAliveTimeout, Http.defaultTimeouts.keepAlive)
  }
}

/**
 * Transport failures after which the server surely did not act on the request (it was never
 * sent): a non-idempotent request may be sent again.
 */
const unsent = new Set([
  "ECONNREFUSED",
  "ECONNECTTIMEOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH"
])

/**
 * The default retry policy: capped exponential backoff (100ms, doubling, at most 10s),
 * jittered, 8 retries; a 429's Retry-After lengthens a delay that would be shorter.
 *
 * @example
 * ```ts
 * import { Kube } from "@kubefx/runtime"
 *
 * const policy = Kube.defaultRetry
 * ```
 *
 * @since 0.1.0
 * @category retries
 */
export const defaultRetry: Schedule.Schedule<unknown, Err> = Schedule.max([
  Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("10 seconds")]).pipe(
    Schedule.jittered
  ),
  Schedule.recurs(8)
]).pipe(
  Schedule.setInputType<Err>(),
  Schedule.modifyDelay(({ input, duration }) =>
    Effect.succeed(
      input._tag === "TooManyRequests" && Option.isSome(input.retryAfter)
        ? Duration.max(duration, input.retryAfter.value)
        : duration
    )
  )
)

const query = (params: Record<string, string | number | boolean | undefined>): string => {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) search.set(k, String(v))
  }
  const s = search.toString()
  return s === "" ? "" : `?${s}`
}

const decodeError = (req: Http.HttpRequest, message: string) =>
  new KubeError.DecodeError({ method: req.method, path: req.path, message })

const parseJson = (req: Http.HttpRequest, text: string): Effect.Effect<unknown, Err> =>
  Effect.try({
    try: () => (text === "" ? {} : (JSON.parse(text) as unknown)),
    catch: (cause) => decodeError(req, `invalid JSON: ${String(cause)}`)
  })

const asObject = (req: Http.HttpRequest, value: unknown): Effect.Effect<KubeObject, Err> =>
  Predicate.isObject(value) && !Array.isArray(value)
    ? Effect.succeed(value as KubeObject)
    : Effect.fail(decodeError(req, "expected a JSON object"))

const asList = (req: Http.HttpRequest, value: unknown): Effect.Effect<Resource.ObjectList, Err> => {
  if (!Predicate.isObject(value) || !("items" in value)) {
    return Effect.fail(decodeError(req, "expected a list with items"))
  }
  const items = value.items === null ? [] : value.items
  if (!Array.isArray(items)) return Effect.fail(decodeError(req, "items is not an array"))
  const metadata: Record<string, unknown> =
    "metadata" in value && Predicate.isObject(value.metadata)
      ? (value.metadata as Record<string, unknown>)
      : {}
  const rv = metadata.resourceVersion
  const cont = metadata.continue
  return Effect.succeed({
    items: items as ReadonlyArray<KubeObject>,
    resourceVersion: Predicate.isString(rv) ? rv : "",
    continue: Predicate.isString(cont) && cont !== "" ? cont : undefined
  })
}

const WATCH_TYPES = new Set(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"])

const parseWatchLine = (req: Http.HttpRequest, line: string): Effect.Effect<RawWatchEvent, Err> =>
  Effect.flatMap(parseJson(req, line), (value) =>
    Predicate.isObject(value) &&
    "type" in value &&
    Predicate.isString(value.type) &&
    WATCH_TYPES.has(value.type) &&
    "object" in value &&
    Predicate.isObject(value.object)
      ? Effect.succeed(value as unknown as RawWatchEvent)
      : Effect.fail(decodeError(req, `unexpected watch event: ${line.slice(0, 200)}`))
  )

/**
 * Builds a client for the current context of a KubeConfig. The connections close with the
 * scope.
 *
 * @example
 * ```ts
 * import type { KubeConfig } from "@kubernetes/client-node"
 * import { Effect } from "effect"
 * import { Kube } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kc = new KubeConfig()
 *   kc.loadFromFile("/path/to/kubeconfig")
 *   const kube = yield* Kube.make(kc)
 *   return yield* kube.request({ method: "GET", path: "/version" })
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  kc: KubeConfig,
  options: KubeOptions = {}
): Effect.Effect<KubeService, KubeConfigError, Scope.Scope> =>
  fromConnection((timeouts) => Http.makeConnection(kc, timeouts), options)

const fromConnection = (
  connect: (timeouts: Http.Timeouts) => Http.Connection,
  options: KubeOptions
): Effect.Effect<KubeService, KubeConfigError, Scope.Scope> =>
  Effect.gen(function* () {
    const timeouts = timeoutsOf(options)
    const conn = yield* Effect.acquireRelease(
      Effect.try({
        try: () => connect(timeouts),
        catch: (cause) =>
          new KubeConfigError({ message: `invalid kubeconfig: ${String(cause)}`, cause })
      }),
      (c) => Effect.promise(() => c.close())
    )
    const schedule = options.retry ?? defaultRetry
    // The socket's deadlines end a silent request; this one bounds a whole attempt (credential
    // plugins included).
    const attemptTimeout = Duration.millis(timeouts.connect + timeouts.headers + timeouts.body)
    const discovery = new Map<string, ReadonlyArray<Record<string, unknown>>>()

    /** Sends a request with retries; answers the body of a 2xx response. */
    const send = (req: Http.HttpRequest, idempotent: boolean): Effect.Effect<string, Err> =>
      Http.request(conn, req).pipe(
        Effect.timeoutOrElse({
          duration: attemptTimeout,
          orElse: () =>
            Effect.fail(
              new KubeError.TransportError({
                method: req.method,
                path: req.path,
                code: "ETIMEDOUT",
                message: `no answer within ${Duration.format(attemptTimeout)}`
              })
            )
        }),
        Effect.flatMap((res) =>
          res.status >= 200 && res.status < 300
            ? Effect.succeed(res.body)
            : Effect.fail(Http.toError(req, res))
        ),
        Effect.retry({
          schedule,
          while: (e: Err) =>
            idempotent
              ? KubeError.isTransient(e)
              : e._tag === "TooManyRequests" || (e._tag === "TransportError" && unsent.has(e.code))
        }),
        // No stack capture: a stack trace per request costs more than the request's own work.
        Effect.withSpan(
          "Kube.request",
          { attributes: { method: req.method, path: req.path } },
          { captureStackTrace: false }
        )
      )

    const json = (req: Http.HttpRequest, idempotent = true) =>
      Effect.flatMap(send(req, idempotent), (text) => parseJson(req, text))

    const object = (req: Http.HttpRequest, idempotent = true) =>
      Effect.flatMap(json(req, idempotent), (v) => asObject(req, v))

    const bodyNamespace = (body: KubeObject, options: WriteOptions | undefined) =>
      options?.namespace ?? body.metadata?.namespace

    const discover = (q: DiscoverQuery): Effect.Effect<ApiResource, Err> =>
      Effect.gen(function* () {
        const gv = Resource.groupVersionPath(q)
        let resources = discovery.get(gv)
        const req: Http.HttpRequest = { method: "GET", path: gv }
        if (resources === undefined) {
          const doc = yield* json(req)
          const list =
            Predicate.isObject(doc) && "resources" in doc && Array.isArray(doc.resources)
              ? (doc.resources as Array<unknown>).filter((r): r is Record<string, unknown> =>
                  Predicate.isObject(r)
                )
              : []
          resources = list
          discovery.set(gv, list)
        }
        const found = resources.find((r) => {
          const name = r.name
          if (!Predicate.isString(name) || name.includes("/")) return false
          if ("kind" in q) return r.kind === q.kind
          return (
            name === q.plural ||
            r.singularName === q.plural ||
            (Array.isArray(r.shortNames) && r.shortNames.includes(q.plural))
          )
        })
        if (found === undefined) {
          discovery.delete(gv)
          const what = "kind" in q ? `kind ${q.kind}` : `resource ${q.plural}`
          return yield* new KubeError.NotFound({
            method: "GET",
            path: gv,
            status: 404,
            reason: "NotFound",
            message: `${what} not found in ${Resource.apiVersion(q)}`
          })
        }
        return {
          group: q.group,
          version: q.version,
          plural: String(found.name),
          kind: String(found.kind),
          namespaced: found.namespaced === true
        }
      })

    const list = (resource: ApiResource, o: ListOptions = {}) => {
      const req: Http.HttpRequest = {
        method: "GET",
        path:
          Resource.path(resource, { namespace: o.namespace }) +
          query({
            labelSelector: o.labelSelector,
            fieldSelector: o.fieldSelector,
            limit: o.limit,
            continue: o.continue,
            resourceVersion: o.resourceVersion,
            resourceVersionMatch: o.resourceVersionMatch
          })
      }
      return Effect.flatMap(json(req), (v) => asList(req, v))
    }

    const listAll = (
      resource: ApiResource,
      o: Omit<ListOptions, "continue"> = {}
    ): Effect.Effect<Resource.ObjectList, Err> =>
      Effect.gen(function* () {
        const items: Array<KubeObject> = []
        let first = yield* list(resource, { ...o, limit: o.limit ?? 500 })
        const resourceVersion = first.resourceVersion
        items.push(...first.items)
        while (first.continue !== undefined) {
          first = yield* list(resource, { ...o, limit: o.limit ?? 500, continue: first.continue })
          items.push(...first.items)
        }
        return { items, resourceVersion, continue: undefined }
      }).pipe(
        // An expired continue token (410) means the pages no longer form one snapshot.
        Effect.retry({ while: (e: Err) => e._tag === "Expired", times: 3 })
      )

    const watch = (resource: ApiResource, o: WatchOptions = {}) => {
      const req: Http.HttpRequest = {
        method: "GET",
        path:
          Resource.path(resource, { namespace: o.namespace }) +
          query({
            watch: true,
            labelSelector: o.labelSelector,
            fieldSelector: o.fieldSelector,
            resourceVersion: o.resourceVersion,
            allowWatchBookmarks: o.allowWatchBookmarks ?? true,
            timeoutSeconds: o.timeoutSeconds
          })
      }
      return Http.lines(conn, req).pipe(
        Stream.filter((line) => line.trim() !== ""),
        Stream.mapEffect((line) => parseWatchLine(req, line))
      )
    }

    const get = (
      resource: ApiResource,
      name: string,
      o: { readonly namespace?: string | undefined } = {}
    ) => object({ method: "GET", path: Resource.path(resource, { namespace: o.namespace, name }) })

    const writeQuery = (
      o: WriteOptions | undefined,
      extra: Record<string, string | boolean> = {}
    ) => query({ fieldManager: o?.fieldManager, dryRun: o?.dryRun ? "All" : undefined, ...extra })

    const create = (resource: ApiResource, body: KubeObject, o?: WriteOptions) =>
      object(
        {
          method: "POST",
          path: Resource.path(resource, { namespace: bodyNamespace(body, o) }) + writeQuery(o),
          body: JSON.stringify(body)
        },
        false
      )

    const put = (
      resource: ApiResource,
      name: string,
      body: KubeObject,
      o: WriteOptions | undefined,
      subresource?: string
    ) =>
      object({
        method: "PUT",
        path:
          Resource.path(resource, {
            namespace: bodyNamespace(body, o),
            name,
            ...(subresource === undefined ? {} : { subresource })
          }) + writeQuery(o),
        body: JSON.stringify(body)
      })

    const patch = (
      resource: ApiResource,
      name: string,
      p: Patch.Patch,
      o?: WriteOptions & { readonly subresource?: string | undefined }
    ) => {
      const extra: Record<string, string | boolean> = {}
      if (p._tag === "Apply") {
        extra.fieldManager = o?.fieldManager ?? p.fieldManager
        if (p.force) extra.force = true
      }
      return object(
        {
          method: "PATCH",
          path:
            Resource.path(resource, {
              namespace: o?.namespace,
              name,
              ...(o?.subresource === undefined ? {} : { subresource: o.subresource })
            }) + writeQuery(o, extra),
          body: Patch.body(p),
          contentType: Patch.contentType(p)
        },
        p._tag !== "Json"
      )
    }

    const del = (resource: ApiResource, name: string, o: DeleteOptions = {}) => {
      const body: Record<string, unknown> = { apiVersion: "v1", kind: "DeleteOptions" }
      if (o.propagationPolicy !== undefined) body.propagationPolicy = o.propagationPolicy
      if (o.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = o.gracePeriodSeconds
      if (o.preconditions !== undefined) body.preconditions = o.preconditions
      if (o.dryRun) body.dryRun = ["All"]
      return object({
        method: "DELETE",
        path: Resource.path(resource, { namespace: o.namespace, name }),
        body: JSON.stringify(body)
      })
    }

    const events = Resource.core("v1", "events", "Event")
    const createEvent = (e: EventSpec) =>
      Effect.gen(function* () {
        const body = eventObject(e, yield* Clock.currentTimeMillis)
        return yield* create(events, body, { namespace: body.metadata?.namespace })
      })

    const request = (r: RawRequest) =>
      json(
        {
          method: r.method,
          path: r.path,
          body:
            r.body === undefined
              ? undefined
              : typeof r.body === "string"
                ? r.body
                : JSON.stringify(r.body),
          contentType: r.contentType
        },
        r.method !== "POST"
      )

    return {
      server: conn.server.toString().replace(/\/$/, ""),
      discover,
      list,
      listAll,
      watch,
      get,
      create,
      replace: (resource, name, body, o) => put(resource, name, body, o),
      patch,
      delete: del,
      getStatus: (resource, name, o = {}) =>
        object({
          method: "GET",
          path: Resource.path(resource, { namespace: o.namespace, name, subresource: "status" })
        }),
      patchStatus: (resource, name, p, o) =>
        patch(resource, name, p, { ...o, subresource: "status" }),
      replaceStatus: (resource, name, body, o) => put(resource, name, body, o, "status"),
      createEvent,
      request
    } satisfies KubeService
  })

const configError = (cause: unknown) =>
  new KubeConfigError({
    message: `cannot load kubeconfig: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

/** client-node is loaded only when needed (it costs ~88 MiB of memory): see `kubeconfig.ts`. */
const loadConfig = (
  load: (kc: KubeConfig) => void,
  context?: string
): Effect.Effect<KubeConfig, KubeConfigError> =>
  Effect.tryPromise({
    try: async () => {
      const { KubeConfig } = await import("@kubernetes/client-node")
      const kc = new KubeConfig()
      load(kc)
      if (context !== undefined) kc.setCurrentContext(context)
      if (kc.getCurrentCluster() === null) throw new Error("no current cluster")
      return kc
    },
    catch: configError
  })

/**
 * A client from what `read` finds: credentials read directly (no client-node), or, for what
 * only client-node knows (exec plugins, auth providers, proxies, merged files), a KubeConfig
 * that `fallback` loads.
 */
const fromLoaded = (
  read: () => KubeConfigFile.Loaded,
  fallback: Effect.Effect<KubeConfig, KubeConfigError>,
  options: KubeOptions
): Effect.Effect<KubeService, KubeConfigError, Scope.Scope> =>
  Effect.try({ try: read, catch: configError }).pipe(
    Effect.flatMap((loaded) =>
      loaded._tag === "Read"
        ? fromConnection(
            (timeouts) => Http.makeStaticConnection(loaded.credentials, timeouts),
            options
          )
        : Effect.logDebug(`kubeconfig: ${loaded.reason}; using @kubernetes/client-node`).pipe(
            Effect.andThen(fallback),
            Effect.flatMap((kc) => make(kc, options))
          )
    )
  )

/**
 * Loads a kubeconfig file (optionally choosing a context) into a KubeConfig.
 *
 * @example
 * ```ts
 * import { Kube } from "@kubefx/runtime"
 *
 * const kc = Kube.loadFile("/home/me/.kube/config", { context: "kind-dev" })
 * ```
 *
 * @since 0.1.0
 * @category configuration
 */
export const loadFile = (
  path: string,
  options: { readonly context?: string | undefined } = {}
): Effect.Effect<KubeConfig, KubeConfigError> =>
  loadConfig((kc) => kc.loadFromFile(path), options.context)

/**
 * The Kube client service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Kube, Resource } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   const cms = yield* kube.list(Resource.core("v1", "configmaps", "ConfigMap"), { namespace: "default" })
 *   yield* Effect.log(`${cms.items.length} config maps`)
 * }).pipe(Effect.provide(Kube.layerFromFile("/path/to/kubeconfig")))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Kube extends Context.Service<Kube, KubeService>()("@kubefx/runtime/Kube") {
  /**
   * Builds a client in a scope (see {@link make}); for several users at once.
   *
   * @since 0.1.0
   */
  static readonly make = make

  /**
   * Loads a kubeconfig file (see {@link loadFile}).
   *
   * @since 0.1.0
   */
  static readonly loadFile = loadFile

  /**
   * The default retry policy (see {@link defaultRetry}).
   *
   * @since 0.1.0
   */
  static readonly defaultRetry = defaultRetry

  /**
   * A client for the current context of a KubeConfig object.
   *
   * @since 0.1.0
   */
  static readonly layerFromKubeConfig = (
    kc: KubeConfig,
    options?: KubeOptions
  ): Layer.Layer<Kube, KubeConfigError> => Layer.effect(Kube, make(kc, options))

  /**
   * A client from a kubeconfig file, in its current context or the one named.
   *
   * @since 0.1.0
   */
  static readonly layerFromFile = (
    path: string,
    options: KubeOptions & { readonly context?: string | undefined } = {}
  ): Layer.Layer<Kube, KubeConfigError> =>
    Layer.effect(
      Kube,
      fromLoaded(
        () => KubeConfigFile.readFile(path, options.context),
        loadFile(path, { context: options.context }),
        options
      )
    )

  /**
   * A client from the pod's service account (`KUBERNETES_SERVICE_HOST`, the mounted token,
   * read again as it rotates, and CA).
   *
   * @since 0.1.0
   */
  static readonly layerInCluster = (
    options: KubeOptions = {}
  ): Layer.Layer<Kube, KubeConfigError> =>
    Layer.effect(
      Kube,
      fromLoaded(
        () => ({ _tag: "Read", credentials: KubeConfigFile.inCluster() }),
        loadConfig((kc) => kc.loadFromCluster()),
        options
      )
    )

  /**
   * The usual lookup: `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster account.
   *
   * @since 0.1.0
   */
  static readonly layerDefault = (options: KubeOptions = {}): Layer.Layer<Kube, KubeConfigError> =>
    Layer.effect(
      Kube,
      fromLoaded(
        KubeConfigFile.readDefault,
        loadConfig((kc) => kc.loadFromDefault()),
        options
      )
    )
}
