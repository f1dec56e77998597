/**
 * A sharded replica's membership: what it knows between rounds ({@link State}), the I/O of its
 * own Lease and of the group's (renew, end, list, end another's, write the table), and who is
 * live, gone, and what each lists, from one snapshot of the group's Leases ({@link members}).
 *
 * @internal
 */
import { Builtins, type KubeObject, Lease, Shard } from "@kubefx/core"
import { Clock, Duration, Effect, Option } from "effect"
import type { KubeService } from "../Kube.ts"
import type { Options } from "../Sharding.ts"
import * as Leases from "./lease.ts"
import * as Group from "./shardLeases.ts"

/** What a member knows between rounds. @internal */
export interface State {
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

/** The state of a member that has not joined yet. @internal */
export const initial = (identity: string): State => ({
  id: identity,
  rejoins: 0,
  lease: undefined,
  held: new Set(),
  listed: new Set(),
  observed: new Map(),
  absent: new Map(),
  said: new Set()
})

/** How a renewal went. @internal */
export type Renewal =
  | { readonly _tag: "Renewed" }
  | { readonly _tag: "Failed" }
  | { readonly _tag: "Evicted"; readonly why: string }

/** The member's Lease I/O: renew (listing `holds`), end, read the group, end another's,
 * write the table. @internal */
export const makeLeases = (kube: KubeService, options: Options, state: State) => {
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

/** @internal */
export type LeaseIO = ReturnType<typeof makeLeases>

/** Who is live, who is gone, and what each live member lists, from one snapshot (ending the
 * Leases nobody renewed for the lease duration on the way). @internal */
export const members = (
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

/** Says `line` once (again after something else was said for `topic`). @internal */
export const sayOnce = (
  state: State,
  topic: string,
  line: string,
  level: "info" | "warn" = "info"
) =>
  Effect.suspend(() => {
    const key = `${topic}\u0000${line}`
    if (state.said.has(key)) return Effect.void
    for (const k of state.said) if (k.startsWith(`${topic}\u0000`)) state.said.delete(k)
    state.said.add(key)
    return level === "warn" ? Effect.logWarning(line) : Effect.logInfo(line)
  })
