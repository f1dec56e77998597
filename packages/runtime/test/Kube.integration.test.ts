import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, Handler, Registry, Selector } from "@kubefx/core"
import { KubeConfig } from "@kubernetes/client-node"
import { Context, Effect, Layer, Option, Schedule } from "effect"
import { parse, stringify } from "yaml"
import { ApiPatch, Discovery, Events, Kube, type KubeError } from "../src/index.ts"
import * as KubeConfigFile from "../src/internal/kubeconfig.ts"
import {
  ClusterLayer,
  captureLogs,
  configMap,
  configMaps,
  ensureWidgets,
  eventually,
  freshNamespace,
  namespaces,
  widgets
} from "./support.ts"

layer(ClusterLayer, { excludeTestServices: true, timeout: "5 minutes" })("Kube", (it) => {
  it.effect("finds plural, kind and scope in a group version", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const find = (q: Discovery.Query) => Effect.map(Discovery.find(kube, q), (t) => t.resource)
      const deployments = yield* find({ group: "apps", version: "v1", kind: "Deployment" })
      assert.deepStrictEqual(deployments, Builtins.deployments)
      const ns = yield* find({ group: "", version: "v1", plural: "namespaces" })
      assert.deepStrictEqual(ns, Builtins.namespaces)
      const byShortName = yield* find({ group: "", version: "v1", plural: "cm" })
      assert.strictEqual(byShortName.plural, "configmaps")
      const missing = yield* Effect.flip(find({ group: "apps", version: "v1", kind: "Nope" }))
      assert.strictEqual(missing._tag, "NotServed")
      assert.strictEqual(missing.message, "kind Nope is not served in apps/v1")
      const noGroup = yield* Effect.flip(find({ group: "nope.io", version: "v1", kind: "X" }))
      assert.strictEqual(noGroup._tag, "NotServed")
    })
  )

  it.effect("creates, gets, lists by pages, replaces, patches four ways and deletes", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      const created = yield* kube.create(configMaps, configMap(ns, "a", { x: "1" }))
      assert.strictEqual(created.metadata?.namespace, ns)
      assert.isString(created.metadata?.uid)
      for (const name of ["b", "c", "d", "e"]) yield* kube.create(configMaps, configMap(ns, name))

      const got = yield* kube.get(configMaps, "a", { namespace: ns })
      assert.deepStrictEqual(got.data, { x: "1" })

      const page1 = yield* kube.list(configMaps, { namespace: ns, limit: 2 })
      assert.strictEqual(page1.items.length, 2)
      assert.isString(page1.continue)
      const page2 = yield* kube.list(configMaps, {
        namespace: ns,
        limit: 2,
        continue: page1.continue
      })
      assert.strictEqual(page2.items.length, 2)
      const all = yield* kube.listAll(configMaps, { namespace: ns, limit: 2 })
      // kube-root-ca.crt is added by the controller-manager in every namespace, maybe not yet.
      const names = all.items.map((o) => o.metadata?.name).filter((n) => n !== "kube-root-ca.crt")
      assert.deepStrictEqual(names, ["a", "b", "c", "d", "e"])
      assert.isString(all.resourceVersion)
      assert.strictEqual(all.continue, undefined)

      const labelled = yield* kube.patch(
        configMaps,
        "b",
        ApiPatch.merge({ metadata: { labels: { pick: "me" } } }),
        {
          namespace: ns
        }
      )
      assert.deepStrictEqual(labelled.metadata?.labels, { pick: "me" })
      const selected = yield* kube.listAll(configMaps, { namespace: ns, labelSelector: "pick=me" })
      assert.deepStrictEqual(
        selected.items.map((o) => o.metadata?.name),
        ["b"]
      )

      const replaced = yield* kube.replace(configMaps, "a", { ...got, data: { x: "2" } })
      assert.deepStrictEqual(replaced.data, { x: "2" })

      const merged = yield* kube.patch(
        configMaps,
        "a",
        ApiPatch.merge({ data: { y: "3", x: null } }),
        {
          namespace: ns
        }
      )
      assert.deepStrictEqual(merged.data, { y: "3" })

      const jsonPatched = yield* kube.patch(
        configMaps,
        "a",
        ApiPatch.json([
          { op: "test", path: "/data/y", value: "3" },
          { op: "add", path: "/data/z", value: "4" }
        ]),
        { namespace: ns }
      )
      assert.deepStrictEqual(jsonPatched.data, { y: "3", z: "4" })

      const strategic = yield* kube.patch(
        configMaps,
        "a",
        ApiPatch.strategic({ data: { s: "5" } }),
        {
          namespace: ns
        }
      )
      assert.deepStrictEqual(strategic.data, { y: "3", z: "4", s: "5" })

      const applied = yield* kube.patch(
        configMaps,
        "applied",
        ApiPatch.apply(configMap(ns, "applied", { k: "v" }), { fieldManager: "kubefx-test" }),
        { namespace: ns }
      )
      assert.deepStrictEqual(applied.data, { k: "v" })
      const managedFields = (applied.metadata?.managedFields ?? []) as Array<{ manager: string }>
      assert.include(
        managedFields.map((m) => m.manager),
        "kubefx-test"
      )

      const deleted = yield* kube.delete(configMaps, "a", { namespace: ns })
      assert.isObject(deleted)
      const gone = yield* Effect.flip(kube.get(configMaps, "a", { namespace: ns }))
      assert.strictEqual(gone._tag, "NotFound")
      assert.strictEqual((gone as KubeError.NotFound).status, 404)
    })
  )

  it.effect("reads and writes the status subresource of a custom resource", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      const resource = yield* ensureWidgets
      assert.deepStrictEqual(resource, widgets)
      yield* eventually(
        kube.create(widgets, {
          apiVersion: "kubefx.test/v1",
          kind: "Widget",
          metadata: { name: "w", namespace: ns },
          spec: { size: 1 }
        })
      )
      const patched = yield* kube.patchStatus(
        widgets,
        "w",
        ApiPatch.merge({ status: { phase: "Ready" } }),
        {
          namespace: ns
        }
      )
      assert.deepStrictEqual(patched.status, { phase: "Ready" })
      // The main resource ignores status; the status subresource ignores spec.
      yield* kube.patch(
        widgets,
        "w",
        ApiPatch.merge({ spec: { size: 2 }, status: { phase: "Ignored" } }),
        {
          namespace: ns
        }
      )
      const status = yield* kube.getStatus(widgets, "w", { namespace: ns })
      assert.deepStrictEqual(status.status, { phase: "Ready" })
      assert.deepStrictEqual(status.spec, { size: 2 })
      const replaced = yield* kube.replaceStatus(widgets, "w", {
        ...status,
        spec: { size: 9 },
        status: { phase: "Done" }
      })
      assert.deepStrictEqual(replaced.status, { phase: "Done" })
      assert.deepStrictEqual(replaced.spec, { size: 2 })
      // Strategic merge patches are not served for custom resources: 415, a final BadRequest.
      const strategic = yield* Effect.flip(
        kube.patch(widgets, "w", ApiPatch.strategic({ spec: { size: 3 } }), { namespace: ns })
      )
      assert.strictEqual(strategic._tag, "BadRequest")
      assert.strictEqual((strategic as KubeError.BadRequest).status, 415)
    })
  )

  it.effect("posts core/v1 Events about an object", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      const cm = yield* kube.create(configMaps, configMap(ns, "evented"))
      const event = yield* Events.post(kube, {
        involvedObject: cm,
        type: "Warning",
        reason: "Testing",
        message: "x".repeat(2000),
        reportingComponent: "kubefx-test"
      })
      assert.strictEqual(event.kind, "Event")
      const events = yield* kube.listAll(Builtins.events, {
        namespace: ns,
        fieldSelector: `involvedObject.name=evented`
      })
      assert.strictEqual(events.items.length, 1)
      const e = events.items[0]!
      assert.strictEqual(e.reason, "Testing")
      assert.strictEqual(e.type, "Warning")
      assert.strictEqual(e.reportingComponent, "kubefx-test")
      assert.strictEqual((e.message as string).length, 1024)
      assert.deepInclude(e.involvedObject as object, {
        kind: "ConfigMap",
        name: "evented",
        namespace: ns,
        uid: cm.metadata?.uid
      })
    })
  )

  it.effect("answers typed errors: NotFound, AlreadyExists, Conflict, Invalid", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      const ns = yield* freshNamespace
      const notFound = yield* Effect.flip(kube.get(configMaps, "missing", { namespace: ns }))
      assert.strictEqual(notFound._tag, "NotFound")
      assert.include(notFound.message, "missing")

      const first = yield* kube.create(configMaps, configMap(ns, "dup"))
      const exists = yield* Effect.flip(kube.create(configMaps, configMap(ns, "dup")))
      assert.strictEqual(exists._tag, "AlreadyExists")
      assert.strictEqual((exists as KubeError.AlreadyExists).status, 409)

      yield* kube.patch(configMaps, "dup", ApiPatch.merge({ data: { v: "2" } }), { namespace: ns })
      const stale = yield* Effect.flip(
        kube.replace(configMaps, "dup", { ...first, data: { v: "stale" } })
      )
      assert.strictEqual(stale._tag, "Conflict")
      assert.strictEqual((stale as KubeError.Conflict).reason, "Conflict")

      // Server-side apply: another manager's field, without force, conflicts; with force, wins.
      yield* kube.patch(
        configMaps,
        "ssa",
        ApiPatch.apply(configMap(ns, "ssa", { k: "a" }), { fieldManager: "one" }),
        {
          namespace: ns
        }
      )
      const ssaConflict = yield* Effect.flip(
        kube.patch(
          configMaps,
          "ssa",
          ApiPatch.apply(configMap(ns, "ssa", { k: "b" }), { fieldManager: "two" }),
          {
            namespace: ns
          }
        )
      )
      assert.strictEqual(ssaConflict._tag, "Conflict")
      const forced = yield* kube.patch(
        configMaps,
        "ssa",
        ApiPatch.apply(configMap(ns, "ssa", { k: "b" }), { fieldManager: "two", force: true }),
        { namespace: ns }
      )
      assert.deepStrictEqual(forced.data, { k: "b" })

      const invalid = yield* Effect.flip(kube.create(configMaps, configMap(ns, "Not_A_Valid_Name")))
      assert.strictEqual(invalid._tag, "Invalid")
      const causes = (invalid as KubeError.Invalid).causes
      assert.isAbove(causes.length, 0)
      assert.strictEqual(causes[0]?.field, "metadata.name")
      assert.include(invalid.message, "Not_A_Valid_Name")

      const badPatch = yield* Effect.flip(
        kube.patch(
          configMaps,
          "dup",
          ApiPatch.json([{ op: "test", path: "/data/v", value: "nope" }]),
          {
            namespace: ns
          }
        )
      )
      assert.strictEqual(badPatch._tag, "Invalid")
    })
  )

  it.effect("a user without rights gets Forbidden; unknown credentials get Unauthorized", () =>
    Effect.gen(function* () {
      const cp = yield* ControlPlane.ControlPlane
      const restricted = yield* Kube.make(yield* Kube.loadFile(cp.restrictedKubeconfig))
      const forbidden = yield* Effect.flip(restricted.list(configMaps, { namespace: "default" }))
      assert.strictEqual(forbidden._tag, "Forbidden")
      assert.include(forbidden.message, "kubefx-restricted")

      const kc = yield* Kube.loadFile(cp.kubeconfig)
      const anonymous = new KubeConfig()
      anonymous.loadFromClusterAndUser(kc.getCurrentCluster()!, {
        name: "nobody",
        token: "not-a-token"
      })
      const stranger = yield* Kube.make(anonymous)
      const unauthorized = yield* Effect.flip(stranger.list(configMaps, { namespace: "default" }))
      assert.strictEqual(unauthorized._tag, "Unauthorized")
    })
  )

  it.effect("layers read kubeconfig files themselves: certificates, token files, contexts", () =>
    Effect.gen(function* () {
      const cp = yield* ControlPlane.ControlPlane
      const viaFile = (file: string, context?: string) =>
        Layer.build(Kube.layerFromFile(file, { context })).pipe(
          Effect.map((ctx) => Context.get(ctx, Kube))
        )
      // Read by kubefx itself, not handed to client-node:
      assert.strictEqual(KubeConfigFile.readFile(cp.kubeconfig)._tag, "Read")
      assert.strictEqual(KubeConfigFile.readFile(cp.restrictedKubeconfig)._tag, "Read")
      const admin = yield* viaFile(cp.kubeconfig)
      assert.isAbove((yield* admin.list(namespaces)).items.length, 0)
      const restricted = yield* viaFile(cp.restrictedKubeconfig)
      const forbidden = yield* Effect.flip(restricted.list(configMaps, { namespace: "default" }))
      assert.strictEqual(forbidden._tag, "Forbidden")
      assert.include(forbidden.message, "kubefx-restricted")

      // A token file next to the kubeconfig, in a second context of the same file.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubefx-token-"))
      fs.writeFileSync(path.join(dir, "token"), "not-a-token\n")
      const doc = parse(fs.readFileSync(cp.kubeconfig, "utf8"))
      doc.users.push({ name: "stranger", user: { tokenFile: "token" } })
      doc.contexts.push({
        name: "stranger",
        context: { cluster: doc.contexts[0].context.cluster, user: "stranger" }
      })
      fs.writeFileSync(path.join(dir, "config"), stringify(doc))
      const stranger = yield* viaFile(path.join(dir, "config"), "stranger")
      const unauthorized = yield* Effect.flip(stranger.list(configMaps, { namespace: "default" }))
      assert.strictEqual(unauthorized._tag, "Unauthorized")
      const missing = yield* Effect.flip(viaFile(path.join(dir, "config"), "nope"))
      assert.include(missing.message, 'no context named "nope"')
    })
  )

  it.effect("a refused connection is a TransportError", () =>
    Effect.gen(function* () {
      const cp = yield* ControlPlane.ControlPlane
      const kc = yield* Kube.loadFile(cp.kubeconfig)
      const refused = new KubeConfig()
      refused.loadFromClusterAndUser(
        { ...kc.getCurrentCluster()!, name: "closed", server: "https://127.0.0.1:1" },
        kc.getCurrentUser()!
      )
      const nowhere = yield* Kube.make(refused, { retry: Schedule.recurs(2) })
      const error = yield* Effect.flip(nowhere.get(configMaps, "x", { namespace: "default" }))
      assert.strictEqual(error._tag, "TransportError")
      assert.strictEqual((error as KubeError.TransportError).code, "ECONNREFUSED")
    })
  )

  it.effect("resolution: selectors by plural, short name and kind; a miss names the closest", () =>
    Effect.gen(function* () {
      const kube = yield* Kube
      yield* ensureWidgets
      const resolve = (text: string) => Discovery.resolve(kube, Selector.make(text))
      const byPlural = yield* resolve("widgets")
      assert.deepStrictEqual(byPlural.resource, widgets)
      assert.isTrue((yield* resolve("cm")).api.plural === "configmaps", "short name")
      const missing = yield* Effect.flip(resolve("widgest.kubefx.test"))
      assert.strictEqual(missing._tag, "NotServed")
      assert.include(missing.message, "no resource served by the API server matches")
      assert.include(missing.message, "closest served: widgets.kubefx.test")
      assert.include(missing.message, "install its CRD")
      const typo = yield* Effect.flip(resolve("deploymnets"))
      assert.include(typo.message, "closest served: deployments.apps")
    })
  )

  it.effect("resolution waits for an API server that is not there yet", () =>
    Effect.gen(function* () {
      const cp = yield* ControlPlane.ControlPlane
      const kc = yield* Kube.loadFile(cp.kubeconfig)
      const closed = new KubeConfig()
      closed.loadFromClusterAndUser(
        { ...kc.getCurrentCluster()!, name: "closed", server: "https://127.0.0.1:1" },
        kc.getCurrentUser()!
      )
      const nowhere = yield* Kube.make(closed, { retry: Schedule.recurs(0) })
      const logs = captureLogs()
      const registry = Registry.make(Handler.onCreate("configmaps", () => Effect.void))
      const waited = yield* Discovery.resolveAll(
        nowhere,
        registry,
        Schedule.spaced("100 millis")
      ).pipe(Effect.provide(logs.layer), Effect.timeoutOption("2 seconds"))
      assert.isTrue(Option.isNone(waited), "still waiting, not failed")
      assert.isTrue(
        logs.lines.some((l) =>
          /^WARN waiting for the API server at https:\/\/127.0.0.1:1: the API server is unreachable \(ECONNREFUSED/.test(
            l
          )
        ),
        logs.lines.join("\n")
      )
    })
  )
})
