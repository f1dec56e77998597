/**
 * The operator's webhooks while it runs: its webhook server (`WebhookServer`) and, when
 * `Settings.webhooks.managed` names them, its webhook configurations (`WebhookConfig`), applied
 * once the server listens, applied again when the certificates change, and deleted on stop with
 * `removeOnStop`. A registry with admission handlers and no webhook settings cannot start.
 *
 * @since 0.1.0
 */
import type { Registry } from "@kubefx/core"
import { Effect } from "effect"
import type * as Scope from "effect/Scope"
import type * as Certificates from "./Certificates.ts"
import type { Kube } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"
import type * as Settings from "./Settings.ts"
import * as WebhookConfig from "./WebhookConfig.ts"
import * as WebhookServer from "./WebhookServer.ts"

/**
 * Why the webhooks could not start.
 *
 * @since 0.1.0
 * @category models
 */
export type StartError =
  | WebhookServer.WebhookServerError
  | Certificates.CertificateError
  | KubeError.KubeError

const names = (registry: Registry.Registry<unknown>) =>
  [
    ...registry.webhooks.map((w) => `${w.kind} ${w.id}`),
    ...registry.conversions.map((c) => `convert ${c.plural}.${c.group}`)
  ].join(", ")

/**
 * Starts the webhooks of the settings in the current scope; answers the server's URL (none
 * without webhook settings).
 *
 * @example
 * ```ts
 * import { Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Certificates, Settings, Webhooks } from "@kubefx/runtime"
 *
 * const settings = Settings.make({
 *   webhooks: { port: 0, host: "127.0.0.1", certificates: Certificates.generated(["127.0.0.1"]) }
 * })
 * const url = Webhooks.start(Registry.empty, settings)
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const start = <R>(
  registry: Registry.Registry<R>,
  settings: Settings.Settings
): Effect.Effect<string | undefined, StartError, R | Kube | Scope.Scope> =>
  Effect.gen(function* () {
    const webhooks = settings.webhooks
    if (webhooks === undefined) {
      if (registry.webhooks.length === 0 && registry.conversions.length === 0) return undefined
      return yield* new WebhookServer.WebhookServerError({
        message: `the registry has admission handlers or conversions (${names(registry)}) but no webhook server: set the operator's \`webhooks\` setting (kubefx run: --webhook-port with --webhook-cert-dir or --webhook-generate-cert)`
      })
    }
    const managed = webhooks.managed
    const context = yield* Effect.context<Kube>()
    let configure = (_: Certificates.Material): Effect.Effect<void, KubeError.KubeError, Kube> =>
      Effect.void
    const server = yield* WebhookServer.make(registry, webhooks, (material) =>
      configure(material).pipe(
        Effect.catch((e) =>
          Effect.logWarning(`webhook configurations not updated with the new CA: ${e.message}`)
        ),
        Effect.provide(context)
      )
    )
    yield* Effect.logInfo(`webhook server listening on ${server.url}`)
    if (managed === undefined) return server.url
    const client = webhooks.client ?? { _tag: "Url", url: server.url }
    configure = (material) => {
      const options = { name: managed, client, caBundle: material.ca }
      return Effect.andThen(
        WebhookConfig.apply(registry, options, settings.fieldManager),
        WebhookConfig.applyConversions(registry, options)
      )
    }
    yield* configure(yield* server.certificates)
    yield* Effect.logInfo(`webhook configurations ${managed} applied`)
    if (webhooks.removeOnStop === true)
      yield* Effect.addFinalizer(() =>
        WebhookConfig.remove(registry, managed).pipe(
          Effect.andThen(Effect.logInfo(`webhook configurations ${managed} removed`)),
          Effect.catch((e) =>
            Effect.logWarning(`webhook configurations ${managed} not removed: ${e.message}`)
          ),
          Effect.provide(context)
        )
      )
    return server.url
  })
