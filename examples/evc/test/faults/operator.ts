/**
 * The operator under test, as its own process: the EVC example's registry through
 * `Operator.run`, with the kubeconfig given (the fault proxy's, in the suite) and the runtime
 * settings given as JSON:
 *
 *   KUBEFX_SETTINGS='{"watcher":{"idleTimeout":"15 seconds"}}' node test/faults/src/operator.ts --kubeconfig PATH
 *
 * With `KUBEFX_EVC_DAEMON=1` each EVC also has a daemon (`watch`) that runs until stopped.
 *
 * SIGTERM (or Ctrl-C) stops it gracefully and it exits with code 0 (an interruption by a signal
 * is the normal end of an operator); any other end is a failure with a non-zero code. It stops
 * by itself when the process that started it goes away, so a killed test run leaves no
 * operator behind.
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Handler, Registry } from "@kubefx/core"
import { Kube, Operator, type Settings as RuntimeSettings } from "@kubefx/runtime"
import { Cause, Duration, Effect, Exit, Layer, Runtime } from "effect"
import { evc } from "../../src/Evc.ts"
import { registry } from "../../src/handlers.ts"
import * as Settings from "../../src/Settings.ts"

const { values: flags } = parseArgs({
  options: { kubeconfig: { type: "string" } },
  strict: true
})
if (flags.kubeconfig === undefined) {
  console.error("operator.ts: --kubeconfig PATH is required")
  process.exit(2)
}

const settings: RuntimeSettings.Input = JSON.parse(process.env.KUBEFX_SETTINGS ?? "{}")

const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGTERM")
}, 1_000).unref()

// The replicas suite watches objects move by their daemons: a daemon per EVC that runs until
// it is stopped (interrupted at once: it holds no finalizer).
const handlers =
  process.env.KUBEFX_EVC_DAEMON === "1"
    ? Registry.add(
        registry,
        Handler.daemon(evc, { id: "watch", cancellationTimeout: 0 }, (ctx) => ctx.stopped)
      )
    : registry

const operator = Operator.run(handlers, {
  reportingComponent: "kubefx-evc",
  fieldManager: "kubefx-evc",
  ...settings
})

/** Interrupted (by SIGTERM): exit 0; otherwise as Effect's default (failure: 1). */
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
    ? onExit(0)
    : Runtime.defaultTeardown(exit, onExit)

NodeRuntime.runMain(
  Effect.logInfo(`kubefx-faults operator: settings ${JSON.stringify(settings)}`).pipe(
    Effect.andThen(operator),
    Effect.provide(
      Layer.mergeAll(
        Kube.layerFromFile(flags.kubeconfig),
        Settings.layer({ storageClass: "kubefx-expandable", resizeRetry: Duration.seconds(1) })
      )
    )
  ),
  { teardown }
)
