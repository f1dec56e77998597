/**
 * The `ValidatingWebhookConfiguration` and `MutatingWebhookConfiguration` of a registry's
 * admission handlers (as Kopf's managed configurations), computed without a cluster
 * ({@link manifests}), and kept current by the operator ({@link apply}, {@link remove}).
 *
 * One configuration of each kind, named `options.name`, holds one webhook per handler, named
 * `<id>.<name>` and pointing at the handler's own path on the webhook server
 * (`/validate/<id>`, `/mutate/<id>`), reached through a URL or a Service:
 *
 * - `rules`: the handler's resource (group, version, plural; `plural/<subresource>`, or both
 *   `plural` and `plural/*` for `subresource: "*"`) and operations, any scope;
 * - `failurePolicy`: `Ignore` with `ignoreFailure`, else `Fail`; `sideEffects`: `NoneOnDryRun`
 *   with `sideEffects`, else `None`; `timeoutSeconds`: the handler's `timeout`;
 *   `matchPolicy: Equivalent` (the API server converts other versions of the resource to the
 *   registered one); `admissionReviewVersions: ["v1"]`;
 * - `objectSelector`: the handler's plain label filters (values, `Filter.present`,
 *   `Filter.absent`); predicates are checked by the handler's run;
 * - `caBundle`: the CA that signed the server's certificate, when known.
 *
 * The CRDs of the registry's versioned resources (`Conversion`) get the same client config,
 * pointing at `/convert/<plural>.<group>`, as their conversion webhook ({@link conversion}).
 *
 * @since 0.1.0
 */
import {
  Admission,
  Builtins,
  Conversion,
  Filter,
  type Json,
  type KubeObject,
  type Registry
} from "@kubefx/core"
import { Duration, Effect } from "effect"
import { Base64 } from "effect/encoding"
import * as ApiPatch from "./ApiPatch.ts"
import { Kube } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"

/**
 * How the API server reaches the webhook server: a base URL (`https://host:port`, with an
 * optional path), or a Service in the cluster (its port, default 443, and an optional path).
 *
 * @example
 * ```ts
 * import type { WebhookConfig } from "@kubefx/runtime"
 *
 * const local: WebhookConfig.Client = { _tag: "Url", url: "https://127.0.0.1:9443" }
 * const inCluster: WebhookConfig.Client = { _tag: "Service", namespace: "operators", name: "widgets-webhook", port: 443 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Client =
  | { readonly _tag: "Url"; readonly url: string }
  | {
      readonly _tag: "Service"
      readonly namespace: string
      readonly name: string
      readonly port?: number | undefined
      readonly path?: string | undefined
    }

/**
 * What {@link manifests} needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The configurations' name, also the domain of the webhooks' names; it needs a dot
   * (`widgets.example.com`), as a webhook's name needs three segments. */
  readonly name: string
  readonly client: Client
  /** The PEM of the CA that signed the webhook server's certificate. */
  readonly caBundle?: string | undefined
}

const trimSlash = (s: string) => s.replace(/\/+$/, "")

/**
 * The client config of the webhook at `path` of the server (`/validate/<id>`, `/convert/...`).
 *
 * @example
 * ```ts
 * import { WebhookConfig } from "@kubefx/runtime"
 *
 * WebhookConfig.clientConfig({ name: "w.example.com", client: { _tag: "Url", url: "https://127.0.0.1:9443" } }, "/convert/widgets.example.com")
 * // { url: "https://127.0.0.1:9443/convert/widgets.example.com" }
 * ```
 *
 * @since 0.1.0
 * @category generating
 */
export const clientConfig = (options: Options, path: string): Json.JsonObject => {
  const caBundle =
    options.caBundle === undefined ? {} : { caBundle: Base64.encode(options.caBundle) }
  const { client } = options
  if (client._tag === "Url") return { url: `${trimSlash(client.url)}${path}`, ...caBundle }
  return {
    service: {
      namespace: client.namespace,
      name: client.name,
      port: client.port ?? 443,
      path: `${trimSlash(client.path ?? "")}${path}`
    },
    ...caBundle
  }
}

/** The label filters the API server can apply, as a label selector. */
const objectSelector = (
  labels: Readonly<Record<string, Filter.ValueMatcher>> | undefined
): Json.JsonObject | undefined => {
  const expressions: Array<Json.JsonObject> = []
  for (const [key, matcher] of Object.entries(labels ?? {})) {
    if (matcher === Filter.present) expressions.push({ key, operator: "Exists" })
    else if (matcher === Filter.absent) expressions.push({ key, operator: "DoesNotExist" })
    else if (typeof matcher === "string")
      expressions.push({ key, operator: "In", values: [matcher] })
  }
  return expressions.length === 0 ? undefined : { matchExpressions: expressions }
}

const resourcesOf = (webhook: Admission.Webhook<unknown>): ReadonlyArray<string> => {
  const plural = webhook.resource.plural
  if (webhook.subresource === undefined) return [plural]
  if (webhook.subresource === "*") return [plural, `${plural}/*`]
  return [`${plural}/${webhook.subresource}`]
}

/** One webhook entry of a configuration. */
const entry = (webhook: Admission.Webhook<unknown>, options: Options): Json.JsonObject => {
  const selector = objectSelector(webhook.labels)
  return {
    name: Admission.webhookName(webhook.id, options.name),
    clientConfig: clientConfig(options, `/${webhook.kind}/${encodeURIComponent(webhook.id)}`),
    rules: [
      {
        apiGroups: [webhook.resource.group],
        apiVersions: [webhook.resource.version],
        resources: [...resourcesOf(webhook)],
        operations: [...webhook.operations],
        scope: "*"
      }
    ],
    failurePolicy: webhook.ignoreFailure ? "Ignore" : "Fail",
    sideEffects: webhook.sideEffects ? "NoneOnDryRun" : "None",
    matchPolicy: "Equivalent",
    timeoutSeconds: Math.ceil(Duration.toSeconds(webhook.timeout)),
    admissionReviewVersions: ["v1"],
    ...(selector === undefined ? {} : { objectSelector: selector })
  }
}

/**
 * The configurations of the registry's admission handlers (see the module's documentation):
 * a `ValidatingWebhookConfiguration` when it has validating ones, a
 * `MutatingWebhookConfiguration` when it has mutating ones. Throws an `Error` when `name` has
 * no dot.
 *
 * @example
 * ```ts
 * import { Handler, Registry, Resource } from "@kubefx/core"
 * import { Duration, Effect } from "effect"
 * import { WebhookConfig } from "@kubefx/runtime"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const registry = Registry.make(Handler.validate(widgets, { id: "check" }, () => Effect.void))
 * const [validating] = WebhookConfig.manifests(registry, {
 *   name: "widgets.example.com",
 *   client: { _tag: "Url", url: "https://127.0.0.1:9443" }
 * })
 * // webhooks[0].name: "check.widgets.example.com", clientConfig.url: "https://127.0.0.1:9443/validate/check"
 * ```
 *
 * @since 0.1.0
 * @category generating
 */
export const manifests = (
  registry: Registry.Registry<unknown>,
  options: Options
): ReadonlyArray<KubeObject.KubeObject> => {
  if (!options.name.includes("."))
    throw new Error(
      `kubefx: webhook configuration name ${JSON.stringify(options.name)} needs a dot (e.g. ${options.name}.example.com): the webhooks are named <id>.<name>, and Kubernetes wants three segments`
    )
  const of = (kind: Admission.Kind, resource: typeof Builtins.validatingWebhookConfigurations) => {
    const webhooks = registry.webhooks.filter((w) => w.kind === kind)
    if (webhooks.length === 0) return []
    return [
      {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: resource.kind,
        metadata: { name: options.name, labels: { "app.kubernetes.io/managed-by": "kubefx" } },
        webhooks: webhooks.map((w) => entry(w, options))
      } as KubeObject.KubeObject
    ]
  }
  return [
    ...of("validate", Builtins.validatingWebhookConfigurations),
    ...of("mutate", Builtins.mutatingWebhookConfigurations)
  ]
}

const resourceOf = (object: KubeObject.KubeObject) =>
  object.kind === Builtins.mutatingWebhookConfigurations.kind
    ? Builtins.mutatingWebhookConfigurations
    : Builtins.validatingWebhookConfigurations

/**
 * Server-side applies the configurations (forcing ownership for `fieldManager`): creates them,
 * or brings them up to date (a webhook whose handler is gone is removed).
 *
 * @example
 * ```ts
 * import { Handler, Registry, Resource } from "@kubefx/core"
 * import { Duration, Effect } from "effect"
 * import { Kube, WebhookConfig } from "@kubefx/runtime"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const registry = Registry.make(Handler.validate(widgets, () => Effect.void))
 * const install = WebhookConfig.apply(registry, {
 *   name: "widgets.example.com",
 *   client: { _tag: "Service", namespace: "operators", name: "widgets-webhook" }
 * }).pipe(Effect.provide(Kube.layerDefault()))
 * ```
 *
 * @since 0.1.0
 * @category managing
 */
export const apply = (
  registry: Registry.Registry<unknown>,
  options: Options,
  fieldManager = "kubefx"
): Effect.Effect<void, KubeError.KubeError, Kube> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    for (const object of manifests(registry, options))
      yield* kube.patch(
        resourceOf(object),
        options.name,
        ApiPatch.apply(object, { fieldManager, force: true })
      )
  })

/**
 * The merge patch that makes a CRD call the webhook server for its conversions.
 *
 * @example
 * ```ts
 * import { WebhookConfig } from "@kubefx/runtime"
 *
 * WebhookConfig.conversion({ plural: "widgets", group: "example.com" }, {
 *   name: "widgets.example.com",
 *   client: { _tag: "Url", url: "https://127.0.0.1:9443" }
 * })
 * // { spec: { conversion: { strategy: "Webhook", webhook: { conversionReviewVersions: ["v1"], clientConfig: { url: ".../convert/widgets.example.com" } } } } }
 * ```
 *
 * @since 0.1.0
 * @category generating
 */
export const conversion = (
  versioned: Pick<Conversion.Versioned, "plural" | "group">,
  options: Options
): Json.JsonObject => ({
  spec: {
    conversion: {
      strategy: "Webhook",
      webhook: {
        conversionReviewVersions: ["v1"],
        clientConfig: clientConfig(options, Conversion.path(versioned))
      }
    }
  }
})

/**
 * Points the CRDs of the registry's versioned resources at the webhook server (a merge patch of
 * their `spec.conversion`; the CRDs must exist).
 *
 * @example
 * ```ts
 * import { Registry } from "@kubefx/core"
 * import { Effect } from "effect"
 * import { Kube, WebhookConfig } from "@kubefx/runtime"
 *
 * const program = WebhookConfig.applyConversions(Registry.empty, {
 *   name: "widgets.example.com",
 *   client: { _tag: "Url", url: "https://127.0.0.1:9443" }
 * }).pipe(Effect.provide(Kube.layerDefault()))
 * ```
 *
 * @since 0.1.0
 * @category managing
 */
export const applyConversions = (
  registry: Registry.Registry<unknown>,
  options: Options
): Effect.Effect<void, KubeError.KubeError, Kube> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    for (const versioned of registry.conversions)
      yield* kube.patch(
        Builtins.customResourceDefinitions,
        `${versioned.plural}.${versioned.group}`,
        ApiPatch.merge(conversion(versioned, options))
      )
  })

/**
 * Deletes the configurations of the registry (those already gone are fine).
 *
 * @example
 * ```ts
 * import { Registry } from "@kubefx/core"
 * import { Kube, WebhookConfig } from "@kubefx/runtime"
 * import { Duration, Effect } from "effect"
 *
 * const uninstall = WebhookConfig.remove(Registry.empty, "widgets.example.com").pipe(
 *   Effect.provide(Kube.layerDefault())
 * )
 * ```
 *
 * @since 0.1.0
 * @category managing
 */
export const remove = (
  registry: Registry.Registry<unknown>,
  name: string
): Effect.Effect<void, KubeError.KubeError, Kube> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const kinds = new Set(registry.webhooks.map((w) => w.kind))
    const resources = [
      ...(kinds.has("validate") ? [Builtins.validatingWebhookConfigurations] : []),
      ...(kinds.has("mutate") ? [Builtins.mutatingWebhookConfigurations] : [])
    ]
    for (const resource of resources)
      yield* kube.delete(resource, name).pipe(
        Effect.asVoid,
        Effect.catchIf(
          (e) => e._tag === "NotFound",
          () => Effect.void
        )
      )
  })
