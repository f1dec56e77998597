/**
 * The split of objects across the replicas of a sharded operator, as pure functions: an
 * object's place is the 64-bit FNV-1a hash of its `metadata.uid` (or `metadata.namespace`), as
 * the API server's sharded list and watch (KEP-5866, `shardSelector`) computes it; the hash
 * space is cut into {@link defaultBuckets} equal buckets, and each bucket goes to one member by
 * rendezvous hashing ({@link split}): the member with the highest weight for it (a hash of the
 * member's name and the bucket).
 * So the split depends only on the member set (not on its order nor on history), every member
 * agrees on it once it sees the same members, a member that joins takes only buckets it wins
 * (about `1/(n+1)` of them) and a member that leaves gives only its own to the others.
 *
 * A replica handles the objects of the buckets it holds; {@link ranges} turns them into the
 * `[start, end)` hash ranges of a {@link selector} for the API server, and {@link contains}
 * filters on the client when the server does not honour the selector. {@link round} is the
 * handoff's decision: which buckets to give up (after draining them) and which to take, against
 * the shared table of holders ({@link encodeTable}).
 *
 * @since 0.1.0
 */
import { Option } from "effect"

/**
 * What an object is hashed by: its `metadata.uid` (spreads every object; the default) or its
 * `metadata.namespace` (keeps a namespace's objects together; cluster-scoped objects all hash
 * the empty namespace).
 *
 * @since 0.1.0
 * @category models
 */
export type Key = "uid" | "namespace"

/**
 * The number of buckets the hash space is cut into (a power of two): 256.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.defaultBuckets // 256
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultBuckets = 256

/**
 * A half-open range `[start, end)` of the 64-bit hash space, as the API server's selector
 * writes its bounds: `0x` and 16 lowercase hex digits (`end` may be `0x10000000000000000`,
 * 2^64).
 *
 * @since 0.1.0
 * @category models
 */
export interface Range {
  readonly start: string
  readonly end: string
}

/**
 * The owner of each bucket (index = bucket), or `undefined` when there are no members.
 *
 * @since 0.1.0
 * @category models
 */
export type Owners = ReadonlyArray<string | undefined>

const encoder = new TextEncoder()

/** FNV-1a 64 of the UTF-8 bytes, as two 32-bit halves. */
const fnv = (value: string): readonly [hi: number, lo: number] => {
  let hi = 0xcbf29ce4
  let lo = 0x84222325
  for (const byte of encoder.encode(value)) {
    lo = (lo ^ byte) >>> 0
    // h * 0x100000001b3 = h * 0x1b3 + (h << 40), modulo 2^64
    const low = lo * 0x1b3
    const carry = Math.floor(low / 0x100000000)
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0
    lo = low >>> 0
  }
  return [hi, lo]
}

const hex8 = (n: number) => n.toString(16).padStart(8, "0")

/**
 * The 64-bit FNV-1a hash of a string's UTF-8 bytes as 16 lowercase hex digits: what the API
 * server compares with a shard range (`hash/fnv`'s `New64a`).
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.hash("") // "cbf29ce484222325"
 * Shard.hash("a") // "af63dc4c8601ec8c"
 * ```
 *
 * @since 0.1.0
 * @category hashing
 */
export const hash = (value: string): string => {
  const [hi, lo] = fnv(value)
  return hex8(hi) + hex8(lo)
}

const checkBuckets = (buckets: number) => {
  if (
    !Number.isInteger(buckets) ||
    buckets < 1 ||
    buckets > 65536 ||
    (buckets & (buckets - 1)) !== 0
  )
    throw new RangeError(
      `kubefx: shard buckets must be a power of two from 1 to 65536, got ${buckets}`
    )
}

/**
 * The bucket of a value: the top `log2(buckets)` bits of its hash.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.bucketOf("a", 256) // 175 (0xaf)
 * ```
 *
 * @since 0.1.0
 * @category hashing
 */
export const bucketOf = (value: string, buckets: number = defaultBuckets): number => {
  checkBuckets(buckets)
  const bits = Math.log2(buckets)
  return bits === 0 ? 0 : fnv(value)[0] >>> (32 - bits)
}

/**
 * The value an object is hashed by (`metadata.uid` or `metadata.namespace`; missing: `""`).
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.keyValue({ metadata: { uid: "u-1", namespace: "a" } }, "namespace") // "a"
 * ```
 *
 * @since 0.1.0
 * @category hashing
 */
export const keyValue = (
  object: {
    readonly metadata?: { readonly uid?: string; readonly namespace?: string } | undefined
  },
  key: Key
): string => (key === "uid" ? object.metadata?.uid : object.metadata?.namespace) ?? ""

/**
 * The field path of a key in a selector: `object.metadata.uid` or `object.metadata.namespace`.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.fieldOf("uid") // "object.metadata.uid"
 * ```
 *
 * @since 0.1.0
 * @category selectors
 */
export const fieldOf = (key: Key): string => `object.metadata.${key}`

/** murmur3's 32-bit finalizer: every input bit flips each output bit with probability ½. */
const mix = (x: number): number => {
  let h = x >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A member's weights for the buckets: its FNV-1a hash mixed with each bucket's number (FNV
 * alone spreads similar names badly); compare the first word, then the second. */
const weights = (member: string) => {
  const [hi, lo] = fnv(member)
  return (bucket: number): readonly [number, number] => {
    const first = mix(lo ^ Math.imul(bucket + 1, 0x9e3779b1) ^ mix(hi))
    return [first, mix(hi ^ Math.imul(first, 0x85ebca6b))]
  }
}

/**
 * Which member owns each bucket: the one of highest weight for it, a hash of the member's name
 * and the bucket (ties, which need equal hashes, go to the smaller name). Deterministic in the
 * set of members.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * const owners = Shard.split(["a", "b"], 4)
 * owners.length // 4
 * owners.every((o) => o === "a" || o === "b") // true
 * ```
 *
 * @since 0.1.0
 * @category splitting
 */
export const split = (members: Iterable<string>, buckets: number = defaultBuckets): Owners => {
  checkBuckets(buckets)
  const all = [...new Set(members)].map((m) => ({ m, weight: weights(m) }))
  const owners: Array<string | undefined> = []
  for (let b = 0; b < buckets; b++) {
    let best: string | undefined
    let bestWeight: readonly [number, number] = [-1, -1]
    for (const { m, weight } of all) {
      const [hi, lo] = weight(b)
      const wins =
        hi > bestWeight[0] ||
        (hi === bestWeight[0] &&
          (lo > bestWeight[1] || (lo === bestWeight[1] && best !== undefined && m < best)))
      if (wins) {
        best = m
        bestWeight = [hi, lo]
      }
    }
    owners.push(best)
  }
  return owners
}

/**
 * The buckets `member` owns, in order.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.bucketsOf(["a", "b", "a"], "a") // [0, 2]
 * ```
 *
 * @since 0.1.0
 * @category splitting
 */
export const bucketsOf = (owners: Owners, member: string): ReadonlyArray<number> => {
  const out: Array<number> = []
  owners.forEach((owner, b) => {
    if (owner === member) out.push(b)
  })
  return out
}

const bound = (bucket: number, buckets: number): string =>
  `0x${((BigInt(bucket) << 64n) / BigInt(buckets)).toString(16).padStart(16, "0")}`

/** Sorted, distinct buckets as runs `[first, last]`. */
const runs = (buckets: Iterable<number>): ReadonlyArray<readonly [number, number]> => {
  const sorted = [...new Set(buckets)].sort((a, b) => a - b)
  const out: Array<[number, number]> = []
  for (const b of sorted) {
    const last = out.at(-1)
    if (last !== undefined && last[1] === b - 1) last[1] = b
    else out.push([b, b])
  }
  return out
}

/**
 * The hash ranges of a set of buckets, adjacent buckets merged.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.ranges([0, 1, 3], 4)
 * // [{ start: "0x0000000000000000", end: "0x8000000000000000" },
 * //  { start: "0xc000000000000000", end: "0x10000000000000000" }]
 * ```
 *
 * @since 0.1.0
 * @category selectors
 */
export const ranges = (
  buckets: Iterable<number>,
  total: number = defaultBuckets
): ReadonlyArray<Range> => {
  checkBuckets(total)
  return runs(buckets).map(([first, last]) => ({
    start: bound(first, total),
    end: bound(last + 1, total)
  }))
}

/**
 * The API server's `shardSelector` for ranges of a key:
 * `shardRange(object.metadata.uid, '0x...', '0x...') || ...`. Answers `None` for no range
 * (nothing to ask for) and for the whole space (no selector needed).
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.selector(Shard.ranges([0], 2), "uid")
 * // Option.some("shardRange(object.metadata.uid, '0x0000000000000000', '0x8000000000000000')")
 * ```
 *
 * @since 0.1.0
 * @category selectors
 */
export const selector = (ranges: ReadonlyArray<Range>, key: Key): Option.Option<string> => {
  if (ranges.length === 0) return Option.none()
  if (ranges.length === 1 && ranges[0]!.start === bound(0, 1) && ranges[0]!.end === bound(1, 1))
    return Option.none()
  return Option.some(
    ranges.map((r) => `shardRange(${fieldOf(key)}, '${r.start}', '${r.end}')`).join(" || ")
  )
}

/**
 * Whether a value's hash falls in one of the ranges (the client-side filter).
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.contains(Shard.ranges([1], 2), "a") // true: "a" hashes to 0xaf63...
 * ```
 *
 * @since 0.1.0
 * @category selectors
 */
export const contains = (ranges: ReadonlyArray<Range>, value: string): boolean => {
  const h = `0x${hash(value)}`
  return ranges.some((r) => h >= r.start && (r.end.length > 18 || h < r.end))
}

/**
 * Buckets as text, runs joined: `0-17,40,42-60` (the empty set is `""`).
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.format([3, 0, 1, 2, 7]) // "0-3,7"
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const format = (buckets: Iterable<number>): string =>
  runs(buckets)
    .map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))
    .join(",")

/**
 * Buckets from {@link format}'s text, each below `total`; `None` when the text is not that.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.parse("0-3,7", 256) // Option.some([0, 1, 2, 3, 7])
 * Shard.parse("7-3", 256) // Option.none()
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const parse = (
  text: string,
  total: number = defaultBuckets
): Option.Option<ReadonlyArray<number>> => {
  if (text.trim() === "") return Option.some([])
  const out: Array<number> = []
  for (const part of text.split(",")) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part)
    if (m === null) return Option.none()
    const a = Number(m[1])
    const b = m[2] === undefined ? a : Number(m[2])
    if (b < a || b >= total) return Option.none()
    for (let i = a; i <= b; i++) out.push(i)
  }
  return Option.some([...new Set(out)].sort((x, y) => x - y))
}

/**
 * The shared record of who holds which bucket, as a Lease annotation's text:
 * `{"buckets":256,"key":"uid","holders":{"<member>":"0-17,40"}}`.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.encodeTable(["a", "a", undefined, "b"], "uid")
 * // '{"buckets":4,"key":"uid","holders":{"a":"0-1","b":"3"}}'
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeTable = (holders: Owners, key: Key): string => {
  const byMember = new Map<string, Array<number>>()
  holders.forEach((holder, b) => {
    if (holder === undefined) return
    const list = byMember.get(holder) ?? []
    list.push(b)
    byMember.set(holder, list)
  })
  const out: Record<string, string> = {}
  for (const member of [...byMember.keys()].sort()) out[member] = format(byMember.get(member) ?? [])
  return JSON.stringify({ buckets: holders.length, key, holders: out })
}

/**
 * Reads {@link encodeTable}'s text for `buckets` buckets hashed by `key`: the holders, or what
 * is wrong with it (not JSON, not that shape, another key or bucket count, a bucket listed
 * twice).
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * Shard.decodeTable('{"buckets":4,"key":"uid","holders":{"a":"0-1"}}', 4, "uid")
 * // { _tag: "Table", holders: ["a", "a", undefined, undefined] }
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const decodeTable = (
  text: string,
  buckets: number,
  key: Key
):
  | { readonly _tag: "Table"; readonly holders: Owners }
  | { readonly _tag: "Invalid"; readonly problem: string } => {
  const invalid = (problem: string) => ({ _tag: "Invalid" as const, problem })
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return invalid("it is not JSON")
  }
  if (typeof value !== "object" || value === null) return invalid("it is not a JSON object")
  const table = value as { buckets?: unknown; key?: unknown; holders?: unknown }
  if (table.buckets !== buckets || table.key !== key)
    return invalid(
      `it is for ${String(table.buckets)} buckets by ${String(table.key)}, this replica uses ${buckets} by ${key}`
    )
  if (typeof table.holders !== "object" || table.holders === null || Array.isArray(table.holders))
    return invalid("holders is not an object")
  const holders: Array<string | undefined> = Array.from({ length: buckets }, () => undefined)
  for (const [member, text] of Object.entries(table.holders)) {
    const parsed = typeof text === "string" ? parse(text, buckets) : Option.none()
    if (Option.isNone(parsed)) return invalid(`the buckets of ${member} do not read`)
    for (const b of parsed.value) {
      if (holders[b] !== undefined) return invalid(`bucket ${b} is held twice`)
      holders[b] = member
    }
  }
  return { _tag: "Table", holders }
}

/**
 * What one member knows at a handoff round: the live members, the members known to be gone
 * (their lease ended, or vanished long enough ago: they stopped handling), the shared table as
 * read, what the other live members list as theirs in their own leases, and what this member
 * holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface RoundInput {
  readonly me: string
  /** The live members, this one included. */
  readonly members: Iterable<string>
  readonly gone: ReadonlySet<string>
  /** The table as read (`undefined`: free). */
  readonly holders: Owners
  /** The buckets each other live member lists in its lease (`"all"`: its list does not read). */
  readonly listed: ReadonlyMap<string, ReadonlySet<number> | "all">
  /** The buckets this member holds. */
  readonly held: ReadonlySet<number>
}

/**
 * A handoff round's decision for one member:
 *
 * - `lost`: held, but the table names another member that is not gone: given up at once (the
 *   table was edited by hand).
 * - `release`: held, but the split gives them to another member: drained, dropped from this
 *   member's lease, then freed in the table.
 * - `claim`: the split gives them to this member, nobody holds them (or their holder is gone)
 *   and no other live member lists them: taken in the table (then listed, then served).
 * - `waiting`: the split gives them to this member, but their holder still runs.
 * - `holders`: the table to write: the claims and releases, this member's held buckets written
 *   back where the table lost them, and buckets the table gives this member without it holding
 *   them (a write whose answer was lost) freed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Round {
  readonly holders: Owners
  readonly lost: ReadonlyArray<number>
  readonly release: ReadonlyArray<number>
  readonly claim: ReadonlyArray<number>
  readonly waiting: ReadonlyArray<number>
}

/**
 * The handoff round of one member ({@link Round}). A bucket is claimed only when the table has
 * nobody (or a gone member) for it and no other live member lists it, and a member gives a
 * bucket up (in its lease, then in the table) only after it stopped handling it: so two
 * members that both run never hold one bucket, whatever each of them believes the members are.
 *
 * @example
 * ```ts
 * import { Shard } from "@kubefx/core"
 *
 * const holders = Shard.split(["a"], 4) // a holds everything
 * const r = Shard.round({
 *   me: "a", members: ["a", "b"], gone: new Set(), holders, listed: new Map(), held: new Set([0, 1, 2, 3])
 * })
 * // r.release: the buckets b wins; a drains them, then frees them for b
 * ```
 *
 * @since 0.1.0
 * @category handoff
 */
export const round = (input: RoundInput): Round => {
  const { me, gone, held } = input
  const desired = split(input.members, input.holders.length)
  const holders = [...input.holders]
  const lost: Array<number> = []
  const release: Array<number> = []
  const claim: Array<number> = []
  const waiting: Array<number> = []
  const listedByOthers = (b: number) => {
    for (const [member, list] of input.listed)
      if (member !== me && (list === "all" || list.has(b))) return true
    return false
  }
  holders.forEach((holder, b) => {
    const mine = held.has(b)
    const other = holder !== undefined && holder !== me && !gone.has(holder)
    if (mine && other) lost.push(b)
    else if (mine && desired[b] !== me) {
      release.push(b)
      holders[b] = undefined
    } else if (mine) holders[b] = me
    else if (holder === me) holders[b] = undefined
    if (mine || desired[b] !== me) return
    if (!other && !listedByOthers(b)) {
      claim.push(b)
      holders[b] = me
    } else waiting.push(b)
  })
  return { holders, lost, release, claim, waiting }
}
