/**
 * The bridge from the store's synchronous functions (which throw a `Fail`) to Effects, the
 * selectors of a request read as the server reads them (400 when they do not parse), and the
 * 404 of a path nothing is served at.
 */
import { KubeError } from "@kubefx/runtime"
import { Effect } from "effect"
import * as Selector from "../selector.ts"
import * as ShardSelector from "../shardSelector.ts"
import { fail } from "../store/failures.ts"
import * as Store from "../store.ts"

/** Runs `f`: its value, or the error of the `Fail` it threw. */
export const attempt = <A>(f: () => A): Effect.Effect<A, KubeError.KubeError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (e) {
      if (e instanceof Store.Fail) return Effect.fail(e.error)
      throw e
    }
  })

/** The matcher of a label and a field selector together. */
export const parseSelectors = (
  req: KubeError.RequestInfo,
  labelSelector: string | undefined,
  fieldSelector: string | undefined
) =>
  attempt(() => {
    try {
      const l = Selector.labels(labelSelector)
      const f = Selector.fields(fieldSelector)
      return (o: unknown) => l(o) && f(o)
    } catch (e) {
      throw new Store.Fail(
        new KubeError.BadRequest({
          ...req,
          status: 400,
          reason: "BadRequest",
          message: e instanceof Error ? e.message : String(e)
        })
      )
    }
  })

/**
 * The shard selector of a request, read as kube-apiserver v1.36.3 with `ShardedListAndWatch`
 * reads it: none for an absent or empty one (or with the gate off: the server ignores it),
 * and a 500 (a plain error, not a `Status` of the store) for one that does not parse. Throws.
 */
export const shardSelector = (
  req: KubeError.RequestInfo,
  gate: boolean,
  text: string | undefined
): ShardSelector.ShardSelector | undefined => {
  if (!gate || text === undefined || text === "") return undefined
  try {
    return ShardSelector.parse(text)
  } catch (e) {
    if (!(e instanceof ShardSelector.ShardSelectorError)) throw e
    return fail(req, 500, "", `invalid shard selector: ${e.message}`)
  }
}

/** 404 for a path the simulation serves nothing at. */
export const notServed = (req: KubeError.RequestInfo) =>
  new Store.Fail(
    new KubeError.NotFound({
      ...req,
      status: 404,
      reason: "NotFound",
      message: "the server could not find the requested resource"
    })
  )
