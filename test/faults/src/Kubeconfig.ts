/**
 * A kubeconfig that reaches the API server through the fault proxy: the same user, client
 * certificate and CA, another server address. The serving certificate's SANs include
 * 127.0.0.1, so TLS through a proxy on 127.0.0.1 verifies as it does directly.
 *
 * @since 0.1.0
 */
import { readFileSync, writeFileSync } from "node:fs"
import { parse, stringify } from "yaml"

interface Config {
  readonly clusters?: ReadonlyArray<{ readonly name: string; readonly cluster: object }>
}

/**
 * Writes a copy of the kubeconfig at `path` whose clusters point at `server`, next to it
 * (`<path>.via-<port>`), and returns the copy's path.
 *
 * @example
 * ```ts
 * import { Kubeconfig } from "@kubefx/faults"
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
