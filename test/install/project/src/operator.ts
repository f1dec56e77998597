// A user's first operator: it greets every ConfigMap created in $NAMESPACE with an annotation
// naming the Node version it runs on. Built with tsc and run with plain node.
import { Builtins, Handler, Registry } from "@kubefx/core"
import { Kube, Operator } from "@kubefx/runtime"
import { Effect } from "effect"

const namespace = process.env.NAMESPACE ?? "default"

const registry = Registry.make(
  Handler.onCreate(Builtins.configMaps, { id: "greet" }, (ctx) =>
    Effect.gen(function* () {
      yield* ctx.patch.annotations({ "example.com/greeted-by": `node ${process.versions.node}` })
      yield* ctx.logger.info(`greeted ${ctx.name}`)
    })
  )
)

Effect.runFork(
  Operator.run(registry, { namespaces: [namespace] }).pipe(Effect.provide(Kube.layerDefault()))
)
