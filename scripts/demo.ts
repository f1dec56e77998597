/**
 * The README's main command (`npm run demo`): starts the local control plane (or uses an
 * existing cluster given by `--kubeconfig PATH` and/or `--context NAME`), prints the cluster's
 * version and namespaces, and keeps running until Ctrl-C.
 *
 * The EVC example operator takes this place once it exists (see the README).
 */
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { ControlPlane } from "@kubefx/controlplane"
import { CoreV1Api, KubeConfig, VersionApi } from "@kubernetes/client-node"
import { Console, Effect } from "effect"

const { values: flags } = parseArgs({
  options: { kubeconfig: { type: "string" }, context: { type: "string" } },
  strict: true
})

/** The cluster to use: the one the flags name, or a fresh local control plane. */
const cluster = Effect.gen(function* () {
  if (flags.kubeconfig === undefined && flags.context === undefined) {
    yield* Console.log("kubefx: starting the local control plane (Ctrl-C stops it)...")
    const started = yield* ControlPlane.start()
    yield* Console.log(`kubefx: control plane ready; kubeconfig: ${started.kubeconfig}`)
    return started.kubeconfig
  }
  return flags.kubeconfig
})

const main = Effect.scoped(
  Effect.gen(function* () {
    const kubeconfigPath = yield* cluster
    const kc = new KubeConfig()
    if (kubeconfigPath === undefined) kc.loadFromDefault()
    else kc.loadFromFile(kubeconfigPath)
    if (flags.context !== undefined) kc.setCurrentContext(flags.context)
    const version = yield* Effect.tryPromise(() => kc.makeApiClient(VersionApi).getCode())
    const namespaces = yield* Effect.tryPromise(() => kc.makeApiClient(CoreV1Api).listNamespace())
    yield* Console.log(`Kubernetes ${version.gitVersion} at ${kc.getCurrentCluster()?.server}`)
    yield* Console.log(`namespaces: ${namespaces.items.map((ns) => ns.metadata?.name).join(", ")}`)
    yield* Console.log("kubefx: running; press Ctrl-C to stop.")
    return yield* Effect.never
  })
)

NodeRuntime.runMain(main)
