/**
 * The serving of a sharded replica: one term at a time serves a set of buckets (the operator's
 * serving with that shard, through a client fenced by the member's Lease); changing the set
 * stops the term (drained, or within the margin when fenced) before the next one starts. A
 * stopped term's client refuses writes, whatever of it lingers.
 *
 * @internal
 */
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Option, Semaphore } from "effect"
import type { KubeService } from "../Kube.ts"
import type { Serving } from "../Sharding.ts"
import * as Leases from "./lease.ts"

/** The serving of a set of buckets, while it runs. */
interface Term {
  readonly buckets: ReadonlySet<number>
  readonly fiber: Fiber.Fiber<never, unknown>
  readonly stopWithin: Leases.StopWithin
  /** Closed once stopped: its client refuses writes from then on. */
  readonly status: { closed: boolean; listed: boolean }
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
  readonly shard: (buckets: ReadonlySet<number>) => Serving["shard"]
  readonly what: string
  readonly serve: (serving: Serving) => Effect.Effect<never, E, R>
  /** Where a term's failure goes (the replica fails with it). */
  readonly failed: Deferred.Deferred<never, E>
  /** Called when a term has listed its buckets. */
  readonly listed: Effect.Effect<void>
  /** Wraps a graceful stop (the member renews its Lease meanwhile). */
  readonly drain: <A>(effect: Effect.Effect<A>) => Effect.Effect<A>
}

/** The controller of a replica's serving. @internal */
export interface Controller<R> {
  /** The buckets served now, and whether that term has listed them. */
  readonly current: () =>
    | { readonly buckets: ReadonlySet<number>; readonly listed: boolean }
    | undefined
  /** Serves `want` (nothing for none): a term of other buckets stops first, drained, or within
   * the margin when `fenced`. One change at a time. */
  readonly serve: (want: ReadonlySet<number>, fenced: boolean) => Effect.Effect<void, never, R>
}

/** A controller with nothing served yet. @internal */
export const make = <E, R>(config: Config<E, R>): Controller<R> => {
  const lock = Semaphore.makeUnsafe(1)
  let term: Term | undefined

  const stop = (fenced: boolean) =>
    Effect.gen(function* () {
      const t = term
      if (t === undefined) return
      term = undefined
      if (fenced) t.stopWithin.millis = config.margin / 2
      const interrupt = Fiber.interrupt(t.fiber)
      const stopped = fenced
        ? yield* Effect.timeoutOption(interrupt, Duration.millis(config.margin))
        : yield* Effect.asSome(config.drain(interrupt))
      t.status.closed = true
      if (Option.isNone(stopped))
        yield* Effect.logError(
          "sharding: handlers still running after the lease could not be renewed; their writes are refused"
        )
    })

  const start = (buckets: ReadonlySet<number>) =>
    Effect.gen(function* () {
      if (buckets.size === 0) return
      const status = { closed: false, listed: false }
      const fence = config.fence
      const view = {
        get until() {
          return status.closed ? Number.NEGATIVE_INFINITY : fence.until
        }
      } as Leases.Fence
      const stopWithin: Leases.StopWithin = { millis: undefined }
      const client = yield* Leases.fenced(config.kube, view, config.what)
      const serving = config.serve({
        kube: client,
        shard: config.shard(buckets),
        stopWithin,
        listed: Effect.suspend(() => {
          status.listed = true
          return config.listed
        })
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
      term = { buckets, fiber, stopWithin, status }
    })

  return {
    current: () =>
      term === undefined ? undefined : { buckets: term.buckets, listed: term.status.listed },
    serve: (want, fenced) =>
      lock.withPermits(1)(
        Effect.suspend(() =>
          term !== undefined && sameSet(term.buckets, want)
            ? Effect.void
            : Effect.andThen(stop(fenced), start(want))
        )
      )
  }
}
