/**
 * `coordination.k8s.io/v1` Leases as client-go's leader election reads and writes them, as pure
 * functions: a Lease's {@link LeaseRecord}, when it is free to take ({@link judge}), the record
 * to write to take or keep it ({@link acquire}) and to give it up ({@link release}).
 *
 * Expiry is judged as client-go judges it: not from the `renewTime` written in the Lease (another
 * machine's clock) but from the local time at which this replica last saw the record change
 * ({@link observe}): a holder that stops renewing is taken over once its record has stayed the
 * same for the lease duration, measured on the observer's clock. Clock skew between replicas
 * does not matter; only their clocks' rates must agree. The holder, for its part, stops
 * handling when it could not renew within the renew deadline, counted from when it sent its
 * last successful renewal: earlier than anyone can see the lease expire.
 *
 * @since 0.1.0
 */
import { Duration } from "effect"
import type * as KubeObject from "./KubeObject.ts"

/**
 * A Lease's spec, as far as leader election uses it (`holderIdentity`, `leaseDurationSeconds`,
 * `acquireTime`, `renewTime`, `leaseTransitions`). An empty holder is `undefined`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseRecord {
  readonly holder: string | undefined
  readonly durationSeconds: number | undefined
  readonly acquireTime: string | undefined
  readonly renewTime: string | undefined
  readonly transitions: number
}

/**
 * The timing of leader election, as client-go's `LeaderElectionConfig`: a lease is taken over
 * once unchanged for `leaseDuration`; its holder stops when it could not renew within
 * `renewDeadline`; every `retryPeriod` candidates try to take it and holders renew it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Timing {
  readonly leaseDuration: Duration.Duration
  readonly renewDeadline: Duration.Duration
  readonly retryPeriod: Duration.Duration
}

/**
 * client-go's defaults: lease duration 15 s, renew deadline 10 s, retry period 2 s.
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 * import { Duration } from "effect"
 *
 * Duration.toSeconds(Lease.defaultTiming.leaseDuration) // 15
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultTiming: Timing = {
  leaseDuration: Duration.seconds(15),
  renewDeadline: Duration.seconds(10),
  retryPeriod: Duration.seconds(2)
}

/**
 * client-go's jitter factor: a candidate tries again after `retryPeriod` plus up to `1.2 ×
 * retryPeriod` more, at random.
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 *
 * Lease.jitterFactor // 1.2
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const jitterFactor = 1.2

/**
 * What is wrong with a timing, or `undefined`: as client-go requires, lease duration > renew
 * deadline > retry period × 1.2 > 0.
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 * import { Duration } from "effect"
 *
 * Lease.checkTiming({ ...Lease.defaultTiming, renewDeadline: Duration.seconds(20) })
 * // "the renew deadline (20s) must be shorter than the lease duration (15s)"
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const checkTiming = (timing: Timing): string | undefined => {
  const [lease, renew, retry] = [
    timing.leaseDuration,
    timing.renewDeadline,
    timing.retryPeriod
  ].map(Duration.toMillis) as [number, number, number]
  const f = (d: Duration.Duration) => Duration.format(d)
  if (!(retry > 0)) return `the retry period (${f(timing.retryPeriod)}) must be above zero`
  if (!(renew < lease))
    return `the renew deadline (${f(timing.renewDeadline)}) must be shorter than the lease duration (${f(timing.leaseDuration)})`
  if (!(renew > retry * jitterFactor))
    return `the renew deadline (${f(timing.renewDeadline)}) must be longer than ${jitterFactor} × the retry period (${f(timing.retryPeriod)})`
  return undefined
}

/**
 * When this replica last saw a Lease's record change: the record's `version` (its
 * resourceVersion, or `""` while it does not exist) and the local time `at` (milliseconds of a
 * monotonic clock).
 *
 * @since 0.1.0
 * @category models
 */
export interface Observed {
  readonly version: string
  readonly at: number
}

/**
 * Notes a read of the Lease whose answer arrived at `now` (the answer's time, not the
 * request's: the record was written before the answer, so counting from it never makes a
 * record look older than it is). The same version keeps the time it was first seen, a new one
 * starts the count again.
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 *
 * const first = Lease.observe(undefined, "41", 1_000)
 * Lease.observe(first, "41", 9_000).at // 1000: unchanged since
 * Lease.observe(first, "42", 9_000).at // 9000
 * ```
 *
 * @since 0.1.0
 * @category observing
 */
export const observe = (previous: Observed | undefined, version: string, now: number): Observed =>
  previous !== undefined && previous.version === version ? previous : { version, at: now }

/**
 * What a Lease is to `me` now: mine (renew it), free (no holder, or unchanged for the lease
 * duration: take it), or held by another until a local time.
 *
 * @since 0.1.0
 * @category models
 */
export type Verdict =
  | { readonly _tag: "Mine" }
  | { readonly _tag: "Free"; readonly expiredHolder: string | undefined }
  | { readonly _tag: "Held"; readonly holder: string; readonly until: number }

/**
 * Judges a Lease as client-go's `tryAcquireOrRenew` does; the lease duration is this
 * replica's own (the record's `leaseDurationSeconds` is the holder's word, see
 * {@link problems}).
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 * import { Duration } from "effect"
 *
 * const record = { holder: "b", durationSeconds: 15, acquireTime: undefined, renewTime: undefined, transitions: 0 }
 * const seen = Lease.observe(undefined, "7", 0)
 * Lease.judge(record, seen, "a", 5_000, Duration.seconds(15)) // Held by b until 15000
 * Lease.judge(record, seen, "a", 15_000, Duration.seconds(15)) // Free (b expired)
 * ```
 *
 * @since 0.1.0
 * @category observing
 */
export const judge = (
  record: LeaseRecord | undefined,
  observed: Observed,
  me: string,
  now: number,
  leaseDuration: Duration.Duration
): Verdict => {
  const holder = record?.holder
  if (holder === undefined) return { _tag: "Free", expiredHolder: undefined }
  if (holder === me) return { _tag: "Mine" }
  const until = observed.at + Duration.toMillis(leaseDuration)
  return now < until ? { _tag: "Held", holder, until } : { _tag: "Free", expiredHolder: holder }
}

/**
 * A time as a Lease's `MicroTime` (RFC 3339 with microseconds, UTC).
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 *
 * Lease.microTime(0) // "1970-01-01T00:00:00.000000Z"
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const microTime = (millis: number): string =>
  new Date(millis).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z")

/**
 * The record that takes or keeps the Lease for `me` at wall time `now`: as client-go, a
 * renewal keeps `acquireTime` and `leaseTransitions`; taking it over from another (or from
 * nobody after a release) sets `acquireTime` and counts a transition.
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 *
 * const taken = Lease.acquire(undefined, "a", 0, 15)
 * taken.transitions // 0
 * Lease.acquire({ ...taken, holder: "b" }, "a", 1_000, 15).transitions // 1
 * ```
 *
 * @since 0.1.0
 * @category writing
 */
export const acquire = (
  record: LeaseRecord | undefined,
  me: string,
  now: number,
  durationSeconds: number
): LeaseRecord => {
  const time = microTime(now)
  const renewal = record?.holder === me
  return {
    holder: me,
    durationSeconds,
    acquireTime: renewal ? (record?.acquireTime ?? time) : time,
    renewTime: time,
    transitions: record === undefined ? 0 : renewal ? record.transitions : record.transitions + 1
  }
}

/**
 * The record that gives the Lease up at wall time `now`, as client-go's `ReleaseOnCancel`: no
 * holder, a lease duration of 1 s, transitions kept.
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 *
 * Lease.release(Lease.acquire(undefined, "a", 0, 15), 5_000).holder // undefined
 * ```
 *
 * @since 0.1.0
 * @category writing
 */
export const release = (record: LeaseRecord, now: number): LeaseRecord => ({
  holder: undefined,
  durationSeconds: 1,
  acquireTime: microTime(now),
  renewTime: microTime(now),
  transitions: record.transitions
})

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/**
 * A Lease object's record (a missing or malformed field reads as absent; see {@link problems}).
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 *
 * Lease.read({ spec: { holderIdentity: "a", leaseTransitions: 2 } }).holder // "a"
 * ```
 *
 * @since 0.1.0
 * @category reading
 */
export const read = (object: KubeObject.KubeObject): LeaseRecord => {
  const spec = isObject(object.spec) ? object.spec : {}
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined)
  const int = (v: unknown) => (typeof v === "number" && Number.isInteger(v) ? v : undefined)
  return {
    holder: str(spec.holderIdentity),
    durationSeconds: int(spec.leaseDurationSeconds),
    acquireTime: str(spec.acquireTime),
    renewTime: str(spec.renewTime),
    transitions: Math.max(0, int(spec.leaseTransitions) ?? 0)
  }
}

/**
 * A record as a Lease's `spec` (for a create or a replace).
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 *
 * Lease.spec(Lease.acquire(undefined, "a", 0, 15)).holderIdentity // "a"
 * ```
 *
 * @since 0.1.0
 * @category writing
 */
export const spec = (record: LeaseRecord): Record<string, string | number> => ({
  ...(record.holder === undefined ? {} : { holderIdentity: record.holder }),
  ...(record.durationSeconds === undefined ? {} : { leaseDurationSeconds: record.durationSeconds }),
  ...(record.acquireTime === undefined ? {} : { acquireTime: record.acquireTime }),
  ...(record.renewTime === undefined ? {} : { renewTime: record.renewTime }),
  leaseTransitions: record.transitions
})

/**
 * What looks wrong in a Lease held by someone, for a warning: a `spec` that is not an object, a
 * held lease without a lease duration or renew time, or a lease duration other than this
 * replica's (its replicas are configured differently, or the Lease was edited by hand). None of
 * it changes the verdict: expiry is judged with this replica's own lease duration.
 *
 * @example
 * ```ts
 * import { Lease } from "@kubefx/core"
 * import { Duration } from "effect"
 *
 * Lease.problems({ spec: { holderIdentity: "a", leaseDurationSeconds: 99999 } }, Duration.seconds(15))
 * // ["leaseDurationSeconds is 99999, this replica's lease duration is 15s", "no renewTime"]
 * ```
 *
 * @since 0.1.0
 * @category reading
 */
export const problems = (
  object: KubeObject.KubeObject,
  leaseDuration: Duration.Duration
): ReadonlyArray<string> => {
  if (object.spec !== undefined && !isObject(object.spec)) return ["spec is not an object"]
  const record = read(object)
  if (record.holder === undefined) return []
  const out: Array<string> = []
  const seconds = Duration.toSeconds(leaseDuration)
  if (record.durationSeconds === undefined) out.push("no leaseDurationSeconds")
  else if (record.durationSeconds !== seconds)
    out.push(
      `leaseDurationSeconds is ${record.durationSeconds}, this replica's lease duration is ${Duration.format(leaseDuration)}`
    )
  if (record.renewTime === undefined) out.push("no renewTime")
  return out
}
