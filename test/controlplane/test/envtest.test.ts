/**
 * The control plane from a folder of binaries in envtest's layout (etcd, kube-apiserver and
 * kubectl; no kube-controller-manager), and its watchdog: servers do not outlive a killed test
 * process.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node"
import { Effect, Schedule } from "effect"
import { Binaries, ControlPlane } from "../src/index.ts"

/** A temporary folder laid out as envtest's `KUBEBUILDER_ASSETS`, linking the binaries in use. */
const envtestFolder = Effect.acquireRelease(
  Effect.gen(function* () {
    const built = yield* Binaries.resolve()
    const dir = mkdtempSync(join(tmpdir(), "kubefx-envtest-"))
    symlinkSync(built.etcd, join(dir, "etcd"))
    symlinkSync(built.kubeApiserver, join(dir, "kube-apiserver"))
    // envtest ships kubectl too; the control plane does not need it.
    symlinkSync("/bin/true", join(dir, "kubectl"))
    return dir
  }),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const alive = (pid: number) =>
  existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ")

describe("ControlPlane.start from envtest's binaries", () => {
  it.live(
    "reaches ready without kube-controller-manager, and admits pods without ServiceAccounts",
    () =>
      Effect.gen(function* () {
        const binDir = yield* envtestFolder
        const cluster = yield* ControlPlane.start({ binDir })
        assert.deepStrictEqual(
          cluster.processes.map((p) => p.name),
          ["etcd", "kube-apiserver"]
        )
        assert.deepStrictEqual(cluster.controllers, [])
        const kc = new KubeConfig()
        kc.loadFromFile(cluster.kubeconfig)
        const core = kc.makeApiClient(CoreV1Api)
        const namespaces = yield* Effect.promise(() => core.listNamespace())
        assert.include(
          namespaces.items.map((n) => n.metadata?.name),
          "default"
        )
        const pod = yield* Effect.promise(() =>
          core.createNamespacedPod({
            namespace: "default",
            body: {
              metadata: { name: "p" },
              spec: { containers: [{ name: "c", image: "busybox" }] }
            }
          })
        )
        assert.strictEqual(pod.metadata?.name, "p")
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "fails in one line when controllerManager: true is asked of a folder without one",
    () =>
      Effect.gen(function* () {
        const binDir = yield* envtestFolder
        const error = yield* Effect.flip(ControlPlane.start({ binDir, controllerManager: true }))
        assert.strictEqual(
          error.message,
          `kubefx: no kube-controller-manager next to ${join(binDir, "kube-apiserver")} (envtest's folder has none); drop controllerManager: true to run without it (no garbage collection, no namespace deletion, no default ServiceAccounts)`
        )
      }).pipe(Effect.scoped),
    120_000
  )
})

const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url))

/** `cli.ts start` in a child process; answers it and its data folder once it is ready. */
const startInChild = (binDir: string) =>
  Effect.callback<{ pid: number; dataDir: string }, string>((resume) => {
    const child = spawn(process.execPath, [cli, "start"], {
      env: { ...process.env, KUBEFX_CONTROLPLANE_BIN: binDir },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk
      const logs = /logs: +(\S+)\/\*\.log/.exec(output)
      if (logs?.[1] !== undefined) resume(Effect.succeed({ pid: child.pid ?? 0, dataDir: logs[1] }))
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("exit", (code) => resume(Effect.fail(`cli.ts start exited with ${code}:\n${output}`)))
  })

describe("the watchdog", () => {
  it.live(
    "stops the servers and removes the data folder when the process that started them is killed",
    () =>
      Effect.gen(function* () {
        const binDir = yield* envtestFolder
        const { pid, dataDir } = yield* startInChild(binDir)
        const servers = readdirSync(join(dataDir, "pids")).map((f) =>
          Number(readFileSync(join(dataDir, "pids", f), "utf8"))
        )
        assert.strictEqual(servers.length, 2)
        assert.isTrue(servers.every(alive))
        process.kill(pid, "SIGKILL")
        yield* Effect.suspend(() =>
          servers.some(alive) || existsSync(dataDir)
            ? Effect.fail(`alive: ${servers.filter(alive)}, folder kept: ${existsSync(dataDir)}`)
            : Effect.void
        ).pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 150 }))
      }).pipe(Effect.scoped),
    120_000
  )
})
