/**
 * Waiting for kube-controller-manager's garbage collector to know EVCs, for the integration
 * tests that delete an EVC and expect its PVC to go.
 */
import { Builtins } from "@kubefx/core"
import type { KubeService } from "@kubefx/runtime"
import { Effect, Schedule } from "effect"
import { evc } from "../src/Evc.ts"

/**
 * kube-controller-manager's garbage collector discovers new resources every 30 seconds, and
 * until it watches EVCs it does not notice an EVC's deletion (a fact of real clusters too). So
 * wait until it collects a probe: an EVC owning a ConfigMap, deleted; a new probe each round.
 */
export const awaitGarbageCollectorKnowsEvcs = (admin: KubeService) =>
  Effect.gen(function* () {
    const configMaps = Builtins.configMaps
    const prefix = `gc-probe-${Date.now().toString(36)}`
    for (let round = 0; round < 12; round++) {
      const name = `${prefix}-${round}`
      const owner = yield* admin.create(evc, {
        apiVersion: "kopf.dev/v1",
        kind: evc.kind,
        metadata: { name, namespace: "default" },
        spec: {}
      })
      yield* admin.create(configMaps, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name,
          namespace: "default",
          ownerReferences: [
            { apiVersion: "kopf.dev/v1", kind: evc.kind, name, uid: owner.metadata?.uid ?? "" }
          ]
        }
      })
      yield* admin.delete(evc, name, { namespace: "default" })
      const collected = yield* admin.get(configMaps, name, { namespace: "default" }).pipe(
        Effect.flatMap(() => Effect.fail("still there")),
        Effect.retry({ schedule: Schedule.spaced("250 millis"), times: 20 }),
        Effect.catchTag("NotFound", () => Effect.succeed(true)),
        Effect.orElseSucceed(() => false)
      )
      if (collected) return
    }
    return yield* Effect.die("the garbage collector never collected an EVC's dependent")
  })
