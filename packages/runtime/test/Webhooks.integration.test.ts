/**
 * Admission webhooks called by the real kube-apiserver over loopback: the operator serves its
 * validating and mutating handlers over HTTPS with a generated CA and keeps their webhook
 * configurations. A denied create shows the handler's message to the client, a mutation is
 * stored, a dry run reaches the handler marked as such, malformed bodies get 400 while the
 * server keeps serving, a handler slower than its timeout is answered for before the API server
 * gives up, plain HTTP is refused, and with the operator stopped `Fail` refuses while `Ignore`
 * admits.
 */
import * as http from "node:http"
import * as https from "node:https"
import { assert, layer } from "@effect/vitest"
import {
  Admission,
  Builtins,
  Crd,
  Filter,
  Handler,
  type KubeObject,
  Registry,
  Resource
} from "@kubefx/core"
import { Effect, Schema } from "effect"
import { Certificates, Kube, Manifests } from "../src/index.ts"
import { ClusterLayer, freshNamespace, withOperator } from "./support.ts"

const group = "webhooks.kubefx.test"
const Spec = Schema.Struct({ size: Schema.Int, colour: Schema.optionalKey(Schema.String) })
const crd = Crd.make({
  group,
  kind: "Gadget",
  plural: "gadgets",
  versions: [{ name: "v1", spec: Spec }]
})
const gadgets = Resource.make({
  group,
  version: "v1",
  plural: "gadgets",
  kind: "Gadget",
  spec: Spec
})

/** The strict and lenient webhooks see only objects labelled with a policy, the others the rest. */
const unlabelled: Record<string, Filter.ValueMatcher> = { policy: Filter.absent }

const seen: Array<{
  readonly name: string
  readonly dryRun: boolean
  readonly user: string | undefined
}> = []

const registry = Registry.make(
  Handler.validate(
    gadgets,
    { id: "size-limit", operations: ["CREATE", "UPDATE"], labels: unlabelled },
    (ctx) =>
      Effect.gen(function* () {
        seen.push({ name: ctx.name, dryRun: ctx.dryRun, user: ctx.userInfo.username })
        if (ctx.spec.size > 10)
          return yield* new Admission.AdmissionError({
            message: `size ${ctx.spec.size} is above 10`,
            code: 422
          })
        if (ctx.spec.size > 5) yield* ctx.warn(`size ${ctx.spec.size} is large`)
      })
  ),
  Handler.mutate(
    gadgets,
    { id: "default-colour", operations: ["CREATE"], labels: unlabelled },
    (ctx) =>
      ctx.spec.colour === undefined ? ctx.patch.merge({ spec: { colour: "blue" } }) : Effect.void
  ),
  Handler.validate(gadgets, { id: "strict", labels: { policy: "strict" } }, () => Effect.void),
  Handler.validate(gadgets, { id: "slow", labels: { policy: "slow" }, timeout: "2 seconds" }, () =>
    Effect.sleep("1 minute")
  ),
  Handler.validate(
    gadgets,
    { id: "lenient", labels: { policy: "lenient" }, ignoreFailure: true },
    () => Effect.void
  )
)

const gadget = (
  namespace: string,
  name: string,
  spec: typeof Spec.Type,
  labels: Record<string, string> = {}
) =>
  ({
    apiVersion: `${group}/v1`,
    kind: "Gadget",
    metadata: { name, namespace, labels },
    spec
  }) as KubeObject.KubeObject

/** POSTs a body to the webhook server (trusting its CA), answering status and text. */
const post = (url: string, body: string, ca: string) =>
  Effect.callback<{ status: number; text: string }, Error>((resume) => {
    const req = https.request(
      url,
      { method: "POST", ca, headers: { "content-type": "application/json" } },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () =>
          resume(
            Effect.succeed({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() })
          )
        )
      }
    )
    req.on("error", (e) => resume(Effect.fail(e)))
    req.end(body)
  })

const webhookSettings = {
  port: 0,
  host: "127.0.0.1",
  certificates: Certificates.generated(["127.0.0.1"]),
  managed: "gadgets.webhooks.kubefx.test"
}

layer(ClusterLayer, { excludeTestServices: true, timeout: "3 minutes" })(
  "admission webhooks",
  (it) => {
    it.effect(
      "the API server calls the operator: denials, mutations, dry runs, bad bodies, a stopped operator",
      () =>
        Effect.gen(function* () {
          const kube = yield* Kube
          yield* Manifests.apply([crd as KubeObject.KubeObject])
          yield* Manifests.awaitEstablished(`gadgets.${group}`)
          const namespace = yield* freshNamespace
          const at = { namespace }
          const op = yield* withOperator(registry, {
            namespaces: [namespace],
            webhooks: webhookSettings
          })
          const url = op.webhookUrl ?? ""
          // The CA the operator put in its configuration is the one that signed its certificate.
          const config = yield* kube.get(
            Builtins.validatingWebhookConfigurations,
            webhookSettings.managed
          )
          const bundle = (
            config.webhooks as ReadonlyArray<{ clientConfig: { caBundle: string } }>
          )[0]
          const ca = Buffer.from(bundle?.clientConfig.caBundle ?? "", "base64").toString()

          // A denied create: the client sees the handler's message and code.
          const denied = yield* kube
            .create(gadgets, gadget(namespace, "big", { size: 11 }), at)
            .pipe(Effect.flip)
          assert.strictEqual((denied as { readonly status?: number }).status, 422)
          assert.include(
            denied.message,
            'admission webhook "size-limit.gadgets.webhooks.kubefx.test" denied the request'
          )
          assert.include(denied.message, "size 11 is above 10")

          // A mutation is stored; the validating handler saw the mutated object and the user.
          const created = yield* kube.create(gadgets, gadget(namespace, "plain", { size: 6 }), at)
          assert.deepStrictEqual(created.spec, { size: 6, colour: "blue" })
          assert.deepStrictEqual((yield* kube.get(gadgets, "plain", at)).spec, {
            size: 6,
            colour: "blue"
          })
          assert.deepInclude(seen, { name: "plain", dryRun: false, user: "kubefx-admin" })

          // A dry run reaches the handler marked as such, and nothing is stored.
          yield* kube.create(gadgets, gadget(namespace, "trial", { size: 1 }), {
            ...at,
            dryRun: true
          })
          assert.deepInclude(seen, { name: "trial", dryRun: true, user: "kubefx-admin" })
          assert.strictEqual(
            (yield* kube.get(gadgets, "trial", at).pipe(Effect.flip))._tag,
            "NotFound"
          )

          // Malformed bodies get 400 with a message; an unknown path 404; the server keeps serving.
          const garbage = yield* post(`${url}/validate/size-limit`, "{not json", ca)
          assert.strictEqual(garbage.status, 400)
          assert.match(garbage.text, /^malformed JSON: /)
          const notReview = yield* post(
            `${url}/validate/size-limit`,
            JSON.stringify({ kind: "Pod" }),
            ca
          )
          assert.strictEqual(notReview.status, 400)
          assert.match(notReview.text, /^not an AdmissionReview/)
          assert.strictEqual((yield* post(`${url}/validate/nobody`, "{}", ca)).status, 404)
          const huge = yield* post(`${url}/validate/size-limit`, "x".repeat(9 * 1024 * 1024), ca)
          assert.strictEqual(huge.status, 413)
          const after = yield* kube.create(
            gadgets,
            gadget(namespace, "after", { size: 2, colour: "red" }),
            at
          )
          assert.deepStrictEqual(after.spec, { size: 2, colour: "red" })

          // A handler slower than its webhook's timeout (2 s) is answered for before the API server
          // gives up: the client sees the handler named, not the API server's timeout.
          const slow = yield* kube
            .create(
              gadgets,
              gadget(namespace, "slow", { size: 1, colour: "red" }, { policy: "slow" }),
              at
            )
            .pipe(Effect.flip)
          assert.include(slow.message, 'validating handler "slow" did not answer within 1s 600ms')

          // Plain HTTP is refused: the TLS server closes the connection.
          const plain = yield* Effect.callback<string>((resume) => {
            const req = http.request(url.replace("https:", "http:"), { method: "POST" }, (res) =>
              resume(Effect.succeed(`answered ${res.statusCode}`))
            )
            req.on("error", (e) =>
              resume(Effect.succeed(`refused: ${(e as NodeJS.ErrnoException).code ?? e.message}`))
            )
            req.end("{}")
          })
          assert.match(plain, /^refused: /)

          // The operator stops; its configurations stay: Fail refuses, Ignore admits.
          yield* op.stop
          const strict = yield* kube
            .create(
              gadgets,
              gadget(namespace, "strict", { size: 1, colour: "red" }, { policy: "strict" }),
              at
            )
            .pipe(Effect.flip)
          assert.include(
            strict.message,
            'failed calling webhook "strict.gadgets.webhooks.kubefx.test"'
          )
          const lenient = yield* kube.create(
            gadgets,
            gadget(namespace, "lenient", { size: 1, colour: "red" }, { policy: "lenient" }),
            at
          )
          assert.strictEqual(lenient.metadata?.name, "lenient")

          // Started again with removeOnStop, a stop removes them: writes pass without webhooks.
          const again = yield* withOperator(registry, {
            namespaces: [namespace],
            webhooks: { ...webhookSettings, removeOnStop: true }
          })
          yield* again.stop
          yield* kube.create(
            gadgets,
            gadget(namespace, "unwatched", { size: 99 }, { policy: "strict" }),
            at
          )
          const left = yield* kube
            .get(Builtins.validatingWebhookConfigurations, webhookSettings.managed)
            .pipe(Effect.flip)
          assert.strictEqual(left._tag, "NotFound")
        })
    )
  }
)
