/**
 * The kubefx EVC operator (the same registry and settings as `examples/evc/src/main.ts`) with
 * the runtime's settings changed where the benchmark showed kubefx losing against the limit.
 * It is an experiment, not a contender by default (`--only kubefx-tuned`); each change is a
 * setting `Operator.run` already has:
 *
 * - `postEvents: false`: no `Succeeded` / `Processed` Events (2 calls per create and per update;
 *   Kopf 1.45 posts none by default either: its `posting.loggers` is false);
 * - the last-handled record in `status` instead of an annotation, so one status patch carries
 *   the result, the progress and the record (one call instead of two);
 * - `batchWindow: 0`: a new object is processed at once (the 100 ms window is the p50 latency);
 * - `concurrency: 64`, as the limit.
 *
 *   node bench/src/kubefx-tuned.ts --kubeconfig PATH
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Storage } from "@kubefx/core"
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
  postEvents: false,
  batchWindow: 0,
  concurrency: 64,
  storage: Storage.make({ lastHandled: Storage.status({ field: "kubefx.lastHandled" }) })
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
