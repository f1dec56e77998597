/**
 * The URL paths of the Kubernetes API: a group version (`/api/v1`, `/apis/{group}/{version}`),
 * a collection, an object, a subresource. Shared by the client and the simulated cluster.
 *
 * @since 0.1.0
 */
import type { Resource } from "@kubefx/core"

/**
 * URL prefix of a group version: `/api/v1` or `/apis/{group}/{version}`.
 *
 * @example
 * ```ts
 * import { Paths } from "@kubefx/runtime"
 *
 * Paths.groupVersionPath({ group: "", version: "v1" }) // "/api/v1"
 * ```
 *
 * @since 0.1.0
 * @category paths
 */
export const groupVersionPath = (
  resource: Pick<Resource.ApiResource, "group" | "version">
): string =>
  resource.group === ""
    ? `/api/${resource.version}`
    : `/apis/${encodeURIComponent(resource.group)}/${resource.version}`

/**
 * Path of a collection or of one object (with an optional subresource). A namespace is used
 * only for namespaced resources; omitting it lists across all namespaces.
 *
 * @example
 * ```ts
 * import { Builtins } from "@kubefx/core"
 * import { Paths } from "@kubefx/runtime"
 *
 * Paths.path(Builtins.configMaps, { namespace: "default", name: "x" })
 * // "/api/v1/namespaces/default/configmaps/x"
 * ```
 *
 * @since 0.1.0
 * @category paths
 */
export const path = (
  resource: Resource.ApiResource,
  at: {
    readonly namespace?: string | undefined
    readonly name?: string
    readonly subresource?: string
  }
): string => {
  let p = groupVersionPath(resource)
  if (resource.namespaced && at.namespace !== undefined) {
    p += `/namespaces/${encodeURIComponent(at.namespace)}`
  }
  p += `/${resource.plural}`
  if (at.name !== undefined) p += `/${encodeURIComponent(at.name)}`
  if (at.subresource !== undefined) p += `/${at.subresource}`
  return p
}
