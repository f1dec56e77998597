/**
 * Kubeconfig files for the control plane's client-certificate users, and copies of them that
 * reach the API server another way (through a fault proxy).
 *
 * @since 0.1.0
 */
import { readFileSync, writeFileSync } from "node:fs"
import { parse, stringify } from "yaml"

/**
 * Writes a kubeconfig with one cluster, one user (embedded client certificate and key) and one
 * context, named `kubefx`, and returns its path.
 *
 * @example
 * ```ts
 * import { Kubeconfig } from "@kubefx/controlplane"
 * Kubeconfig.write({ path: "/tmp/kc", server: "https://127.0.0.1:6443", caFile: "ca.crt",
 *   certFile: "admin.crt", keyFile: "admin.key", user: "admin" })
 * ```
 * @since 0.1.0
 */
export const write = (options: {
  readonly path: string
  readonly server: string
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
  readonly user: string
}): string => {
  const b64 = (file: string) => readFileSync(file).toString("base64")
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "kubefx",
        cluster: { server: options.server, "certificate-authority-data": b64(options.caFile) }
      }
    ],
    users: [
      {
        name: options.user,
        user: {
          "client-certificate-data": b64(options.certFile),
          "client-key-data": b64(options.keyFile)
        }
      }
    ],
    contexts: [{ name: "kubefx", context: { cluster: "kubefx", user: options.user } }],
    "current-context": "kubefx"
  }
  writeFileSync(options.path, stringify(config), { mode: 0o600 })
  return options.path
}

/**
 * A kubeconfig that reaches the API server through the fault proxy: the same user, client
 * certificate and CA, another server address. The serving certificate's SANs include
 * 127.0.0.1, so TLS through a proxy on 127.0.0.1 verifies as it does directly.
 */
interface Config {
  readonly clusters?: ReadonlyArray<{ readonly name: string; readonly cluster: object }>
}

/**
 * Writes a copy of the kubeconfig at `path` whose clusters point at `server`, next to it
 * (`<path>.via-<port>`), and returns the copy's path.
 *
 * @example
 * ```ts
 * import { Kubeconfig } from "@kubefx/controlplane"
 * const viaProxy = Kubeconfig.through("/tmp/op.kubeconfig", "https://127.0.0.1:40123")
 * ```
 * @since 0.1.0
 */
export const through = (path: string, server: string): string => {
  const config = parse(readFileSync(path, "utf8")) as Config
  const rewritten = {
    ...config,
    clusters: (config.clusters ?? []).map(({ name, cluster }) => ({
      name,
      cluster: { ...cluster, server }
    }))
  }
  const out = `${path}.via-${new URL(server).port}`
  writeFileSync(out, stringify(rewritten), { mode: 0o600 })
  return out
}
