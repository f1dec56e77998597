/**
 * The webhook server without a cluster: certificates from files are re-read when they change, a
 * handler's defect and a slow handler are answered as denials naming the handler, and a stop lets
 * a request in progress finish.
 */
import * as fs from "node:fs"
import * as https from "node:https"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { assert, describe, it } from "@effect/vitest"
import { Conversion, Handler, type Json, Registry, Resource } from "@kubefx/core"
import {
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Schedule,
  Schema,
  SchemaTransformation,
  Scope
} from "effect"
import { Certificates, WebhookServer } from "../src/index.ts"

const widgets = Resource.make({
  group: "example.com",
  version: "v1",
  plural: "widgets",
  kind: "Widget"
})

const review = (uid: string): Json.JsonObject => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: {
    uid,
    kind: { group: "example.com", version: "v1", kind: "Widget" },
    resource: { group: "example.com", version: "v1", resource: "widgets" },
    operation: "CREATE",
    userInfo: { username: "alice" },
    object: { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" }, spec: {} }
  }
})

const postText = (url: string, body: string, ca: string) =>
  Effect.callback<{ status: number; text: string }, Error>((resume) => {
    const req = https.request(url, { method: "POST", ca }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () =>
        resume(
          Effect.succeed({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() })
        )
      )
    })
    req.on("error", (e) => resume(Effect.fail(e)))
    req.end(body)
  })

const post = (url: string, body: Json.JsonObject, ca: string) =>
  Effect.map(postText(url, JSON.stringify(body), ca), (a) => ({
    status: a.status,
    body: JSON.parse(a.text) as Json.JsonObject
  }))

/** Whether a TLS handshake with the server succeeds when trusting `ca` only. */
const trusts = (port: number, ca: string) =>
  Effect.callback<boolean>((resume) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      socket.end()
      resume(Effect.succeed(true))
    })
    socket.on("error", () => resume(Effect.succeed(false)))
  })

const responseOf = (answer: { body: Json.JsonObject }) => answer.body.response as Json.JsonObject

describe("WebhookServer", () => {
  it.live("serves certificates from files and the renewed ones once the files change", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubefx-tls-"))
      const write = (m: Certificates.Material) => {
        fs.writeFileSync(path.join(dir, "tls.crt"), m.cert)
        fs.writeFileSync(path.join(dir, "tls.key"), m.key)
        fs.writeFileSync(path.join(dir, "ca.crt"), m.ca ?? "")
      }
      const first = yield* Certificates.generate(["127.0.0.1", "localhost"])
      const second = yield* Certificates.generate(["127.0.0.1", "localhost"])
      write(first)
      const told: Array<string | undefined> = []
      const server = yield* WebhookServer.make(
        Registry.empty,
        {
          port: 0,
          host: "127.0.0.1",
          certificates: Certificates.files({
            cert: path.join(dir, "tls.crt"),
            key: path.join(dir, "tls.key"),
            ca: path.join(dir, "ca.crt"),
            reloadInterval: "100 millis"
          })
        },
        (m) => Effect.sync(() => told.push(m.ca))
      )
      assert.isTrue(yield* trusts(server.port, first.ca ?? ""))
      assert.isFalse(yield* trusts(server.port, second.ca ?? ""))
      write(second)
      // The three files change one after the other: a reload may see some of them changed.
      yield* trusts(server.port, second.ca ?? "").pipe(
        Effect.filterOrFail((ok) => ok && told.at(-1) === second.ca),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "20 seconds" })))
      )
      assert.strictEqual((yield* server.certificates).cert, second.cert)
    }).pipe(Effect.scoped)
  )

  it.live(
    "a defect denies naming the handler; a slow handler is answered before the API server's timeout",
    () =>
      Effect.gen(function* () {
        const registry = Registry.make(
          Handler.validate(widgets, { id: "boom" }, () => Effect.die(new Error("kaput"))),
          Handler.validate(widgets, { id: "slow", timeout: "2 seconds" }, () => Effect.never)
        )
        const server = yield* WebhookServer.make(registry, {
          port: 0,
          host: "127.0.0.1",
          certificates: Certificates.generated(["127.0.0.1"])
        })
        const { ca } = yield* server.certificates
        const boom = yield* post(`${server.url}/validate/boom`, review("1"), ca ?? "")
        assert.strictEqual(boom.status, 200)
        assert.deepStrictEqual(responseOf(boom), {
          uid: "1",
          allowed: false,
          status: { code: 500, message: 'validating handler "boom" failed: kaput' }
        })
        const slow = yield* post(`${server.url}/validate/slow?timeout=1s`, review("2"), ca ?? "")
        assert.deepStrictEqual(responseOf(slow), {
          uid: "2",
          allowed: false,
          status: { code: 500, message: 'validating handler "slow" did not answer within 800ms' }
        })
      }).pipe(Effect.scoped)
  )

  it.live("a stop lets a request in progress finish", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const registry = Registry.make(
        Handler.validate(widgets, { id: "careful" }, () =>
          Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.sleep("300 millis")))
        )
      )
      const scope = yield* Scope.make()
      const server = yield* WebhookServer.make(registry, {
        port: 0,
        host: "127.0.0.1",
        certificates: Certificates.generated(["127.0.0.1"])
      }).pipe(Scope.provide(scope))
      const { ca } = yield* server.certificates
      const request = yield* Effect.forkChild(
        post(`${server.url}/validate/careful`, review("3"), ca ?? "")
      )
      yield* Deferred.await(started)
      yield* Scope.close(scope, Exit.void)
      const answered = yield* Fiber.join(request)
      assert.deepStrictEqual(responseOf(answered), { uid: "3", allowed: true })
      const refused = yield* Effect.exit(
        post(`${server.url}/validate/careful`, review("4"), ca ?? "")
      )
      assert.isTrue(Exit.isFailure(refused))
    })
  )

  it.live("a malformed ConversionReview gets 400 and the server keeps converting", () =>
    Effect.gen(function* () {
      const V1 = Schema.Struct({ n: Schema.String })
      const V2 = Schema.Struct({ n: Schema.Int })
      const numbers = Conversion.make({
        group: "example.com",
        kind: "Number",
        plural: "numbers",
        storage: "v2",
        versions: [
          { name: "v1", spec: V1 },
          { name: "v2", spec: V2 }
        ],
        conversions: [
          Conversion.between(
            "v1",
            "v2",
            V1.pipe(
              Schema.decodeTo(
                V2,
                SchemaTransformation.transform({
                  decode: (v1) => ({ n: Number(v1.n) }),
                  encode: (v2) => ({ n: String(v2.n) })
                })
              )
            )
          )
        ]
      })
      const server = yield* WebhookServer.make(Registry.make(numbers), {
        port: 0,
        host: "127.0.0.1",
        certificates: Certificates.generated(["127.0.0.1"])
      })
      const { ca } = yield* server.certificates
      const url = `${server.url}/convert/numbers.example.com`
      const garbage = yield* postText(url, "{", ca ?? "")
      assert.strictEqual(garbage.status, 400)
      assert.match(garbage.text, /^malformed JSON: /)
      const wrong = yield* postText(url, JSON.stringify({ kind: "ConversionReview" }), ca ?? "")
      assert.strictEqual(wrong.status, 400)
      assert.match(wrong.text, /^not a ConversionReview \(apiextensions.k8s.io\/v1\): /)
      assert.strictEqual(
        (yield* postText(`${server.url}/convert/nothing.example.com`, "{}", ca ?? "")).status,
        404
      )
      const converted = yield* post(
        url,
        {
          apiVersion: "apiextensions.k8s.io/v1",
          kind: "ConversionReview",
          request: {
            uid: "c1",
            desiredAPIVersion: "example.com/v2",
            objects: [
              {
                apiVersion: "example.com/v1",
                kind: "Number",
                metadata: { name: "a" },
                spec: { n: "42" }
              }
            ]
          }
        },
        ca ?? ""
      )
      assert.deepStrictEqual(responseOf(converted), {
        uid: "c1",
        convertedObjects: [
          { apiVersion: "example.com/v2", kind: "Number", metadata: { name: "a" }, spec: { n: 42 } }
        ],
        result: { status: "Success" }
      })
    }).pipe(Effect.scoped)
  )

  it("parses the API server's timeout parameter", () => {
    const millis = (value: string) => {
      const d = WebhookServer.parseTimeout(value)
      return d === undefined ? undefined : Duration.toMillis(d)
    }
    assert.strictEqual(millis("10s"), 10_000)
    assert.strictEqual(millis("1m30s"), 90_000)
    assert.strictEqual(millis("500ms"), 500)
    assert.isUndefined(WebhookServer.parseTimeout("ten"))
    assert.isUndefined(WebhookServer.parseTimeout(null))
  })
})
