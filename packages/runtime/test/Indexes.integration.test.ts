/**
 * Indexes and sub-handlers against the real control plane: an index of ConfigMaps (a resource
 * no handler serves) follows creations, changes and deletions, also those made while its watch
 * was down and brought back by a relist after 410 Gone; a handler's sub-handlers, stopped in the
 * middle with the operator, resume in the next operator without running the finished ones again.
 */
import { assert, layer } from "@effect/vitest"
import { Builtins, Handler, Index, type Json, Outcome, Registry, Resource } from "@kubefx/core"
import { Deferred, Effect, Exit, Schedule, Stream } from "effect"
import * as Scope from "effect/Scope"
import { Kube, type KubeService } from "../src/index.ts"
import {
  ClusterLayer,
  configMap,
  crdManifest,
  crds,
  eventually,
  freshClient,
  withOperator
} from "./support.ts"

const group = "index.kubefx.test"
const jobs = Resource.make({ group, version: "v1", plural: "jobs", kind: "Job" })

const ensureCrd = Effect.gen(function* () {
  const kube = yield* Kube
  yield* kube
    .create(crds, crdManifest({ group, plural: "jobs", kind: "Job", statusSubresource: true }))
    .pipe(Effect.catchTag("AlreadyExists", () => Effect.void))
  yield* eventually(kube.list(jobs, { namespace: "default", limit: 1 }))
})

/** Polls until `check` holds (30 s at most). */
const until = <A, E, R>(what: string, check: Effect.Effect<A, E, R>) =>
  check.pipe(
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))),
    Effect.mapError((e) => new Error(`${what}: ${String(e)}`))
  )

/** ConfigMap names by their `colour`, for ConfigMaps labelled `app: paint`. */
const byColour = Index.make(
  "by-colour",
  Builtins.configMaps,
  { labels: { app: "paint" } },
  (cm) => {
    const colour = (cm.body.data as { colour?: unknown } | undefined)?.colour
    return typeof colour === "string" ? { [colour]: cm.name } : {}
  }
)

const snapshot = (lookup: Index.Lookup<string, string>): string =>
  JSON.stringify(
    Object.fromEntries([...lookup.keys()].sort().map((k) => [k, [...lookup.get(k)].sort()]))
  )

layer(ClusterLayer, { excludeTestServices: true, timeout: "3 minutes" })(
  "indexes and sub-handlers",
  (it) => {
    it.effect("an index follows changes, deletions and a relist after 410 Gone", () =>
      Effect.gen(function* () {
        const kube = yield* Kube
        const client = yield* freshClient
        const ns = client.name
        const paint = (name: string, colour: string) => ({
          ...configMap(ns, name, { colour }),
          metadata: { name, namespace: ns, labels: { app: "paint" } }
        })
        let read: Index.Lookup<string, string> | undefined
        // A timer on an unlabelled ConfigMap reads the index: `read` is what handlers see.
        const registry = Registry.make(
          Handler.timer(
            Builtins.configMaps,
            { id: "peek", labels: { role: "probe" }, interval: "200 millis" },
            () =>
              Effect.map(byColour, (lookup) => {
                read = lookup
              })
          ),
          byColour
        )
        const shows = (what: string, expected: Json.JsonObject) =>
          until(
            what,
            Effect.suspend(() => {
              const now = read === undefined ? "nothing" : snapshot(read)
              return now === JSON.stringify(expected) ? Effect.void : Effect.fail(now)
            })
          )
        // ConfigMap watches can be cut, held, then answered 410 Expired when restarted.
        let phase: "normal" | "cut" = "normal"
        const cut = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        let expired = 0
        const wrapped: KubeService = {
          ...kube,
          watch: (resource, options) =>
            Stream.unwrap(
              Effect.gen(function* () {
                if (resource.plural !== "configmaps") return kube.watch(resource, options)
                if (phase === "normal")
                  return kube
                    .watch(resource, options)
                    .pipe(Stream.interruptWhen(Deferred.await(cut)))
                yield* Deferred.await(release)
                if (expired > 0) return kube.watch(resource, options)
                // What the API server sends when the version is compacted away.
                expired++
                return Stream.make({
                  type: "ERROR" as const,
                  object: {
                    kind: "Status",
                    apiVersion: "v1",
                    status: "Failure",
                    code: 410,
                    reason: "Expired",
                    message: "too old resource version"
                  }
                })
              })
            )
        }
        yield* client.create(Builtins.configMaps, paint("a", "red"))
        yield* client.create(Builtins.configMaps, paint("b", "blue"))
        yield* client.create(Builtins.configMaps, {
          ...configMap(ns, "probe"),
          metadata: { name: "probe", namespace: ns, labels: { role: "probe" } }
        })
        yield* withOperator(registry, { namespaces: [ns], batchWindow: 0 }).pipe(
          Effect.provideService(Kube, wrapped)
        )
        yield* shows("the first list", { blue: ["b"], red: ["a"] })
        yield* client.merge(Builtins.configMaps, "a", { data: { colour: "blue" } })
        yield* client.create(Builtins.configMaps, paint("c", "red"))
        yield* shows("a change and a creation", { blue: ["a", "b"], red: ["c"] })
        yield* client.delete(Builtins.configMaps, "a")
        yield* shows("a deletion", { blue: ["b"], red: ["c"] })

        phase = "cut"
        yield* Deferred.succeed(cut, undefined)
        yield* Effect.sleep("300 millis")
        yield* client.delete(Builtins.configMaps, "b")
        yield* client.merge(Builtins.configMaps, "c", { data: { colour: "green" } })
        yield* client.create(Builtins.configMaps, paint("d", "red"))
        yield* client.merge(Builtins.configMaps, "probe", { data: { colour: "red" } })
        yield* Deferred.succeed(release, undefined)
        yield* shows("the relist", { green: ["c"], red: ["d"] })
        assert.isAtLeast(expired, 1, "the watch was answered 410")
      })
    )

    it.effect("sub-handlers resume in the next operator without running finished ones", () =>
      Effect.gen(function* () {
        yield* ensureCrd
        const client = yield* freshClient
        const runs: Record<string, number> = { volume: 0, claim: 0, mount: 0, after: 0 }
        let bound = false
        const claimTried = yield* Deferred.make<void>()
        const registry = Registry.make(
          Handler.onCreate(jobs, { id: "provision" }, (ctx) =>
            Effect.gen(function* () {
              const results = yield* ctx.execute({
                volume: () => Effect.sync(() => ++runs.volume!),
                claim: () =>
                  Effect.gen(function* () {
                    runs.claim!++
                    yield* Deferred.succeed(claimTried, undefined)
                    if (!bound)
                      return yield* new Outcome.TemporaryError({ message: "not bound", delay: 500 })
                    return "bound"
                  }),
                mount: () => Effect.sync(() => ++runs.mount!)
              })
              runs.after!++
              return results
            })
          )
        )
        const settings = { namespaces: [client.name], batchWindow: 0 }
        const first = yield* Scope.make()
        yield* withOperator(registry, settings).pipe(Scope.provide(first))
        yield* client.create(jobs, {
          apiVersion: Resource.apiVersion(jobs),
          kind: "Job",
          metadata: { name: "j" },
          spec: {}
        })
        yield* Deferred.await(claimTried)
        // The claim's retry is stored on the object before the operator goes.
        yield* until(
          "the claim's retry stored",
          Effect.flatMap(client.get(jobs, "j"), (o) => {
            const progress = (o.status as { kubefx?: { progress?: Record<string, unknown> } })
              ?.kubefx?.progress
            return progress?.["provision/claim"] !== undefined &&
              progress["provision/mount"] !== undefined
              ? Effect.void
              : Effect.fail(JSON.stringify(o.status))
          })
        )
        yield* Scope.close(first, Exit.void)
        const before = { ...runs }
        bound = true
        yield* withOperator(registry, settings)
        const done = yield* until(
          "provisioned",
          Effect.flatMap(client.get(jobs, "j"), (o) => {
            const result = (o.status as { provision?: Json.JsonObject } | undefined)?.provision
            return result === undefined ? Effect.fail("not yet") : Effect.succeed(result)
          })
        )
        assert.deepStrictEqual(before, { volume: 1, claim: 1, mount: 1, after: 0 })
        assert.deepStrictEqual(runs, { volume: 1, claim: 2, mount: 1, after: 1 })
        assert.deepStrictEqual(done, { volume: 1, claim: "bound", mount: 1 })
      })
    )
  }
)
