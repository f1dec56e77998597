/**
 * The login connection's choice of credentials (declaration order, the next one on a 401,
 * every login again when none is left or the one in use is about to expire, once at a time),
 * and the errors of logins that answer nonsense or fail for good.
 */
import { assert, describe, it } from "@effect/vitest"
import { Activity, Outcome, Registry } from "@kubefx/core"
import { Effect, Exit } from "effect"
import { Config } from "../src/index.ts"
import * as Http from "../src/internal/http.ts"
import * as Login from "../src/internal/login.ts"

const issued = (id: string, token: string, expiresAt?: number): Login.Issued => ({
  id,
  credentials: {
    server: new URL("https://127.0.0.1:6443"),
    tls: {},
    headers: () => ({ Authorization: `Bearer ${token}` })
  },
  expiresAt
})

/** A connection on the logins `answers` gives (the first call's answer first), a clock the
 * test moves, and what it reported. */
const fixture = (answers: (round: number) => ReadonlyArray<Login.Issued>) => {
  let round = 0
  let time = 1_000_000
  const reports: Array<string> = []
  const logIns: Array<number> = []
  const conn = Login.makeConnection(
    answers(round),
    async () => {
      logIns.push(++round)
      await new Promise((resolve) => setTimeout(resolve, 5))
      return answers(round)
    },
    Http.defaultTimeouts,
    (level, message) => reports.push(`${level}: ${message}`),
    () => time
  )
  const bearer = async () => {
    const next = await conn.next()
    return { token: String(next.headers.Authorization).slice(7), generation: next.generation! }
  }
  return {
    conn,
    bearer,
    reports,
    logIns,
    advance: (ms: number) => {
      time += ms
    },
    now: () => time
  }
}

describe("the login connection", () => {
  it.live("uses the logins' credentials in order, the next one when the server refuses one", () =>
    Effect.promise(async () => {
      const f = fixture((round) => [issued("a", `a${round}`), issued("b", `b${round}`)])
      const first = await f.bearer()
      assert.strictEqual(first.token, "a0")
      await f.conn.refused!(first.generation)
      const second = await f.bearer()
      assert.strictEqual(second.token, "b0")
      assert.deepStrictEqual(f.logIns, [], "no login while credentials are left")
      assert.deepStrictEqual(f.reports, [
        "warning: the API server refused the credentials of login 'a' (401); using those of login 'b'"
      ])
      f.advance(5_000)
      await f.conn.refused!(second.generation)
      const third = await f.bearer()
      assert.strictEqual(third.token, "a1")
      assert.deepStrictEqual(f.logIns, [1])
      assert.include(f.reports, "info: logged in: a, b")
      await f.conn.close()
    })
  )

  it.live("many refusals of the same credentials run one login", () =>
    Effect.promise(async () => {
      const f = fixture((round) => [issued("a", `a${round}`)])
      const { generation } = await f.bearer()
      f.advance(5_000)
      await Promise.all([1, 2, 3, 4].map(() => f.conn.refused!(generation)))
      assert.deepStrictEqual(f.logIns, [1])
      assert.strictEqual((await f.bearer()).token, "a1")
      await f.conn.close()
    })
  )

  it.live("a login answering refused credentials does not run again within 2 s", () =>
    Effect.promise(async () => {
      const f = fixture(() => [issued("a", "always-refused")])
      f.advance(5_000)
      await f.conn.refused!((await f.bearer()).generation)
      await f.conn.refused!((await f.bearer()).generation)
      assert.deepStrictEqual(f.logIns, [1])
      assert.include(
        f.reports,
        "warning: the API server refused the credentials of login 'a' (401), 2 s after the last login: not again yet"
      )
      f.advance(2_000)
      await f.conn.refused!((await f.bearer()).generation)
      assert.deepStrictEqual(f.logIns, [1, 2])
      await f.conn.close()
    })
  )

  it.live("credentials about to expire are renewed before a request", () =>
    Effect.promise(async () => {
      const f = fixture((round) => [issued("a", `a${round}`, 1_000_000 + 3_600_000 * (round + 1))])
      assert.strictEqual((await f.bearer()).token, "a0")
      f.advance(3_600_000 - 61_000)
      assert.strictEqual((await f.bearer()).token, "a0", "more than a minute left")
      f.advance(2_000)
      assert.strictEqual((await f.bearer()).token, "a1")
      assert.include(
        f.reports,
        "info: logging in again: the credentials of login 'a' are about to expire"
      )
      await f.conn.close()
    })
  )
})

describe("Config.fromLogin", () => {
  const failure = (registry: Registry.Registry<never>) =>
    Effect.map(Effect.exit(Effect.scoped(Config.fromLogin(registry))), (exit) =>
      Exit.isFailure(exit) ? String((exit.cause.reasons[0] as { error?: unknown }).error) : "ok"
    )

  it.effect("a login that answers no server stops the client, naming it", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Activity.login("broken", Effect.succeed({} as Activity.ConnectionInfo))
      )
      assert.include(
        yield* failure(registry),
        "login activity 'broken' answered no server (it must answer a ConnectionInfo)"
      )
      const notUrl = Registry.make(Activity.login("typo", Effect.succeed({ server: "10.0.0.1" })))
      assert.include(
        yield* failure(notUrl),
        `login activity 'typo' answered server "10.0.0.1", which is not a URL`
      )
    })
  )

  it.effect("a login that fails for good stops the client with its message", () =>
    Effect.gen(function* () {
      const registry = Registry.make(
        Activity.login("vault", Effect.fail(new Outcome.PermanentError({ message: "sealed" })))
      )
      assert.include(yield* failure(registry), "login activity 'vault' failed: sealed")
    })
  )

  it.effect("a registry without login activities is a configuration error", () =>
    Effect.gen(function* () {
      assert.include(
        yield* failure(Registry.make()),
        "the registry has no login activity (Activity.login)"
      )
    })
  )
})
