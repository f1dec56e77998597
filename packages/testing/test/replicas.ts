/**
 * Set-ups of the tests of several replicas on the simulated cluster: Widgets, a tracker that
 * notes which replica runs each object's daemon (and every time two did at once), a replica
 * whose handlers report to it, and the test's log lines.
 */
import { Handler, type KubeObject, Registry } from "@kubefx/core"
import { Logging, type Settings } from "@kubefx/runtime"
import { Clock, Effect, Logger } from "effect"
import { Runner } from "../src/index.ts"
import { simWidgets } from "./fixtures.ts"

export const ns = "default"

export const widget = (name: string): KubeObject.KubeObject => ({
  apiVersion: "sim.kubefx.dev/v1",
  kind: "Widget",
  metadata: { name, namespace: ns },
  spec: {}
})

/** Who runs each object's daemon now, the create handler's runs, and every overlap. */
export const makeTracker = () => {
  const running = new Map<string, string>()
  const overlaps: Array<string> = []
  const created: Array<string> = []
  return {
    running,
    overlaps,
    created,
    enter: (object: string, replica: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const other = running.get(object)
          if (other !== undefined) overlaps.push(`${object}: ${other} and ${replica} at ${now}`)
          running.set(object, replica)
        })
      ),
    leave: (object: string, replica: string) =>
      Effect.sync(() => {
        if (running.get(object) === replica) running.delete(object)
      })
  }
}

export type Tracker = ReturnType<typeof makeTracker>

/** The registry of one replica: a create handler and a daemon per Widget, reporting to
 * `tracker` under `identity`. */
export const registry = (identity: string, tracker: Tracker) =>
  Registry.make(
    Handler.onCreate(simWidgets, { id: "made" }, (ctx) =>
      Effect.sync(() => {
        tracker.created.push(`${identity}:${ctx.name}`)
        return { by: identity }
      })
    ),
    // Asked to stop, the daemon takes a second to finish: a handoff must wait for it.
    Handler.daemon(simWidgets, { id: "watch", cancellationTimeout: "3 seconds" }, (ctx) =>
      Effect.acquireUseRelease(
        tracker.enter(ctx.name, identity),
        () => Effect.andThen(ctx.stopped, Effect.sleep("1 second")),
        () => tracker.leave(ctx.name, identity)
      )
    )
  )

/** A replica (an operator process on its own connection) with these settings. */
export const replica = (
  identity: string,
  tracker: Tracker,
  settings: Settings.Input,
  clock?: Clock.Clock
) => {
  const runner = Runner.make(registry(identity, tracker), { namespaces: [ns], ...settings })
  return clock === undefined ? runner : Effect.provideService(runner, Clock.Clock, clock)
}

/** Fails until the object's daemon runs on `identity`. */
export const runningOn = (tracker: Tracker, object: string, identity: string) =>
  Effect.suspend(() =>
    tracker.running.get(object) === identity
      ? Effect.void
      : Effect.fail(`${object}: run by ${tracker.running.get(object)}`)
  )

/** Fails while the object's daemon runs anywhere. */
export const runningNowhere = (tracker: Tracker, object: string) =>
  Effect.suspend(() =>
    tracker.running.has(object)
      ? Effect.fail(`${object}: still run by ${tracker.running.get(object)}`)
      : Effect.void
  )

/** The test's log lines, as JSON objects, and the layer that captures them. */
export const capture = () => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const layer = Logger.layer([Logger.map(Logging.json, (line) => lines.push(JSON.parse(line)))])
  return { lines, layer }
}

/** A clock `offset` milliseconds ahead of `base`, wall and monotonic time alike. */
export const skewed = (base: Clock.Clock, offset: number): Clock.Clock => {
  const nanos = BigInt(offset) * 1_000_000n
  return {
    ...base,
    currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe() + offset,
    currentTimeMillis: Effect.sync(() => base.currentTimeMillisUnsafe() + offset),
    currentTimeNanosUnsafe: () => base.currentTimeNanosUnsafe() + nanos,
    currentTimeNanos: Effect.sync(() => base.currentTimeNanosUnsafe() + nanos),
    monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe() + nanos,
    monotonicTimeNanos: Effect.sync(() => base.monotonicTimeNanosUnsafe() + nanos)
  }
}
