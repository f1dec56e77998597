/**
 * The EVC operator's process:
 *
 *   node examples/evc/src/main.ts [--kubeconfig PATH] [--context NAME] [--in-cluster]
 *                                 [--namespace NS ...]
 *
 * Without flags it uses `$KUBECONFIG` or `~/.kube/config`; `--namespace` (repeatable) limits it
 * to those namespaces (then it needs only Roles there, no cluster-wide rights). Ctrl-C or
 * SIGTERM stops it gracefully: running handlers finish (up to 10 s) and their results land.
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Kube, Operator } from "@kubefx/runtime"
import { Effect, Layer } from "effect"
import { registry } from "./handlers.ts"
import * as Settings from "./Settings.ts"

const { values: flags } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    context: { type: "string" },
    "in-cluster": { type: "boolean", default: false },
    namespace: { type: "string", multiple: true }
  },
  strict: true
})

const kube = flags["in-cluster"]
  ? Kube.layerInCluster()
  : flags.kubeconfig !== undefined
    ? Kube.layerFromFile(
        flags.kubeconfig,
        flags.context === undefined ? {} : { context: flags.context }
      )
    : Kube.layerDefault()

const operator = Operator.run(registry, {
  reportingComponent: "kubefx-evc",
  fieldManager: "kubefx-evc",
  ...(flags.namespace === undefined ? {} : { namespaces: flags.namespace })
})

NodeRuntime.runMain(
  Effect.logInfo("kubefx-evc: watching EphemeralVolumeClaims").pipe(
    Effect.andThen(operator),
    Effect.provide(Layer.mergeAll(kube, Settings.fromEnv))
  )
)
