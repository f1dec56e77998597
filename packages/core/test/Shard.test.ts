/**
 * The Shard module: the API server's hash, the split's properties (a partition, independent of
 * order, minimal moves on a join or a leave, balanced), ranges and selectors that agree with
 * the buckets, the table's encoding, and the handoff: a model of members running rounds
 * against a shared table, with stale reads, crashes, joins, graceful leaves and hand edits of
 * the table interleaved at random, in which no bucket is ever served by two members and every
 * bucket ends with its owner.
 */
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import * as fc from "fast-check"
import { Shard } from "../src/index.ts"

/** FNV-1a 64 with BigInt, as the definition reads. */
const reference = (value: string): string => {
  let h = 0xcbf29ce484222325n
  for (const byte of new TextEncoder().encode(value)) {
    h ^= BigInt(byte)
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn
  }
  return h.toString(16).padStart(16, "0")
}

const names = (n: number) => Array.from({ length: n }, (_, i) => `replica-${i}`)

describe("Shard", () => {
  it("hashes as the API server does (64-bit FNV-1a of the UTF-8 bytes)", () => {
    // Pairs checked against kube-apiserver v1.36.3's shardRange filtering.
    assert.strictEqual(Shard.hash("b18f967e-39d1-4730-990e-62f35b094f5b"), "ceac52d9fea8b3a3")
    assert.strictEqual(Shard.hash("8750c047-f638-4c5c-81cc-7c73cd4f1c67"), "7222f112027595be")
    assert.strictEqual(Shard.hash(""), "cbf29ce484222325")
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 64 }), (s) => {
        assert.strictEqual(Shard.hash(s), reference(s))
      }),
      { numRuns: 500 }
    )
  })

  it("a bucket is the top bits of the hash; ranges and the client filter agree with buckets", () => {
    fc.assert(
      fc.property(
        fc.uuid(),
        fc.constantFrom(1, 2, 16, 256, 4096),
        fc.array(fc.nat(4095)),
        (uid, total, picked) => {
          const bucket = Shard.bucketOf(uid, total)
          assert.strictEqual(
            bucket,
            Number(BigInt(`0x${Shard.hash(uid)}`) / (2n ** 64n / BigInt(total)))
          )
          const set = new Set(picked.map((b) => b % total))
          assert.strictEqual(Shard.contains(Shard.ranges(set, total), uid), set.has(bucket))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("writes the API server's selector; none for nothing and for everything", () => {
    assert.deepStrictEqual(
      Shard.selector(Shard.ranges([1, 2, 3], 4), "namespace"),
      Option.some(
        "shardRange(object.metadata.namespace, '0x4000000000000000', '0x10000000000000000')"
      )
    )
    assert.deepStrictEqual(
      Shard.selector(Shard.ranges([0, 2], 4), "uid"),
      Option.some(
        "shardRange(object.metadata.uid, '0x0000000000000000', '0x4000000000000000') || shardRange(object.metadata.uid, '0x8000000000000000', '0xc000000000000000')"
      )
    )
    assert.isTrue(Option.isNone(Shard.selector([], "uid")))
    assert.isTrue(Option.isNone(Shard.selector(Shard.ranges([0, 1, 2, 3], 4), "uid")))
    assert.throws(() => Shard.ranges([0], 3), /power of two/)
  })

  it("splits into a partition that depends only on the set of members", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 9 }),
        (members) => {
          const owners = Shard.split(members, 256)
          assert.strictEqual(owners.length, 256)
          for (const o of owners) assert.include(members, o)
          assert.deepStrictEqual(Shard.split([...members].reverse(), 256), owners)
          assert.deepStrictEqual(Shard.split([...members, ...members], 256), owners)
        }
      ),
      { numRuns: 200 }
    )
    assert.deepStrictEqual(Shard.split([], 4), [undefined, undefined, undefined, undefined])
  })

  it("moves only the joiner's share on a join, only the leaver's on a leave", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.string({ minLength: 1 }), (n, joiner) => {
        const members = names(n)
        fc.pre(!members.includes(joiner))
        const before = Shard.split(members)
        const after = Shard.split([...members, joiner])
        after.forEach((owner, b) => {
          if (owner !== before[b]) assert.strictEqual(owner, joiner, `bucket ${b}`)
        })
        // Leaving is the same move backwards.
        assert.deepStrictEqual(Shard.split(members), before)
      }),
      { numRuns: 200 }
    )
  })

  it("balances: with n members each holds about 256/n buckets", () => {
    for (const n of [2, 3, 4, 8]) {
      const owners = Shard.split(names(n))
      for (const m of names(n)) {
        const share = Shard.bucketsOf(owners, m).length
        assert.isAtLeast(share, (256 / n) * 0.6, `${m} of ${n}`)
        assert.isAtMost(share, (256 / n) * 1.4, `${m} of ${n}`)
      }
    }
  })

  it("formats and parses buckets; nonsense does not parse", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(255)), (buckets) => {
        const sorted = [...buckets].sort((a, b) => a - b)
        assert.deepStrictEqual(Shard.parse(Shard.format(buckets), 256), Option.some(sorted))
      })
    )
    for (const bad of ["x", "3-1", "1,,2", "256", "-1", "1-2-3"])
      assert.isTrue(Option.isNone(Shard.parse(bad, 256)), bad)
  })

  it("encodes the table; a table that does not fit says why", () => {
    const holders = ["a", "a", undefined, "b"]
    const text = Shard.encodeTable(holders, "uid")
    assert.strictEqual(text, '{"buckets":4,"key":"uid","holders":{"a":"0-1","b":"3"}}')
    assert.deepStrictEqual(Shard.decodeTable(text, 4, "uid"), { _tag: "Table", holders })
    const problem = (t: string) => {
      const decoded = Shard.decodeTable(t, 4, "uid")
      return decoded._tag === "Invalid" ? decoded.problem : "read"
    }
    assert.strictEqual(problem("{"), "it is not JSON")
    assert.strictEqual(problem("7"), "it is not a JSON object")
    assert.strictEqual(
      problem('{"buckets":4,"key":"namespace","holders":{}}'),
      "it is for 4 buckets by namespace, this replica uses 4 by uid"
    )
    assert.strictEqual(
      problem('{"buckets":4,"key":"uid","holders":[]}'),
      "holders is not an object"
    )
    assert.strictEqual(
      problem('{"buckets":4,"key":"uid","holders":{"a":"0-9"}}'),
      "the buckets of a do not read"
    )
    assert.strictEqual(
      problem('{"buckets":4,"key":"uid","holders":{"a":"0-1","b":"1"}}'),
      "bucket 1 is held twice"
    )
  })

  it("a round releases what the split gives away, claims only what nobody holds or lists", () => {
    const all = new Set([0, 1, 2, 3])
    const alone = Shard.split(["a"], 4)
    const r = Shard.round({
      me: "a",
      members: ["a", "b"],
      gone: new Set(),
      holders: alone,
      listed: new Map(),
      held: all
    })
    const toB = Shard.bucketsOf(Shard.split(["a", "b"], 4), "b")
    assert.deepStrictEqual(r.release, toB)
    assert.deepStrictEqual(r.claim, [])
    for (const b of toB) assert.isUndefined(r.holders[b])
    // b sees them free, but still listed by a: it waits.
    const listedByA = Shard.round({
      me: "b",
      members: ["a", "b"],
      gone: new Set(),
      holders: r.holders,
      listed: new Map([["a", all]]),
      held: new Set()
    })
    assert.deepStrictEqual([listedByA.claim, listedByA.waiting], [[], toB])
    const unlisted = Shard.round({
      me: "b",
      members: ["a", "b"],
      gone: new Set(),
      holders: r.holders,
      listed: new Map([["a", new Set(Shard.bucketsOf(r.holders, "a"))]]),
      held: new Set()
    })
    assert.deepStrictEqual(unlisted.claim, toB)
  })

  it("a round writes back what the table lost, frees what it holds without knowing, gives up what another took", () => {
    const r = Shard.round({
      me: "a",
      members: ["a"],
      gone: new Set(["dead"]),
      holders: [undefined, "dead", "a", "x"],
      listed: new Map(),
      held: new Set([0, 1, 3])
    })
    // 0: lost from the table, written back; 1: its holder is gone, written back; 2: the table
    // says a, a does not hold it: freed, then claimed again (a is the only member); 3: taken.
    assert.deepStrictEqual(r.lost, [3])
    assert.deepStrictEqual(r.claim, [2])
    assert.deepStrictEqual(r.holders, ["a", "a", "a", "x"])
  })

  it("handoff: a hand edit that frees a held bucket does not let another member take it", () => {
    const b = Shard.bucketsOf(Shard.split(names(2), BUCKETS), "replica-1")[0]
    assert.isDefined(b)
    if (b === undefined) return
    const step = (tag: Action["_tag"], m: number, to = 0): Action => ({ _tag: tag, m, b, to })
    check(
      [
        step("read", 0),
        step("write", 0),
        step("join", 1),
        step("edit", 0, 5),
        step("read", 1),
        step("write", 1)
      ],
      1
    )
  })

  it("handoff: members running rounds never serve a bucket twice, and converge", () => {
    fc.assert(
      fc.property(fc.array(action, { maxLength: 60 }), fc.integer({ min: 1, max: 5 }), check),
      {
        numRuns: 400
      }
    )
  })
})

// ---------------------------------------------------------------------------------------------
// A model of the handoff protocol as the runtime runs it (runtime/src/Sharding.ts), with small
// tables: each member reads a snapshot of the leases (its view may be stale when it writes),
// then gives up what it must (stops serving, then drops it from its lease), writes the table
// with a compare-and-swap on the version it read, then lists its claims and serves them.

const BUCKETS = 16

interface Member {
  readonly id: string
  joined: boolean
  alive: boolean
  gone: boolean
  held: Set<number>
  listed: Set<number>
  served: Set<number>
  snapshot: Snapshot | undefined
}

interface Snapshot {
  readonly version: number
  readonly holders: Shard.Owners
  readonly members: ReadonlyArray<string>
  readonly gone: ReadonlySet<string>
  readonly listed: ReadonlyMap<string, ReadonlySet<number>>
}

type Action = {
  readonly _tag: "read" | "write" | "join" | "crash" | "bury" | "leave" | "edit"
  readonly m: number
  /** For `edit`: the bucket edited by hand, and what it gets (a member, nobody, nonsense). */
  readonly b: number
  readonly to: number
}

const action: fc.Arbitrary<Action> = fc.record({
  _tag: fc.constantFrom("read", "read", "write", "write", "join", "crash", "bury", "leave", "edit"),
  m: fc.nat(4),
  b: fc.nat(BUCKETS - 1),
  to: fc.nat(6)
}) as fc.Arbitrary<Action>

const check = (actions: ReadonlyArray<Action>, initial: number) => {
  const members: Array<Member> = names(5).map((id, i) => ({
    id,
    joined: i < initial,
    alive: i < initial,
    gone: false,
    held: new Set(),
    listed: new Set(),
    served: new Set(),
    snapshot: undefined
  }))
  let table: { version: number; holders: Shard.Owners } = {
    version: 0,
    holders: Array.from({ length: BUCKETS }, () => undefined)
  }
  // At the end, holders without a lease (never joined, or written by hand) have been absent for
  // the lease duration: gone too.
  const read = (m: Member, final = false): Snapshot => ({
    version: table.version,
    holders: table.holders,
    members: members.filter((x) => x.joined && !x.gone).map((x) => x.id),
    gone: new Set([
      ...members.filter((x) => x.gone || (final && !x.joined)).map((x) => x.id),
      ...(final ? ["?"] : [])
    ]),
    listed: new Map(
      members.filter((x) => x.joined && !x.gone && x !== m).map((x) => [x.id, new Set(x.listed)])
    )
  })
  const write = (m: Member, s: Snapshot) => {
    const r = Shard.round({ me: m.id, ...s, held: m.held })
    for (const b of [...r.lost, ...r.release]) {
      m.served.delete(b)
      m.held.delete(b)
    }
    m.listed = new Set(m.held)
    if (table.version === s.version) {
      table = { version: table.version + 1, holders: r.holders }
      for (const b of r.claim) m.held.add(b)
      m.listed = new Set(m.held)
    }
    m.served = new Set([...m.held].filter((b) => m.listed.has(b)))
  }
  const invariant = (after: string) => {
    const by = new Map<number, string>()
    for (const m of members) {
      if (!m.alive) continue
      for (const b of m.served) {
        const other = by.get(b)
        if (other !== undefined)
          assert.fail(`bucket ${b} served by ${other} and ${m.id} after ${after}`)
        by.set(b, m.id)
      }
    }
  }
  for (const a of actions) {
    const m = members[a.m]!
    switch (a._tag) {
      case "read":
        if (m.alive) m.snapshot = read(m)
        break
      case "write":
        if (m.alive && m.snapshot !== undefined) write(m, m.snapshot)
        m.snapshot = undefined
        break
      case "join":
        if (!m.joined) Object.assign(m, { joined: true, alive: true })
        break
      case "crash":
        // Its fence passes before anyone can find its lease expired: it serves nothing more.
        if (m.alive) Object.assign(m, { alive: false, served: new Set(), snapshot: undefined })
        break
      case "bury":
        // Its lease expired and was ended by another member (only a crashed one's can).
        if (m.joined && !m.alive) m.gone = true
        break
      case "edit": {
        // The table edited by hand: one bucket given to a member, to nobody, or to nonsense.
        const holders = [...table.holders]
        holders[a.b] = a.to < 5 ? members[a.to]!.id : a.to === 5 ? undefined : "?"
        table = { version: table.version + 1, holders }
        break
      }
      case "leave":
        // A graceful leave: stop, unlist, free in the table (if unchanged since), end the lease.
        if (m.alive) {
          m.served = new Set()
          m.listed = new Set()
          table = {
            version: table.version + 1,
            holders: table.holders.map((h) => (h === m.id ? undefined : h))
          }
          Object.assign(m, { alive: false, gone: true, held: new Set(), snapshot: undefined })
        }
        break
    }
    invariant(JSON.stringify(a))
  }
  // Convergence: the crashed are found gone, the live run fresh rounds one after the other.
  for (const m of members) if (m.joined && !m.alive) m.gone = true
  const live = members.filter((m) => m.alive)
  for (let pass = 0; pass < 3; pass++) for (const m of live) write(m, read(m, true))
  invariant("convergence")
  const owners = Shard.split(
    live.map((m) => m.id),
    BUCKETS
  )
  for (const m of live)
    assert.deepStrictEqual(
      [...m.served].sort((a, b) => a - b),
      Shard.bucketsOf(owners, m.id)
    )
}
