/**
 * The work queue's `workqueue_*` metrics (see `Metrics`), recorded synchronously from the
 * queue's bookkeeping: depth, adds, queue wait, work duration, retries, and the in-process
 * ages that `tick` publishes (client-go updates those periodically too). Without a
 * `controller` function every call is a no-op.
 *
 * @internal
 */
import { type Context, Effect, Metric } from "effect"
import * as Metrics from "../Metrics.ts"

/** The recorder of one queue. @internal */
export interface QueueMetrics<A> {
  /** An item handed over; `fills` when it filled an empty mailbox (the depth grows). */
  readonly added: (item: A, fills: boolean) => void
  /** A waiting item dropped without being processed. */
  readonly dropped: (item: A) => void
  /** A worker took the item at `now`; answers what to call when its processing ends. */
  readonly taken: (item: A, since: number, now: number) => (end: number) => Effect.Effect<void>
  /** A requeue was scheduled. */
  readonly retried: (item: A) => void
  /** Publishes the unfinished-work and longest-running gauges. */
  readonly tick: Effect.Effect<void>
}

interface Series {
  readonly depth: Metric.Gauge<number>
  readonly adds: Metric.Counter<number>
  readonly wait: Metric.Histogram<number>
  readonly work: Metric.Histogram<number>
  readonly retries: Metric.Counter<number>
  readonly unfinished: Metric.Gauge<number>
  readonly longest: Metric.Gauge<number>
  /** Start times of the items in process. */
  readonly running: Set<{ readonly start: number }>
  waiting: number
}

const series = (controller: string): Series => {
  const labels = { name: controller, controller }
  return {
    depth: Metric.withAttributes(Metrics.queueDepth, labels),
    adds: Metric.withAttributes(Metrics.queueAdds, labels),
    wait: Metric.withAttributes(Metrics.queueDuration, labels),
    work: Metric.withAttributes(Metrics.workDuration, labels),
    retries: Metric.withAttributes(Metrics.queueRetries, labels),
    unfinished: Metric.withAttributes(Metrics.unfinishedWork, labels),
    longest: Metric.withAttributes(Metrics.longestRunning, labels),
    running: new Set(),
    waiting: 0
  }
}

const none: QueueMetrics<unknown> = {
  added: () => {},
  dropped: () => {},
  taken: () => () => Effect.void,
  retried: () => {},
  tick: Effect.void
}

/** @internal */
export const make = <A, R>(
  controllerOf: ((item: A) => string) | undefined,
  context: Context.Context<R>
): QueueMetrics<A> => {
  if (controllerOf === undefined) return none
  const ctx = context as Context.Context<never>
  const all = new Map<string, Series>()
  const of = (item: A): Series => {
    const name = controllerOf(item)
    let s = all.get(name)
    if (s === undefined) {
      s = series(name)
      all.set(name, s)
    }
    return s
  }
  const setDepth = (s: Series, delta: number) => {
    s.waiting += delta
    s.depth.updateUnsafe(s.waiting, ctx)
  }
  return {
    added: (item, fills) => {
      const s = of(item)
      s.adds.updateUnsafe(1, ctx)
      if (fills) setDepth(s, 1)
    },
    dropped: (item) => setDepth(of(item), -1),
    taken: (item, since, now) => {
      const s = of(item)
      setDepth(s, -1)
      s.wait.updateUnsafe((now - since) / 1000, ctx)
      const entry = { start: now }
      s.running.add(entry)
      return (end) =>
        Effect.sync(() => {
          s.running.delete(entry)
          s.work.updateUnsafe((end - now) / 1000, ctx)
        })
    },
    retried: (item) => of(item).retries.updateUnsafe(1, ctx),
    tick: Effect.clockWith((clock) =>
      Effect.sync(() => {
        const now = clock.currentTimeMillisUnsafe()
        for (const s of all.values()) {
          let sum = 0
          let longest = 0
          for (const { start } of s.running) {
            sum += now - start
            longest = Math.max(longest, now - start)
          }
          s.unfinished.updateUnsafe(sum / 1000, ctx)
          s.longest.updateUnsafe(longest / 1000, ctx)
        }
      })
    )
  }
}
