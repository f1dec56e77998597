/**
 * A shard whose ranges move while it is watched (a sharded replica's buckets change): the
 * ranges now and their version (bumped by each move), a signal per version, and the scopes
 * that watch it, each saying which version it has listed, so that the serving knows when
 * every watch caught up with a move (readiness).
 *
 * @internal
 */
import { Shard } from "@kubefx/core"
import { Deferred, Effect } from "effect"

/** A scope watching the shard. @internal */
export interface Tracked {
  /** The scope has listed (or needs no list for) this version. */
  readonly listed: (version: number) => Effect.Effect<void>
  /** The scope stopped watching. */
  readonly close: () => void
}

/** A shard that moves. @internal */
export interface LiveShard {
  readonly _tag: "LiveShard"
  readonly key: Shard.Key
  /** Ask the API server to filter (`shardSelector`). */
  readonly serverSide: boolean
  /** The ranges now, and their version. */
  readonly current: () => {
    readonly ranges: ReadonlyArray<Shard.Range>
    readonly version: number
  }
  /** Completes once the version is no longer `version` (at once if it is not). */
  readonly changed: (version: number) => Effect.Effect<void>
  /** Moves the shard to `ranges` (a new version); the watches follow it. */
  readonly move: (ranges: ReadonlyArray<Shard.Range>) => void
  /** A scope starts watching; it counts as having listed the version of now. */
  readonly track: () => Tracked
  /** Every scope watching it has listed the current version. */
  readonly listed: () => boolean
}

/** A shard at `ranges`; `onListed` runs whenever the last scope catches up with a move. @internal */
export const make = (
  key: Shard.Key,
  ranges: ReadonlyArray<Shard.Range>,
  serverSide: boolean,
  onListed: Effect.Effect<void> = Effect.void
): LiveShard => {
  let now = ranges
  let version = 0
  let next = Deferred.makeUnsafe<void>()
  const scopes = new Map<symbol, number>()
  const listed = () => [...scopes.values()].every((v) => v >= version)
  return {
    _tag: "LiveShard",
    key,
    serverSide,
    current: () => ({ ranges: now, version }),
    changed: (since) =>
      Effect.suspend(() => (since !== version ? Effect.void : Deferred.await(next))),
    move: (ranges) => {
      now = ranges
      version++
      const done = next
      next = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(done, Effect.void)
    },
    track: () => {
      const id = Symbol()
      scopes.set(id, version)
      return {
        listed: (v) =>
          Effect.suspend(() => {
            if (!scopes.has(id) || (scopes.get(id) ?? -1) >= v) return Effect.void
            scopes.set(id, v)
            return v === version && listed() ? onListed : Effect.void
          }),
        close: () => {
          scopes.delete(id)
        }
      }
    },
    listed
  }
}

/** A shard that never moves. @internal */
export const fixed = (
  key: Shard.Key,
  ranges: ReadonlyArray<Shard.Range>,
  serverSide: boolean
): LiveShard => make(key, ranges, serverSide)

/** Whether every range of `next` lies within one range of `before` (nothing gained). @internal */
export const within = (
  next: ReadonlyArray<Shard.Range>,
  before: ReadonlyArray<Shard.Range>
): boolean => next.every((r) => before.some((b) => !less(r.start, b.start) && !less(b.end, r.end)))

/** `a < b` for range bounds (16 hex digits, or 17 for 2^64). */
const less = (a: string, b: string) => (a.length !== b.length ? a.length < b.length : a < b)

/** Whether the object's key hashes into the shard now. @internal */
export const has = (
  shard: LiveShard,
  object: { readonly metadata?: { readonly uid?: string; readonly namespace?: string } }
): boolean => Shard.contains(shard.current().ranges, Shard.keyValue(object, shard.key))
