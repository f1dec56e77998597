/**
 * The Mirror operator: a `Mirror` names a source ConfigMap and the ConfigMaps to keep as its
 * copies, in its namespace. It shows the four long-lived parts of kubefx working together:
 *
 * - **sub-handlers**: on creation and on a change of the spec, `sync` copies the source to each
 *   target as a sub-handler of its own (`sync/<target>`), so a target that fails (its name is
 *   taken by a ConfigMap the Mirror does not own) does not make the others run again, also
 *   after a restart;
 * - **an index**: `copies` knows every ConfigMap labelled as a copy, by Mirror;
 * - **a daemon**: `follow` keeps the copies equal to the source while the Mirror exists,
 *   re-copying one that drifted (a source edited, a copy edited by hand);
 * - **a timer**: `audit` reports, once the Mirror has been unchanged for 10 s and every 30 s,
 *   how many copies exist and which are missing (read from the index, without API calls).
 *
 *   kubefx generate crd examples/mirror/src/operator.ts | kubectl apply -f -
 *   kubefx run examples/mirror/src/operator.ts -n default
 *
 * @since 0.1.0
 */
import {
  Builtins,
  Crd,
  Handler,
  Index,
  Json,
  type KubeObject,
  Outcome,
  Owner,
  Registry,
  Resource
} from "@kubefx/core"
import { Kube } from "@kubefx/runtime"
import { Effect, Schema } from "effect"

/** What a Mirror asks for. @since 0.1.0 */
export const MirrorSpec = Schema.Struct({
  source: Schema.String,
  targets: Schema.Array(Schema.String)
})

/** @since 0.1.0 */
export const mirrors = Resource.make({
  group: "mirror.kubefx.dev",
  version: "v1",
  plural: "mirrors",
  kind: "Mirror",
  spec: MirrorSpec
})

/** The CRD manifest that `kubefx generate crd` prints. @since 0.1.0 */
export const crd = Crd.make({
  group: mirrors.group,
  kind: mirrors.kind,
  plural: mirrors.plural,
  versions: [
    {
      name: mirrors.version,
      spec: MirrorSpec,
      printerColumns: [
        { name: "Source", type: "string", jsonPath: ".spec.source" },
        { name: "Copies", type: "integer", jsonPath: ".status.audit.copies" }
      ]
    }
  ]
})

/** The label a copy carries: the name of its Mirror. @since 0.1.0 */
export const copyOf = "mirror.kubefx.dev/of"

const configMaps = Builtins.configMaps

/** Copies by Mirror (`namespace/name`), for every ConfigMap labelled as a copy. @since 0.1.0 */
export const copies = Index.make("copies", configMaps, (cm) => {
  const of = cm.labels[copyOf]
  return of === undefined ? {} : { [`${cm.namespace}/${of}`]: cm.name }
})

const dataOf = (object: KubeObject.KubeObject | Json.JsonObject): Json.JsonObject =>
  Json.asObject((object as Json.JsonObject).data)

/** The source's data; a source that does not exist (yet) is waited for. */
const sourceData = (namespace: string | undefined, source: string) =>
  Effect.flatMap(Kube, (kube) =>
    kube.get(configMaps, source, { namespace }).pipe(
      Effect.map(dataOf),
      Effect.catchTag("NotFound", () =>
        Effect.fail(
          new Outcome.TemporaryError({
            message: `source ConfigMap ${namespace}/${source} does not exist (yet)`,
            delay: "5 seconds"
          })
        )
      )
    )
  )

/** Makes `target` a copy of `data`, owned by the Mirror; refuses a ConfigMap it does not own. */
const copyTo = (mirror: Json.JsonObject, target: string, data: Json.JsonObject) =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const namespace = Json.get(mirror, ["metadata", "namespace"]) as string | undefined
    const name = String(Json.get(mirror, ["metadata", "name"]))
    const copy = Owner.adopt(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: target, labels: { [copyOf]: name } },
        data
      },
      mirror
    )
    const existing = yield* kube.create(configMaps, copy).pipe(
      Effect.as(undefined),
      Effect.catchTag("AlreadyExists", () => kube.get(configMaps, target, { namespace }))
    )
    if (existing === undefined) return "created"
    if (existing.metadata?.deletionTimestamp !== undefined)
      return yield* new Outcome.TemporaryError({
        message: `ConfigMap ${namespace}/${target} is being deleted; waiting for it to go`,
        delay: "2 seconds"
      })
    if (!Owner.isOwnedBy(existing, mirror))
      return yield* new Outcome.PermanentError({
        message: `ConfigMap ${namespace}/${target} exists and is not a copy of this Mirror; rename the target or delete it`
      })
    if (Json.equals(dataOf(existing), data)) return "unchanged"
    yield* kube.replace(configMaps, target, { ...existing, data }, { namespace })
    return "updated"
  })

const sync = (ctx: Handler.Context<typeof MirrorSpec.Type>) =>
  Effect.gen(function* () {
    const data = yield* sourceData(ctx.namespace, ctx.spec.source)
    const results = yield* ctx.execute(
      Object.fromEntries(ctx.spec.targets.map((t) => [t, () => copyTo(ctx.body, t, data)]))
    )
    return { targets: Object.keys(results).length }
  })

/** On creation: one sub-handler per target. @since 0.1.0 */
export const onCreate = Handler.onCreate(mirrors, { id: "sync" }, sync)

/** On a change of the spec: the same, as a change of its own. @since 0.1.0 */
export const onUpdate = Handler.onUpdate(mirrors, { id: "resync", field: "spec" }, sync)

/** Keeps the copies equal to the source while the Mirror exists. @since 0.1.0 */
export const follow = Handler.daemon(
  mirrors,
  { id: "follow", cancellationTimeout: "5 seconds" },
  (ctx) =>
    Effect.gen(function* () {
      while (!(yield* ctx.isStopped)) {
        const mirror = yield* ctx.latest
        const spec = Schema.decodeUnknownSync(MirrorSpec)(mirror.spec)
        const data = yield* sourceData(ctx.namespace, spec.source).pipe(
          Effect.catchTag("TemporaryError", () => Effect.succeed(undefined))
        )
        if (data !== undefined)
          for (const target of spec.targets) {
            const outcome = yield* copyTo(mirror, target, data).pipe(
              Effect.catchTags({
                PermanentError: () => Effect.succeed("refused"),
                TemporaryError: () => Effect.succeed("waiting")
              })
            )
            if (outcome === "updated" || outcome === "created")
              yield* ctx.logger.info(`copy ${target} ${outcome} from ${spec.source}`)
          }
        yield* Effect.raceFirst(ctx.stopped, Effect.sleep("5 seconds"))
      }
    })
)

/** Reports the copies from the index, once the Mirror has settled. @since 0.1.0 */
export const audit = Handler.timer(
  mirrors,
  { id: "audit", interval: "30 seconds", idle: "10 seconds" },
  (ctx) =>
    Effect.map(copies, (index) => {
      const present = new Set(index.get(`${ctx.namespace}/${ctx.name}`))
      return {
        copies: present.size,
        missing: ctx.spec.targets.filter((t) => !present.has(t))
      }
    })
)

/** The operator, with the ConfigMap calls its handlers make (for RBAC). @since 0.1.0 */
export const registry = Registry.make(onCreate, onUpdate, follow, audit, copies).pipe(
  Registry.uses(configMaps, ["get", "create", "update"])
)
