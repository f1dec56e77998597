/**
 * The README's main command (`npm run demo`): the EVC operator against a cluster, end to end.
 *
 * 1. starts the local control plane (or uses `--kubeconfig PATH` / `--context NAME`);
 * 2. installs the generated CRD and a StorageClass that allows expansion;
 * 3. runs the operator, applies the sample EVC (`deploy/evc.yaml`), and shows the PVC it made
 *    and the EVC's status;
 * 4. keeps running until Ctrl-C (then stops gracefully, and removes the local control plane).
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, Json } from "@kubefx/core"
import { Kube, Manifests, Operator } from "@kubefx/runtime"
import { Console, Effect, Fiber, Schedule } from "effect"
import { stringify } from "yaml"
import * as Deploy from "./Deploy.ts"
import { evc } from "./Evc.ts"
import { registry } from "./handlers.ts"
import * as Settings from "./Settings.ts"

const { values: flags } = parseArgs({
  options: { kubeconfig: { type: "string" }, context: { type: "string" } },
  strict: true
})

const pvcs = Builtins.persistentVolumeClaims

const step = (text: string) => Console.log(`\nkubefx demo: ${text}`)

/** The kubeconfig to use: the one the flags name, or a fresh local control plane's. */
const cluster = Effect.gen(function* () {
  if (flags.kubeconfig !== undefined || flags.context !== undefined) {
    return yield* Kube.loadFile(
      flags.kubeconfig ?? process.env.KUBECONFIG ?? `${process.env.HOME}/.kube/config`,
      { context: flags.context }
    )
  }
  yield* step("starting the local control plane (the first run builds it: about 6 minutes)")
  const started = yield* ControlPlane.start()
  yield* Console.log(`  kubeconfig: ${started.kubeconfig}`)
  return yield* Kube.loadFile(started.kubeconfig)
})

const main = Effect.gen(function* () {
  const kube = yield* Kube.make(yield* cluster)
  yield* Effect.gen(function* () {
    yield* step(`installing the CRD and the StorageClass on ${kube.server}`)
    yield* Manifests.apply([...Deploy.read("crd.yaml"), ...Deploy.read("storageclass.yaml")])
    yield* Manifests.awaitEstablished("ephemeralvolumeclaims.kopf.dev")

    yield* step("starting the operator (logs follow)")
    const operator = yield* Operator.start(registry, {
      reportingComponent: "kubefx-evc",
      fieldManager: "kubefx-evc"
    })
    yield* operator.ready

    yield* step("applying deploy/evc.yaml (my-claim, size 1G) in namespace default")
    yield* Manifests.apply(Deploy.read("evc.yaml"), { namespace: "default" })
    const claim = yield* kube.get(evc, "my-claim", { namespace: "default" }).pipe(
      Effect.filterOrFail(
        (o) => Json.get(o, ["status", "create_fn"]) !== undefined,
        () => "not handled yet"
      ),
      Effect.retry({ schedule: Schedule.spaced("250 millis"), times: 120 })
    )
    const pvc = yield* kube.get(pvcs, "my-claim", { namespace: "default" })
    yield* step("the PVC the operator made:")
    yield* Console.log(
      stringify({
        name: pvc.metadata?.name,
        storage: Json.get(pvc, ["spec", "resources", "requests", "storage"]),
        storageClassName: Json.get(pvc, ["spec", "storageClassName"]),
        ownerReferences: Json.get(pvc, ["metadata", "ownerReferences"])
      })
    )
    yield* step("the EVC's status:")
    yield* Console.log(stringify(claim.status))
    yield* step(
      'running; change the size with `kubectl patch evc my-claim --type merge -p \'{"spec":{"size":"2G"}}\'` (the PVC resizes once bound); Ctrl-C stops'
    )
    return yield* Fiber.join(operator.fiber)
  }).pipe(Effect.provideService(Kube, kube), Effect.provide(Settings.fromEnv))
})

NodeRuntime.runMain(Effect.scoped(main))
