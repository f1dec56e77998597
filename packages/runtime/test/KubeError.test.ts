/**
 * API answers that retrying cannot fix (422 Invalid, 400 BadRequest and other 4xx) declare
 * themselves permanent to the core, which fails a handler for good with what the API refused.
 */
import { assert, describe, it } from "@effect/vitest"
import { Handler, Json, Outcome, Reconcile, Registry, Resource } from "@kubefx/core"
import { Effect } from "effect"
import { KubeError } from "../src/index.ts"

const post = { method: "POST", path: "/api/v1/namespaces/ns/persistentvolumeclaims" }

const answer = (code: number, reason: string, message: string, details?: unknown) =>
  KubeError.fromResponse(
    post,
    code,
    undefined,
    JSON.stringify({ kind: "Status", code, reason, message, details }),
    0
  )

const invalid = answer(
  422,
  "Invalid",
  'PersistentVolumeClaim "x" is invalid: spec.resources.requests.storage: Required value',
  { causes: [{ reason: "FieldValueRequired", field: "spec.resources.requests.storage" }] }
)

describe("KubeError and the core's permanent failures", () => {
  it("422 and 400 declare themselves permanent, with what the API refused and the request", () => {
    assert.strictEqual(invalid._tag, "Invalid")
    assert.isTrue(Outcome.isPermanent(invalid))
    assert.strictEqual(
      Outcome.isPermanent(invalid) ? invalid[Outcome.permanent] : undefined,
      'PersistentVolumeClaim "x" is invalid: spec.resources.requests.storage: Required value (422 Invalid, POST /api/v1/namespaces/ns/persistentvolumeclaims)'
    )
    const bad = answer(400, "BadRequest", "the body of the request was in an unknown format")
    assert.strictEqual(bad._tag, "BadRequest")
    assert.strictEqual(
      Outcome.isPermanent(bad) ? bad[Outcome.permanent] : undefined,
      "the body of the request was in an unknown format (400 BadRequest, POST /api/v1/namespaces/ns/persistentvolumeclaims)"
    )
    const notAStatus = KubeError.fromResponse(post, 415, undefined, "", 0)
    assert.strictEqual(
      Outcome.isPermanent(notAStatus) ? notAStatus[Outcome.permanent] : undefined,
      "the API server refused the request (415, POST /api/v1/namespaces/ns/persistentvolumeclaims)"
    )
  })

  it("answers that may succeed later are not permanent", () => {
    for (const [code, reason] of [
      [401, "Unauthorized"],
      [403, "Forbidden"],
      [404, "NotFound"],
      [409, "Conflict"],
      [409, "AlreadyExists"],
      [429, "TooManyRequests"],
      [500, "InternalError"]
    ] as const)
      assert.isFalse(Outcome.isPermanent(answer(code, reason, "x")), `${code} ${reason}`)
  })

  it.effect("a handler failing with a 422 fails for good, with the API's message", () =>
    Effect.gen(function* () {
      const claims = Resource.make({
        group: "example.com",
        version: "v1",
        plural: "claims",
        kind: "Claim"
      })
      const registry = Registry.make(
        Handler.onCreate(claims, { id: "create_fn" }, () => Effect.fail(invalid))
      )
      const d = yield* Reconcile.reconcile(registry, {
        resource: claims,
        body: { metadata: { name: "c", namespace: "ns", uid: "u" }, spec: {} },
        now: 0
      })
      const message =
        'PersistentVolumeClaim "x" is invalid: spec.resources.requests.storage: Required value (422 Invalid, POST /api/v1/namespaces/ns/persistentvolumeclaims)'
      assert.strictEqual(Json.get(d.patch, "status.kubefx.errors.create_fn"), message)
      assert.deepInclude(d.events, {
        type: "Warning",
        reason: "Failed",
        message: `Handler 'create_fn' failed permanently: ${message}`
      })
      assert.isTrue(d.done)
    })
  )
})
