/**
 * Kubeconfig files for the control plane's client-certificate users.
 *
 * @since 0.1.0
 */
import { readFileSync, writeFileSync } from "node:fs"
import { stringify } from "yaml"

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
