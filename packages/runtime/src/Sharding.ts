/**
 * Sharding: every replica handles a share of the objects, and no object is handled by two
 * replicas at once. The hash space of the objects' uids (or namespaces) is cut into 256
 * buckets and split among the live members by rendezvous hashing (the core's `Shard`); each
 * replica watches only its buckets, with the API server's `shardSelector` (KEP-5866) where it
 * is honoured, filtering on the client otherwise.
 *
 * The cluster coordinates it, through Leases (`internal/shardLeases.ts`): each replica renews
 * a member Lease of its own that lists the buckets it holds, and a shared table says who holds
 * each bucket. Every `retryPeriod`, and whenever a Lease of the group changes, a member runs a
 * round: it renews its Lease; reads all the group's Leases at once; ends (by compare-and-swap)
 * the Leases nobody renewed for `leaseDuration`; and runs the core's `Shard.round`, which says
 * what to give up, what to take and what to wait for. It gives buckets up by stopping their
 * handling first (the serving is drained), then unlisting them from its Lease, then freeing
 * them in the table; it takes a bucket only when the table has nobody (or a gone member) for
 * it and no live member lists it, by compare-and-swap on the table, then lists it, then serves.
 * So a bucket is never served by two replicas that run.
 *
 * A replica that cannot renew its Lease within `renewDeadline` stops serving before anyone can
 * end its Lease (the fence, as in {@link LeaderElection}), and its writes are refused. A member
 * whose Lease was ended while it lagged rejoins under a new member id, holding nothing. A
 * graceful stop drains, frees its buckets in the table and ends its Lease: the others take
 * them at once. A change of its buckets moves the serving's shard (`internal/shardServing.ts`):
 * the objects of the buckets it keeps are not touched (their steps, daemons and timers go on);
 * those of the buckets it gives up are drained, then released; those of the buckets it gains
 * are listed and served, as first seen.
 *
 * @since 0.1.0
 */
import { Builtins, type Lease, Shard } from "@kubefx/core"
import { Deferred, Duration, Effect, Exit, Metric, Queue, Stream } from "effect"
import type * as Health from "./Health.ts"
import * as Leases from "./internal/lease.ts"
import * as Group from "./internal/shardLeases.ts"
import * as Membership from "./internal/shardMember.ts"
import * as Terms from "./internal/shardServing.ts"
import { Kube, type KubeService } from "./Kube.ts"
import * as LeaderElection from "./LeaderElection.ts"
import * as Metrics from "./Metrics.ts"
import * as Watcher from "./Watcher.ts"

/**
 * Sharding as users give it: every field is optional (see {@link resolve}).
 *
 * @since 0.1.0
 * @category models
 */
export interface Input extends LeaderElection.LeaseInput {
  /** The group's name: its table Lease, and the prefix of its members' Leases (default
   * `<reportingComponent>-shards`). */
  readonly group?: string | undefined
  /** What objects are hashed by: `"uid"` (default) or `"namespace"`. */
  readonly key?: Shard.Key | undefined
  /** Ask the API server to filter lists and watches (`shardSelector`; default true); false
   * filters on the client only. */
  readonly serverSide?: boolean | undefined
}

/**
 * Complete sharding settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly group: string
  readonly namespace: string
  readonly identity: string
  readonly key: Shard.Key
  readonly serverSide: boolean
  readonly timing: Lease.Timing
  readonly buckets: number
}

/**
 * Fills in the defaults; `component` names the default group (`<component>-shards`).
 *
 * @example
 * ```ts
 * import { Sharding } from "@kubefx/runtime"
 *
 * const options = Sharding.resolve({ namespace: "operators" }, "my-operator")
 * options.group // "my-operator-shards"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (input: Input, component: string): Options => ({
  group: input.group ?? `${component}-shards`,
  namespace: input.namespace ?? LeaderElection.defaultNamespace(),
  identity: input.identity ?? LeaderElection.defaultIdentity(),
  key: input.key ?? "uid",
  serverSide: input.serverSide ?? true,
  timing: LeaderElection.timingOf(input),
  buckets: Shard.defaultBuckets
})

/**
 * Fails with a `LeaderElection.LeaseSettingsError` naming what is wrong (as
 * `LeaderElection.check`; the group name must leave room for the members' suffix).
 *
 * @example
 * ```ts
 * import { Sharding } from "@kubefx/runtime"
 *
 * const checked = Sharding.check(Sharding.resolve({ key: "uid" }, "my-operator"))
 * ```
 *
 * @since 0.1.0
 * @category validation
 */
export const check = (options: Options): Effect.Effect<void, LeaderElection.LeaseSettingsError> =>
  Effect.andThen(
    LeaderElection.check({ ...options, leaseName: options.group }, "sharding"),
    options.group.length > 253 - 17
      ? Effect.fail(
          new LeaderElection.LeaseSettingsError({
            message: `kubefx: sharding: the group name "${options.group}" is too long (at most 236 characters)`
          })
        )
      : options.key !== "uid" && options.key !== "namespace"
        ? Effect.fail(
            new LeaderElection.LeaseSettingsError({
              message: `kubefx: sharding: key must be "uid" or "namespace", not ${JSON.stringify(options.key)}`
            })
          )
        : Effect.void
  )

/**
 * What the operator is told as the share changes: the readiness problem now (`undefined` once
 * the replica holds its whole share and has listed it), and when that first happens.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hooks {
  readonly health: Health.Health
  /** The first time the replica holds its share and has listed it (`Operator.ready`). */
  readonly ready: Effect.Effect<void>
}

/**
 * What `serve` gets: a client whose writes stop at the fence; the shard to watch, which moves as
 * the replica's buckets change; how soon it must stop when interrupted (set when the Lease
 * could not be renewed); `listed`, to call once its watchers have listed; and `onMove`, where it
 * says how it follows a move of the shard: `move(ranges)` must move the shard and answer only
 * once nothing runs any more for the objects outside `ranges` (their running steps finished,
 * their daemons and timers stopped): their buckets are released after it. A serving that says
 * nothing is restarted on each change of its buckets instead.
 *
 * @since 0.1.0
 * @category models
 */
export interface Serving {
  readonly kube: KubeService
  readonly shard: Watcher.LiveShard
  readonly stopWithin: Leases.StopWithin
  readonly listed: Effect.Effect<void>
  readonly onMove: (move: (ranges: ReadonlyArray<Shard.Range>) => Effect.Effect<void>) => void
}

const bucketsSeries = Metrics.series(Metrics.shardBuckets)
const membersSeries = Metrics.series(Metrics.shardMembers)
const handoffsSeries = Metrics.series(Metrics.shardHandoffs)

const describeBuckets = (buckets: ReadonlySet<number>, total: number) =>
  buckets.size === 0
    ? "no bucket"
    : `${buckets.size} of ${total} buckets (${Shard.format(buckets)}; ${Shard.ranges(buckets, total).length} hash ranges)`

/** What a member's rounds share. */
interface Member {
  readonly options: Options
  readonly state: Membership.State
  readonly io: Membership.LeaseIO
  readonly fence: Leases.Fence
  /** The metrics' labels. */
  readonly labels: { readonly group: string }
  /** Renews the Lease (listing what the member holds), moving the fence on success. */
  readonly renew: Effect.Effect<Membership.Renewal>
}

/** Out of the group (its Lease ended while it lagged, or another process has its id): serve
 * nothing, rejoin with a new id. */
const evicted = <R>(member: Member, serving: Terms.Controller<R>, why: string) =>
  Effect.gen(function* () {
    const { state, options, fence } = member
    yield* Effect.logWarning(
      `sharding: ${state.id} is out of the group: ${why}; rejoining as a new member`
    )
    fence.until = Number.NEGATIVE_INFINITY
    yield* serving.serve(new Set(), true)
    state.rejoins++
    state.id = `${options.identity}#${state.rejoins}`
    state.lease = undefined
    state.held = new Set()
    state.listed = new Set()
  })

/** A round's reading: renew, read the group's Leases, judge them, decide (`Shard.round`).
 * `undefined` when the member cannot go on this time (or was out of the group). */
const decide = <R>(member: Member, serving: Terms.Controller<R>) =>
  Effect.gen(function* () {
    const { state, options, io } = member
    const renewed = yield* member.renew
    if (renewed._tag === "Evicted")
      return yield* Effect.as(evicted(member, serving, renewed.why), undefined)
    if (renewed._tag === "Failed") return undefined
    const found = yield* Effect.result(io.list)
    if (found._tag === "Failure") return undefined
    const snapshot = found.success
    const table = Group.readTable(snapshot.table, options.buckets, options.key)
    if (table.problem !== undefined)
      yield* Membership.sayOnce(
        state,
        "table",
        `sharding: the table ${options.namespace}/${options.group} does not read (${table.problem}); each member writes back what it holds, and buckets no member lists are free`,
        "warn"
      )
    const now = yield* Leases.localMillis
    const { live, gone, listed } = yield* Membership.members(
      io,
      options,
      state,
      snapshot,
      table.holders,
      now
    )
    const decision = Shard.round({
      me: state.id,
      members: live,
      gone,
      holders: table.holders,
      listed,
      held: state.held
    })
    yield* Metric.update(membersSeries(member.labels), live.size)
    return { snapshot, table, live, decision }
  })

type Decided = NonNullable<Effect.Success<ReturnType<typeof decide>>>

/** A round's writes: give up (stop serving, unlist), write the table (frees, claims,
 * write-backs), list the claims, remove the Leases of ended members; answers the readiness
 * problem (`""`: none) or `undefined` when a write failed. */
const carryOut = <R>(member: Member, serving: Terms.Controller<R>, decided: Decided) =>
  Effect.gen(function* () {
    const { state, options, io, labels } = member
    const { snapshot, table, live, decision: r } = decided
    if (r.lost.length > 0)
      yield* Effect.logWarning(
        `sharding: the table gives buckets ${Shard.format(r.lost)} that ${state.id} holds to other members (edited by hand?); giving them up`
      )
    const leaving = new Set([...r.lost, ...r.release])
    if (leaving.size > 0) {
      const served = serving.current()?.buckets ?? new Set<number>()
      yield* serving.serve(new Set([...served].filter((b) => !leaving.has(b))), false)
      state.held = new Set([...state.held].filter((b) => !leaving.has(b)))
      yield* Metric.update(handoffsSeries({ ...labels, direction: "released" }), leaving.size)
      if ((yield* member.renew)._tag !== "Renewed") return undefined
    }
    const same =
      Shard.encodeTable(r.holders, options.key) === Shard.encodeTable(table.holders, options.key)
    // A claim is a compare-and-swap of the table, even when the table names this member
    // already (edited by hand): the write still fails if the table changed since it was read.
    const recorded =
      !same || snapshot.table === undefined || r.claim.length > 0
        ? (yield* Effect.result(io.writeTable(snapshot.table, r.holders)))._tag === "Success"
        : false
    if (recorded && r.claim.length > 0) {
      state.held = new Set([...state.held, ...r.claim])
      yield* Metric.update(handoffsSeries({ ...labels, direction: "claimed" }), r.claim.length)
      yield* member.renew
    }
    for (const lease of snapshot.members) {
      const read = Group.readMember(lease, options.buckets)
      if (read._tag === "Ended" && !r.holders.includes(read.member)) yield* io.remove(lease)
    }
    yield* Membership.sayOnce(
      state,
      "held",
      `sharding: ${state.id} holds ${describeBuckets(state.held, options.buckets)}; ${live.size} members`
    )
    yield* Metric.update(bucketsSeries(labels), state.held.size)
    return r.waiting.length > 0 || r.claim.length > 0 || leaving.size > 0
      ? `sharding: waiting for ${r.waiting.length} of its buckets, still held by other members`
      : ""
  })

/** A graceful stop: drain (renewing meanwhile), free the buckets, end the Lease. */
const leave = <R>(member: Member, serving: Terms.Controller<R>) =>
  Effect.gen(function* () {
    const { state, options, io } = member
    yield* serving.serve(new Set(), false)
    const mine = state.held
    state.held = new Set()
    let freed = mine.size === 0 || (yield* member.renew)._tag === "Renewed"
    for (let attempt = 0; freed && mine.size > 0 && attempt < 3; attempt++) {
      const found = yield* Effect.result(io.list)
      freed = found._tag === "Success"
      if (found._tag === "Failure") break
      const table = Group.readTable(found.success.table, options.buckets, options.key)
      const holders = table.holders.map((h) => (h === state.id ? undefined : h))
      freed = (yield* Effect.result(io.writeTable(found.success.table, holders)))._tag === "Success"
      if (freed) break
    }
    const ended = yield* io.end
    yield* freed && ended
      ? Effect.logInfo(`sharding: ${state.id} left the group; its buckets are free`)
      : Effect.logWarning(
          `sharding: ${state.id} stopped but could not ${freed ? "end its lease" : "free its buckets"}; the others take them once its lease expires`
        )
  })

/**
 * Runs this replica as a member of its shard group until interrupted (see the module's
 * documentation): `serve` runs whenever the replica holds buckets, with a shard of those
 * buckets that moves when they change (see {@link Serving}: the buckets given up are released
 * once its `move` has drained them), and is interrupted within the margin before the Lease can
 * expire when it cannot be renewed. Fails only when `serve` fails.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Health, Sharding } from "@kubefx/runtime"
 *
 * const options = Sharding.resolve({ namespace: "operators" }, "my-operator")
 * const program = Sharding.run(options, () => Effect.never, {
 *   health: Health.make(),
 *   ready: Effect.void
 * })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E, R>(
  options: Options,
  serve: (serving: Serving) => Effect.Effect<never, E, R>,
  hooks: Hooks
): Effect.Effect<never, E, R | Kube> =>
  Effect.gen(function* () {
    const kube = yield* Kube
    const { leaseDuration, renewDeadline, retryPeriod } = options.timing
    const period = Duration.toMillis(retryPeriod)
    const state = Membership.initial(options.identity)
    const io = Membership.makeLeases(kube, options, state)
    const fence = Leases.closed()
    const member: Member = {
      options,
      state,
      io,
      fence,
      labels: { group: `${options.namespace}/${options.group}` },
      renew: Effect.gen(function* () {
        const sent = yield* Leases.localMillis
        const renewed = yield* io.renew(state.held, period)
        if (renewed._tag === "Renewed") fence.until = sent + Duration.toMillis(renewDeadline)
        return renewed
      })
    }
    const wake = yield* Queue.sliding<void>(1)
    const failed = yield* Deferred.make<never, E>()
    let pending = "sharding: joining the shard group"
    let isReady = false
    hooks.health.block(pending)

    /** Readiness: the replica holds its share and its serving has listed it. */
    const settle: Effect.Effect<void> = Effect.suspend(() => {
      const listed = serving.current()?.listed ?? true
      const reason = pending !== "" ? pending : listed ? undefined : "sharding: listing its buckets"
      hooks.health.block(reason)
      if (reason !== undefined || isReady) return Effect.void
      isReady = true
      return hooks.ready
    })

    const serving: Terms.Controller<R> = Terms.make({
      kube,
      fence,
      margin: Duration.toMillis(leaseDuration) - Duration.toMillis(renewDeadline),
      key: options.key,
      serverSide: options.serverSide,
      ranges: (buckets) => Shard.ranges(buckets, options.buckets),
      what: `its buckets of ${options.group}`,
      serve,
      failed,
      listed: settle,
      // A drain can be long: the Lease is renewed meanwhile.
      drain: (effect) =>
        Effect.raceFirst(
          effect,
          Effect.forever(Effect.andThen(Effect.sleep(retryPeriod), member.renew)).pipe(
            Effect.andThen(Effect.never)
          )
        )
    })

    /** Serves what the member holds and lists, while the fence is open. */
    const reconcile = Effect.gen(function* () {
      const open = (yield* Leases.localMillis) < fence.until
      if (!open && serving.current() !== undefined)
        yield* Effect.logWarning(
          `sharding: no renewal of the lease of ${state.id} succeeded within the renew deadline (${Duration.format(renewDeadline)}); stopping the handlers`
        )
      const want = open
        ? new Set([...state.held].filter((b) => state.listed.has(b)))
        : new Set<number>()
      yield* serving.serve(want, !open)
      yield* settle
    })

    /** Rounds every retry period, and when a Lease of the group changes. */
    const rounds = Effect.forever(
      Effect.gen(function* () {
        const decided = yield* decide(member, serving)
        const problem =
          decided === undefined ? undefined : yield* carryOut(member, serving, decided)
        if (problem !== undefined) pending = problem
        yield* reconcile
        yield* Effect.raceFirst(Effect.sleep(retryPeriod), Queue.take(wake))
      })
    )

    /** Stops the serving at the fence, whatever the rounds are doing. */
    const watchdog = Effect.forever(
      Effect.gen(function* () {
        const now = yield* Leases.localMillis
        if (serving.current() !== undefined && now >= fence.until) yield* reconcile
        const left = fence.until - now
        yield* Effect.sleep(Duration.millis(left > 0 && left < period ? left : period))
      })
    )

    /** Any change of the group's Leases wakes the rounds. */
    const changes = Watcher.watch(Builtins.leases, {
      scope: Watcher.namespaces([options.namespace]),
      labelSelector: `${Group.groupLabel}=${options.group}`
    }).pipe(
      Stream.runForEach(() => Effect.sync(() => Queue.offerUnsafe(wake, undefined))),
      Effect.ignore
    )

    yield* Effect.logInfo(
      `sharding: member ${state.id} of the group ${options.namespace}/${options.group} (${options.buckets} buckets by ${options.key}; lease duration ${Duration.format(leaseDuration)}, renew deadline ${Duration.format(renewDeadline)}, retry period ${Duration.format(retryPeriod)})`
    )
    return yield* Effect.raceFirst(
      Effect.all([rounds, watchdog, changes], { concurrency: "unbounded" }).pipe(
        Effect.andThen(Effect.never)
      ),
      Deferred.await(failed)
    ).pipe(
      Effect.onExit((exit) => (Exit.hasInterrupts(exit) ? leave(member, serving) : Effect.void))
    )
  })
