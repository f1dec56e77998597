/**
 * What stands between a sharded serving's watchers and its processors: only the objects of the
 * shard now reach a processor (watch events, and the items daemons hand back), and a move of
 * the shard waits for the event being fed, so every later one sees the new ranges. A watcher
 * the indexes share sees every object; the feed keeps what it knows, and hands the objects of
 * gained ranges to its processor when the shard grows. Unsharded, everything passes.
 *
 * @internal
 */
import { type KubeObject, Shard } from "@kubefx/core"
import { Effect, Semaphore } from "effect"
import type * as WatchState from "../WatchState.ts"
import * as Known from "./known.ts"
import * as Live from "./liveShard.ts"

type Event = WatchState.WatchEvent

/** The feed of a serving. @internal */
export interface Feed {
  /** Feeds an event of watcher `key` to `forward`, as its processor sees it (only the shard's
   * objects; `undefined`: nothing for it). */
  readonly event: <E, R>(
    key: string,
    event: Event,
    forward: (event: Event | undefined) => Effect.Effect<void, E, R>
  ) => Effect.Effect<void, E, R>
  /** Runs `offer` (an item of `object` for the queue) while the object is in the shard. */
  readonly offer: <E, R>(
    object: KubeObject.KubeObject,
    offer: Effect.Effect<void, E, R>
  ) => Effect.Effect<void, E, R>
  /** Moves the shard to `ranges`, handing the objects of gained ranges that shared watchers
   * know to `replay`; answers whether an object is outside the shard now. */
  readonly move: (
    ranges: ReadonlyArray<Shard.Range>,
    replay: (key: string, object: KubeObject.KubeObject) => Effect.Effect<void>
  ) => Effect.Effect<(object: KubeObject.KubeObject) => boolean>
}

/** An event with only the objects of the shard now. */
const only = (shard: Live.LiveShard, event: Event): Event | undefined => {
  const has = (o: KubeObject.KubeObject) => Live.has(shard, o)
  switch (event._tag) {
    case "Applied":
    case "Deleted":
      return has(event.object) ? event : undefined
    case "Synced":
      return { ...event, objects: event.objects.filter(has) }
  }
}

/** The feed of `shard` (none: unsharded), with the keys of the watchers the indexes share. @internal */
export const make = (shard: Live.LiveShard | undefined, shared: Iterable<string>): Feed => {
  if (shard === undefined)
    return {
      event: (_, event, forward) => forward(event),
      offer: (_, offer) => offer,
      move: () => Effect.succeed(() => false)
    }
  const gate = Semaphore.makeUnsafe(1)
  const kept = new Map([...shared].map((key) => [key, Known.make()] as const))
  const inside = (ranges: ReadonlyArray<Shard.Range>, o: KubeObject.KubeObject) =>
    Shard.contains(ranges, Shard.keyValue(o, shard.key))
  return {
    event: (key, event, forward) =>
      gate.withPermit(
        Effect.suspend(() => {
          kept.get(key)?.track(event)
          return forward(only(shard, event))
        })
      ),
    offer: (object, offer) =>
      gate.withPermit(Effect.suspend(() => (Live.has(shard, object) ? offer : Effect.void))),
    move: (ranges, replay) =>
      gate.withPermit(
        Effect.gen(function* () {
          const before = shard.current().ranges
          shard.move(ranges)
          for (const [key, known] of kept)
            for (const o of known.objects())
              if (inside(ranges, o) && !inside(before, o)) yield* replay(key, o)
          return (o: KubeObject.KubeObject) => !Live.has(shard, o)
        })
      )
  }
}
