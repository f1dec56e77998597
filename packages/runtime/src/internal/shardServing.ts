/**
 * The serving of a sharded replica: one term serves the buckets the replica holds (the
 * operator's serving with a live shard of those buckets, through a client fenced by the
 * member's Lease). A change of the buckets moves the term's shard: the buckets given up are
 * drained first (the serving's `move` answers once nothing of theirs runs), the buckets gained
 * are added after, and the objects of the buckets kept are not touched. The term stops when
 * nothing is left to serve (drained), or at the fence (within the margin); a stopped term's
 * client refuses writes, whatever of it lingers.
 *
 * @internal
 */
import type { Shard } from "@kubefx/core"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Option, Semaphore } from "effect"
import type { KubeService } from "../Kube.ts"
import type { Serving } from "../Sharding.ts"
import * as Leases from "./lease.ts"
import * as Live from "./liveShard.ts"

type Move = (ranges: ReadonlyArray<Shard.Range>) => Effect.Effect<void>

/** The serving of a set of buckets, while it runs. */
interface Term {
  buckets: ReadonlySet<number>
  readonly fiber: Fiber.Fiber<never, unknown>
  readonly stopWithin: Leases.StopWithin
  readonly shard: Live.LiveShard
  /** Closed once stopped: its client refuses writes from then on. `move` is how the serving
   * follows its shard (`undefined`: it cannot; it is restarted instead). */
  readonly status: { closed: boolean; listed: boolean; move: Move | undefined }
}

const sameSet = (a: ReadonlySet<number>, b: ReadonlySet<number>) =>
  a.size === b.size && [...a].every((x) => b.has(x))

/** What a controller is made of. @internal */
export interface Config<E, R> {
  readonly kube: KubeService
  /** The member's fence: a term's client may write until it. */
  readonly fence: Leases.Fence
  /** `leaseDuration - renewDeadline`: a fenced stop must be over within it. */
  readonly margin: number
  readonly key: Shard.Key
  readonly serverSide: boolean
  readonly ranges: (buckets: ReadonlySet<number>) => ReadonlyArray<Shard.Range>
  readonly what: string
  readonly serve: (serving: Serving) => Effect.Effect<never, E, R>
  /** Where a term's failure goes (the replica fails with it). */
  readonly failed: Deferred.Deferred<never, E>
  /** Called when a term has listed its buckets. */
  readonly listed: Effect.Effect<void>
  /** Wraps a drain (the member renews its Lease meanwhile). */
  readonly drain: <A>(effect: Effect.Effect<A>) => Effect.Effect<A>
}

/** The controller of a replica's serving. @internal */
export interface Controller<R> {
  /** The buckets served now, and whether that term has listed them. */
  readonly current: () =>
    | { readonly buckets: ReadonlySet<number>; readonly listed: boolean }
    | undefined
  /** Serves `want` (nothing for none): the buckets given up are drained before the others are
   * added, one change at a time; with `fenced`, the term stops within the margin at once, even
   * while a change is under way. */
  readonly serve: (want: ReadonlySet<number>, fenced: boolean) => Effect.Effect<void, never, R>
}

/** A controller with nothing served yet. @internal */
export const make = <E, R>(config: Config<E, R>): Controller<R> => {
  const lock = Semaphore.makeUnsafe(1)
  let term: Term | undefined
  /** Completes once the last term stopped: a new one starts only then. */
  let stopped: Effect.Effect<void> = Effect.void

  const stop = (fenced: boolean) =>
    Effect.suspend(() => {
      const t = term
      if (t === undefined) return Effect.void
      term = undefined
      const done = Deferred.makeUnsafe<void>()
      stopped = Deferred.await(done)
      // Fenced, the term lost the Lease: its writes are refused from now on, even if a renewal
      // succeeds meanwhile.
      if (fenced) {
        t.stopWithin.millis = config.margin / 2
        t.status.closed = true
      }
      const interrupt = Fiber.interrupt(t.fiber)
      return Effect.gen(function* () {
        const over = fenced
          ? yield* Effect.timeoutOption(interrupt, Duration.millis(config.margin))
          : yield* Effect.asSome(config.drain(interrupt))
        t.status.closed = true
        if (Option.isNone(over))
          yield* Effect.logError(
            "sharding: handlers still running after the lease could not be renewed; their writes are refused"
          )
      }).pipe(Effect.ensuring(Deferred.succeed(done, undefined)))
    })

  const start = (buckets: ReadonlySet<number>) =>
    Effect.gen(function* () {
      yield* stopped
      const status: Term["status"] = { closed: false, listed: false, move: undefined }
      const fence = config.fence
      const view = {
        get until() {
          return status.closed ? Number.NEGATIVE_INFINITY : fence.until
        }
      } as Leases.Fence
      const stopWithin: Leases.StopWithin = { millis: undefined }
      const client = yield* Leases.fenced(config.kube, view, config.what)
      const shard = Live.make(config.key, config.ranges(buckets), config.serverSide, config.listed)
      const serving = config.serve({
        kube: client,
        shard,
        stopWithin,
        listed: Effect.suspend(() => {
          status.listed = true
          return config.listed
        }),
        onMove: (move) => {
          status.move = move
        }
      })
      const fiber = yield* Effect.forkChild(
        serving.pipe(
          Effect.onExit((exit) =>
            Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)
              ? Deferred.failCause(config.failed, exit.cause)
              : Effect.void
          )
        )
      )
      term = { buckets, fiber, stopWithin, shard, status }
      // The fence passed while the term was starting: a fenced stop found nothing to stop.
      if ((yield* Leases.localMillis) >= config.fence.until) yield* stop(true)
    })

  /** Moves the term to `want`: drains the buckets it gives up, then adds the others. */
  const move = (t: Term, move: Move, want: ReadonlySet<number>) =>
    Effect.gen(function* () {
      const keep = new Set([...t.buckets].filter((b) => want.has(b)))
      if (keep.size < t.buckets.size) {
        yield* config.drain(move(config.ranges(keep)))
        // Stopped at the fence meanwhile: nothing more to move.
        if (term !== t) return
        t.buckets = keep
      }
      if (want.size > keep.size) {
        yield* move(config.ranges(want))
        t.buckets = want
      }
    })

  const change = (want: ReadonlySet<number>) =>
    Effect.suspend(() => {
      const t = term
      if (want.size === 0) return stop(false)
      if (t === undefined) return start(want)
      if (sameSet(t.buckets, want)) return Effect.void
      const follow = t.status.move
      // Nothing kept (or a serving that cannot follow): a new term.
      if (follow === undefined || ![...t.buckets].some((b) => want.has(b)))
        return Effect.andThen(stop(false), start(want))
      return move(t, follow, want)
    })

  return {
    current: () =>
      term === undefined
        ? undefined
        : { buckets: term.buckets, listed: term.status.listed && term.shard.listed() },
    // The fence waits for no change under way (a drain can be long): the term is interrupted.
    serve: (want, fenced) => (fenced ? stop(true) : lock.withPermits(1)(change(want)))
  }
}
