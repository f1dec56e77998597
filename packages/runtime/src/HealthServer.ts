/**
 * The operator's small HTTP server (`node:http`), off unless `Settings.health` is set:
 *
 * - `GET /healthz`: 200 `ok`, or 500 with one line per problem ({@link Health.liveness});
 * - `GET /readyz`: 200 `ok`, or 503 with one line per problem ({@link Health.readiness});
 * - `GET /metrics`: every metric of the operator's registry in the Prometheus text format;
 * - `GET /probes`: a JSON object of the registry's probes (`Activity.probe`), computed on
 *   request (each within 10 s);
 * - anything else: 404.
 *
 * Answers but `/probes` are computed synchronously from in-memory state and written without
 * waiting for the client, so a slow or stuck scraper never holds a fiber of the operator. Closing the scope
 * closes the server and its connections.
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Data, Effect } from "effect"
import type * as Scope from "effect/Scope"
import * as Health from "./Health.ts"

/**
 * Where the server listens: `port` (0: any free port) on `host` (default `0.0.0.0`, so that
 * the kubelet reaches it in a pod).
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthOptions {
  readonly port: number
  readonly host?: string | undefined
}

/**
 * The server could not listen (the port is taken, the host is not an address of this machine).
 *
 * @since 0.1.0
 * @category errors
 */
export class HealthServerError extends Data.TaggedError("HealthServerError")<{
  readonly message: string
}> {}

/**
 * A listening health server.
 *
 * @since 0.1.0
 * @category models
 */
export interface HealthServer {
  /** `http://host:port` with the bound port. */
  readonly url: string
}

const answer = (res: http.ServerResponse, status: number, body: string, type: string) => {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) })
  res.end(body)
}

const probe = (res: http.ServerResponse, report: Health.Report, failing: number) =>
  report.ok
    ? answer(res, 200, "ok\n", "text/plain; charset=utf-8")
    : answer(res, failing, `${report.problems.join("\n")}\n`, "text/plain; charset=utf-8")

const route =
  (health: Health.Health, metrics: () => string, probes: () => Promise<unknown>) =>
  (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0]
    if (req.method !== "GET" && req.method !== "HEAD")
      return answer(res, 405, "method not allowed\n", "text/plain; charset=utf-8")
    switch (path) {
      case "/healthz":
        return probe(res, Health.liveness(health), 500)
      case "/readyz":
        return probe(res, Health.readiness(health), 503)
      case "/metrics":
        return answer(res, 200, metrics(), "text/plain; version=0.0.4; charset=utf-8")
      case "/probes":
        return void probes().then(
          (values) => answer(res, 200, `${JSON.stringify(values)}\n`, "application/json"),
          (e) => answer(res, 500, `probes failed: ${String(e)}\n`, "text/plain; charset=utf-8")
        )
      default:
        return answer(res, 404, `not found: ${path}\n`, "text/plain; charset=utf-8")
    }
  }

const listenError = (options: HealthOptions, host: string, cause: NodeJS.ErrnoException) =>
  new HealthServerError({
    message:
      cause.code === "EADDRINUSE"
        ? `health server: port ${options.port} on ${host} is taken; set another \`health.port\` or stop what listens there`
        : `health server: cannot listen on ${host}:${options.port} (${cause.code ?? cause.message}); check \`health.host\` and \`health.port\``
  })

/**
 * Starts the server in the current scope; `metrics` renders the `/metrics` text and `probes`
 * computes the `/probes` values.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health, HealthServer, Metrics } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const context = yield* Effect.context<never>()
 *   const server = yield* HealthServer.make({ port: 0, host: "127.0.0.1" }, Health.make(), () =>
 *     Metrics.textUnsafe(context)
 *   )
 *   return server.url // http://127.0.0.1:40123
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: HealthOptions,
  health: Health.Health,
  metrics: () => string,
  probes: () => Promise<unknown> = () => Promise.resolve({})
): Effect.Effect<HealthServer, HealthServerError, Scope.Scope> => {
  const host = options.host ?? "0.0.0.0"
  return Effect.acquireRelease(
    Effect.callback<http.Server, HealthServerError>((resume) => {
      const server = http.createServer(route(health, metrics, probes))
      server.once("error", (cause) => resume(Effect.fail(listenError(options, host, cause))))
      server.listen(options.port, host, () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(
    Effect.map((server) => {
      const { port } = server.address() as AddressInfo
      const shown = host.includes(":") ? `[${host}]` : host
      return { url: `http://${shown}:${port}` }
    })
  )
}
