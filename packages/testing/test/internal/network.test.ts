/**
 * The connection model: what requests draw from a fault configuration, blackhole periods,
 * and the request log.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Clock } from "effect"
import * as Faults from "../../src/Faults.ts"
import * as Network from "../../src/internal/sim/network.ts"
import { req } from "./fixtures.ts"

/** A network on a clock the test moves by hand. */
const network = (faults: Faults.Faults) => {
  let time = 0
  const clock = { currentTimeMillisUnsafe: () => time } as unknown as Clock.Clock
  return {
    net: Network.make(clock, faults),
    at: (ms: number) => {
      time = ms
    }
  }
}

const draws = (net: Network.Network, conn: Network.Conn, kind: Network.Kind, n = 200) =>
  Array.from({ length: n }, () => {
    const d = net.draw(conn, req, kind, 0)
    return d.error?._tag ?? (d.slow ? "slow" : "ok")
  })

describe("network", () => {
  it("the same seed draws the same faults; setFaults reseeds", () => {
    const faults: Faults.Faults = { seed: 3, conflict: 0.2, tooManyRequests: 0.2, slow: 0.2 }
    const one = network(faults).net
    const two = network(faults).net
    const conn = Network.newConn(true, true)
    const first = draws(one, conn, "write")
    assert.deepStrictEqual(first, draws(two, conn, "write"))
    one.setFaults(faults)
    assert.deepStrictEqual(draws(one, conn, "write"), first)
    assert.includeMembers(first, ["Conflict", "TooManyRequests", "slow", "ok"])
  })

  it("only writes draw conflicts; a connection without faults draws none", () => {
    const { net } = network({ seed: 1, conflict: 1 })
    assert.deepStrictEqual(
      new Set(draws(net, Network.newConn(true, true), "read")),
      new Set(["ok"])
    )
    assert.deepStrictEqual(
      new Set(draws(net, Network.newConn(true, true), "write")),
      new Set(["Conflict"])
    )
    assert.deepStrictEqual(
      new Set(draws(net, Network.newConn(false, false), "write")),
      new Set(["ok"])
    )
  })

  it("server errors are 500 or 503; 429 says when to come back", () => {
    const { net } = network({ seed: 1, serverError: 1 })
    const statuses = new Set(
      Array.from({ length: 100 }, () => {
        const e = net.draw(Network.newConn(true, true), req, "read", 0).error
        return e?._tag === "ServerError" ? e.status : undefined
      })
    )
    assert.deepStrictEqual(statuses, new Set([500, 503]))
    const tooMany = network({ seed: 1, tooManyRequests: 1 }).net.draw(
      Network.newConn(true, true),
      req,
      "read",
      0
    )
    assert.strictEqual(tooMany.error?._tag, "TooManyRequests")
  })

  it("a blackhole fraction makes requests silent", () => {
    const { net } = network({ seed: 1, blackhole: 1 })
    assert.isTrue(net.draw(Network.newConn(true, true), req, "read", 1).silent)
  })

  it("a blackhole period silences what was sent before its end and is still open", () => {
    const { net, at } = network({})
    const conn = Network.newConn(true, true)
    at(1_000)
    net.blackhole("10 seconds")
    at(5_000)
    assert.isTrue(net.silenced(conn, 5_000), "sent during it")
    assert.isTrue(net.silenced(conn, 0), "in flight when it began")
    assert.isFalse(net.silenced(Network.newConn(false, false), 5_000), "not the admin's")
    at(20_000)
    assert.isFalse(net.silenced(conn, 12_000), "sent after it")
    assert.isTrue(net.silenced(conn, 5_000), "silent for good")
  })

  it("a configuration's window counts from when it takes effect; a new one ends it", () => {
    const { net, at } = network({ blackholeWindow: { from: 1_000, for: 10_000 } })
    const conn = Network.newConn(true, true)
    at(500)
    assert.isFalse(net.silenced(conn, 500), "not yet")
    at(2_000)
    assert.isTrue(net.silenced(conn, 2_000))
    net.setFaults(Faults.none)
    at(3_000)
    assert.isFalse(net.silenced(conn, 2_500), "cut short at 2 s")
  })

  it("keeps the last 200 lines of the request log", () => {
    const { net } = network({})
    for (let i = 0; i < 250; i++) net.note(`line ${i}`)
    const log = net.requests()
    assert.strictEqual(log.length, 200)
    assert.deepStrictEqual([log[0], log[199]], ["line 50", "line 249"])
  })
})
