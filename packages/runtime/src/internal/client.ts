/**
 * The Kube client's operations over an HTTP connection: URLs, query strings, JSON bodies, and
 * the typed errors of the answers. Every request goes through a {@link RequestPolicy}.
 *
 * @internal
 */

import type { KubeObject, Resource } from "@kubefx/core"
import { Effect, Predicate, Stream } from "effect"
import * as ApiPatch from "../ApiPatch.ts"
import type {
  DeleteOptions,
  KubeService,
  ListOptions,
  ObjectList,
  RawRequest,
  RawWatchEvent,
  WatchOptions,
  WriteOptions
} from "../Kube.ts"
import * as KubeError from "../KubeError.ts"
import * as Paging from "../Paging.ts"
import * as Paths from "../Paths.ts"
import type * as RequestPolicy from "../RequestPolicy.ts"
import * as Http from "./http.ts"

type ApiResource = Resource.ApiResource
type Err = KubeError.KubeError

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

const asObject = (
  req: Http.HttpRequest,
  value: unknown
): Effect.Effect<KubeObject.KubeObject, Err> =>
  Predicate.isObject(value) && !Array.isArray(value)
    ? Effect.succeed(value as KubeObject.KubeObject)
    : Effect.fail(decodeError(req, "expected a JSON object"))

const asList = (req: Http.HttpRequest, value: unknown): Effect.Effect<ObjectList, Err> => {
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
  const shard = Predicate.isObject(metadata.shardInfo)
    ? (metadata.shardInfo as { selector?: unknown }).selector
    : undefined
  return Effect.succeed({
    items: items as ReadonlyArray<KubeObject.KubeObject>,
    resourceVersion: Predicate.isString(rv) ? rv : "",
    continue: Predicate.isString(cont) && cont !== "" ? cont : undefined,
    ...(Predicate.isString(shard) && shard !== "" ? { shard } : {})
  })
}

const WATCH_TYPES = new Set(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"])

const isWatchEvent = (value: unknown): value is RawWatchEvent =>
  Predicate.isObject(value) &&
  "type" in value &&
  Predicate.isString(value.type) &&
  WATCH_TYPES.has(value.type) &&
  "object" in value &&
  Predicate.isObject(value.object)

const parseWatchLine = (req: Http.HttpRequest, line: string): Effect.Effect<RawWatchEvent, Err> =>
  Effect.flatMap(parseJson(req, line), (value) =>
    isWatchEvent(value)
      ? Effect.succeed(value)
      : Effect.fail(decodeError(req, `unexpected watch event: ${line.slice(0, 200)}`))
  )

const writeQuery = (o: WriteOptions | undefined, extra: Record<string, string | boolean> = {}) =>
  query({ fieldManager: o?.fieldManager, dryRun: o?.dryRun ? "All" : undefined, ...extra })

/** The path of an object, or of its subresource. */
const at = (
  resource: ApiResource,
  namespace: string | undefined,
  name: string,
  subresource?: string | undefined
) =>
  Paths.path(resource, {
    namespace,
    name,
    ...(subresource === undefined ? {} : { subresource })
  })

/**
 * The client's operations on a connection, each request sent under `policy`.
 *
 * @internal
 */
export const fromConnection = (
  conn: Http.Connection,
  policy: RequestPolicy.RequestPolicy
): KubeService => {
  const send = (req: Http.HttpRequest, idempotent: boolean): Effect.Effect<string, Err> =>
    policy.send(
      req,
      idempotent,
      Effect.flatMap(Http.request(conn, req), (res) =>
        res.status >= 200 && res.status < 300
          ? Effect.succeed(res.body)
          : Effect.fail(Http.toError(req, res))
      )
    )
  const json = (req: Http.HttpRequest, idempotent = true) =>
    Effect.flatMap(send(req, idempotent), (text) => parseJson(req, text))
  const object = (req: Http.HttpRequest, idempotent = true) =>
    Effect.flatMap(json(req, idempotent), (v) => asObject(req, v))

  const list = (resource: ApiResource, o: ListOptions = {}) => {
    const req: Http.HttpRequest = {
      method: "GET",
      path:
        Paths.path(resource, { namespace: o.namespace }) +
        query({
          labelSelector: o.labelSelector,
          fieldSelector: o.fieldSelector,
          limit: o.limit,
          continue: o.continue,
          resourceVersion: o.resourceVersion,
          resourceVersionMatch: o.resourceVersionMatch,
          shardSelector: o.shardSelector
        })
    }
    return Effect.flatMap(json(req), (v) => asList(req, v))
  }

  const watch = (resource: ApiResource, o: WatchOptions = {}) => {
    const req: Http.HttpRequest = {
      method: "GET",
      path:
        Paths.path(resource, { namespace: o.namespace }) +
        query({
          watch: true,
          labelSelector: o.labelSelector,
          fieldSelector: o.fieldSelector,
          resourceVersion: o.resourceVersion,
          allowWatchBookmarks: o.allowWatchBookmarks ?? true,
          timeoutSeconds: o.timeoutSeconds,
          shardSelector: o.shardSelector
        })
    }
    return Http.lines(conn, req, o.onOpen).pipe(
      Stream.filter((line) => line.trim() !== ""),
      Stream.mapEffect((line) => parseWatchLine(req, line))
    )
  }

  const put = (
    resource: ApiResource,
    name: string,
    body: KubeObject.KubeObject,
    o: WriteOptions | undefined,
    subresource?: string
  ) =>
    object({
      method: "PUT",
      path:
        at(resource, o?.namespace ?? body.metadata?.namespace, name, subresource) + writeQuery(o),
      body: JSON.stringify(body)
    })

  const patch: KubeService["patch"] = (resource, name, p, o) => {
    const extra: Record<string, string | boolean> = {}
    if (p._tag === "Apply") {
      extra.fieldManager = o?.fieldManager ?? p.fieldManager
      if (p.force) extra.force = true
    }
    return object(
      {
        method: "PATCH",
        path: at(resource, o?.namespace, name, o?.subresource) + writeQuery(o, extra),
        body: ApiPatch.body(p),
        contentType: ApiPatch.contentType(p)
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
      path: at(resource, o.namespace, name),
      body: JSON.stringify(body)
    })
  }

  // The parsed JSON body, or the text when it is not JSON (`/readyz` answers "ok").
  const request = (r: RawRequest) =>
    Effect.map(
      send(
        {
          method: r.method,
          path: r.path,
          body:
            r.body === undefined || typeof r.body === "string" ? r.body : JSON.stringify(r.body),
          contentType: r.contentType
        },
        r.method !== "POST"
      ),
      (text): unknown => {
        try {
          return text === "" ? {} : JSON.parse(text)
        } catch {
          return text
        }
      }
    )

  return {
    server: conn.server.toString().replace(/\/$/, ""),
    list,
    listAll: (resource, o = {}) => Paging.listAll((page) => list(resource, { ...o, ...page }), o),
    watch,
    get: (resource, name, o = {}) =>
      object({ method: "GET", path: at(resource, o.namespace, name) }),
    create: (resource, body, o) =>
      object(
        {
          method: "POST",
          path:
            Paths.path(resource, { namespace: o?.namespace ?? body.metadata?.namespace }) +
            writeQuery(o),
          body: JSON.stringify(body)
        },
        false
      ),
    replace: (resource, name, body, o) => put(resource, name, body, o),
    patch,
    delete: del,
    getStatus: (resource, name, o = {}) =>
      object({ method: "GET", path: at(resource, o.namespace, name, "status") }),
    patchStatus: (resource, name, p, o) =>
      patch(resource, name, p, { ...o, subresource: "status" }),
    replaceStatus: (resource, name, body, o) => put(resource, name, body, o, "status"),
    request
  }
}
