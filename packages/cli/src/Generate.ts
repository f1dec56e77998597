/**
 * `kubefx generate crd|rbac|deploy <module>[#export]`: an operator's manifests as YAML, on
 * stdout or in the file `-o` names. `crd` builds the CRDs from the resources' Schemas
 * ({@link Crds}); `rbac` the roles its registry needs (`Rbac.manifests`: Roles in each
 * `--namespace` given by name, else cluster-wide); `deploy` its ServiceAccount and Deployment
 * (`Deployment.manifests`).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import type { KubeObject } from "@kubefx/core"
import { Deployment, Rbac, type Settings } from "@kubefx/runtime"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { stringify } from "yaml"
import * as Crds from "./Crds.ts"
import { Failure } from "./Failure.ts"
import * as Module from "./Module.ts"
import { moduleArgument } from "./Run.ts"

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

const crd = Command.make("crd", { module: moduleArgument, output }, (input) =>
  emit(input.module, input.output, (loaded) =>
    Crds.of(loaded.registry, loaded.exports, loaded.file)
  )
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
        })
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

/**
 * The `generate` command and its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("generate").pipe(
  Command.withDescription("Print an operator's manifests as YAML: crd, rbac or deploy"),
  Command.withSubcommands([crd, rbac, deploy])
)
