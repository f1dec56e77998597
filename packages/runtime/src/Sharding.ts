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
 * them at once. Changing its buckets restarts a replica's serving (its objects are resumed:
 * their daemons and timers start again).
 *
 * @since 0.1.0
 */
import { Builtins, type KubeObject, Lease, Shard } from "@kubefx/core"
import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Metric,
  Option,
  Queue,
  Semaphore,
  Stream
} from "effect"
import type * as Health from "./Health.ts"
import * as Leases from "./internal/lease.ts"
import * as Group from "./internal/shardLeases.ts"
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
export interface Input {
  /** The group's name: its table Lease, and the prefix of its members' Leases (default
   * `<reportingComponent>-shards`). */
  readonly group?: string | undefined
  /** Where the Leases live (default: the pod's namespace, else `default`). */
  readonly namespace?: string | undefined
  /** This replica's identity, unique among the replicas (default `<hostname>_<random uuid>`). */
  readonly identity?: string | undefined
  /** What objects are hashed by: `"uid"` (default) or `"namespace"`. */
  readonly key?: Shard.Key | undefined
  /** Ask the API server to filter lists and watches (`shardSelector`; default true); false
   * filters on the client only. */
  readonly serverSide?: boolean | undefined
  /** Default 15 s. */
  readonly leaseDuration?: Duration.Input | undefined
  /** Default 10 s. */
  readonly renewDeadline?: Duration.Input | undefined
  /** Default 2 s. */
  readonly retryPeriod?: Duration.Input | undefined
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
 * What `serve` gets: a client whose writes stop at the fence, the shard to watch, and how soon
 * it must stop when interrupted (set when the Lease could not be renewed), and `listed`, to
 * call once its watchers have listed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Serving {
  readonly kube: KubeService
  readonly shard: Watcher.ShardOptions
  readonly stopWithin: Leases.StopWithin
  readonly listed: Effect.Effect<void>
}

const bucketsSeries = Metrics.series(Metrics.shardBuckets)
const membersSeries = Metrics.series(Metrics.shardMembers)
const handoffsSeries = Metrics.series(Metrics.shardHandoffs)

/** What a member knows between rounds. */
interface State {
  /** This member's id: the identity, then `<identity>#<n>` after each time it was ended. */
  id: string
  rejoins: number
  /** Its Lease as last written. */
  lease: KubeObject.KubeObject | undefined
  /** The buckets it holds, and those its Lease lists. */
  held: ReadonlySet<number>
  listed: ReadonlySet<number>
  /** When each Lease was last seen changed, and since when each member is missing. */
  observed: Map<string, Lease.Observed>
  absent: Map<string, number>
  /** The last problems reported, so each is said once. */
  said: Set<string>
}

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

const describeBuckets = (buckets: ReadonlySet<number>, total: number) =>
  buckets.size === 0
    ? "no bucket"
    : `${buckets.size} of ${total} buckets (${Shard.format(buckets)}; ${Shard.ranges(buckets, total).length} hash ranges)`

/** How a renewal went. */
type Renewal =
  | { readonly _tag: "Renewed" }
  | { readonly _tag: "Failed" }
  | { readonly _tag: "Evicted"; readonly why: string }

/** The member's Lease I/O: renew (listing `holds`), end, read the group, end another. */
const makeLeases = (kube: KubeService, options: Options, state: State) => {
  const { group, namespace, timing } = options
  const seconds = Math.max(1, Math.round(Duration.toSeconds(timing.leaseDuration)))
  const budget = Duration.toMillis(timing.retryPeriod)
  const ref = () => ({ namespace, name: Group.memberLeaseName(group, state.id) })
  const labels = { [Group.groupLabel]: group, "app.kubernetes.io/managed-by": "kubefx" }

  const write = (record: Lease.LeaseRecord, annotations: Record<string, string>) =>
    state.lease === undefined
      ? Leases.create(kube, Leases.object(ref(), record, undefined, annotations, labels))
      : Leases.replace(kube, Leases.object(ref(), record, state.lease, annotations, labels))

  /** Renews this member's Lease, listing `holds`: `Renewed`, `Evicted` (ended by another, or
   * gone), or `Failed`. A Lease edited by hand but still ours is rewritten. */
  const renew = (holds: ReadonlySet<number>, millis: number): Effect.Effect<Renewal> =>
    Effect.gen(function* () {
      const wall = yield* Clock.currentTimeMillis
      const record = Lease.acquire(
        state.lease === undefined ? undefined : Lease.read(state.lease),
        state.id,
        wall,
        seconds
      )
      const written = yield* Effect.result(
        Leases.within(
          write(record, { [Group.holdsAnnotation]: Shard.format(holds) }),
          millis,
          ref().name
        )
      )
      if (written._tag === "Success") {
        state.lease = written.success
        state.listed = holds
        return { _tag: "Renewed" }
      }
      const e = written.failure
      if (e._tag !== "Conflict" && e._tag !== "NotFound" && e._tag !== "AlreadyExists") {
        yield* Effect.logWarning(
          `sharding: renewing the lease ${Leases.describe(ref())} failed (${Leases.reason(e)})`
        )
        return { _tag: "Failed" }
      }
      const fresh = yield* Effect.result(Leases.within(Leases.get(kube, ref()), millis, ref().name))
      if (fresh._tag === "Failure") return { _tag: "Failed" }
      const lease = Option.getOrUndefined(fresh.success)
      const read = lease === undefined ? undefined : Group.readMember(lease, options.buckets)
      if (read?._tag !== "Live" || read.member !== state.id)
        return {
          _tag: "Evicted",
          why: "its lease was ended by another member (it could not renew in time)"
        }
      // A Lease of this id that this process never wrote: another process runs (or ran) with
      // the same identity. Its holdings cannot be ours.
      if (state.lease === undefined)
        return {
          _tag: "Evicted",
          why: `a lease for ${state.id} exists already (another replica with the same identity, or an earlier run of this one; identities must be unique)`
        }
      yield* Effect.logWarning(
        `sharding: the lease ${Leases.describe(ref())} was changed by someone else (edited by hand?); rewriting it`
      )
      state.lease = lease
      return yield* renew(holds, millis)
    })

  /** Ends this member's Lease (a graceful stop): no holder, `ended` names it. */
  const end = Effect.gen(function* () {
    if (state.lease === undefined) return true
    const wall = yield* Clock.currentTimeMillis
    return yield* Leases.within(
      write(Lease.release(Lease.read(state.lease), wall), {
        [Group.holdsAnnotation]: "",
        [Group.endedAnnotation]: state.id
      }),
      budget,
      ref().name
    ).pipe(
      Effect.as(true),
      Effect.orElseSucceed(() => false)
    )
  })

  /** The group's Leases, at once. */
  const list = Leases.within(
    Effect.map(
      kube.list(Builtins.leases, { namespace, labelSelector: `${Group.groupLabel}=${group}` }),
      (found) => Group.snapshot(group, found.items)
    ),
    budget,
    `leases of ${group}`
  )

  /** Ends another member's Lease if it is still at the version read: true when it was. */
  const endOther = (lease: KubeObject.KubeObject, member: string) =>
    Effect.gen(function* () {
      const wall = yield* Clock.currentTimeMillis
      const ended = Leases.object(
        { namespace, name: lease.metadata?.name ?? "" },
        Lease.release(Lease.read(lease), wall),
        lease,
        { [Group.holdsAnnotation]: "", [Group.endedAnnotation]: member }
      )
      return yield* Leases.within(
        Leases.replace(kube, ended),
        budget,
        ended.metadata?.name ?? ""
      ).pipe(
        Effect.as(true),
        Effect.orElseSucceed(() => false)
      )
    })

  /** Writes the table, guarded by the version read (creates it when there was none). */
  const writeTable = (table: KubeObject.KubeObject | undefined, holders: Shard.Owners) => {
    const text = Shard.encodeTable(holders, options.key)
    const object = Leases.object(
      { namespace, name: group },
      table === undefined
        ? {
            holder: undefined,
            durationSeconds: undefined,
            acquireTime: undefined,
            renewTime: undefined,
            transitions: 0
          }
        : Lease.read(table),
      table,
      { [Group.tableAnnotation]: text },
      labels
    )
    return Leases.within(
      table === undefined ? Leases.create(kube, object) : Leases.replace(kube, object),
      budget,
      group
    )
  }

  /** Deletes a Lease if it is still at the version read. */
  const remove = (lease: KubeObject.KubeObject) => Effect.ignore(Leases.remove(kube, lease))

  return { renew, end, list, endOther, writeTable, remove, ref }
}

type LeaseIO = ReturnType<typeof makeLeases>

/** Who is live, who is gone, and what each live member lists, from one snapshot (ending the
 * Leases nobody renewed for the lease duration on the way). */
const members = (
  io: LeaseIO,
  options: Options,
  state: State,
  snapshot: Group.Snapshot,
  holders: Shard.Owners,
  now: number
) =>
  Effect.gen(function* () {
    const live = new Set<string>([state.id])
    const gone = new Set<string>()
    const listed = new Map<string, ReadonlySet<number> | "all">()
    const present = new Set<string>()
    for (const lease of snapshot.members) {
      const read = Group.readMember(lease, options.buckets)
      const name = lease.metadata?.name ?? ""
      if (read._tag === "Ended") {
        gone.add(read.member)
        present.add(read.member)
        continue
      }
      if (read._tag !== "Live" || read.member === state.id) continue
      present.add(read.member)
      const seen = Lease.observe(
        state.observed.get(name),
        lease.metadata?.resourceVersion ?? "",
        now
      )
      state.observed.set(name, seen)
      const verdict = Lease.judge(
        Lease.read(lease),
        seen,
        state.id,
        now,
        options.timing.leaseDuration
      )
      if (verdict._tag === "Free" && (yield* io.endOther(lease, read.member))) {
        yield* Effect.logInfo(
          `sharding: ${read.member} did not renew its lease for ${Duration.format(options.timing.leaseDuration)}; ended it, its buckets can be taken`
        )
        gone.add(read.member)
        continue
      }
      live.add(read.member)
      listed.set(read.member, read.holds)
    }
    // A holder without a Lease (deleted by hand, or a name written by hand) is gone once it
    // has been missing for the lease duration: were it running, it has stopped by then.
    for (const holder of new Set(holders)) {
      if (holder === undefined || live.has(holder) || gone.has(holder) || present.has(holder))
        continue
      const since = state.absent.get(holder) ?? now
      state.absent.set(holder, since)
      if (now - since >= Duration.toMillis(options.timing.leaseDuration)) gone.add(holder)
    }
    for (const id of state.absent.keys())
      if (present.has(id) || live.has(id)) state.absent.delete(id)
    return { live, gone, listed }
  })

/** Says `line` once (again after something else was said for `topic`). */
const sayOnce = (state: State, topic: string, line: string, level: "info" | "warn" = "info") =>
  Effect.suspend(() => {
    const key = `${topic}\u0000${line}`
    if (state.said.has(key)) return Effect.void
    for (const k of state.said) if (k.startsWith(`${topic}\u0000`)) state.said.delete(k)
    state.said.add(key)
    return level === "warn" ? Effect.logWarning(line) : Effect.logInfo(line)
  })

/**
 * Runs this replica as a member of its shard group until interrupted (see the module's
 * documentation): `serve` runs whenever the replica holds buckets, with the shard of those
 * buckets; it is interrupted (and started again) when they change, and interrupted within the
 * margin before the Lease can expire when it cannot be renewed. Fails only when `serve` fails.
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
    const state: State = {
      id: options.identity,
      rejoins: 0,
      lease: undefined,
      held: new Set(),
      listed: new Set(),
      observed: new Map(),
      absent: new Map(),
      said: new Set()
    }
    const io = makeLeases(kube, options, state)
    const { leaseDuration, renewDeadline, retryPeriod } = options.timing
    const period = Duration.toMillis(retryPeriod)
    const margin = Duration.toMillis(leaseDuration) - Duration.toMillis(renewDeadline)
    const fence: Leases.Fence = Leases.closed()
    const lock = yield* Semaphore.make(1)
    const wake = yield* Queue.sliding<void>(1)
    const failed = yield* Deferred.make<never, E>()
    const labels = { group: `${options.namespace}/${options.group}` }
    let term: Term | undefined
    let pending = "sharding: joining the shard group"
    let isReady = false
    hooks.health.block(pending)

    /** Renews the Lease (listing what the member holds) and moves the fence on success. */
    const renew = Effect.gen(function* () {
      const sent = yield* Leases.localMillis
      const renewed = yield* io.renew(state.held, period)
      if (renewed._tag === "Renewed") fence.until = sent + Duration.toMillis(renewDeadline)
      return renewed
    })

    /** `effect`, with the Lease renewed every retry period meanwhile (a drain can be long). */
    const whileRenewing = <A>(effect: Effect.Effect<A>) =>
      Effect.raceFirst(
        effect,
        Effect.forever(Effect.andThen(Effect.sleep(retryPeriod), renew)).pipe(
          Effect.andThen(Effect.never)
        )
      )

    /** Readiness: the replica holds its share (nothing to release, take or wait for) and its
     * serving has listed. */
    const settle = Effect.suspend(() => {
      const listed = term === undefined || term.status.listed
      const reason = pending !== "" ? pending : listed ? undefined : "sharding: listing its buckets"
      hooks.health.block(reason)
      if (reason !== undefined || isReady) return Effect.void
      isReady = true
      return hooks.ready
    })

    /** Stops the serving: drained (up to the shutdown timeout), or within the margin when
     * fenced. */
    const stopServing = (fenced: boolean) =>
      Effect.gen(function* () {
        const t = term
        if (t === undefined) return
        term = undefined
        if (fenced) t.stopWithin.millis = margin / 2
        const stopped = yield* Effect.timeoutOption(
          Fiber.interrupt(t.fiber),
          fenced ? Duration.millis(margin) : Duration.infinity
        )
        t.status.closed = true
        if (Option.isNone(stopped))
          yield* Effect.logError(
            "sharding: handlers still running after the lease could not be renewed; their writes are refused"
          )
      })

    /** Starts serving `buckets` (nothing for none). */
    const startServing = (buckets: ReadonlySet<number>) =>
      Effect.gen(function* () {
        if (buckets.size === 0) return
        const status = { closed: false, listed: false }
        const view = {
          get until() {
            return status.closed ? Number.NEGATIVE_INFINITY : fence.until
          }
        } as Leases.Fence
        const stopWithin: Leases.StopWithin = { millis: undefined }
        const client = yield* Leases.fenced(kube, view, `its buckets of ${options.group}`)
        const fiber = yield* Effect.forkChild(
          serve({
            kube: client,
            shard: {
              key: options.key,
              ranges: Shard.ranges(buckets, options.buckets),
              serverSide: options.serverSide
            },
            stopWithin,
            listed: Effect.suspend(() => {
              status.listed = true
              return settle
            })
          }).pipe(
            Effect.onExit((exit) =>
              Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)
                ? Deferred.failCause(failed, exit.cause)
                : Effect.void
            )
          )
        )
        term = { buckets, fiber, stopWithin, status }
      })

    /** Serves what the member holds and lists, while the fence is open. */
    const reconcileServing = lock.withPermits(1)(
      Effect.gen(function* () {
        const now = yield* Leases.localMillis
        const open = now < fence.until
        const want = open
          ? new Set([...state.held].filter((b) => state.listed.has(b)))
          : new Set<number>()
        if (term !== undefined && sameSet(term.buckets, want)) return
        if (!open && term !== undefined)
          yield* Effect.logWarning(
            `sharding: no renewal of the lease of ${state.id} succeeded within the renew deadline (${Duration.format(renewDeadline)}); stopping the handlers`
          )
        yield* open ? whileRenewing(stopServing(false)) : stopServing(true)
        yield* startServing(want)
      })
    )

    /** Out of the group (its Lease ended while it lagged, or another process has its id):
     * serve nothing, rejoin with a new id. */
    const evicted = (why: string) =>
      Effect.gen(function* () {
        yield* Effect.logWarning(
          `sharding: ${state.id} is out of the group: ${why}; rejoining as a new member`
        )
        fence.until = Number.NEGATIVE_INFINITY
        yield* lock.withPermits(1)(stopServing(true))
        state.rejoins++
        state.id = `${options.identity}#${state.rejoins}`
        state.lease = undefined
        state.held = new Set()
        state.listed = new Set()
      })

    /** Gives buckets up: stop serving, unlist them, then (by the caller) free them. */
    const giveUp = (buckets: ReadonlySet<number>) =>
      Effect.gen(function* () {
        yield* lock.withPermits(1)(whileRenewing(stopServing(false)))
        state.held = new Set([...state.held].filter((b) => !buckets.has(b)))
        yield* Metric.update(handoffsSeries({ ...labels, direction: "released" }), buckets.size)
        return (yield* renew)._tag === "Renewed"
      })

    const round = Effect.gen(function* () {
      const renewed = yield* renew
      if (renewed._tag === "Evicted") return yield* evicted(renewed.why)
      if (renewed._tag === "Failed") return
      const found = yield* Effect.result(io.list)
      if (found._tag === "Failure") return
      const snapshot = found.success
      const now = yield* Leases.localMillis
      const table = Group.readTable(snapshot.table, options.buckets, options.key)
      if (table.problem !== undefined)
        yield* sayOnce(
          state,
          "table",
          `sharding: the table ${options.namespace}/${options.group} does not read (${table.problem}); each member writes back what it holds, and buckets no member lists are free`,
          "warn"
        )
      const { live, gone, listed } = yield* members(
        io,
        options,
        state,
        snapshot,
        table.holders,
        now
      )
      const r = Shard.round({
        me: state.id,
        members: live,
        gone,
        holders: table.holders,
        listed,
        held: state.held
      })
      yield* Metric.update(membersSeries(labels), live.size)
      if (r.lost.length > 0)
        yield* Effect.logWarning(
          `sharding: the table gives buckets ${Shard.format(r.lost)} that ${state.id} holds to other members (edited by hand?); giving them up`
        )
      const leaving = new Set([...r.lost, ...r.release])
      if (leaving.size > 0 && !(yield* giveUp(leaving))) return
      const unchanged =
        snapshot.table !== undefined &&
        Shard.encodeTable(r.holders, options.key) === Shard.encodeTable(table.holders, options.key)
      if (!unchanged) {
        const written = yield* Effect.result(io.writeTable(snapshot.table, r.holders))
        if (written._tag === "Success" && r.claim.length > 0) {
          state.held = new Set([...state.held, ...r.claim])
          yield* Metric.update(handoffsSeries({ ...labels, direction: "claimed" }), r.claim.length)
          yield* renew
        }
      }
      // The Leases of ended members no table entry names any more are removed.
      for (const lease of snapshot.members) {
        const read = Group.readMember(lease, options.buckets)
        if (read._tag === "Ended" && !r.holders.includes(read.member)) yield* io.remove(lease)
      }
      pending =
        r.waiting.length > 0 || r.claim.length > 0 || leaving.size > 0
          ? `sharding: waiting for ${r.waiting.length} of its buckets, still held by other members`
          : ""
      yield* sayOnce(
        state,
        "held",
        `sharding: ${state.id} holds ${describeBuckets(state.held, options.buckets)}; ${live.size} members`
      )
      yield* Metric.update(bucketsSeries(labels), state.held.size)
    })

    /** Rounds every retry period, and when a Lease of the group changes. */
    const rounds = Effect.forever(
      Effect.gen(function* () {
        yield* round
        yield* reconcileServing
        yield* settle
        yield* Effect.raceFirst(Effect.sleep(retryPeriod), Queue.take(wake))
      })
    )

    /** Stops the serving at the fence, whatever the rounds are doing. */
    const watchdog = Effect.forever(
      Effect.gen(function* () {
        const now = yield* Leases.localMillis
        if (term !== undefined && now >= fence.until) {
          yield* reconcileServing
          yield* settle
        }
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

    /** A graceful stop: drain (renewing meanwhile), free the buckets, end the Lease. */
    const leave = Effect.gen(function* () {
      yield* lock.withPermits(1)(whileRenewing(stopServing(false)))
      const mine = state.held
      state.held = new Set()
      let freed = mine.size === 0 || (yield* renew)._tag === "Renewed"
      for (let attempt = 0; freed && mine.size > 0 && attempt < 3; attempt++) {
        const found = yield* Effect.result(io.list)
        freed = found._tag === "Success"
        if (found._tag === "Failure") break
        const table = Group.readTable(found.success.table, options.buckets, options.key)
        const holders = table.holders.map((h) => (h === state.id ? undefined : h))
        freed =
          (yield* Effect.result(io.writeTable(found.success.table, holders)))._tag === "Success"
        if (freed) break
      }
      const ended = yield* io.end
      yield* freed && ended
        ? Effect.logInfo(`sharding: ${state.id} left the group; its buckets are free`)
        : Effect.logWarning(
            `sharding: ${state.id} stopped but could not ${freed ? "end its lease" : "free its buckets"}; the others take them once its lease expires`
          )
    })

    yield* Effect.logInfo(
      `sharding: member ${state.id} of the group ${options.namespace}/${options.group} (${options.buckets} buckets by ${options.key}; lease duration ${Duration.format(leaseDuration)}, renew deadline ${Duration.format(renewDeadline)}, retry period ${Duration.format(retryPeriod)})`
    )
    return yield* Effect.raceFirst(
      Effect.all([rounds, watchdog, changes], { concurrency: "unbounded" }).pipe(
        Effect.andThen(Effect.never)
      ),
      Deferred.await(failed)
    ).pipe(Effect.onExit((exit) => (Exit.hasInterrupts(exit) ? leave : Effect.void)))
  })
