/**
 * What a stream of watch events says is there now: the objects by namespace and name, each
 * event applied (a `Synced` replaces the objects of its namespace, or all of them for the
 * cluster). The namespace fan-out keeps it to tell what went with a deleted namespace; a
 * sharded serving's feed, to hand a processor the objects of gained ranges.
 *
 * @internal
 */
import { KubeObject } from "@kubefx/core"
import type * as WatchState from "../WatchState.ts"

/** The objects known from a stream of events. @internal */
export const make = () => {
  const objects = new Map<string, KubeObject.KubeObject>()
  const inNamespace = (o: KubeObject.KubeObject, namespace: string | undefined) =>
    namespace === undefined || (o.metadata?.namespace ?? "") === namespace
  return {
    objects: (): Iterable<KubeObject.KubeObject> => objects.values(),
    track: (event: WatchState.WatchEvent): void => {
      switch (event._tag) {
        case "Applied":
          objects.set(KubeObject.key(event.object), event.object)
          return
        case "Deleted":
          objects.delete(KubeObject.key(event.object))
          return
        case "Synced":
          for (const [k, o] of objects) if (inNamespace(o, event.namespace)) objects.delete(k)
          for (const o of event.objects) objects.set(KubeObject.key(o), o)
          return
      }
    },
    /** Forgets the objects of a namespace; answers them. */
    drop: (namespace: string): ReadonlyArray<KubeObject.KubeObject> => {
      const left = [...objects].filter(([, o]) => inNamespace(o, namespace))
      for (const [k] of left) objects.delete(k)
      return left.map(([, o]) => o)
    }
  }
}
