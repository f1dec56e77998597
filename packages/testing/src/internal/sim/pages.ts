/**
 * List pages of the simulated cluster: a list with a `limit` answers its first items and a
 * continue token that holds the rest (as read at that version); a token is good once, and
 * compaction forgets them all (the next use is 410 Expired, as on a real server).
 */
import type { KubeObject } from "@kubefx/core"
import type { ObjectList } from "@kubefx/runtime"

/** The pending pages of a simulated cluster. */
export interface Pages {
  /** The first `limit` items, and a token for the rest when there are more. */
  readonly slice: (
    items: ReadonlyArray<KubeObject.KubeObject>,
    resourceVersion: string,
    limit: number | undefined
  ) => ObjectList
  /** The rest a token holds (then the token is spent), or `undefined` if it is unknown. */
  readonly take: (
    token: string
  ) =>
    | { readonly items: ReadonlyArray<KubeObject.KubeObject>; readonly resourceVersion: string }
    | undefined
  /** Forgets every token. */
  readonly clear: () => void
}

export const make = (): Pages => {
  const pending = new Map<
    string,
    { readonly items: ReadonlyArray<KubeObject.KubeObject>; readonly resourceVersion: string }
  >()
  let counter = 0
  return {
    slice: (items, resourceVersion, limit) => {
      if (limit === undefined || limit <= 0 || items.length <= limit)
        return { items, resourceVersion, continue: undefined }
      const token = `sim-continue-${++counter}`
      pending.set(token, { items: items.slice(limit), resourceVersion })
      return { items: items.slice(0, limit), resourceVersion, continue: token }
    },
    take: (token) => {
      const page = pending.get(token)
      pending.delete(token)
      return page
    },
    clear: () => pending.clear()
  }
}
