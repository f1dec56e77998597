/**
 * The kubefx EVC operator (the same registry and settings as `examples/evc/src/main.ts`) with
 * the runtime's settings changed where the benchmark may show kubefx losing against the limit.
 * It is an experiment, not a contender by default (`--only kubefx-tuned`). What the first
 * benchmark found this way is now the default (only Warning Events posted, the last-handled
 * record in status, no batch window for an idle object's first event); what is left:
 *
 * - `concurrency: 64`, as the limit (the default is 16).
 *
 *   node bench/src/kubefx-tuned.ts --kubeconfig PATH
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Handlers, Settings } from "@kubefx/example-evc"
import { Kube, Operator } from "@kubefx/runtime"
import { Effect, Layer } from "effect"

const { values: flags } = parseArgs({
  options: { kubeconfig: { type: "string" } },
  strict: true
})

const operator = Operator.run(Handlers.registry, {
  reportingComponent: "kubefx-evc",
  fieldManager: "kubefx-evc",
  concurrency: 64
})

NodeRuntime.runMain(
  operator.pipe(
    Effect.provide(
      Layer.mergeAll(
        flags.kubeconfig === undefined ? Kube.layerDefault() : Kube.layerFromFile(flags.kubeconfig),
        Settings.fromEnv
      )
    )
  )
)
