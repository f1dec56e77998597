/**
 * The Lease module: client-go's record rules, and the safety of judging expiry from local
 * observation: a holder that stops at its last successful renewal's send time plus the renew
 * deadline has stopped before any observer can see its record unchanged for the lease duration.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration } from "effect"
import * as fc from "fast-check"
import { Lease } from "../src/index.ts"

const fifteen = Duration.seconds(15)
const held = (holder: string | undefined): Lease.LeaseRecord => ({
  holder,
  durationSeconds: 15,
  acquireTime: undefined,
  renewTime: undefined,
  transitions: 3
})

describe("Lease", () => {
  it("judges from the local time a version was first seen, not from the record's times", () => {
    const seen = Lease.observe(undefined, "7", 1_000)
    assert.strictEqual(Lease.observe(seen, "7", 9_000), seen)
    assert.deepStrictEqual(Lease.observe(seen, "8", 9_000), { version: "8", at: 9_000 })
    const other = { ...held("b"), renewTime: "1999-01-01T00:00:00.000000Z" }
    assert.deepStrictEqual(Lease.judge(other, seen, "a", 15_999, fifteen), {
      _tag: "Held",
      holder: "b",
      until: 16_000
    })
    assert.deepStrictEqual(Lease.judge(other, seen, "a", 16_000, fifteen), {
      _tag: "Free",
      expiredHolder: "b"
    })
    assert.deepStrictEqual(Lease.judge(held("a"), seen, "a", 0, fifteen), { _tag: "Mine" })
    assert.deepStrictEqual(Lease.judge(held(undefined), seen, "a", 0, fifteen), {
      _tag: "Free",
      expiredHolder: undefined
    })
    assert.deepStrictEqual(Lease.judge(undefined, seen, "a", 0, fifteen), {
      _tag: "Free",
      expiredHolder: undefined
    })
  })

  it("writes records as client-go does: renewals keep acquireTime and transitions", () => {
    const first = Lease.acquire(undefined, "a", 0, 15)
    assert.deepStrictEqual(first, {
      holder: "a",
      durationSeconds: 15,
      acquireTime: "1970-01-01T00:00:00.000000Z",
      renewTime: "1970-01-01T00:00:00.000000Z",
      transitions: 0
    })
    const renewed = Lease.acquire(first, "a", 2_500, 15)
    assert.strictEqual(renewed.acquireTime, first.acquireTime)
    assert.strictEqual(renewed.renewTime, "1970-01-01T00:00:02.500000Z")
    assert.strictEqual(renewed.transitions, 0)
    const taken = Lease.acquire(renewed, "b", 30_000, 15)
    assert.strictEqual(taken.acquireTime, "1970-01-01T00:00:30.000000Z")
    assert.strictEqual(taken.transitions, 1)
    const released = Lease.release(taken, 31_000)
    assert.deepStrictEqual(
      [released.holder, released.durationSeconds, released.transitions],
      [undefined, 1, 1]
    )
    assert.strictEqual(Lease.acquire(released, "b", 32_000, 15).transitions, 2)
  })

  it("reads and writes a Lease's spec; a malformed field reads as absent", () => {
    const record = Lease.acquire(undefined, "a", 0, 15)
    assert.deepStrictEqual(Lease.read({ spec: Lease.spec(record) }), record)
    assert.deepStrictEqual(
      Lease.read({ spec: { holderIdentity: 7, leaseDurationSeconds: "x", leaseTransitions: -2 } }),
      {
        holder: undefined,
        durationSeconds: undefined,
        acquireTime: undefined,
        renewTime: undefined,
        transitions: 0
      }
    )
    assert.deepStrictEqual(Lease.read({ spec: "nonsense" }).holder, undefined)
  })

  it("names what looks wrong in a held Lease", () => {
    assert.deepStrictEqual(
      Lease.problems({ spec: { holderIdentity: "a", leaseDurationSeconds: 99999 } }, fifteen),
      ["leaseDurationSeconds is 99999, this replica's lease duration is 15s", "no renewTime"]
    )
    assert.deepStrictEqual(Lease.problems({ spec: "nonsense" }, fifteen), ["spec is not an object"])
    assert.deepStrictEqual(
      Lease.problems({ spec: Lease.spec(Lease.acquire(undefined, "a", 0, 15)) }, fifteen),
      []
    )
    assert.deepStrictEqual(Lease.problems({ spec: {} }, fifteen), [], "nobody holds it")
  })

  it("checks the timing as client-go does", () => {
    assert.isUndefined(Lease.checkTiming(Lease.defaultTiming))
    const t = (lease: number, renew: number, retry: number) =>
      Lease.checkTiming({
        leaseDuration: Duration.seconds(lease),
        renewDeadline: Duration.seconds(renew),
        retryPeriod: Duration.seconds(retry)
      })
    assert.strictEqual(
      t(10, 10, 2),
      "the renew deadline (10s) must be shorter than the lease duration (10s)"
    )
    assert.strictEqual(
      t(15, 2.4, 2),
      "the renew deadline (2s 400ms) must be longer than 1.2 × the retry period (2s)"
    )
    assert.strictEqual(t(15, 10, 0), "the retry period (0) must be above zero")
  })

  it("an observer never finds a holder's Lease free while the holder may still act", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 6_000 }),
            writeDelay: fc.integer({ min: 0, max: 8_000 }),
            answerDelay: fc.integer({ min: 0, max: 8_000 }),
            ok: fc.boolean()
          }),
          { minLength: 1, maxLength: 20 }
        ),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 6_000 }),
            delay: fc.integer({ min: 0, max: 30_000 })
          }),
          {
            minLength: 1,
            maxLength: 40
          }
        ),
        (renewals, reads) => {
          const timing = Lease.defaultTiming
          const renewDeadline = Duration.toMillis(timing.renewDeadline)
          // The holder's renewals: sent at `sent`, written at `written`, answered at `answered`.
          const writes: Array<{ sent: number; written: number; answered: number }> = []
          let t = 0
          for (const r of renewals) {
            t += r.gap
            if (r.ok)
              writes.push({
                sent: t,
                written: t + r.writeDelay,
                answered: t + r.writeDelay + r.answerDelay
              })
          }
          // The holder acts at T while some renewal that it wrote was answered by T and sent after
          // T - renewDeadline: it acts at or after `time` if one such renewal stops later.
          const actsFrom = (time: number, wrote: ReadonlyArray<(typeof writes)[number]>) =>
            wrote.find((w) => w.sent + renewDeadline > Math.max(time, w.answered))
          const versionAt = (time: number) => String(writes.filter((w) => w.written <= time).length)
          let observed: Lease.Observed | undefined
          const holder = { ...held("b"), transitions: 0 }
          // The observer's reads, one after the other: sent `gap` after the last answer.
          let sent = 0
          for (const read of reads) {
            sent += read.gap
            // The server serves the read between its sending and its answer.
            const served = sent + Math.floor(read.delay / 2)
            const answered = sent + read.delay
            sent = answered
            observed = Lease.observe(observed, versionAt(served), answered)
            const verdict = Lease.judge(holder, observed, "a", answered, timing.leaseDuration)
            // A take decided now is written with the version read as its precondition: it succeeds
            // when the holder wrote nothing since; then none of the holder's later writes succeed,
            // and the holder must not act from now on.
            const taken = !writes.some((w) => w.written > served && w.written <= answered)
            if (verdict._tag === "Free" && taken) {
              const wrote = writes.filter((w) => w.written <= served)
              const acting = actsFrom(answered, wrote)
              assert.isUndefined(
                acting,
                `the observer took over at ${answered}, the holder acts until ${(acting?.sent ?? 0) + renewDeadline}`
              )
            }
          }
        }
      ),
      { numRuns: 3000 }
    )
  })
})
