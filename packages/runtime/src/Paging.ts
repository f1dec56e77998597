/**
 * Lists that come in pages: every page of a list (`limit` and `continue`), as one answer with
 * the resourceVersion of the first page. Shared by the real client and the simulated cluster.
 *
 * @since 0.1.0
 */

import type { KubeObject } from "@kubefx/core"
import { Effect } from "effect"
import type { ObjectList } from "./Kube.ts"
import type * as KubeError from "./KubeError.ts"

/**
 * What one page asks for: its size, and the continue token of the page before it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page {
  readonly limit: number
  readonly continue?: string | undefined
}

/**
 * Lists every page with `list` (`limit` is the page size, default 500). An expired continue
 * token (410: the pages no longer form one snapshot) starts the list again, at most 3 times.
 * The answer has the first page's resourceVersion and shard selector.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Builtins } from "@kubefx/core"
 * import { Kube, Paging } from "@kubefx/runtime"
 *
 * const configMaps = Builtins.configMaps
 * const all = Effect.gen(function*() {
 *   const kube = yield* Kube
 *   return yield* Paging.listAll((page) => kube.list(configMaps, { namespace: "default", ...page }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category lists
 */
export const listAll = <R>(
  list: (page: Page) => Effect.Effect<ObjectList, KubeError.KubeError, R>,
  options: { readonly limit?: number | undefined } = {}
): Effect.Effect<ObjectList, KubeError.KubeError, R> => {
  const limit = options.limit ?? 500
  return Effect.gen(function* () {
    const items: Array<KubeObject.KubeObject> = []
    let page = yield* list({ limit })
    const { resourceVersion, shard } = page
    items.push(...page.items)
    while (page.continue !== undefined) {
      page = yield* list({ limit, continue: page.continue })
      items.push(...page.items)
    }
    return {
      items,
      resourceVersion,
      continue: undefined,
      ...(shard === undefined ? {} : { shard })
    }
  }).pipe(Effect.retry({ while: (e: KubeError.KubeError) => e._tag === "Expired", times: 3 }))
}
