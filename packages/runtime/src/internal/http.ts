/**
 * HTTP to the API server on undici, with credentials read by `kubeconfig.ts` (client
 * certificates, tokens, token files, basic auth) or resolved per request by
 * `@kubernetes/client-node`'s KubeConfig (exec plugins, auth providers, proxies).
 *
 * Every request has deadlines enforced on its socket (connect, response headers, gaps in the
 * body), and an interrupted request aborts and destroys its socket. Requests share a pool whose
 * idle connections are retired after `keepAlive`; watches go out on a connection of their own,
 * opened for the watch and closed after it, so a re-watch never lands on a pooled socket that
 * died with the network. Every attempt is a client span (a watch's ends with its headers) and
 * is counted in the `rest_client_*` metrics.
 *
 * @internal
 */
import type { KubeConfig } from "@kubernetes/client-node"
import { Clock, Effect, Exit, Metric, Stream } from "effect"
import { Agent, type Dispatcher, ProxyAgent, Socks5ProxyAgent } from "undici"
import * as KubeError from "../KubeError.ts"
import * as Metrics from "../Metrics.ts"
import { Resends } from "../RequestPolicy.ts"
import type { Credentials, Headers, Tls } from "./kubeconfig.ts"

/** @internal */
export interface HttpRequest {
  readonly method: string
  /** Path and query, e.g. `/api/v1/namespaces?limit=10`. */
  readonly path: string
  readonly body?: string | undefined
  readonly contentType?: string | undefined
}

/** @internal */
export interface HttpResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly body: string
}

/**
 * Deadlines, in milliseconds. Each one, when it passes, fails the request with a
 * TransportError and destroys its socket.
 *
 * @internal
 */
export interface Timeouts {
  /** TCP connect plus TLS handshake. */
  readonly connect: number
  /** From sending a request (or a watch) to the end of its response headers. */
  readonly headers: number
  /** The longest gap between two chunks of a response body (not of watches: the watcher
   * decides how long a watch may be silent). */
  readonly body: number
  /** An idle pooled connection is closed after this long. */
  readonly keepAlive: number
}

/**
 * The defaults: 10 s to connect, 30 s for headers and body gaps, idle connections retired after
 * 30 s (before the idle timeouts of common load balancers and NAT gateways, 60 s and up).
 *
 * @internal
 */
export const defaultTimeouts: Timeouts = {
  connect: 10_000,
  headers: 30_000,
  body: 30_000,
  keepAlive: 30_000
}

/** A pool for requests and a dispatcher for watches, with the same TLS material. @internal */
export interface Dispatchers {
  readonly requests: Dispatcher
  readonly watches: Dispatcher
}

/** What the next request is sent with. @internal */
export interface Next {
  readonly dispatchers: Dispatchers
  readonly headers: Headers
  /** The server, when the credentials name their own (a login may); else the connection's. */
  readonly server?: URL | undefined
  /** Which credentials these are, for {@link Connection.refused}. */
  readonly generation?: number | undefined
}

/** @internal */
export interface Connection {
  readonly server: URL
  /** The dispatchers and headers of the next request (credentials may rotate). */
  readonly next: () => Promise<Next>
  /** The server answered 401 to a request sent with the credentials of `generation`: renew
   * them. The request is sent once more when this resolves. A connection without it cannot
   * renew its credentials, and its 401s are answered as they are. */
  readonly refused?: ((generation: number) => Promise<void>) | undefined
  readonly timeouts: Timeouts
  readonly close: () => Promise<void>
}

const TCP_KEEPALIVE_MS = 30_000

/** A pool for requests and a dispatcher for watches, with the TLS material `tls`. @internal */
export const dispatchers = (
  tls: Tls,
  timeouts: Timeouts,
  proxy: string | undefined
): Dispatchers => {
  const options = {
    connect: {
      ...tls,
      timeout: timeouts.connect,
      keepAlive: true,
      keepAliveInitialDelay: TCP_KEEPALIVE_MS
    },
    // HTTP/1.1: a request or watch that dies takes its own connection with it. Over HTTP/2
    // every request shares one connection, and a dead one takes them all.
    allowH2: false,
    headersTimeout: timeouts.headers,
    bodyTimeout: timeouts.body,
    keepAliveTimeout: timeouts.keepAlive,
    keepAliveMaxTimeout: timeouts.keepAlive
  }
  const make = (): Dispatcher => {
    if (proxy === undefined) return new Agent(options)
    const { connect, ...pool } = options
    if (/^socks5?:/.test(proxy))
      return new Socks5ProxyAgent(proxy, { ...pool, requestTls: connect })
    return new ProxyAgent({ ...options, uri: proxy, requestTls: connect })
  }
  return { requests: make(), watches: make() }
}

/** Closes both dispatchers at once, aborting what runs on them. @internal */
export const destroyAll = (d: Dispatchers) =>
  Promise.all([d.requests.destroy(), d.watches.destroy()]).then(() => undefined)

/** Closes both dispatchers once the requests and watches running on them have ended. @internal */
export const retire = (d: Dispatchers) =>
  Promise.all([d.requests.close(), d.watches.close()]).then(() => undefined)

const sameBytes = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b)
  return false
}

const sameTls = (a: Tls, b: Tls): boolean =>
  sameBytes(a.ca, b.ca) &&
  sameBytes(a.cert, b.cert) &&
  sameBytes(a.key, b.key) &&
  a.rejectUnauthorized === b.rejectUnauthorized &&
  a.servername === b.servername

/**
 * A connection for the current context of a KubeConfig: its credentials are resolved for every
 * request (an exec plugin may rotate a certificate: the dispatchers are then replaced, and the
 * old ones closed once their requests are done).
 *
 * @internal
 */
export const makeConnection = (kc: KubeConfig, timeouts: Timeouts): Connection => {
  const cluster = kc.getCurrentCluster()
  if (cluster === null) throw new Error("kubeconfig has no current cluster")
  const server = new URL(cluster.server)
  let current: { readonly tls: Tls; readonly dispatchers: Dispatchers } | undefined
  const retired: Array<Dispatchers> = []
  return {
    server,
    timeouts,
    next: async () => {
      const opts: import("node:https").RequestOptions = {}
      await kc.applyToHTTPSOptions(opts)
      const tls: Tls = {
        ...(opts.ca === undefined ? {} : { ca: opts.ca as Buffer }),
        ...(opts.cert === undefined ? {} : { cert: opts.cert as Buffer }),
        ...(opts.key === undefined ? {} : { key: opts.key as Buffer }),
        ...(opts.rejectUnauthorized === undefined
          ? {}
          : { rejectUnauthorized: opts.rejectUnauthorized }),
        ...(opts.servername === undefined ? {} : { servername: opts.servername })
      }
      if (current === undefined || !sameTls(current.tls, tls)) {
        if (current !== undefined) {
          retired.push(current.dispatchers)
          void retire(current.dispatchers)
        }
        current = { tls, dispatchers: dispatchers(tls, timeouts, cluster.proxyUrl || undefined) }
      }
      const headers: Record<string, string | Array<string>> = {}
      for (const [k, v] of Object.entries(opts.headers ?? {}))
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.map(String) : String(v)
      return { dispatchers: current.dispatchers, headers }
    },
    close: async () => {
      const all = [...retired, ...(current === undefined ? [] : [current.dispatchers])]
      current = undefined
      retired.length = 0
      await Promise.all(all.map(destroyAll))
    }
  }
}

/**
 * A connection with credentials read once (see `kubeconfig.ts`): one set of dispatchers, and per
 * request only the headers (a token file may have rotated).
 *
 * @internal
 */
export const makeStaticConnection = (credentials: Credentials, timeouts: Timeouts): Connection => {
  const d = dispatchers(credentials.tls, timeouts, undefined)
  return {
    server: credentials.server,
    timeouts,
    next: () => Promise.resolve({ dispatchers: d, headers: credentials.headers() }),
    close: () => destroyAll(d)
  }
}

/** undici's codes for what Node's own errors call ETIMEDOUT and ECONNRESET. */
const codes: Readonly<Record<string, string>> = {
  UND_ERR_CONNECT_TIMEOUT: "ECONNECTTIMEOUT",
  UND_ERR_HEADERS_TIMEOUT: "ETIMEDOUT",
  UND_ERR_BODY_TIMEOUT: "ETIMEDOUT",
  UND_ERR_SOCKET: "ECONNRESET",
  UND_ERR_CLOSED: "ECONNRESET"
}

const errorCode = (cause: unknown): string => {
  let error: unknown = cause
  for (let depth = 0; depth < 3 && typeof error === "object" && error !== null; depth++) {
    const code = (error as { code?: unknown }).code
    if (typeof code === "string") return codes[code] ?? code
    error = (error as { cause?: unknown }).cause
  }
  return "UNKNOWN"
}

const describe = (cause: unknown, code: string, timeouts: Timeouts): string => {
  const message = cause instanceof Error ? cause.message : String(cause)
  switch (code) {
    case "ECONNECTTIMEOUT":
      return `could not connect within ${timeouts.connect} ms (${message})`
    case "ETIMEDOUT":
      return `no answer within ${timeouts.headers} ms (${message})`
    default:
      return message
  }
}

const transportError = (
  req: HttpRequest,
  cause: unknown,
  timeouts: Timeouts
): KubeError.TransportError => {
  const code = errorCode(cause)
  return new KubeError.TransportError({
    method: req.method,
    path: req.path,
    code,
    message: describe(cause, code, timeouts),
    cause
  })
}

/** A response whose headers arrived, and the generation of the credentials it was sent with. */
interface Opened {
  readonly res: Dispatcher.ResponseData
  readonly generation: number | undefined
}

/**
 * Sends a request and resolves when its response headers arrive (the body is not read).
 * Interruption aborts the request, which destroys its socket.
 */
const open = (
  conn: Connection,
  req: HttpRequest,
  kind: keyof Dispatchers
): Effect.Effect<Opened, KubeError.TransportError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const { dispatchers, headers, server = conn.server, generation } = await conn.next()
      const all: Record<string, string | Array<string>> = { ...headers, accept: "application/json" }
      if (req.body !== undefined) all["content-type"] = req.contentType ?? "application/json"
      const res = await dispatchers[kind].request({
        origin: server.origin,
        path: `${server.pathname.replace(/\/$/, "")}${req.path}`,
        method: req.method as Dispatcher.HttpMethod,
        headers: all,
        body: req.body ?? null,
        signal,
        // A watch's connection is closed after it: the next one is fresh.
        reset: kind === "watches",
        ...(kind === "watches" ? { bodyTimeout: 0 } : {})
      })
      return { res, generation }
    },
    catch: (cause) => transportError(req, cause, conn.timeouts)
  })

/**
 * `attempt` once more after the connection renewed its credentials, when its first answer is
 * a 401 to credentials the connection can renew (see {@link Connection.refused}). A 401 is sent
 * before the server does anything, so any request may be sent again.
 */
const authenticated = <A extends { readonly generation: number | undefined }, E>(
  conn: Connection,
  status: (a: A) => number,
  discard: (a: A) => Effect.Effect<void>,
  attempt: Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.flatMap(attempt, (a) => {
    const refused = conn.refused
    if (status(a) !== 401 || refused === undefined || a.generation === undefined)
      return Effect.succeed(a)
    const generation = a.generation
    return discard(a).pipe(
      Effect.andThen(Effect.promise(() => refused(generation))),
      Effect.andThen(attempt)
    )
  })

const readBody = (
  conn: Connection,
  req: HttpRequest,
  res: Dispatcher.ResponseData
): Effect.Effect<string, KubeError.TransportError> =>
  Effect.tryPromise({
    try: () => res.body.text(),
    catch: (cause) => transportError(req, cause, conn.timeouts)
  }).pipe(Effect.onInterrupt(() => Effect.sync(() => res.body.destroy())))

const header = (res: HttpResponse, name: string): string | undefined => {
  const v = res.headers[name]
  return typeof v === "string" ? v : v?.[0]
}

const requestsTotal = Metrics.series(Metrics.requestsTotal)
const requestDuration = Metrics.series(Metrics.requestDuration)

/**
 * Counts an attempt in `rest_client_requests_total` (by status, `<error>` without an answer)
 * and `rest_client_request_duration_seconds`; an interrupted attempt is not counted.
 */
const measured = <A, E>(
  conn: Connection,
  req: HttpRequest,
  status: (a: A) => number,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(effect)
    if (Exit.isFailure(exit) && Exit.hasInterrupts(exit)) return yield* exit
    const host = conn.server.host
    const code = Exit.isSuccess(exit) ? String(status(exit.value)) : "<error>"
    const end = yield* Clock.currentTimeMillis
    yield* Metric.update(requestsTotal({ code, method: req.method, host }), 1)
    yield* Metric.update(requestDuration({ verb: req.method, host }), (end - start) / 1000)
    return yield* exit
  })

/**
 * An attempt in a client span named after its method, with OpenTelemetry's HTTP attributes:
 * `http.request.method`, `url.path` (without the query), `server.address`, `server.port`,
 * `http.response.status_code`, `error.type` (the status) for answers of 400 and up, and
 * `http.request.resend_count` on a retry.
 */
const traced = <A, E>(
  conn: Connection,
  req: HttpRequest,
  status: (a: A) => number,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E> => {
  const query = req.path.indexOf("?")
  const { hostname, port, protocol } = conn.server
  const attributes = {
    "http.request.method": req.method,
    "url.path": query === -1 ? req.path : req.path.slice(0, query),
    "server.address": hostname,
    "server.port": port === "" ? (protocol === "http:" ? 80 : 443) : Number(port)
  }
  const annotated = Effect.tap(effect, (a) => {
    const code = status(a)
    return Effect.annotateCurrentSpan(
      code >= 400
        ? { "http.response.status_code": code, "error.type": String(code) }
        : { "http.response.status_code": code }
    )
  })
  return Effect.flatMap(Effect.service(Resends), (resends) =>
    Effect.withSpan(annotated, req.method, {
      kind: "client",
      captureStackTrace: false,
      attributes:
        resends === 0 ? attributes : { ...attributes, "http.request.resend_count": resends }
    })
  )
}

/** An attempt, traced and measured. */
const observed = <A, E>(
  conn: Connection,
  req: HttpRequest,
  status: (a: A) => number,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E> => traced(conn, req, status, measured(conn, req, status, effect))

/**
 * One request, body read in full; HTTP errors are NOT turned into KubeErrors here.
 *
 * @internal
 */
export const request = (
  conn: Connection,
  req: HttpRequest
): Effect.Effect<HttpResponse, KubeError.TransportError> =>
  authenticated<
    HttpResponse & { readonly generation: number | undefined },
    KubeError.TransportError
  >(
    conn,
    (r) => r.status,
    () => Effect.void,
    observed(
      conn,
      req,
      (res) => res.status,
      Effect.flatMap(open(conn, req, "requests"), ({ res, generation }) =>
        Effect.map(readBody(conn, req, res), (body) => ({
          status: res.statusCode,
          headers: res.headers,
          body,
          generation
        }))
      )
    )
  )

/**
 * Turns a non-2xx response into its typed error.
 *
 * @internal
 */
export const toError = (req: HttpRequest, res: HttpResponse): KubeError.KubeError =>
  KubeError.fromResponse(
    { method: req.method, path: req.path },
    res.status,
    header(res, "retry-after"),
    res.body,
    Date.now()
  )

/**
 * A streaming request (a watch) on a connection of its own: the response body as lines. A
 * non-2xx answer fails the stream with its typed error; a broken body fails it with a
 * TransportError. The socket is destroyed when the stream ends or is interrupted.
 *
 * @internal
 */
export const lines = (
  conn: Connection,
  req: HttpRequest,
  onOpen?: (() => void) | undefined
): Stream.Stream<string, KubeError.KubeError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      // Interruptible while it waits for headers (an acquireRelease would not be).
      const opened = observed(conn, req, (o) => o.res.statusCode, open(conn, req, "watches"))
      const { res } = yield* Effect.uninterruptibleMask((restore) =>
        Effect.tap(
          restore(
            authenticated(
              conn,
              (o) => o.res.statusCode,
              (o) => Effect.ignore(readBody(conn, req, o.res)),
              opened
            )
          ),
          ({ res }) => Effect.addFinalizer(() => Effect.sync(() => res.body.destroy()))
        )
      )
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const body = yield* readBody(conn, req, res)
        return yield* Effect.fail(
          toError(req, { status: res.statusCode, headers: res.headers, body })
        )
      }
      onOpen?.()
      const chunks = Stream.fromAsyncIterable(res.body as AsyncIterable<Uint8Array>, (cause) =>
        transportError(req, cause, conn.timeouts)
      )
      return chunks.pipe(Stream.decodeText, Stream.splitLines)
    })
  )
