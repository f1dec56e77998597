/**
 * `node test/controlplane/src/cli.ts build|start`
 *
 * - `build`: builds (or finds in the cache, or in `$KUBEFX_CONTROLPLANE_BIN`) the control-plane
 *   binaries and prints their paths.
 * - `start`: starts a control plane, prints how to reach it, and keeps it running until Ctrl-C,
 *   when every process is stopped and the data folder removed.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as Binaries from "./Binaries.ts"
import * as ControlPlane from "./ControlPlane.ts"

const build = Effect.gen(function* () {
  const binaries = yield* Binaries.resolve()
  for (const [name, path] of Object.entries(binaries))
    yield* Console.log(`${name}: ${path ?? "(none)"}`)
})

const start = Effect.scoped(
  Effect.gen(function* () {
    const started = Date.now()
    const cluster = yield* ControlPlane.start()
    yield* Console.log(
      [
        `kubefx: control plane ready at ${cluster.server} in ${((Date.now() - started) / 1000).toFixed(1)}s`,
        `  admin kubeconfig:      ${cluster.kubeconfig}`,
        `  restricted kubeconfig: ${cluster.restrictedKubeconfig}`,
        `  logs:                  ${cluster.dataDir}/*.log`,
        `  feature gates:         ${cluster.featureGates.join(", ") || "(none)"}`,
        "Press Ctrl-C to stop it (everything it wrote is removed)."
      ].join("\n")
    )
    return yield* Effect.never
  })
)

const command = process.argv[2]
if (command === "build") NodeRuntime.runMain(build)
else if (command === "start") NodeRuntime.runMain(start)
else {
  console.error("usage: node test/controlplane/src/cli.ts build|start")
  process.exitCode = 2
}
