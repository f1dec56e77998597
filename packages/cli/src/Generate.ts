/**
 * `kubefx generate crd|rbac|deploy|webhooks <module>[#export]`: an operator's manifests as YAML, on
 * stdout or in the file `-o` names. `crd` builds the CRDs from the resources' Schemas
 * ({@link Crds}); `rbac` the roles its registry needs (`Rbac.manifests`: Roles in each
 * `--namespace` given by name, else cluster-wide); `deploy` its ServiceAccount and Deployment
 * (`Deployment.manifests`); `webhooks` the configurations of its admission handlers
 * (`WebhookConfig.manifests`).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import type { KubeObject } from "@kubefx/core"
import { Deployment, Rbac, type Settings, WebhookConfig } from "@kubefx/runtime"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { stringify } from "yaml"
import * as Crds from "./Crds.ts"
import { Failure } from "./Failure.ts"
import * as Module from "./Module.ts"
import { moduleArgument, optionalString, serviceClient } from "./Run.ts"

/**
 * Manifests as one YAML stream (`---` between documents).
 *
 * @example
 * ```ts
 * import { Generate } from "kubefx"
 *
 * Generate.yaml([{ apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } }])
 * ```
 *
 * @since 0.1.0
 * @category output
 */
export const yaml = (objects: ReadonlyArray<KubeObject.KubeObject>): string =>
  objects.map((object) => stringify(object)).join("---\n")

const output = Flag.String("output").pipe(
  Flag.withAlias("o"),
  Flag.withDescription("Write to this file instead of stdout"),
  Flag.optional
)

const name = Flag.String("name").pipe(
  Flag.withDescription(
    "The name of the ServiceAccount, roles and Deployment (default kubefx-operator)"
  ),
  Flag.withDefault("kubefx-operator")
)

const leaderElect = Flag.Boolean("leader-elect").pipe(
  Flag.withDescription(
    "The operator runs with kubefx run --leader-elect (several replicas, one handles)"
  ),
  Flag.withDefault(false)
)

const sharded = Flag.Boolean("sharded").pipe(
  Flag.withDescription(
    "The operator runs with kubefx run --sharded (several replicas, each a share)"
  ),
  Flag.withDefault(false)
)

const leaseNamespace = Flag.String("lease-namespace").pipe(
  Flag.withDescription(
    "Where the operator's Leases live, as kubefx run --lease-namespace (default: --operator-namespace)"
  ),
  Flag.optional
)

const operatorNamespace = Flag.String("operator-namespace").pipe(
  Flag.withDescription(
    "The namespace of the ServiceAccount and Deployment (default kubefx-system)"
  ),
  Flag.withDefault("kubefx-system")
)

/** The client config of `--url` or `--service` (one of them, or none when not `required`). */
const clientOf = (
  url: Option.Option<string>,
  service: Option.Option<string>,
  flags: { readonly url: string; readonly service: string; readonly required: boolean }
): Effect.Effect<WebhookConfig.Client | undefined, Failure> => {
  const either = `give one of ${flags.url} and ${flags.service}`
  if (Option.isSome(url) && Option.isSome(service))
    return Effect.fail(new Failure({ message: `${either}, not both` }))
  if (Option.isSome(url)) return Effect.succeed({ _tag: "Url", url: url.value })
  if (Option.isSome(service)) return serviceClient(flags.service, service.value)
  return flags.required ? Effect.fail(new Failure({ message: either })) : Effect.succeed(undefined)
}

/** The PEM of `--ca-file`, if given. */
const readCa = (file: Option.Option<string>): Effect.Effect<string | undefined, Failure> =>
  Option.match(file, {
    onNone: () => Effect.succeed(undefined),
    onSome: (path) =>
      Effect.try({
        try: () => fs.readFileSync(path, "utf8"),
        catch: (cause) =>
          new Failure({ message: `cannot read ${path}: ${(cause as Error).message}` })
      })
  })

/** The Deployment's webhook server, of `--webhook-port` and `--webhook-secret` (both or none). */
const webhookOf = (port: Option.Option<number>, secret: Option.Option<string>) => {
  if (Option.isSome(port) !== Option.isSome(secret))
    throw new Failure({
      message: "--webhook-port and --webhook-secret go together (the server needs its certificate)"
    })
  return Option.isSome(port) && Option.isSome(secret)
    ? { webhook: { port: port.value, secret: secret.value } }
    : {}
}

/** Loads the module, computes its manifests and writes them. */
const emit = (
  specifier: string,
  target: Option.Option<string>,
  manifests: (loaded: Module.Loaded) => ReadonlyArray<KubeObject.KubeObject>
): Effect.Effect<void, Failure> =>
  Effect.gen(function* () {
    const loaded = yield* Module.load(specifier)
    const text = yield* Effect.try({
      try: () => yaml(manifests(loaded)),
      catch: (cause) =>
        cause instanceof Failure
          ? cause
          : (cause as { _tag?: unknown })._tag === "TooManyReplicas"
            ? new Failure({ message: String((cause as Error).message).replace(/^kubefx: /, "") })
            : new Failure({
                message: `cannot generate from ${specifier}: ${String((cause as Error).message ?? cause)}`
              })
    })
    if (Option.isNone(target)) return yield* Console.log(text.trimEnd())
    yield* Effect.try({
      try: () => fs.writeFileSync(target.value, text),
      catch: (cause) =>
        new Failure({ message: `cannot write ${target.value}: ${(cause as Error).message}` })
    })
  })

const crd = Command.make(
  "crd",
  {
    module: moduleArgument,
    output,
    webhookUrl: optionalString(
      "webhook-url",
      "The webhook server's URL, for the conversion webhook of versioned resources (Conversion.make)"
    ),
    webhookService: optionalString(
      "webhook-service",
      "The Service in front of the webhook server, NAMESPACE/NAME[:PORT], for the conversion webhook"
    ),
    caFile: optionalString(
      "ca-file",
      "The PEM of the CA of the webhook server, for the conversion's caBundle"
    )
  },
  (input) =>
    Effect.gen(function* () {
      const client = yield* clientOf(input.webhookUrl, input.webhookService, {
        url: "--webhook-url",
        service: "--webhook-service",
        required: false
      })
      const caBundle = yield* readCa(input.caFile)
      yield* emit(input.module, input.output, (loaded) =>
        Crds.of(
          loaded.registry,
          loaded.exports,
          loaded.file,
          client === undefined
            ? undefined
            : (path) =>
                WebhookConfig.clientConfig(
                  { name: "conversion", client, ...(caBundle === undefined ? {} : { caBundle }) },
                  path
                )
        )
      )
    })
).pipe(
  Command.withDescription(
    "The CRDs of the custom resources the handlers serve, from their Schemas (a CRD the module exports replaces the derived one)"
  ),
  Command.withExamples([
    {
      command: "kubefx generate crd src/operator.ts | kubectl apply -f -",
      description: "Install the CRDs"
    }
  ])
)

const rbac = Command.make(
  "rbac",
  {
    module: moduleArgument,
    output,
    name,
    operatorNamespace,
    namespace: Flag.String("namespace").pipe(
      Flag.withAlias("n"),
      Flag.withDescription(
        "A namespace the operator serves, as kubefx run -n takes it (repeatable); names give Roles there, none a ClusterRole"
      ),
      Flag.atLeast(0)
    ),
    postEvents: Flag.Literals("post-events", ["all", "warnings", "none"]).pipe(
      Flag.withDescription("As kubefx run --post-events (none needs no Events rule)"),
      Flag.withDefault("warnings" as Settings.PostEvents)
    ),
    manageWebhooks: Flag.Boolean("manage-webhooks").pipe(
      Flag.withDescription(
        "The operator keeps its webhook configurations (kubefx run --webhook-managed): grant it their rights"
      ),
      Flag.withDefault(false)
    ),
    leaderElect,
    sharded,
    leaseNamespace
  },
  (input) =>
    emit(input.module, input.output, (loaded) =>
      Rbac.manifests(loaded.registry, {
        name: input.name,
        namespace: input.operatorNamespace,
        postEvents: input.postEvents,
        manageWebhooks: input.manageWebhooks,
        ...(input.namespace.length === 0 ? {} : { namespaces: input.namespace }),
        ...(input.leaderElect
          ? {
              leaderElection: {
                namespace: Option.getOrElse(input.leaseNamespace, () => input.operatorNamespace)
              }
            }
          : {}),
        ...(input.sharded
          ? {
              sharding: {
                namespace: Option.getOrElse(input.leaseNamespace, () => input.operatorNamespace)
              }
            }
          : {})
      })
    )
).pipe(
  Command.withDescription(
    "The roles the operator needs, computed from its registry (served resources, Events, the resources the handlers declare with Registry.uses)"
  ),
  Command.withExamples([
    {
      command: "kubefx generate rbac src/operator.ts -n team-a -n team-b",
      description: "Roles in team-a and team-b only"
    }
  ])
)

const deploy = Command.make(
  "deploy",
  {
    module: moduleArgument,
    output,
    name,
    operatorNamespace,
    image: Flag.String("image").pipe(Flag.withDescription("The operator's image")),
    arg: Flag.String("arg").pipe(
      Flag.withDescription(
        "An argument of the container (repeatable; default: the image's command)"
      ),
      Flag.atLeast(0)
    ),
    env: Flag.KeyValuePair("env").pipe(
      Flag.withDescription("An environment variable of the container, KEY=VALUE (repeatable)"),
      Flag.optional
    ),
    healthPort: Flag.Int("health-port").pipe(
      Flag.withDescription("The port of the operator's /healthz and /readyz: exposed and probed"),
      Flag.optional
    ),
    webhookPort: Flag.Int("webhook-port").pipe(
      Flag.withDescription(
        "The webhook server's port: exposed, with a Service <name>-webhook (port 443) in front"
      ),
      Flag.optional
    ),
    webhookSecret: optionalString(
      "webhook-secret",
      "The kubernetes.io/tls Secret (e.g. cert-manager's) mounted at /etc/kubefx/webhook for --webhook-cert-dir"
    ),
    replicas: Flag.Int("replicas").pipe(
      Flag.withDescription("How many pods (default 1; more needs --leader-elect or --sharded)"),
      Flag.withDefault(1)
    ),
    leaderElect,
    sharded
  },
  (input) =>
    emit(input.module, input.output, (loaded) =>
      Deployment.manifests(loaded.registry, {
        name: input.name,
        namespace: input.operatorNamespace,
        image: input.image,
        replicas: input.replicas,
        leaderElection: input.leaderElect,
        sharding: input.sharded,
        ...(input.arg.length === 0 ? {} : { args: input.arg }),
        ...Option.match(input.env, { onNone: () => ({}), onSome: (env) => ({ env }) }),
        ...Option.match(input.healthPort, {
          onNone: () => ({}),
          onSome: (healthPort) => ({ healthPort })
        }),
        ...webhookOf(input.webhookPort, input.webhookSecret)
      })
    )
).pipe(
  Command.withDescription("The operator's ServiceAccount and Deployment"),
  Command.withExamples([
    {
      command: "kubefx generate deploy src/operator.ts --image registry.example.com/op:1.0.0",
      description: "The Deployment of that image"
    },
    {
      command:
        "kubefx generate deploy src/operator.ts --image registry.example.com/op:1.0.0 --replicas 2 --leader-elect --arg run --arg src/operator.ts --arg --leader-elect --arg --in-cluster",
      description: "Two pods, one leading"
    }
  ])
)

const webhooks = Command.make(
  "webhooks",
  {
    module: moduleArgument,
    output,
    configName: Flag.String("config-name").pipe(
      Flag.withDescription(
        "The configurations' name, with a dot (widgets.example.com); the webhooks are <id>.<name>"
      )
    ),
    url: optionalString("url", "The URL the API server calls the webhook server at"),
    service: optionalString(
      "service",
      "The Service in front of the webhook server, NAMESPACE/NAME[:PORT]"
    ),
    caFile: optionalString(
      "ca-file",
      "The PEM of the CA that signed the server's certificate, for caBundle (leave it out when cert-manager's CA injector fills it in)"
    ),
    injectCaFrom: optionalString(
      "inject-ca-from",
      "cert-manager's Certificate NAMESPACE/NAME whose CA its injector puts in caBundle (the cert-manager.io/inject-ca-from annotation)"
    )
  },
  (input) =>
    Effect.gen(function* () {
      const client = yield* clientOf(input.url, input.service, {
        url: "--url",
        service: "--service",
        required: true
      })
      if (client === undefined) return
      const caBundle = yield* readCa(input.caFile)
      yield* emit(input.module, input.output, (loaded) =>
        WebhookConfig.manifests(loaded.registry, {
          name: input.configName,
          client,
          ...(caBundle === undefined ? {} : { caBundle })
        }).map((object) =>
          Option.isNone(input.injectCaFrom)
            ? object
            : {
                ...object,
                metadata: {
                  ...object.metadata,
                  annotations: { "cert-manager.io/inject-ca-from": input.injectCaFrom.value }
                }
              }
        )
      )
    })
).pipe(
  Command.withDescription(
    "The Validating- and MutatingWebhookConfigurations of the admission handlers, for installing them yourself (kubefx run --webhook-managed keeps them instead)"
  ),
  Command.withExamples([
    {
      command:
        "kubefx generate webhooks src/operator.ts --config-name widgets.example.com --service operators/widgets-webhook --inject-ca-from operators/widgets-webhook",
      description: "Configurations whose caBundle cert-manager fills in"
    }
  ])
)

/**
 * The `generate` command and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("generate").pipe(
  Command.withDescription("Print an operator's manifests as YAML: crd, rbac, deploy or webhooks"),
  Command.withSubcommands([crd, rbac, deploy, webhooks])
)
