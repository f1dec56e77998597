/**
 * The client's HTTP layer, retry policy and error mapping, against a scripted HTTP server on
 * loopback (answers a real API server gives only under load: 429 with Retry-After, 5xx, resets;
 * watch bodies cut at awkward places).
 */

import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Builtins } from "@kubefx/core"
import { KubeConfig } from "@kubernetes/client-node"
import { Duration, Effect, Option, Schedule, Stream, Tracer } from "effect"
import { Kube, type KubeError } from "../src/index.ts"

type Reply = (req: http.IncomingMessage, res: http.ServerResponse) => void

const status =
  (code: number, reason: string, message: string, headers: Record<string, string> = {}): Reply =>
  (_, res) => {
    res.writeHead(code, { "Content-Type": "application/json", ...headers })
    res.end(
      JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message })
    )
  }

const ok: Reply = (_, res) => {
  res.writeHead(200, { "Content-Type": "application/json" })
  res.end(JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }))
}

const reset: Reply = (req) => req.socket.destroy()

const hang: Reply = () => {}

interface Scripted {
  readonly url: string
  readonly hits: Array<{ readonly method: string; readonly at: number }>
  readonly server: http.Server
}

/** A server answering each request with the next reply of the script, recording arrival times. */
const scripted = (script: ReadonlyArray<Reply>) =>
  Effect.acquireRelease(
    Effect.callback<Scripted>((resume) => {
      const hits: Array<{ method: string; at: number }> = []
      const server = http.createServer((req, res) => {
        req.resume()
        req.on("end", () => {
          const reply = script[hits.length] ?? ok
          hits.push({ method: req.method ?? "", at: Date.now() })
          reply(req, res)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, hits, server }))
      })
    }),
    (s) =>
      Effect.callback<void>((resume) => {
        s.server.close(() => resume(Effect.void))
        s.server.closeAllConnections()
      })
  )

const client = (url: string) =>
  Effect.gen(function* () {
    const kc = new KubeConfig()
    kc.loadFromClusterAndUser(
      { name: "fake", server: url, skipTLSVerify: true },
      { name: "me", token: "t" }
    )
    return yield* Kube.make(kc, {
      requestTimeout: "200 millis",
      retry: Schedule.max([Schedule.spaced("10 millis"), Schedule.recurs(3)]).pipe(
        Schedule.setInputType<KubeError.KubeError>(),
        Schedule.modifyDelay(({ input, duration }) =>
          Effect.succeed(
            input._tag === "TooManyRequests" && Option.isSome(input.retryAfter)
              ? Duration.max(duration, input.retryAfter.value)
              : duration
          )
        )
      )
    })
  })

const cm = Builtins.configMaps

describe("Kube retries", () => {
  it.live("retries 5xx and resets until success", () =>
    Effect.gen(function* () {
      const server = yield* scripted([
        status(503, "ServiceUnavailable", "busy"),
        reset,
        status(500, "InternalError", "x")
      ])
      const kube = yield* client(server.url)
      const got = yield* kube.get(cm, "x", { namespace: "n" })
      assert.strictEqual(got.metadata?.name, "x")
      assert.strictEqual(server.hits.length, 4)
    })
  )

  it.live("each attempt is a client span; a retry's says how many came before it", () =>
    Effect.gen(function* () {
      const server = yield* scripted([status(503, "ServiceUnavailable", "busy"), reset])
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const kube = yield* client(server.url)
      yield* kube.get(cm, "x", { namespace: "n" }).pipe(Effect.withTracer(tracer))
      assert.deepStrictEqual(
        spans.map((s) => [s.name, s.kind, s.attributes.get("http.request.resend_count")]),
        [
          ["GET", "client", undefined],
          ["GET", "client", 1],
          ["GET", "client", 2]
        ]
      )
      assert.deepStrictEqual(
        spans.map((s) => s.attributes.get("http.response.status_code")),
        [503, undefined, 200]
      )
    })
  )

  it.live("an attempt without an answer times out and is retried", () =>
    Effect.gen(function* () {
      const server = yield* scripted([hang])
      const kube = yield* client(server.url)
      const got = yield* kube.get(cm, "x", { namespace: "n" })
      assert.strictEqual(got.metadata?.name, "x")
      assert.strictEqual(server.hits.length, 2)
    })
  )

  it.live("gives up after the schedule with the last transient error", () =>
    Effect.gen(function* () {
      const server = yield* scripted(
        Array.from({ length: 10 }, () => status(502, "", "bad gateway"))
      )
      const kube = yield* client(server.url)
      const error = yield* Effect.flip(kube.get(cm, "x", { namespace: "n" }))
      assert.strictEqual(error._tag, "ServerError")
      assert.strictEqual((error as KubeError.ServerError).status, 502)
      assert.strictEqual(server.hits.length, 4, "one try and three retries")
    })
  )

  it.live("never retries a final 4xx", () =>
    Effect.gen(function* () {
      for (const [code, reason, tag] of [
        [404, "NotFound", "NotFound"],
        [409, "AlreadyExists", "AlreadyExists"],
        [409, "Conflict", "Conflict"],
        [410, "Expired", "Expired"],
        [422, "Invalid", "Invalid"],
        [403, "Forbidden", "Forbidden"],
        [401, "Unauthorized", "Unauthorized"],
        [400, "BadRequest", "BadRequest"]
      ] as const) {
        const server = yield* scripted([status(code, reason, "no")])
        const kube = yield* client(server.url)
        const error = yield* Effect.flip(kube.get(cm, "x", { namespace: "n" }))
        assert.strictEqual(error._tag, tag)
        assert.strictEqual(server.hits.length, 1, `${code} ${reason} is not retried`)
      }
    })
  )

  it.live("honours Retry-After on 429", () =>
    Effect.gen(function* () {
      const server = yield* scripted([
        status(429, "TooManyRequests", "slow down", { "Retry-After": "1" })
      ])
      const kube = yield* client(server.url)
      yield* kube.get(cm, "x", { namespace: "n" })
      assert.strictEqual(server.hits.length, 2)
      const [first, second] = server.hits
      assert.isAtLeast(second!.at - first!.at, 900, "waited for Retry-After, not the 10ms schedule")
    })
  )

  it.live("retries a POST only when the server surely did not act on it", () =>
    Effect.gen(function* () {
      const busy = yield* scripted([status(429, "TooManyRequests", "slow down")])
      const kube1 = yield* client(busy.url)
      yield* kube1.create(cm, { metadata: { name: "x", namespace: "n" } })
      assert.strictEqual(busy.hits.length, 2, "429: retried")

      const failing = yield* scripted([status(500, "InternalError", "maybe written")])
      const kube2 = yield* client(failing.url)
      const error = yield* Effect.flip(
        kube2.create(cm, { metadata: { name: "x", namespace: "n" } })
      )
      assert.strictEqual(error._tag, "ServerError")
      assert.strictEqual(failing.hits.length, 1, "500 on a POST: not retried")
    })
  )
})

describe("Kube watch", () => {
  it.live("parses JSON lines split anywhere across chunks, and asks for bookmarks", () =>
    Effect.gen(function* () {
      const lines = [
        { type: "ADDED", object: { metadata: { name: "a", resourceVersion: "1" } } },
        { type: "BOOKMARK", object: { metadata: { resourceVersion: "2" } } },
        { type: "DELETED", object: { metadata: { name: "a", resourceVersion: "3" } } }
      ]
        .map((l) => `${JSON.stringify(l)}\n`)
        .join("")
      let url = ""
      const server = yield* scripted([
        (req, res) => {
          url = req.url ?? ""
          res.writeHead(200, { "Content-Type": "application/json" })
          const cuts = [5, 40, 41, 90, lines.length]
          let at = 0
          const next = () => {
            const cut = cuts.shift()
            if (cut === undefined) return res.end()
            res.write(lines.slice(at, cut))
            at = cut
            setTimeout(next, 5)
          }
          next()
        }
      ])
      const kube = yield* client(server.url)
      const events = yield* kube
        .watch(cm, { namespace: "n", resourceVersion: "0", timeoutSeconds: 5 })
        .pipe(Stream.runCollect)
      assert.deepStrictEqual(
        Array.from(events, (e) => `${e.type} ${e.object.metadata?.resourceVersion}`),
        ["ADDED 1", "BOOKMARK 2", "DELETED 3"]
      )
      const query = new URL(url, "http://x").searchParams
      assert.strictEqual(query.get("watch"), "true")
      assert.strictEqual(query.get("allowWatchBookmarks"), "true")
      assert.strictEqual(query.get("resourceVersion"), "0")
      assert.strictEqual(query.get("timeoutSeconds"), "5")
    })
  )

  it.live("an HTTP error on a watch fails the stream with its typed error", () =>
    Effect.gen(function* () {
      const server = yield* scripted([status(410, "Expired", "too old resource version")])
      const kube = yield* client(server.url)
      const error = yield* kube
        .watch(cm, { namespace: "n", resourceVersion: "1" })
        .pipe(Stream.runDrain, Effect.flip)
      assert.strictEqual(error._tag, "Expired")
      assert.strictEqual(server.hits.length, 1, "a watch is not retried by the client")
    })
  )

  it.live("a body cut mid-stream fails with a TransportError", () =>
    Effect.gen(function* () {
      const server = yield* scripted([
        (req, res) => {
          res.writeHead(200, { "Content-Type": "application/json" })
          res.write(
            `${JSON.stringify({ type: "ADDED", object: { metadata: { name: "a" } } })}\n{"type":`
          )
          setTimeout(() => req.socket.destroy(), 20)
        }
      ])
      const kube = yield* client(server.url)
      const seen: Array<string> = []
      const error = yield* kube.watch(cm, { namespace: "n" }).pipe(
        Stream.runForEach((e) => Effect.sync(() => seen.push(e.type))),
        Effect.flip
      )
      assert.deepStrictEqual(seen, ["ADDED"])
      assert.strictEqual(error._tag, "TransportError")
    })
  )
})
