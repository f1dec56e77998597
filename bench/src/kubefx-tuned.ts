/**
 * The kubefx EVC operator (the same registry as `examples/evc/src/main.ts`) with runtime
 * settings given as JSON in `KUBEFX_SETTINGS` (e.g. `{"concurrency":128,"batchWindow":0}`):
 * a harness for trying a setting side by side with the defaults before changing them. It is
 * not a contender by default (`--only ...,kubefx-tuned`). What earlier runs found this way is
 * now the default: only Warning Events posted, the last-handled record in status, no batch
 * window before an idle object's first run, concurrency 64.
 *
 *   KUBEFX_SETTINGS='{"concurrency":128}' node bench/src/kubefx-tuned.ts --kubeconfig PATH
 *
 * `KUBEFX_LOG_LEVEL=Debug` shows every step (what the process does when it should be idle).
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Handler, Registry } from "@kubefx/core"
import { Evc, Handlers, Settings } from "@kubefx/example-evc"
import { Kube, Operator, type Settings as RuntimeSettings } from "@kubefx/runtime"
import { Effect, Layer, type LogLevel, References } from "effect"

const { values: flags } = parseArgs({
  options: { kubeconfig: { type: "string" } },
  strict: true
})

const tuned: RuntimeSettings.Input = JSON.parse(process.env.KUBEFX_SETTINGS ?? "{}")
const logLevel = (process.env.KUBEFX_LOG_LEVEL ?? "Info") as LogLevel.LogLevel
console.log(`kubefx-tuned: settings ${JSON.stringify(tuned)}`)

// BENCH_SPAWNED=1: per EVC, also a daemon that sleeps until it is stopped and a timer every
// 60 s that does nothing (Kopf's bench operator adds the same).
const registry =
  process.env.BENCH_SPAWNED === "1"
    ? Handlers.registry.pipe(
        Registry.add(Handler.daemon(Evc.evc, { id: "sleeper" }, (ctx) => ctx.stopped)),
        Registry.add(
          Handler.timer(Evc.evc, { id: "tick", interval: "60 seconds" }, () => Effect.void)
        )
      )
    : Handlers.registry

const operator = Operator.run(registry, {
  reportingComponent: "kubefx-evc",
  fieldManager: "kubefx-evc",
  ...tuned
})

NodeRuntime.runMain(
  operator.pipe(
    Effect.provideService(References.MinimumLogLevel, logLevel),
    Effect.provide(
      Layer.mergeAll(
        flags.kubeconfig === undefined ? Kube.layerDefault() : Kube.layerFromFile(flags.kubeconfig),
        Settings.fromEnv
      )
    )
  )
)
