/**
 * Where the control plane's programs come from: a folder the user names (the `binDir` option,
 * else `$KUBEFX_CONTROLPLANE_BIN`), or the build from Go modules (`Build`) when none is named.
 *
 * A named folder needs `etcd` and `kube-apiserver`; `kube-controller-manager` is used when it is
 * there. envtest's folder (`$KUBEBUILDER_ASSETS`, from `setup-envtest use -p path`) holds
 * `etcd`, `kube-apiserver` and `kubectl`, so a team that has it needs no Go; the control plane
 * then runs without kube-controller-manager (see `ControlPlane.Info.controllers`).
 *
 * @since 0.1.0
 */
import { accessSync, constants, statSync } from "node:fs"
import { join } from "node:path"
import { Data, Effect } from "effect"
import * as Build from "./Build.ts"

/** The programs of a control plane, as absolute paths. @since 0.1.0 */
export interface Binaries {
  readonly etcd: string
  readonly kubeApiserver: string
  /** Absent from envtest's folder: the control plane then runs without it. */
  readonly kubeControllerManager: string | undefined
}

/** The binaries could not be found or built; the message names what and where. @since 0.1.0 */
export class BinariesError extends Data.TaggedError("BinariesError")<{
  readonly message: string
}> {}

/** The environment variable naming a folder of binaries. @since 0.1.0 */
export const envVar = "KUBEFX_CONTROLPLANE_BIN"

const named = (source: string) =>
  source === envVar ? `named by ${envVar}` : "named by the binDir option"

const undo = (source: string) => (source === envVar ? `unset ${envVar}` : "drop the binDir option")

const executable = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

const exists = (path: string) => {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}

/**
 * The binaries in `dir`; `source` says who named it (for messages: {@link envVar} or the
 * option). Fails with one line naming the missing program and the folder.
 *
 * @example
 * ```ts
 * import { Binaries } from "@kubefx/controlplane"
 *
 * const envtest = Binaries.fromFolder(process.env.KUBEBUILDER_ASSETS ?? "", "KUBEBUILDER_ASSETS")
 * ```
 * @since 0.1.0
 */
export const fromFolder = (dir: string, source: string): Effect.Effect<Binaries, BinariesError> =>
  Effect.suspend(() => {
    if (!exists(dir) || !statSync(dir).isDirectory())
      return Effect.fail(
        new BinariesError({
          message: `kubefx: the control-plane folder ${dir} (${named(source)}) does not exist; name a folder holding etcd and kube-apiserver (envtest's: setup-envtest use -p path), or ${undo(source)} to build them from Go modules`
        })
      )
    for (const program of ["etcd", "kube-apiserver"]) {
      const path = join(dir, program)
      if (!executable(path))
        return Effect.fail(
          new BinariesError({
            message: exists(path)
              ? `kubefx: ${path} is not an executable file (${named(source)}); chmod +x it`
              : `kubefx: no ${program} in ${dir} (${named(source)}); put it there (envtest's folder has it: setup-envtest use -p path), or ${undo(source)} to build the control plane from Go modules`
          })
        )
    }
    const kcm = join(dir, "kube-controller-manager")
    return Effect.succeed({
      etcd: join(dir, "etcd"),
      kubeApiserver: join(dir, "kube-apiserver"),
      kubeControllerManager: executable(kcm) ? kcm : undefined
    })
  })

/**
 * The binaries to start: from `binDir`, else from `$KUBEFX_CONTROLPLANE_BIN`, else built from
 * Go modules (or found in the build cache).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Binaries } from "@kubefx/controlplane"
 *
 * const program = Effect.gen(function* () {
 *   const binaries = yield* Binaries.resolve()
 *   console.log(binaries.kubeApiserver, binaries.kubeControllerManager ?? "no controller manager")
 * })
 * ```
 * @since 0.1.0
 */
export const resolve = (binDir?: string | undefined): Effect.Effect<Binaries, BinariesError> => {
  if (binDir !== undefined) return fromFolder(binDir, "binDir")
  const fromEnv = process.env[envVar]
  if (fromEnv !== undefined && fromEnv !== "") return fromFolder(fromEnv, envVar)
  return Build.ensureBinaries.pipe(
    Effect.mapError((error) => new BinariesError({ message: error.message }))
  )
}
