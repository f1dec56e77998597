/**
 * The EVC operator's process:
 *
 *   node examples/evc/src/main.ts [--kubeconfig PATH] [--context NAME] [--in-cluster]
 *                                 [--namespace NS ...] [--health-port PORT]
 *                                 [--log-format plain|json]
 *
 * Without flags it uses `$KUBECONFIG` or `~/.kube/config`; `--namespace` (repeatable) limits it
 * to those namespaces (then it needs only Roles there, no cluster-wide rights). Ctrl-C or
 * SIGTERM stops it gracefully: running handlers finish (up to 10 s) and their results land.
 * `--health-port` serves `/healthz`, `/readyz` and `/metrics` (the image's Deployment probes
 * them on 8080). `kubefx run src/operator.ts` runs the same operator with every flag of the
 * `kubefx` command; this file is what the image runs, with no more than the example needs.
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
    namespace: { type: "string", multiple: true },
    "health-port": { type: "string" },
    "log-format": { type: "string", default: "plain" }
  },
  strict: true
})

const healthPort = flags["health-port"] === undefined ? undefined : Number(flags["health-port"])
if (
  healthPort !== undefined &&
  !(Number.isInteger(healthPort) && healthPort >= 0 && healthPort < 65536)
) {
  console.error(`kubefx-evc: --health-port ${flags["health-port"]} is not a port (0 to 65535)`)
  process.exit(2)
}

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
  logFormat: flags["log-format"] === "json" ? "json" : "plain",
  ...(flags.namespace === undefined ? {} : { namespaces: flags.namespace }),
  ...(healthPort === undefined ? {} : { health: { port: healthPort } })
})

NodeRuntime.runMain(
  Effect.logInfo("kubefx-evc: watching EphemeralVolumeClaims").pipe(
    Effect.andThen(operator),
    Effect.provide(Layer.mergeAll(kube, Settings.fromEnv))
  )
)
