/**
 * The Mirror operator run by `kubefx run` on the real control plane, killed with SIGKILL while
 * one of its sub-handlers waits: the next process finishes that one and does not run the
 * finished ones again (from the processes' own log lines and the Mirror's status).
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, Json, type KubeObject, Resource } from "@kubefx/core"
import { ApiPatch, Kube, Manifests } from "@kubefx/runtime"
import { Effect, Schedule } from "effect"
import { crd, mirrors } from "../src/operator.ts"

const bin = fileURLToPath(new URL("../../../packages/cli/bin/kubefx.ts", import.meta.url))
const module = fileURLToPath(new URL("../src/operator.ts", import.meta.url))

/** `kubefx run` of the example, its output kept as lines; killed when the scope closes. */
const run = (kubeconfig: string, namespace: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(
        process.execPath,
        [bin, "run", module, "--kubeconfig", kubeconfig, "-n", namespace],
        { stdio: ["ignore", "pipe", "pipe"] }
      )
      const lines: Array<string> = []
      for (const stream of [child.stdout, child.stderr]) {
        stream.setEncoding("utf8")
        stream.on("data", (chunk: string) => lines.push(...chunk.split("\n")))
      }
      return { child, lines }
    }),
    (started) => Effect.sync(() => started.child.kill("SIGKILL"))
  )

/** Retries `check` every 200 ms for up to 60 s. */
const eventually = <A, E, R>(what: string, check: Effect.Effect<A, E, R>) =>
  check.pipe(
    Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 300 }),
    Effect.mapError((e) => new Error(`${what}: ${String(e)}`))
  )

const has = (lines: ReadonlyArray<string>, pattern: RegExp) =>
  lines.some((line) => pattern.test(line)) ? Effect.void : Effect.fail("not logged")

layer(ControlPlane.layer, { excludeTestServices: true, timeout: "5 minutes" })(
  "the Mirror operator on the control plane",
  (it) => {
    it.effect("SIGKILL while a sub-handler waits: the next process runs only what is left", () =>
      Effect.gen(function* () {
        const cp = yield* ControlPlane.ControlPlane
        const kube = yield* Kube.make(yield* Kube.loadFile(cp.kubeconfig))
        yield* Manifests.apply([crd as KubeObject.KubeObject]).pipe(
          Effect.provideService(Kube, kube)
        )
        yield* Manifests.awaitEstablished("mirrors.mirror.kubefx.dev").pipe(
          Effect.provideService(Kube, kube)
        )
        const namespace = `mirror-${Date.now().toString(36)}`
        const at = { namespace }
        yield* kube.create(Builtins.namespaces, {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: namespace }
        })
        const cms = Builtins.configMaps
        yield* kube.create(
          cms,
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "src" }, data: { v: "1" } },
          at
        )
        // "b" is being deleted, held by a finalizer: its sub-handler waits until it is gone.
        yield* kube.create(
          cms,
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "b", finalizers: ["example.com/hold"] }
          },
          at
        )
        yield* kube.delete(cms, "b", at)
        const first = yield* run(cp.kubeconfig, namespace)
        yield* kube.create(
          mirrors,
          {
            apiVersion: Resource.apiVersion(mirrors),
            kind: "Mirror",
            metadata: { name: "m" },
            spec: { source: "src", targets: ["a", "b", "c"] }
          },
          at
        )
        yield* eventually(
          "the first process ran a, c and waits on b",
          Effect.suspend(() =>
            Effect.all([
              has(first.lines, /handler sync\/a: Success/),
              has(first.lines, /handler sync\/b: Retry/),
              has(first.lines, /handler sync\/c: Success/)
            ])
          )
        )
        yield* eventually(
          "b's retry stored on the Mirror",
          Effect.flatMap(kube.get(mirrors, "m", at), (m) =>
            Json.get(m as Json.JsonObject, ["status", "kubefx", "progress", "sync/b"]) === undefined
              ? Effect.fail("not stored")
              : Effect.void
          )
        )
        first.child.kill("SIGKILL")
        yield* Effect.promise(() => new Promise((resolve) => first.child.once("exit", resolve)))
        yield* kube.patch(cms, "b", ApiPatch.merge({ metadata: { finalizers: null } }), at)
        const second = yield* run(cp.kubeconfig, namespace)
        const done = yield* eventually(
          "the Mirror synced",
          Effect.flatMap(kube.get(mirrors, "m", at), (m) => {
            const sync = Json.get(m as Json.JsonObject, ["status", "sync"])
            return sync === undefined
              ? Effect.fail("not yet")
              : Effect.succeed(m as Json.JsonObject)
          })
        )
        assert.deepStrictEqual(Json.get(done, ["status", "sync"]), { targets: 3 })
        assert.isTrue(second.lines.some((l) => /handler sync\/b: Success/.test(l)))
        assert.isFalse(
          second.lines.some((l) => /handler sync\/(a|c):/.test(l)),
          `finished sub-handlers ran again:\n${second.lines.join("\n")}`
        )
        for (const name of ["a", "b", "c"]) {
          const copy = yield* kube.get(cms, name, at)
          assert.deepStrictEqual(copy.data, { v: "1" })
        }
      })
    )
  }
)
