/**
 * The Leases of a shard group, as sharding reads and writes them:
 *
 * - one **member Lease** per replica, `<group>-<hash of the member id>`: `holderIdentity` is
 *   the member while it runs, the annotation `kubefx.dev/holds` lists the buckets it holds
 *   (`Shard.format`); a member that is gone has no holder and `kubefx.dev/ended: <member>`;
 * - the **table**, the Lease `<group>`: the annotation `kubefx.dev/shards` says who holds
 *   which bucket (`Shard.encodeTable`); it is only ever replaced with the resourceVersion it
 *   was read at (a compare-and-swap).
 *
 * All carry the label `kubefx.dev/shard-group: <group>`, so one list reads them all at once
 * (one consistent snapshot) and one watch sees them change.
 *
 * @internal
 */
import { type KubeObject, Lease, Shard } from "@kubefx/core"
import { Option } from "effect"

/** The label of a group's Leases. @internal */
export const groupLabel = "kubefx.dev/shard-group"
/** A member's buckets. @internal */
export const holdsAnnotation = "kubefx.dev/holds"
/** The member whose Lease this was, once it is gone. @internal */
export const endedAnnotation = "kubefx.dev/ended"
/** The table. @internal */
export const tableAnnotation = "kubefx.dev/shards"

/** The name of a member's Lease: the group and 16 hex digits of the member's hash. @internal */
export const memberLeaseName = (group: string, member: string): string =>
  `${group}-${Shard.hash(member)}`

/** What a member Lease says. @internal */
export type MemberLease =
  | {
      readonly _tag: "Live"
      readonly member: string
      /** Its buckets, or `"all"` when the list does not read (it blocks every claim). */
      readonly holds: ReadonlySet<number> | "all"
      readonly lease: KubeObject.KubeObject
    }
  | { readonly _tag: "Ended"; readonly member: string; readonly lease: KubeObject.KubeObject }
  | { readonly _tag: "Other"; readonly lease: KubeObject.KubeObject }

/** Reads a member Lease of the group. @internal */
export const readMember = (lease: KubeObject.KubeObject, buckets: number): MemberLease => {
  const annotations = lease.metadata?.annotations ?? {}
  const holder = Lease.read(lease).holder
  const ended = annotations[endedAnnotation]
  if (holder === undefined)
    return ended === undefined ? { _tag: "Other", lease } : { _tag: "Ended", member: ended, lease }
  const text = annotations[holdsAnnotation] ?? ""
  const holds = Shard.parse(text, buckets)
  return {
    _tag: "Live",
    member: holder,
    holds: Option.isSome(holds) ? new Set(holds.value) : "all",
    lease
  }
}

/** The group's Leases as one snapshot: the table and the members'. @internal */
export interface Snapshot {
  readonly table: KubeObject.KubeObject | undefined
  readonly members: ReadonlyArray<KubeObject.KubeObject>
}

/** Splits a list of the group's Leases. @internal */
export const snapshot = (
  group: string,
  leases: ReadonlyArray<KubeObject.KubeObject>
): Snapshot => ({
  table: leases.find((l) => l.metadata?.name === group),
  members: leases.filter((l) => l.metadata?.name !== group)
})

/** The table's holders, or what is wrong with it (then: nobody holds anything). @internal */
export const readTable = (
  table: KubeObject.KubeObject | undefined,
  buckets: number,
  key: Shard.Key
): { readonly holders: Shard.Owners; readonly problem: string | undefined } => {
  const empty = Array.from({ length: buckets }, () => undefined)
  const text = table?.metadata?.annotations?.[tableAnnotation]
  if (text === undefined) return { holders: empty, problem: undefined }
  const decoded = Shard.decodeTable(text, buckets, key)
  return decoded._tag === "Table"
    ? { holders: decoded.holders, problem: undefined }
    : { holders: empty, problem: decoded.problem }
}
