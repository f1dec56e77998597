/**
 * A delay queue (kube-rs's `scheduler` in the small): items due at a time, in a binary heap by
 * due time; one fiber sleeps until the soonest is due and hands each due item to `fire`. An
 * item waiting here costs its place in the heap, where a fiber sleeping for it would cost
 * kilobytes; the spawner keeps its timers here between runs.
 *
 * An item is in the queue at most once: scheduling it again moves it. `fire` runs on the
 * queue's fiber, one due item after the other, and should only decide and fork.
 *
 * @internal
 */
import { Clock, Deferred, Effect, Exit } from "effect"
import type * as Scope from "effect/Scope"

/** What the queue keeps of an item: when it is due (epoch milliseconds), its place (-1: not
 * queued). @internal */
export interface Item {
  at: number
  index: number
}

/** @internal */
export interface DelayQueue<A extends Item> {
  /** Puts the item in the queue, due at `at`, or moves it there. */
  readonly schedule: (item: A, at: number) => void
  /** Takes the item out of the queue, if it is there. */
  readonly cancel: (item: A) => void
}

/**
 * A queue whose fiber lives in the current scope and fires due items with `fire`.
 *
 * @internal
 */
export const make = <A extends Item, R>(
  fire: (item: A) => Effect.Effect<void, never, R>
): Effect.Effect<DelayQueue<A>, never, R | Scope.Scope> =>
  Effect.gen(function* () {
    const heap: Array<A> = []
    /** Completed when the soonest item changes: the sleeping fiber looks again. */
    let changed = Deferred.makeUnsafe<void>()

    const place = (item: A, index: number) => {
      heap[index] = item
      item.index = index
    }
    const up = (index: number) => {
      const item = heap[index] as A
      while (index > 0) {
        const parent = (index - 1) >> 1
        const above = heap[parent] as A
        if (above.at <= item.at) break
        place(above, index)
        index = parent
      }
      place(item, index)
    }
    const down = (index: number) => {
      const item = heap[index] as A
      while (true) {
        const left = 2 * index + 1
        if (left >= heap.length) break
        const right = left + 1
        const child =
          right < heap.length && (heap[right] as A).at < (heap[left] as A).at ? right : left
        const below = heap[child] as A
        if (below.at >= item.at) break
        place(below, index)
        index = child
      }
      place(item, index)
    }
    const remove = (index: number) => {
      const item = heap[index] as A
      const last = heap.pop() as A
      item.index = -1
      if (last === item) return
      place(last, index)
      up(index)
      down(last.index)
    }

    const schedule = (item: A, at: number) => {
      item.at = at
      if (item.index < 0) {
        heap.push(item)
        up(heap.length - 1)
      } else {
        up(item.index)
        down(item.index)
      }
      if (item.index === 0) Deferred.doneUnsafe(changed, Exit.void)
    }

    const cancel = (item: A) => {
      if (item.index >= 0) remove(item.index)
    }

    const due = (now: number): Array<A> => {
      const out: Array<A> = []
      while (heap.length > 0 && (heap[0] as A).at <= now) {
        out.push(heap[0] as A)
        remove(0)
      }
      return out
    }

    const loop = Effect.gen(function* () {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        for (const item of due(now)) yield* fire(item)
        changed = Deferred.makeUnsafe<void>()
        const soonest = heap[0]
        if (soonest === undefined) yield* Deferred.await(changed)
        else if (soonest.at > now)
          yield* Effect.raceFirst(Effect.sleep(soonest.at - now), Deferred.await(changed))
      }
    })
    yield* Effect.forkScoped(loop)
    return { schedule, cancel }
  })
