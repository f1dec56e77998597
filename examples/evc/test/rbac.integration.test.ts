/**
 * The generated RBAC is enough, and every verb the proof reaches is needed: on the real control
 * plane, the EVC operator runs as its ServiceAccount's user bound only to what
 * `Rbac.manifests(registry, ...)` gives (cluster-wide, and with Roles in named namespaces) and
 * handles an EVC end to end; with one verb of one rule taken away it hits a 403 that names
 * that verb and resource.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, Json, type KubeObject } from "@kubefx/core"
import { Kube, type KubeService, Manifests, Operator, Rbac } from "@kubefx/runtime"
import { Context, Duration, Effect, Layer, Logger, Schedule } from "effect"
import * as Deploy from "../src/Deploy.ts"
import { evc } from "../src/Evc.ts"
import { registry } from "../src/handlers.ts"
import * as Settings from "../src/Settings.ts"
import { awaitGarbageCollectorKnowsEvcs } from "./gc.ts"

const accountNamespace = "kubefx-system"
const pvcs = Builtins.persistentVolumeClaims

class Cluster extends Context.Service<
  Cluster,
  { readonly admin: KubeService; readonly cp: ControlPlane.Info }
>()("test/RbacCluster") {}

const ClusterLive = Layer.effect(
  Cluster,
  Effect.gen(function* () {
    const cp = yield* ControlPlane.ControlPlane
    const admin = yield* Kube.make(yield* Kube.loadFile(cp.kubeconfig))
    yield* Effect.gen(function* () {
      yield* Manifests.apply([
        ...Deploy.read("crd.yaml"),
        ...Deploy.read("storageclass.yaml"),
        { apiVersion: "v1", kind: "Namespace", metadata: { name: accountNamespace } }
      ])
      yield* Manifests.awaitEstablished("ephemeralvolumeclaims.kopf.dev")
    }).pipe(Effect.provideService(Kube, admin))
    yield* awaitGarbageCollectorKnowsEvcs(admin)
    return { admin, cp }
  }).pipe(Effect.orDie)
).pipe(Layer.provide(ControlPlane.layer))

let counter = 0
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${counter++}`

const freshNamespace = Effect.gen(function* () {
  const { admin } = yield* Cluster
  const name = unique("rbac")
  yield* admin.create(Builtins.namespaces, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name }
  })
  return name
}).pipe(Effect.orDie)

/** Applies the roles and bindings; answers the kubeconfig of their ServiceAccount's user. */
const bindAccount = (account: string, objects: ReadonlyArray<KubeObject.KubeObject>) =>
  Effect.gen(function* () {
    const { admin, cp } = yield* Cluster
    yield* Manifests.apply(objects).pipe(Effect.provideService(Kube, admin))
    return yield* cp.userKubeconfig(`system:serviceaccount:${accountNamespace}:${account}`)
  }).pipe(Effect.orDie)

/** The operator as the user of `kubeconfig`, posting every Event; its log lines are kept. */
const operatorAs = (kubeconfig: string, namespaces?: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => {
      const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
      lines.push(`${logLevel.toUpperCase()} ${text}`)
    })
    const kube = yield* Layer.build(Kube.layerFromFile(kubeconfig))
    const operator = yield* Operator.start(registry, {
      reportingComponent: "kubefx-evc",
      fieldManager: "kubefx-evc",
      postEvents: "all",
      ...(namespaces === undefined ? {} : { namespaces })
    }).pipe(
      Effect.provideContext(kube),
      Effect.provide(
        Layer.merge(
          Settings.layer({ storageClass: "kubefx-expandable", resizeRetry: Duration.seconds(1) }),
          Logger.layer([logger], { mergeWithExisting: true })
        )
      )
    )
    return { operator, lines }
  }).pipe(Effect.orDie)

/** Retries `check` every 200 ms for up to 30 s. */
const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  check.pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 150 }), Effect.orDie)

const expect = (condition: boolean, what: string) =>
  condition ? Effect.void : Effect.fail(`not yet: ${what}`)

const createEvc = (namespace: string, name: string) =>
  Effect.gen(function* () {
    const { admin } = yield* Cluster
    return yield* admin.create(evc, {
      apiVersion: "kopf.dev/v1",
      kind: "EphemeralVolumeClaim",
      metadata: { name, namespace },
      spec: { size: "1G" }
    })
  }).pipe(Effect.orDie)

/** PVC created and owned, status written, an Event posted; deleting the EVC removes the PVC. */
const handledEndToEnd = (namespace: string, lines: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const { admin } = yield* Cluster
    const owner = yield* createEvc(namespace, "claim")
    const handled = yield* eventually(
      admin
        .get(evc, "claim", { namespace })
        .pipe(
          Effect.tap((o) =>
            expect(Json.get(o as Json.Json, ["status", "create_fn"]) !== undefined, "status")
          )
        )
    )
    assert.deepStrictEqual(Json.get(handled as Json.Json, ["status", "create_fn"]), {
      pvcName: "claim"
    })
    const pvc = yield* admin.get(pvcs, "claim", { namespace }).pipe(Effect.orDie)
    assert.strictEqual(
      Json.get(pvc as Json.Json, ["metadata", "ownerReferences", "0", "uid"]),
      owner.metadata?.uid
    )
    yield* eventually(
      admin.list(Builtins.events, { namespace }).pipe(
        Effect.tap((list) =>
          expect(
            list.items.some(
              (e) => Json.get(e as Json.Json, ["involvedObject", "uid"]) === owner.metadata?.uid
            ),
            "an Event about the EVC"
          )
        )
      )
    )
    yield* admin.delete(evc, "claim", { namespace }).pipe(Effect.orDie)
    yield* eventually(
      admin.get(pvcs, "claim", { namespace }).pipe(
        Effect.flatMap(() => Effect.fail("the PVC is still there")),
        Effect.catchTag("NotFound", () => Effect.void)
      )
    )
    assert.deepStrictEqual(
      lines.filter((l) => /forbidden|refused/i.test(l)),
      [],
      "no request was refused"
    )
  })

type Rule = Rbac.Rule & { readonly resources: ReadonlyArray<string> }

/** The manifests with `verb` taken from the rule on `resource`, which must have it (a rule
 * left without verbs goes). */
const without = (
  objects: ReadonlyArray<KubeObject.KubeObject>,
  resource: string,
  verb: string
): ReadonlyArray<KubeObject.KubeObject> => {
  let found = false
  const out = objects.map((o) => {
    const rules = (o as { rules?: ReadonlyArray<Rule> }).rules
    if (rules === undefined) return o
    return {
      ...o,
      rules: rules.flatMap((r) => {
        if (!r.resources.includes(resource) || !r.verbs.includes(verb as Rule["verbs"][number]))
          return [r]
        found = true
        const verbs = r.verbs.filter((v) => v !== verb)
        // The API server refuses a rule without verbs: the last verb takes the rule with it.
        return verbs.length === 0 ? [] : [{ ...r, verbs }]
      })
    } as unknown as KubeObject.KubeObject
  })
  assert.isTrue(found, `the generated rules grant ${verb} on ${resource}`)
  return out
}

/** The API server's words for a refusal of `verb` on `resource`. */
const refusal = (verb: string, resource: string) =>
  new RegExp(`cannot ${verb} resource \\\\?"${resource.replace("/", "\\/")}\\\\?"`)

const awaitLine = (lines: ReadonlyArray<string>, pattern: RegExp) =>
  eventually(
    Effect.suspend(() => {
      const line = lines.find((l) => pattern.test(l))
      return line === undefined ? Effect.fail(`no line matches ${pattern}`) : Effect.succeed(line)
    })
  )

layer(ClusterLive, { excludeTestServices: true, timeout: "5 minutes" })(
  "the generated RBAC",
  (it) => {
    it.effect(
      "is enough cluster-wide: the operator bound to its ClusterRole handles an EVC end to end",
      () =>
        Effect.gen(function* () {
          const account = unique("evc-cluster")
          const objects = Rbac.manifests(registry, { name: account, namespace: accountNamespace })
          assert.deepStrictEqual(
            objects.map((o) => o.kind),
            ["ClusterRole", "ClusterRoleBinding"]
          )
          const { operator, lines } = yield* operatorAs(yield* bindAccount(account, objects))
          yield* operator.ready
          yield* handledEndToEnd(yield* freshNamespace, lines)
        }).pipe(Effect.scoped),
      120_000
    )

    it.effect(
      "is enough with --namespace: the operator bound to Roles in its namespaces only handles an EVC",
      () =>
        Effect.gen(function* () {
          const [a, b] = [yield* freshNamespace, yield* freshNamespace]
          const account = unique("evc-ns")
          const objects = Rbac.manifests(registry, {
            name: account,
            namespace: accountNamespace,
            namespaces: [a, b]
          })
          assert.deepStrictEqual(
            objects.map((o) => `${o.kind} ${o.metadata?.namespace}`),
            [a, b].sort().flatMap((n) => [`Role ${n}`, `RoleBinding ${n}`])
          )
          const { operator, lines } = yield* operatorAs(yield* bindAccount(account, objects), [
            a,
            b
          ])
          yield* operator.ready
          yield* handledEndToEnd(b, lines)
        }).pipe(Effect.scoped),
      120_000
    )

    // Each case: the rule's resource, the verb taken away, and what makes the operator call it.
    const cases: ReadonlyArray<{
      readonly resource: string
      readonly verb: string
      readonly namespaced?: boolean
      readonly setup?: (namespace: string) => Effect.Effect<void, never, Cluster>
    }> = [
      { resource: "ephemeralvolumeclaims", verb: "list" },
      { resource: "ephemeralvolumeclaims", verb: "watch" },
      { resource: "ephemeralvolumeclaims", verb: "list", namespaced: true },
      { resource: "ephemeralvolumeclaims/status", verb: "patch" },
      { resource: "persistentvolumeclaims", verb: "create" },
      {
        // A PVC of that name already exists: create answers 409, and the handler reads it.
        resource: "persistentvolumeclaims",
        verb: "get",
        setup: (namespace) =>
          Effect.gen(function* () {
            const { admin } = yield* Cluster
            yield* admin.create(pvcs, {
              apiVersion: "v1",
              kind: "PersistentVolumeClaim",
              metadata: { name: "claim", namespace },
              spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1G" } } }
            })
          }).pipe(Effect.orDie)
      },
      { resource: "events", verb: "create" },
      { resource: "events", verb: "create", namespaced: true }
    ]

    for (const c of cases) {
      it.effect(
        `without ${c.verb} on ${c.resource}${c.namespaced === true ? " (in a Role)" : ""}, the operator is refused that call`,
        () =>
          Effect.gen(function* () {
            const namespace = yield* freshNamespace
            const account = unique("evc-drop")
            const namespaces = c.namespaced === true ? [namespace] : undefined
            const objects = Rbac.manifests(registry, {
              name: account,
              namespace: accountNamespace,
              namespaces
            })
            const kubeconfig = yield* bindAccount(account, without(objects, c.resource, c.verb))
            if (c.setup !== undefined) yield* c.setup(namespace)
            const { lines } = yield* operatorAs(kubeconfig, namespaces)
            yield* createEvc(namespace, "claim")
            const line = yield* awaitLine(lines, refusal(c.verb, c.resource))
            assert.include(line, account)
          }).pipe(Effect.scoped),
        60_000
      )
    }
  }
)
