/**
 * HTTP to the API server over `node:https` (or `node:http`), with credentials read by
 * `kubeconfig.ts` (client certificates, tokens, token files, basic auth) or resolved per request
 * by `@kubernetes/client-node`'s KubeConfig (exec plugins, auth providers, anything else).
 *
 * @internal
 */
import * as http from "node:http"
import * as https from "node:https"
import type { KubeConfig } from "@kubernetes/client-node"
import { Effect, Stream } from "effect"
import * as KubeError from "../KubeError.ts"
import type { Credentials } from "./kubeconfig.ts"

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
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

/** @internal */
export interface Connection {
  readonly server: URL
  /** Resolves credentials (may run an exec plugin or read a rotated token) for one request. */
  readonly options: () => Promise<https.RequestOptions>
  readonly close: () => void
}

const sameBuffer = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b)
  if (typeof a === "string" && typeof b === "string") return a === b
  return false
}

/** An agent that keeps connections to `server` alive, with the TLS material for https. */
const keepAliveAgent = (server: URL, tls: https.AgentOptions): http.Agent => {
  const common = { keepAlive: true, keepAliveMsecs: 15_000 }
  return server.protocol === "https:"
    ? new https.Agent({ ...tls, ...common })
    : new http.Agent(common)
}

/**
 * A connection for the current context of a KubeConfig. Agents keep connections alive and are
 * replaced when the TLS material changes (a rotated client certificate).
 *
 * @internal
 */
export const makeConnection = (kc: KubeConfig): Connection => {
  const cluster = kc.getCurrentCluster()
  if (cluster === null) throw new Error("kubeconfig has no current cluster")
  const server = new URL(cluster.server)
  let current: { readonly tls: https.AgentOptions; readonly agent: http.Agent } | undefined
  const retired: Array<http.Agent> = []
  const agentFor = (tls: https.AgentOptions): http.Agent => {
    if (
      current !== undefined &&
      sameBuffer(current.tls.ca, tls.ca) &&
      sameBuffer(current.tls.cert, tls.cert) &&
      sameBuffer(current.tls.key, tls.key) &&
      current.tls.rejectUnauthorized === tls.rejectUnauthorized &&
      current.tls.servername === tls.servername
    ) {
      return current.agent
    }
    if (current !== undefined) retired.push(current.agent)
    const agent = keepAliveAgent(server, tls)
    current = { tls, agent }
    return agent
  }
  return {
    server,
    options: async () => {
      const opts: https.RequestOptions = {}
      await kc.applyToHTTPSOptions(opts)
      if (!cluster.proxyUrl) {
        const tls: https.AgentOptions = {}
        if (opts.ca !== undefined) tls.ca = opts.ca
        if (opts.cert !== undefined) tls.cert = opts.cert
        if (opts.key !== undefined) tls.key = opts.key
        if (opts.rejectUnauthorized !== undefined) tls.rejectUnauthorized = opts.rejectUnauthorized
        if (opts.servername !== undefined) tls.servername = opts.servername
        opts.agent = agentFor(tls)
      }
      return opts
    },
    close: () => {
      current?.agent.destroy()
      for (const agent of retired) agent.destroy()
      current = undefined
      retired.length = 0
    }
  }
}

/**
 * A connection with credentials read once (see `kubeconfig.ts`): one agent, and per request
 * only the headers (a token file may have rotated).
 *
 * @internal
 */
export const makeStaticConnection = (credentials: Credentials): Connection => {
  const agent = keepAliveAgent(credentials.server, credentials.tls)
  return {
    server: credentials.server,
    options: () => Promise.resolve({ agent, headers: { ...credentials.headers() } }),
    close: () => agent.destroy()
  }
}

const errorCode = (cause: unknown): string => {
  if (typeof cause === "object" && cause !== null && "code" in cause) {
    const code = (cause as { code: unknown }).code
    if (typeof code === "string") return code
  }
  return "UNKNOWN"
}

const transportError = (req: HttpRequest, cause: unknown): KubeError.TransportError =>
  new KubeError.TransportError({
    method: req.method,
    path: req.path,
    code: errorCode(cause),
    message: cause instanceof Error ? cause.message : String(cause),
    cause
  })

/**
 * Sends a request and resolves when the response headers arrive (the body is not read).
 * The request is destroyed when the effect is interrupted.
 */
const open = (
  conn: Connection,
  req: HttpRequest
): Effect.Effect<http.IncomingMessage, KubeError.TransportError> =>
  Effect.callback<http.IncomingMessage, KubeError.TransportError>((resume, signal) => {
    let request: http.ClientRequest | undefined
    conn.options().then(
      (opts) => {
        if (signal.aborted) return
        const headers: Record<string, string | Array<string>> = { Accept: "application/json" }
        for (const [k, v] of Object.entries(opts.headers ?? {})) {
          if (v !== undefined) headers[k] = Array.isArray(v) ? v.map(String) : String(v)
        }
        if (req.body !== undefined) {
          headers["Content-Type"] = req.contentType ?? "application/json"
          headers["Content-Length"] = String(Buffer.byteLength(req.body))
        }
        const options: https.RequestOptions = {
          ...opts,
          protocol: conn.server.protocol,
          hostname: conn.server.hostname.replace(/^\[(.*)\]$/, "$1"),
          port: conn.server.port,
          method: req.method,
          path: `${conn.server.pathname.replace(/\/$/, "")}${req.path}`,
          headers
        }
        const send = conn.server.protocol === "https:" ? https.request : http.request
        request = send(options, (res) => resume(Effect.succeed(res)))
        request.on("error", (cause) => resume(Effect.fail(transportError(req, cause))))
        request.end(req.body)
      },
      (cause) => resume(Effect.fail(transportError(req, cause)))
    )
    return Effect.sync(() => request?.destroy())
  })

const readBody = (
  req: HttpRequest,
  res: http.IncomingMessage
): Effect.Effect<string, KubeError.TransportError> =>
  Effect.callback<string, KubeError.TransportError>((resume) => {
    const chunks: Array<Buffer> = []
    res.on("data", (chunk: Buffer) => chunks.push(chunk))
    res.on("end", () => resume(Effect.succeed(Buffer.concat(chunks).toString("utf8"))))
    res.on("error", (cause) => resume(Effect.fail(transportError(req, cause))))
    res.on("aborted", () => resume(Effect.fail(transportError(req, new Error("response aborted")))))
    return Effect.sync(() => res.destroy())
  })

const header = (headers: http.IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/**
 * One request, body read in full; HTTP errors are NOT turned into KubeErrors here.
 *
 * @internal
 */
export const request = (
  conn: Connection,
  req: HttpRequest
): Effect.Effect<HttpResponse, KubeError.TransportError> =>
  Effect.flatMap(open(conn, req), (res) =>
    Effect.map(readBody(req, res), (body) => ({
      status: res.statusCode ?? 0,
      headers: res.headers,
      body
    }))
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
    header(res.headers, "retry-after"),
    res.body,
    Date.now()
  )

/**
 * A streaming request: the response body as lines. A non-2xx answer fails the stream with its
 * typed error; a broken body fails it with a TransportError. The request is destroyed when the
 * stream ends or is interrupted.
 *
 * @internal
 */
export const lines = (
  conn: Connection,
  req: HttpRequest
): Stream.Stream<string, KubeError.KubeError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const res = yield* Effect.acquireRelease(open(conn, req), (res) =>
        Effect.sync(() => res.destroy())
      )
      const status = res.statusCode ?? 0
      if (status < 200 || status >= 300) {
        const body = yield* readBody(req, res)
        return yield* Effect.fail(toError(req, { status, headers: res.headers, body }))
      }
      const chunks = Stream.fromAsyncIterable(res as AsyncIterable<Uint8Array>, (cause) =>
        transportError(req, cause)
      )
      return chunks.pipe(Stream.decodeText, Stream.splitLines)
    })
  )
