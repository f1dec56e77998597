/**
 * Where the control plane's Go sources, build cache and binaries live.
 *
 * Binaries are kept outside the clone, under `~/.cache/kubefx/controlplane/<key>/bin` (or
 * `$KUBEFX_CACHE`), where `<key>` is a digest of `go.mod`, `go.sum`, the Go version and the
 * build recipe (`Build.recipe`): a second run, or a fresh clone on the same machine, reuses the build, and a
 * change of pinned versions builds anew.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

/** The Go module that pins kube-apiserver, kube-controller-manager and etcd. @since 0.1.0 */
export const goModuleDir: string = fileURLToPath(new URL("../go", import.meta.url))

/** The root of kubefx's caches: `$KUBEFX_CACHE`, else `$XDG_CACHE_HOME/kubefx`, else `~/.cache/kubefx`. @since 0.1.0 */
export const cacheRoot = (): string =>
  process.env.KUBEFX_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "kubefx")

/** The files whose content decides whether a cached build is still right. @since 0.1.0 */
export const buildInputs: ReadonlyArray<string> = ["go.mod", "go.sum"]

/**
 * The cache key of a build: a digest of the pinned module files and `toolchain` (the Go version
 * and the build recipe).
 *
 * @example
 * ```ts
 * import { Paths } from "@kubefx/controlplane"
 * Paths.buildKey("go version go1.26.8 linux/amd64") // "a1b2c3d4e5f60718"
 * ```
 * @since 0.1.0
 */
export const buildKey = (toolchain: string): string => {
  const hash = createHash("sha256").update(toolchain)
  for (const file of buildInputs) hash.update(file).update(readFileSync(join(goModuleDir, file)))
  return hash.digest("hex").slice(0, 16)
}

/** The pinned versions, read from go.mod, for messages and notes. @since 0.1.0 */
export const pinnedVersions = (): { kubernetes: string; etcd: string } => {
  const mod = readFileSync(join(goModuleDir, "go.mod"), "utf8")
  const find = (module: string) =>
    new RegExp(`${module.replace(/[./]/g, "\\$&")} (v[0-9][^\\s]*)`).exec(mod)?.[1] ?? "unknown"
  return { kubernetes: find("k8s.io/kubernetes"), etcd: find("go.etcd.io/etcd/server/v3") }
}
