/**
 * The operator's webhook server: HTTPS only (TLS 1.2 or newer; a plain HTTP request gets its
 * connection closed), answering the API server's `AdmissionReview` (`admission.k8s.io/v1`) at
 * `POST /validate/<id>` and `POST /mutate/<id>`, one handler a path (the webhook configurations
 * of `WebhookConfig` point each webhook at its handler's path), and its `ConversionReview`
 * (`apiextensions.k8s.io/v1`) at `POST /convert/<plural>.<group>` for each versioned resource of
 * the registry (`Conversion`).
 *
 * - A body above `maxBodyBytes` (default 8 MiB: an object and its old copy, each up to etcd's
 *   1.5 MiB) gets 413; a body that is not JSON or not an `AdmissionReview` gets 400 with a
 *   message; an unknown path 404; another method 405. The server keeps serving either way.
 * - The decision is `Admission.decide`'s: a handler's failure is a denial naming it (or an
 *   allowance with a warning under `ignoreFailure`), never a dropped connection. Each handler
 *   is answered for before the API server gives up: its run is bounded by the request's
 *   `timeout` parameter (which the API server sends) or the handler's own `timeout`, less a
 *   margin (a fifth of it, at most a second).
 * - Certificates from files are read again every `reloadInterval` and the new ones served from
 *   the next connection on (`onCertificates` is told, to update the `caBundle`).
 * - Closing the scope stops accepting connections, lets requests in progress finish for up to
 *   `shutdownTimeout` (default 5 s), then closes every connection.
 *
 * @since 0.1.0
 */
import type * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import { Admission, Conversion, Json, type Registry } from "@kubefx/core"
import { Data, Duration, Effect, Exit, FiberSet, Result, Schedule } from "effect"
import type * as Scope from "effect/Scope"
import * as Certificates from "./Certificates.ts"

/**
 * Where and how the server listens.
 *
 * @example
 * ```ts
 * import { Certificates, type WebhookServer } from "@kubefx/runtime"
 *
 * const options: WebhookServer.Options = { port: 9443, certificates: Certificates.directory("/tls") }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The port (0: any free one). */
  readonly port: number
  /** The address to listen on (default `0.0.0.0`). */
  readonly host?: string | undefined
  readonly certificates: Certificates.Source
  /** The largest request body answered (default 8 MiB). */
  readonly maxBodyBytes?: number | undefined
  /** How long requests in progress may take to finish on stop (default 5 s). */
  readonly shutdownTimeout?: Duration.Input | undefined
}

/**
 * A listening webhook server.
 *
 * @since 0.1.0
 * @category models
 */
export interface WebhookServer {
  /** `https://host:port`, with the bound port. */
  readonly url: string
  readonly port: number
  /** The certificates served now. */
  readonly certificates: Effect.Effect<Certificates.Material>
}

/**
 * The server cannot listen (a taken port, an address not of this machine) or has no
 * certificates.
 *
 * @since 0.1.0
 * @category errors
 */
export class WebhookServerError extends Data.TaggedError("WebhookServerError")<{
  readonly message: string
}> {}

/** An answer: a status and a JSON or text body. */
interface Answer {
  readonly status: number
  readonly body: Json.Json | string
}

const text = (status: number, message: string): Answer => ({ status, body: `${message}\n` })

const write = (res: http.ServerResponse, answer: Answer) => {
  const json = typeof answer.body !== "string"
  const body = json ? JSON.stringify(answer.body) : (answer.body as string)
  if (res.headersSent || res.destroyed) return
  res.writeHead(answer.status, {
    "content-type": json ? "application/json" : "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    // The rest of a body too large to read is not read: the connection cannot be reused.
    ...(answer.status === 413 ? { connection: "close" } : {})
  })
  res.end(body)
}

/** The body, or `undefined` when it exceeds `limit` (then the request is left unread). */
const readBody = (req: http.IncomingMessage, limit: number) =>
  Effect.callback<Buffer | undefined, Error>((resume) => {
    const declared = Number(req.headers["content-length"] ?? Number.NaN)
    if (declared > limit) return resume(Effect.succeed(undefined))
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.removeAllListeners("data")
        req.pause()
        resume(Effect.succeed(undefined))
      } else chunks.push(chunk)
    })
    req.on("end", () => resume(Effect.succeed(Buffer.concat(chunks))))
    req.on("error", (e) => resume(Effect.fail(e)))
  })

/**
 * The duration of the `timeout` parameter the API server adds to a webhook's URL (Go's format:
 * `10s`, `1m30s`, `500ms`), or `undefined` when it is missing or malformed.
 *
 * @example
 * ```ts
 * import { WebhookServer } from "@kubefx/runtime"
 *
 * WebhookServer.parseTimeout("10s") // 10 seconds
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseTimeout = (value: string | null): Duration.Duration | undefined => {
  if (value === null || !/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) return undefined
  let millis = 0
  for (const [, n, , unit] of value.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g))
    millis +=
      Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"]
  return Duration.millis(millis)
}

/** The time a handler may take: the API server's timeout (or its own), less a margin. */
const budget = (webhook: Admission.Webhook<unknown>, requested: Duration.Duration | undefined) => {
  const total = Duration.toMillis(
    requested === undefined ? webhook.timeout : Duration.min(requested, webhook.timeout)
  )
  return Duration.millis(total - Math.min(1000, total / 5))
}

const describeWebhooks = (registry: Registry.Registry<unknown>) => {
  const paths = [
    ...registry.webhooks.map((w) => `/${w.kind}/${w.id}`),
    ...registry.conversions.map(Conversion.path)
  ]
  return paths.length === 0 ? "none" : paths.join(", ")
}

/** The body as JSON, or the 400 answer saying why not. */
const parseJson = (body: Buffer): { readonly json: unknown } | Answer => {
  try {
    return { json: JSON.parse(body.toString("utf8")) }
  } catch (e) {
    return text(400, `malformed JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** One conversion request: the path's resource, the body, the converted objects. */
const convert = (
  registry: Registry.Registry<unknown>,
  name: string,
  body: Buffer
): Effect.Effect<Answer> =>
  Effect.gen(function* () {
    const versioned = registry.conversions.find((c) => `${c.plural}.${c.group}` === name)
    if (versioned === undefined)
      return text(404, `no conversions of ${name} (served: ${describeWebhooks(registry)})`)
    const parsed = parseJson(body)
    if (!("json" in parsed)) return parsed
    const review = Conversion.decodeReview(parsed.json)
    if (Result.isFailure(review)) return text(400, review.failure)
    const answered = yield* Conversion.review(versioned, review.success)
    const result = Json.asObject(Json.asObject(answered.response).result)
    if (result.status !== "Success")
      yield* Effect.logWarning(`convert ${name}: ${String(result.message)}`)
    return { status: 200, body: answered }
  })

/** One admission request: the path's handler, the body, the decision. */
const admit = <R>(
  registry: Registry.Registry<R>,
  kind: Admission.Kind,
  id: string,
  body: Buffer,
  requested: Duration.Duration | undefined
): Effect.Effect<Answer, never, R> =>
  Effect.gen(function* () {
    const webhook = registry.webhooks.find((w) => w.kind === kind && w.id === id)
    if (webhook === undefined)
      return text(
        404,
        `no ${kind} handler ${JSON.stringify(id)} (served: ${describeWebhooks(registry)})`
      )
    const parsed = parseJson(body)
    if (!("json" in parsed)) return parsed
    const review = Admission.decodeReview(parsed.json)
    if (Result.isFailure(review)) return text(400, review.failure)
    const { request } = review.success
    const decision = yield* Admission.decide([webhook], request, {
      timeout: budget(webhook, requested)
    })
    const about = `${request.operation} ${request.resource.resource} ${request.namespace === undefined || request.namespace === "" ? "" : `${request.namespace}/`}${request.name ?? ""}`
    if (!decision.allowed)
      yield* (decision.status?.code === 500 ? Effect.logWarning : Effect.logInfo)(
        `${kind} ${id}: denied ${about}: ${decision.status?.message ?? ""}`
      )
    for (const warning of decision.warnings)
      if (warning.endsWith("admitted (ignoreFailure)"))
        yield* Effect.logWarning(`${kind} ${id}: ${warning}`)
    return { status: 200, body: Admission.response(decision) }
  })

/** The answer to one HTTP request. */
const answer = <R>(
  registry: Registry.Registry<R>,
  req: http.IncomingMessage,
  limit: number
): Effect.Effect<Answer, never, R> =>
  Effect.gen(function* () {
    const url = new URL(req.url ?? "/", "https://webhook")
    const route = /^\/(validate|mutate|convert)\/([^/]+)$/.exec(url.pathname)
    if (route === null)
      return text(404, `not found: ${url.pathname} (served: ${describeWebhooks(registry)})`)
    if (req.method !== "POST") return text(405, `method not allowed: ${req.method ?? ""}; use POST`)
    const body = yield* readBody(req, limit)
    if (body === undefined) return text(413, `request body above ${limit} bytes`)
    if (route[1] === "convert") return yield* convert(registry, decodeURIComponent(route[2]!), body)
    return yield* admit(
      registry,
      route[1] as Admission.Kind,
      decodeURIComponent(route[2]!),
      body,
      parseTimeout(url.searchParams.get("timeout"))
    )
  }).pipe(
    Effect.catchCause((cause) =>
      Effect.succeed(text(500, `webhook server: ${String(Exit.failCause(cause))}`))
    )
  )

const listenError = (options: Options, host: string, cause: NodeJS.ErrnoException) =>
  new WebhookServerError({
    message:
      cause.code === "EADDRINUSE"
        ? `webhook server: port ${options.port} on ${host} is taken; choose another webhook port or stop what listens there`
        : `webhook server: cannot listen on ${host}:${options.port} (${cause.code ?? cause.message}); check the webhook host and port`
  })

/**
 * Starts the server in the current scope, serving the registry's webhooks with the services
 * they need.
 *
 * @example
 * ```ts
 * import { Admission, Handler, Registry, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Certificates, WebhookServer } from "@kubefx/runtime"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const registry = Registry.make(
 *   Handler.validate(widgets, { id: "no-red" }, (ctx) =>
 *     ctx.labels.colour === "red" ? Effect.fail(new Admission.AdmissionError({ message: "no red" })) : Effect.void
 *   )
 * )
 * const program = Effect.gen(function* () {
 *   const server = yield* WebhookServer.make(registry, {
 *     port: 0,
 *     host: "127.0.0.1",
 *     certificates: Certificates.generated(["127.0.0.1"])
 *   })
 *   return server.url // https://127.0.0.1:40123; POST /validate/no-red
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(
  registry: Registry.Registry<R>,
  options: Options,
  onCertificates: (material: Certificates.Material) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<
  WebhookServer,
  WebhookServerError | Certificates.CertificateError,
  R | Scope.Scope
> =>
  Effect.gen(function* () {
    const host = options.host ?? "0.0.0.0"
    const limit = options.maxBodyBytes ?? 8 * 1024 * 1024
    let material = yield* Certificates.load(options.certificates)
    const requests = yield* FiberSet.make<void>()
    const run = yield* FiberSet.runtime(requests)<R>()
    const server = yield* Effect.acquireRelease(
      Effect.callback<https.Server, WebhookServerError>((resume) => {
        const server = https.createServer(
          { cert: material.cert, key: material.key, minVersion: "TLSv1.2", requestTimeout: 60_000 },
          (req, res) => {
            run(Effect.map(answer(registry, req, limit), (a) => write(res, a)))
          }
        )
        server.once("error", (cause) => resume(Effect.fail(listenError(options, host, cause))))
        server.listen(options.port, host, () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.gen(function* () {
          server.close()
          yield* Effect.timeoutOption(
            FiberSet.awaitEmpty(requests),
            options.shutdownTimeout ?? "5 seconds"
          )
          server.closeAllConnections()
        })
    )
    if (options.certificates._tag === "Files") {
      const source = options.certificates
      const reload = Effect.gen(function* () {
        const next = yield* Certificates.load(source)
        if (next.cert === material.cert && next.key === material.key && next.ca === material.ca)
          return
        // Files caught half-written (a new certificate, the old key) do not match: tried again later.
        yield* Effect.try({
          try: () =>
            server.setSecureContext({ cert: next.cert, key: next.key, minVersion: "TLSv1.2" }),
          catch: (e) =>
            new Certificates.CertificateError({
              message: `the files do not make a certificate and its key: ${e instanceof Error ? e.message : String(e)}`
            })
        })
        material = next
        yield* Effect.logInfo(`webhook server: new certificates from ${source.cert}`)
        yield* onCertificates(next)
      }).pipe(
        Effect.catch((e) =>
          Effect.logWarning(`webhook server: keeping the served certificates: ${e.message}`)
        )
      )
      yield* Effect.forkScoped(Effect.repeat(reload, Schedule.spaced(source.reloadInterval)))
    }
    const { port } = server.address() as AddressInfo
    const shown = host.includes(":") ? `[${host}]` : host
    return {
      url: `https://${shown}:${port}`,
      port,
      certificates: Effect.sync(() => material)
    }
  })
