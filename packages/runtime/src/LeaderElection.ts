/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics: one replica
 * holds the Lease and handles objects; the others stand by (ready, handling nothing) and try to
 * take it every `retryPeriod` (jittered). A standby takes the Lease once its record has stayed
 * unchanged for `leaseDuration` on the standby's own clock (so clock skew between replicas does
 * not matter); the leader renews it every `retryPeriod`, and when no renewal succeeded within
 * `renewDeadline` of the last successful one being sent, it stops handling (its handlers are
 * interrupted and its writes refused) before anyone can see the Lease expire. A graceful stop
 * drains the handlers, then releases the Lease, so a standby takes over at its next try.
 *
 * A Lease edited by hand is reported (a warning naming what looks wrong) and repaired: a leader
 * that finds another holder stops at once; a record nobody renews is taken over, with a valid
 * record, once it has stayed unchanged for the lease duration. The lease duration written in
 * the Lease is only informative: expiry is judged with this replica's own.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { hostname } from "node:os"
import { type KubeObject, Lease } from "@kubefx/core"
import { Clock, Data, Duration, Effect, Fiber, Metric, Option, Random } from "effect"
import * as Leases from "./internal/lease.ts"
import { Kube, type KubeService } from "./Kube.ts"
import * as Metrics from "./Metrics.ts"

/**
 * What leader election and sharding take alike: where their Leases live, who this replica is,
 * and the timing. Every field is optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseInput {
  /** Where the Leases live (default: the pod's namespace, from its service account, else
   * `default`). */
  readonly namespace?: string | undefined
  /** This replica's identity, unique among the replicas (default: `<hostname>_<random uuid>`,
   * as controller-runtime makes it). */
  readonly identity?: string | undefined
  /** Default 15 s. */
  readonly leaseDuration?: Duration.Input | undefined
  /** Default 10 s. */
  readonly renewDeadline?: Duration.Input | undefined
  /** Default 2 s. */
  readonly retryPeriod?: Duration.Input | undefined
}

/**
 * Leader election as users give it: every field is optional (see {@link resolve}).
 *
 * @since 0.1.0
 * @category models
 */
export interface Input extends LeaseInput {
  /** The Lease's name (default: `<reportingComponent>-leader`). */
  readonly leaseName?: string | undefined
}

/**
 * Complete leader-election settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly leaseName: string
  readonly namespace: string
  readonly identity: string
  readonly timing: Lease.Timing
}

/**
 * Leader-election settings that cannot work: the timing (lease duration > renew deadline >
 * 1.2 × retry period), a name that is not a valid object name, an empty identity.
 *
 * @example
 * ```ts
 * import { LeaderElection } from "@kubefx/runtime"
 *
 * const e = new LeaderElection.LeaseSettingsError({ message: "..." })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseSettingsError extends Data.TaggedError("LeaseSettingsError")<{
  readonly message: string
}> {}

const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

/**
 * The namespace of the pod the operator runs in (from its service account), or `default`.
 *
 * @example
 * ```ts
 * import { LeaderElection } from "@kubefx/runtime"
 *
 * LeaderElection.defaultNamespace() // "default" outside a pod
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultNamespace = (): string => {
  try {
    const found = readFileSync(serviceAccountNamespace, "utf8").trim()
    return found === "" ? "default" : found
  } catch {
    return "default"
  }
}

/**
 * A fresh identity: `<hostname>_<random uuid>` (unique per process, as controller-runtime's).
 *
 * @example
 * ```ts
 * import { LeaderElection } from "@kubefx/runtime"
 *
 * LeaderElection.defaultIdentity() // "my-pod-7d9f_0b6c..."
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultIdentity = (): string => `${hostname()}_${crypto.randomUUID()}`

/**
 * Fills in the defaults; `component` names the default Lease (`<component>-leader`).
 *
 * @example
 * ```ts
 * import { LeaderElection } from "@kubefx/runtime"
 *
 * const options = LeaderElection.resolve({ namespace: "operators" }, "my-operator")
 * options.leaseName // "my-operator-leader"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (input: Input, component: string): Options => ({
  leaseName: input.leaseName ?? `${component}-leader`,
  namespace: input.namespace ?? defaultNamespace(),
  identity: input.identity ?? defaultIdentity(),
  timing: timingOf(input)
})

/** The timing of an input, defaults filled in. @internal */
export const timingOf = (input: LeaseInput): Lease.Timing => ({
  leaseDuration: Duration.fromInputUnsafe(input.leaseDuration ?? Lease.defaultTiming.leaseDuration),
  renewDeadline: Duration.fromInputUnsafe(input.renewDeadline ?? Lease.defaultTiming.renewDeadline),
  retryPeriod: Duration.fromInputUnsafe(input.retryPeriod ?? Lease.defaultTiming.retryPeriod)
})

const dnsName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/**
 * Fails with a {@link LeaseSettingsError} naming what is wrong: the timing, a Lease name or
 * namespace that is not a valid object name, an empty identity.
 *
 * @example
 * ```ts
 * import { LeaderElection } from "@kubefx/runtime"
 *
 * const checked = LeaderElection.check(LeaderElection.resolve({ retryPeriod: "20 seconds" }, "op"))
 * // fails: the renew deadline (10s) must be longer than 1.2 × the retry period (20s)
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const check = (
  options: Pick<Options, "leaseName" | "namespace" | "identity" | "timing">,
  what = "leaderElection"
): Effect.Effect<void, LeaseSettingsError> => {
  const problem =
    Lease.checkTiming(options.timing) ??
    (dnsName.test(options.leaseName) && options.leaseName.length <= 253
      ? undefined
      : `the lease name "${options.leaseName}" is not a valid object name (lowercase letters, digits, '-' and '.')`) ??
    (dnsName.test(options.namespace) && options.namespace.length <= 63
      ? undefined
      : `the namespace "${options.namespace}" is not a valid namespace name`) ??
    (options.identity.trim() === "" ? "the identity is empty" : undefined)
  return problem === undefined
    ? Effect.void
    : Effect.fail(new LeaseSettingsError({ message: `kubefx: ${what}: ${problem}` }))
}

/**
 * What the operator is told as leadership comes and goes (for its health and logs).
 *
 * @since 0.1.0
 * @category models
 */
export interface Hooks {
  /** Standing by (at start, and after the lease was lost). */
  readonly standby: Effect.Effect<void>
}

/** The outcome of one try to take the Lease. */
type Try =
  | { readonly _tag: "Taken"; readonly sent: number }
  | { readonly _tag: "Held"; readonly holder: string }
  | { readonly _tag: "Failed"; readonly reason: string }

/** The outcome of one renewal. */
type Renewal =
  | { readonly _tag: "Renewed" }
  | { readonly _tag: "Lost"; readonly holder: string | undefined }
  | { readonly _tag: "Failed"; readonly reason: string }

const leaderSeries = Metrics.series(Metrics.leader)

/** The elector's state and its requests: one per Lease and replica. */
const makeElector = (kube: KubeService, options: Options) => {
  const ref: Leases.Ref = { namespace: options.namespace, name: options.leaseName }
  const where = Leases.describe(ref)
  const { leaseDuration, retryPeriod } = options.timing
  const seconds = Math.max(1, Math.round(Duration.toSeconds(leaseDuration)))
  const me = options.identity
  let observed: Lease.Observed | undefined
  /** The Lease as last read or written. */
  let current: KubeObject.KubeObject | undefined
  let reported = ""

  /** Warns once per distinct set of problems of a Lease held by someone. */
  const report = (lease: KubeObject.KubeObject) => {
    const problems = Lease.problems(lease, leaseDuration).join("; ")
    if (problems === reported) return Effect.void
    reported = problems
    return problems === ""
      ? Effect.void
      : Effect.logWarning(
          `leader election: the lease ${where} looks wrong (${problems}); it is judged with this replica's lease duration (${Duration.format(leaseDuration)}) and rewritten by whoever holds it next`
        )
  }

  const write = (lease: KubeObject.KubeObject | undefined, record: Lease.LeaseRecord) =>
    lease === undefined
      ? Leases.create(kube, Leases.object(ref, record))
      : Leases.replace(kube, Leases.object(ref, record, lease))

  const budget = Duration.toMillis(retryPeriod)

  /** One try to take the Lease (client-go's `tryAcquireOrRenew` as a candidate). */
  const tryTake: Effect.Effect<Try> = Effect.gen(function* () {
    const sent = yield* Leases.localMillis
    const found = yield* Effect.result(Leases.within(Leases.get(kube, ref), budget, where))
    if (found._tag === "Failure") return { _tag: "Failed", reason: Leases.reason(found.failure) }
    const lease = Option.getOrUndefined(found.success)
    // Seen when the answer came: the record was written before that, never after.
    const seen = yield* Leases.localMillis
    observed = Lease.observe(observed, Leases.versionOf(found.success), seen)
    const record = lease === undefined ? undefined : Lease.read(lease)
    if (lease !== undefined) yield* report(lease)
    const verdict = Lease.judge(record, observed, me, seen, leaseDuration)
    if (verdict._tag === "Held") return { _tag: "Held", holder: verdict.holder }
    const wall = yield* Clock.currentTimeMillis
    const written = yield* Effect.result(
      Leases.within(write(lease, Lease.acquire(record, me, wall, seconds)), budget, where)
    )
    if (written._tag === "Failure")
      return written.failure._tag === "Conflict" || written.failure._tag === "AlreadyExists"
        ? { _tag: "Held", holder: "another replica (it wrote the lease first)" }
        : { _tag: "Failed", reason: Leases.reason(written.failure) }
    current = written.success
    if (verdict._tag === "Free" && verdict.expiredHolder !== undefined)
      yield* Effect.logInfo(
        `leader election: ${verdict.expiredHolder} did not renew the lease ${where} for ${Duration.format(leaseDuration)}; taking it over`
      )
    return { _tag: "Taken", sent }
  })

  /** One renewal within `millis`: our record on our last version; after a conflict, a fresh
   * read decides (ours still: rewrite it; another holder: lost). */
  const renew = (millis: number): Effect.Effect<Renewal> =>
    Effect.gen(function* () {
      const wall = yield* Clock.currentTimeMillis
      const base = current
      const record = base === undefined ? undefined : Lease.read(base)
      const written = yield* Effect.result(
        Leases.within(write(base, Lease.acquire(record, me, wall, seconds)), millis, where)
      )
      if (written._tag === "Success") {
        current = written.success
        return { _tag: "Renewed" }
      }
      const e = written.failure
      if (e._tag !== "Conflict" && e._tag !== "NotFound")
        return { _tag: "Failed", reason: Leases.reason(e) }
      const fresh = yield* Effect.result(Leases.within(Leases.get(kube, ref), millis, where))
      if (fresh._tag === "Failure") return { _tag: "Failed", reason: Leases.reason(fresh.failure) }
      const lease = Option.getOrUndefined(fresh.success)
      const holder = lease === undefined ? undefined : Lease.read(lease).holder
      if (lease === undefined || holder !== me) return { _tag: "Lost", holder }
      yield* Effect.logWarning(
        `leader election: the lease ${where} was changed by someone else (${Lease.problems(lease, leaseDuration).join("; ") || "edited by hand?"}); rewriting it`
      )
      current = lease
      return yield* renew(millis)
    })

  /** Gives the Lease up if this replica still holds it (graceful stop). */
  const release = Effect.gen(function* () {
    const base = current
    if (base === undefined || Lease.read(base).holder !== me) return
    const wall = yield* Clock.currentTimeMillis
    const written = yield* Effect.result(
      Leases.within(write(base, Lease.release(Lease.read(base), wall)), budget, where)
    )
    if (written._tag === "Success") {
      current = written.success
      return yield* Effect.logInfo(`leader election: released the lease ${where}`)
    }
    yield* Effect.logWarning(
      `leader election: could not release the lease ${where} (${Leases.reason(written.failure)}); a standby takes it over once it expires`
    )
  })

  return { ref, where, tryTake, renew, release }
}

type Elector = ReturnType<typeof makeElector>

/** Tries to take the Lease every retry period (jittered) until it is taken: when the try that
 * took it was sent. */
const campaign = (elector: Elector, options: Options, hooks: Hooks) =>
  Effect.gen(function* () {
    let said = ""
    const period = Duration.toMillis(options.timing.retryPeriod)
    for (;;) {
      const outcome = yield* elector.tryTake
      if (outcome._tag === "Taken") return outcome.sent
      const line =
        outcome._tag === "Held"
          ? `leader election: standing by; the lease ${elector.where} is held by ${outcome.holder}`
          : `leader election: could not read or take the lease ${elector.where} (${outcome.reason}); trying again`
      if (line !== said) {
        said = line
        yield* outcome._tag === "Held" ? Effect.logInfo(line) : Effect.logWarning(line)
        if (outcome._tag === "Held") yield* hooks.standby
      }
      const jitter = yield* Random.next
      yield* Effect.sleep(Duration.millis(period * (1 + jitter * Lease.jitterFactor)))
    }
  })

/** Renews the Lease every retry period while the fence holds; answers why leadership ended. */
const keep = (elector: Elector, options: Options, fence: Leases.Fence) =>
  Effect.gen(function* () {
    const { renewDeadline, retryPeriod } = options.timing
    for (;;) {
      const now = yield* Leases.localMillis
      if (now >= fence.until)
        return `no renewal succeeded within the renew deadline (${Duration.format(renewDeadline)})`
      yield* Effect.sleep(
        Duration.millis(Math.min(Duration.toMillis(retryPeriod), fence.until - now))
      )
      const sent = yield* Leases.localMillis
      if (sent >= fence.until) continue
      const renewal = yield* elector.renew(fence.until - sent)
      switch (renewal._tag) {
        case "Renewed":
          fence.until = sent + Duration.toMillis(renewDeadline)
          break
        case "Lost":
          return renewal.holder === undefined
            ? "the lease is gone"
            : `the lease is held by ${renewal.holder} now`
        case "Failed": {
          const left = Math.max(0, fence.until - (yield* Leases.localMillis))
          yield* Effect.logWarning(
            `leader election: renewing the lease ${elector.where} failed (${renewal.reason}); the handlers stop in ${Duration.format(Duration.millis(left))} unless a renewal succeeds`
          )
        }
      }
    }
  })

/**
 * A term as leader: `lead` runs with a client whose writes stop at the fence; on a graceful
 * stop it drains (the Lease renewed meanwhile), then the Lease is released; when the Lease is
 * lost, `lead` is interrupted within the margin before the Lease can expire.
 */
const term = <E, R>(
  elector: Elector,
  options: Options,
  sent: number,
  lead: (kube: KubeService, stopWithin: Leases.StopWithin) => Effect.Effect<never, E, R>,
  kube: KubeService
) =>
  Effect.gen(function* () {
    const { leaseDuration, renewDeadline } = options.timing
    const fence: Leases.Fence = { until: sent + Duration.toMillis(renewDeadline) }
    const stopWithin: Leases.StopWithin = { millis: undefined }
    const client = yield* Leases.fenced(kube, fence, `the lease ${elector.where}`)
    const gauge = leaderSeries({ lease: elector.where })
    yield* Effect.logInfo(
      `leader election: leading (lease ${elector.where}, as ${options.identity})`
    )
    yield* Metric.update(gauge, 1)
    const margin = Duration.toMillis(leaseDuration) - Duration.toMillis(renewDeadline)
    return yield* Effect.acquireUseRelease(
      Effect.forkChild(lead(client, stopWithin)),
      (fiber) => Effect.raceFirst(keep(elector, options, fence), Fiber.join(fiber)),
      (fiber, exit) =>
        Effect.gen(function* () {
          yield* Metric.update(gauge, 0)
          if (exit._tag === "Success") {
            yield* Effect.logWarning(
              `leader election: lost the lease ${elector.where} (${exit.value}); stopping the handlers`
            )
            stopWithin.millis = margin / 2
            const stopped = yield* Effect.timeoutOption(
              Fiber.interrupt(fiber),
              Duration.millis(margin)
            )
            if (Option.isNone(stopped))
              yield* Effect.logError(
                "leader election: handlers still running after the lease was lost; their writes are refused"
              )
            return
          }
          // A graceful stop (or a failure): drain while renewing, then release.
          yield* Effect.raceFirst(
            Fiber.interrupt(fiber),
            Effect.andThen(keep(elector, options, fence), Effect.never)
          )
          yield* elector.release
        })
    )
  })

/**
 * Runs `lead` whenever this replica holds the Lease, until interrupted (see the module's
 * documentation): `lead` gets the fenced client and a {@link Leases.StopWithin} it reads when
 * it stops (set when the Lease was lost: the handlers must stop within it). Fails only when
 * `lead` fails.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LeaderElection } from "@kubefx/runtime"
 *
 * const options = LeaderElection.resolve({ namespace: "operators" }, "my-operator")
 * const program = LeaderElection.run(options, () => Effect.never, { standby: Effect.void })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E, R>(
  options: Options,
  lead: (kube: KubeService, stopWithin: Leases.StopWithin) => Effect.Effect<never, E, R>,
  hooks: Hooks
): Effect.Effect<never, E, R | Kube> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const elector = makeElector(kube, options)
    yield* Metric.update(leaderSeries({ lease: elector.where }), 0)
    yield* Effect.logInfo(
      `leader election: candidate ${options.identity} for the lease ${elector.where} (lease duration ${Duration.format(options.timing.leaseDuration)}, renew deadline ${Duration.format(options.timing.renewDeadline)}, retry period ${Duration.format(options.timing.retryPeriod)})`
    )
    yield* hooks.standby
    for (;;) {
      const sent = yield* campaign(elector, options, hooks)
      yield* term(elector, options, sent, lead, kube)
      yield* hooks.standby
    }
  })
