/**
 * `kubefx run` against the real control plane: a module whose CRD is not installed ends with
 * the one line that names the command installing it; the EVC example, run by the command with
 * the CRD `kubefx generate crd` printed, handles an EVC (its PVC exists, owned by it, and the
 * handler's result is in its status) and serves its probes and metrics with `--health-port`;
 * SIGTERM stops it.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins, Json, type KubeObject, Owner, Resource } from "@kubefx/core"
import { Kube, Manifests } from "@kubefx/runtime"
import { Effect, Schedule } from "effect"
import { parseAllDocuments } from "yaml"
import { isLogLine, kubefx, start } from "./cli.ts"

const evc = Resource.make({
  group: "kopf.dev",
  version: "v1",
  plural: "ephemeralvolumeclaims",
  kind: "EphemeralVolumeClaim"
})

const documents = (text: string): ReadonlyArray<KubeObject.KubeObject> =>
  parseAllDocuments(text).map((d) => d.toJSON() as KubeObject.KubeObject)

/** Retries `check` every 200 ms for up to 60 s. */
const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  check.pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 300 }), Effect.orDie)

/** Runs `kubefx` to its end without blocking the control plane's own fibers. */
const finished = (args: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const run = start(args)
    return { status: await run.exited, lines: run.lines }
  })

layer(ControlPlane.layer, { excludeTestServices: true, timeout: "5 minutes" })(
  "kubefx run on the control plane",
  (it) => {
    it.effect("names the command that installs a CRD the API server does not serve", () =>
      Effect.gen(function* () {
        const cp = yield* ControlPlane.ControlPlane
        const fixture = "packages/cli/test/fixtures/widget.ts"
        const { status, lines } = yield* finished(["run", fixture, "--kubeconfig", cp.kubeconfig])
        assert.strictEqual(status, 1)
        const errors = lines.filter((line) => line !== "" && !isLogLine(line))
        assert.strictEqual(errors.length, 1)
        assert.match(
          errors[0] ?? "",
          /^kubefx: no resource served by the API server matches .*widgets\.cli\.kubefx\.dev.*; if its CRD is not installed, install it: kubefx generate crd packages\/cli\/test\/fixtures\/widget\.ts \| kubectl apply -f -$/
        )
      })
    )

    it.effect("runs the EVC example until SIGTERM, handling an EVC", () =>
      Effect.gen(function* () {
        const cp = yield* ControlPlane.ControlPlane
        const admin = yield* Kube.make(yield* Kube.loadFile(cp.kubeconfig))
        const module = "examples/evc/src/operator.ts"
        const generated = kubefx(["generate", "crd", module])
        assert.strictEqual(generated.status, 0)
        yield* Manifests.apply(documents(generated.stdout)).pipe(Effect.provideService(Kube, admin))
        yield* Manifests.awaitEstablished("ephemeralvolumeclaims.kopf.dev").pipe(
          Effect.provideService(Kube, admin)
        )
        const namespace = `cli-${Date.now().toString(36)}`
        yield* admin.create(Builtins.namespaces, {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: namespace }
        })
        const operator = start([
          "run",
          module,
          "--kubeconfig",
          cp.kubeconfig,
          "-n",
          namespace,
          "--health-port",
          "0",
          "--health-host",
          "127.0.0.1"
        ])
        yield* admin.create(evc, {
          apiVersion: "kopf.dev/v1",
          kind: "EphemeralVolumeClaim",
          metadata: { name: "data", namespace },
          spec: { size: "1G" }
        })
        const handled = yield* eventually(
          admin
            .get(evc, "data", { namespace })
            .pipe(
              Effect.filterOrFail(
                (o) => Json.get(o as Json.Json, ["status", "create_fn"]) !== undefined
              )
            )
        )
        assert.deepStrictEqual(Json.get(handled as Json.Json, ["status", "create_fn"]), {
          pvcName: "data"
        })
        const pvc = yield* admin.get(Builtins.persistentVolumeClaims, "data", { namespace })
        assert.isTrue(Owner.isOwnedBy(pvc, handled))
        assert.strictEqual(
          Json.get(pvc as Json.Json, ["spec", "resources", "requests", "storage"]),
          "1G"
        )
        assert.isTrue(
          operator.lines.some((line) => line.includes("PVC child is created: data (1G)"))
        )
        const url = operator.lines
          .map((line) => /health server listening on (http:\/\/\S+)/.exec(line)?.[1])
          .find((u) => u !== undefined)
        assert.isDefined(url, "no health server line")
        const probe = (path: string) =>
          Effect.promise(() => fetch(`${url}${path}`).then(async (r) => [r.status, await r.text()]))
        assert.strictEqual((yield* probe("/readyz"))[0], 200)
        const [status, metrics] = yield* probe("/metrics")
        assert.strictEqual(status, 200)
        assert.match(String(metrics), /^kubefx_handler_runs_total\{.*outcome="Success".*\} 1$/m)
        operator.child.kill("SIGTERM")
        const code = yield* Effect.promise(() => operator.exited)
        assert.isNotNull(code)
      }).pipe(Effect.scoped)
    )
  }
)
