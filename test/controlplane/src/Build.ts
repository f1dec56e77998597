/**
 * Builds kube-apiserver, kube-controller-manager and etcd from the Go modules pinned in `../go`,
 * once per pinned set, into the cache (see {@link Paths}). A folder of existing binaries
 * (envtest's included) needs no build: see `Binaries`.
 *
 * A cold build takes minutes on two cores, so it says what it is doing and how long it has
 * been at it; a warm one returns at once. Builds go to a temporary folder that is renamed into
 * place when complete, so an interrupted build never leaves half a set of binaries behind, and
 * a lock file keeps two processes from building the same set at the same time.
 *
 * @since 0.1.0
 */
import { spawn } from "node:child_process"
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { Data, Effect, Fiber } from "effect"
import * as Paths from "./Paths.ts"

/** The three programs of a built control plane, as absolute paths. @since 0.1.0 */
export interface Built {
  readonly etcd: string
  readonly kubeApiserver: string
  readonly kubeControllerManager: string
}

/** The build failed: `go` is missing, the module proxy is unreachable, or a compile error. @since 0.1.0 */
export class BuildError extends Data.TaggedError("BuildError")<{
  readonly message: string
}> {}

const programs = {
  etcd: { name: "etcd", pkg: "go.etcd.io/etcd/server/v3" },
  kubeApiserver: { name: "kube-apiserver", pkg: "k8s.io/kubernetes/cmd/kube-apiserver" },
  kubeControllerManager: {
    name: "kube-controller-manager",
    pkg: "k8s.io/kubernetes/cmd/kube-controller-manager"
  }
} as const

/** `go build` flags for `program`; the Kubernetes servers learn their own version from them. */
const buildFlags = (program: string): Array<string> => {
  const kubernetes = Paths.pinnedVersions().kubernetes
  const [major, minor] = kubernetes.replace(/^v/, "").split(".")
  const version = (name: string, value: string) =>
    `-X k8s.io/component-base/version.${name}=${value}`
  const ldflags = ["-s", "-w"]
  if (program.startsWith("kube-")) {
    ldflags.push(
      version("gitVersion", kubernetes),
      version("gitMajor", major ?? ""),
      version("gitMinor", minor ?? ""),
      version("gitTreeState", "clean")
    )
  }
  return ["build", "-trimpath", `-ldflags=${ldflags.join(" ")}`]
}

/** Changes whenever the way binaries are built changes, so the cache key changes with it. */
export const recipe =
  "3: trimpath, stripped, component-base version; etcd, kube-apiserver, kube-controller-manager"

const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.callback<string, BuildError>((resume, signal) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"], signal })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    child.on("error", (error) =>
      resume(
        Effect.fail(
          new BuildError({
            message:
              (error as NodeJS.ErrnoException).code === "ENOENT"
                ? `'${command}' was not found on PATH: the control plane is built from Go modules, install Go (1.26 or newer) first`
                : `${command} ${args.join(" ")}: ${error.message}`
          })
        )
      )
    )
    child.on("close", (code) =>
      resume(
        code === 0
          ? Effect.succeed(output.trim())
          : Effect.fail(
              new BuildError({
                message: `${command} ${args.join(" ")} exited with ${code}:\n${output.trim().split("\n").slice(-30).join("\n")}`
              })
            )
      )
    )
  })

const seconds = (since: number) => `${Math.round((Date.now() - since) / 1000)}s`

/** Prints `still building ...` every 30 seconds while `effect` runs. */
const withHeartbeat = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const started = Date.now()
    const heartbeat = yield* Effect.forkChild(
      Effect.sleep("30 seconds").pipe(
        Effect.andThen(
          Effect.sync(() => console.error(`kubefx: still building ${what} (${seconds(started)})`))
        ),
        Effect.forever
      )
    )
    const result = yield* effect
    yield* Fiber.interrupt(heartbeat)
    console.error(`kubefx: built ${what} in ${seconds(started)}`)
    return result
  })

const binariesIn = (bin: string): Built => ({
  etcd: join(bin, programs.etcd.name),
  kubeApiserver: join(bin, programs.kubeApiserver.name),
  kubeControllerManager: join(bin, programs.kubeControllerManager.name)
})

const complete = (binaries: Built) => Object.values(binaries).every((path) => existsSync(path))

/** Holds `lockPath` (created exclusively) while `effect` runs; waits while another process holds it. */
const withLock = <A, E, R>(lockPath: string, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.gen(function* () {
      let announced = false
      for (;;) {
        try {
          closeSync(openSync(lockPath, "wx"))
          return
        } catch {
          // A lock older than an hour is left from a killed build.
          if (existsSync(lockPath) && Date.now() - statSync(lockPath).mtimeMs > 3_600_000) {
            rmSync(lockPath, { force: true })
            continue
          }
          if (!announced)
            console.error(`kubefx: waiting for another build of the control plane (${lockPath})`)
          announced = true
          yield* Effect.sleep("2 seconds")
        }
      }
    }),
    () => effect,
    () => Effect.sync(() => rmSync(lockPath, { force: true }))
  )

/**
 * The control-plane binaries for the pinned versions: from the cache, or built now.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Build } from "@kubefx/controlplane"
 *
 * const program = Effect.gen(function* () {
 *   const binaries = yield* Build.ensureBinaries
 *   console.log(binaries.kubeApiserver)
 * })
 * ```
 * @since 0.1.0
 */
export const ensureBinaries: Effect.Effect<Built, BuildError> = Effect.gen(function* () {
  const goVersion = yield* run("go", ["version"], Paths.goModuleDir)
  const dir = join(Paths.cacheRoot(), "controlplane", Paths.buildKey(`${goVersion}\n${recipe}`))
  const binaries = binariesIn(join(dir, "bin"))
  if (complete(binaries)) return binaries
  mkdirSync(dir, { recursive: true })
  return yield* withLock(
    join(dir, "build.lock"),
    Effect.gen(function* () {
      if (complete(binaries)) return binaries
      const versions = Paths.pinnedVersions()
      console.error(
        `kubefx: building the test control plane once (Kubernetes ${versions.kubernetes}, etcd ${versions.etcd}) into ${dir}; a cold build takes about 10 minutes on 2 cores`
      )
      const staging = join(dir, `bin.partial-${process.pid}`)
      rmSync(staging, { recursive: true, force: true })
      mkdirSync(staging, { recursive: true })
      for (const program of Object.values(programs)) {
        yield* withHeartbeat(
          program.name,
          run(
            "go",
            [...buildFlags(program.name), "-o", join(staging, program.name), program.pkg],
            Paths.goModuleDir
          )
        )
      }
      rmSync(join(dir, "bin"), { recursive: true, force: true })
      renameSync(staging, join(dir, "bin"))
      return binaries
    })
  )
})
