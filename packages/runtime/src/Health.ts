/**
 * What the operator's probes answer, from what its watchers report about each watched scope
 * (a resource in a namespace, or cluster-wide):
 *
 * - **liveness** (`/healthz`): no scope has been failing for longer than its idle timeout. A
 *   scope fails when its list or watch fails (a watch silent for `idleTimeout` fails with
 *   `WATCH_IDLE`); it recovers when a list completes, a watch is accepted or an event arrives.
 *   An operator whose connection to the API server stays broken is restarted by the kubelet.
 * - **readiness** (`/readyz`): the operator's first lists are complete (`Operator.ready`),
 *   every scope has listed once and none is failing now, and nothing else holds it back
 *   ({@link Health.block}: a sharded replica that does not hold its share yet).
 *
 * A {@link Health} is plain mutable bookkeeping (no fibers); the watcher calls its
 * {@link ScopeProbe} and the health server reads {@link liveness} and {@link readiness}.
 *
 * @since 0.1.0
 */
import { Duration } from "effect"

/**
 * The reports of one watched scope.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScopeProbe {
  /** A list of the whole scope completed. */
  readonly listed: () => void
  /** A watch was accepted, or delivered an event: the scope is healthy. */
  readonly alive: () => void
  /** A list or watch failed; the watcher tries again after its backoff. */
  readonly failed: (reason: string) => void
  /** The scope is no longer watched (its namespace went, the operator stops). */
  readonly close: () => void
}

interface ScopeState {
  readonly name: string
  readonly idleMillis: number
  listed: boolean
  /** Since when the scope fails without a sign of life, and why. */
  failing: { readonly since: number; reason: string } | undefined
}

/**
 * The health of an operator's watchers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Health {
  /** The operator's first lists are complete (`Operator.ready`): readiness needs it. */
  readonly setReady: () => void
  /** A reason readiness must wait for besides the watches (sharding: the replica does not
   * hold its share yet); `undefined` clears it. */
  readonly block: (reason: string | undefined) => void
  /** @internal */
  readonly isReady: () => boolean
  /** @internal */
  readonly blocked: () => string | undefined
  /** Starts tracking a scope, named for messages (`configmaps in team-a`). */
  readonly track: (name: string, idleTimeout: Duration.Duration) => ScopeProbe
  /** @internal */
  readonly scopes: ReadonlySet<ScopeState>
  /** @internal */
  readonly now: () => number
}

/**
 * A probe's answer: `ok`, and one line per problem otherwise.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly ok: boolean
  readonly problems: ReadonlyArray<string>
}

/**
 * A fresh health record; `now` is the clock in milliseconds (default `Date.now`).
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { Health } from "@kubefx/runtime"
 *
 * const health = Health.make()
 * const probe = health.track("configmaps in default", Duration.seconds(90))
 * Health.readiness(health).ok // false: not listed yet
 * probe.listed()
 * health.setReady()
 * Health.readiness(health).ok // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (now: () => number = Date.now): Health => {
  const scopes = new Set<ScopeState>()
  let ready = false
  let blocked: string | undefined
  const track = (name: string, idleTimeout: Duration.Duration): ScopeProbe => {
    const state: ScopeState = {
      name,
      idleMillis: Duration.toMillis(idleTimeout),
      listed: false,
      failing: undefined
    }
    scopes.add(state)
    const alive = () => {
      state.failing = undefined
    }
    return {
      listed: () => {
        state.listed = true
        alive()
      },
      alive,
      failed: (reason) => {
        if (state.failing === undefined) state.failing = { since: now(), reason }
        else state.failing.reason = reason
      },
      close: () => {
        scopes.delete(state)
      }
    }
  }
  return {
    setReady: () => {
      ready = true
    },
    isReady: () => ready,
    block: (reason) => {
      blocked = reason
    },
    blocked: () => blocked,
    track,
    scopes,
    now
  }
}

const report = (problems: ReadonlyArray<string>): Report => ({
  ok: problems.length === 0,
  problems
})

/**
 * Liveness: no scope failing for longer than its idle timeout.
 *
 * @example
 * ```ts
 * import { Health } from "@kubefx/runtime"
 *
 * Health.liveness(Health.make()) // { ok: true, problems: [] }
 * ```
 *
 * @since 0.1.0
 * @category probes
 */
export const liveness = (health: Health): Report => {
  const now = health.now()
  const problems: Array<string> = []
  for (const s of health.scopes) {
    if (s.failing !== undefined && now - s.failing.since > s.idleMillis)
      problems.push(
        `watch ${s.name} failing for ${Duration.format(Duration.millis(now - s.failing.since))} (${s.failing.reason})`
      )
  }
  return report(problems)
}

/**
 * Readiness: every scope listed once and watching (not failing now).
 *
 * @example
 * ```ts
 * import { Health } from "@kubefx/runtime"
 *
 * const health = Health.make()
 * health.setReady()
 * Health.readiness(health) // { ok: true, problems: [] }: nothing to watch
 * ```
 *
 * @since 0.1.0
 * @category probes
 */
export const readiness = (health: Health): Report => {
  const problems: Array<string> = health.isReady() ? [] : ["the first lists are not complete"]
  const blocked = health.blocked()
  if (blocked !== undefined) problems.push(blocked)
  for (const s of health.scopes) {
    if (!s.listed) problems.push(`${s.name}: not listed yet`)
    else if (s.failing !== undefined) problems.push(`${s.name}: not watching (${s.failing.reason})`)
  }
  return report(problems)
}
