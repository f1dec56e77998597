/**
 * Never deaf, never dead: the EVC operator, as its own process, through a TCP fault proxy, as a
 * user bound only to the example's ClusterRole, against a real control plane, through network
 * faults, API server restarts, its own kill -9 and a lost permission. Every scenario checks (see
 * harness.ts and checks.ts): every EVC converges; no PVC is created twice and no handler success
 * is recorded twice (from the audit log); the operator still runs after the fault; SIGTERM ends
 * it with exit code 0 within its shutdown timeout plus a margin. Each prints how long after the
 * fault's end everything converged.
 *
 * `KUBEFX_FAULTS_LONG=1` runs the long rounds: a 200 s blackhole, a stall past the default watch
 * idle timeout (90 s), ten API server restarts, the API server down for 2 minutes at start.
 */
import { assert, layer } from "@effect/vitest"
import type { Settings } from "@kubefx/runtime"
import { Effect, Fiber } from "effect"
import * as Checks from "./checks.ts"
import { BINDING, binding, bindings, LONG, run, Suite, SuiteLive } from "./harness.ts"

const seconds = (n: number) => n * 1000

/** A scenario's time limit: its faults, convergence (90 s), SIGTERM (30 s) and a margin. */
const limit = (faultSeconds: number) => seconds(faultSeconds + 90 + 30 + 60)

const blackholeSeconds = LONG ? 200 : 20
// A 15 s watch idle timeout keeps the default run short; the long run keeps the default (90 s).
const stall: { readonly seconds: number; readonly settings: Settings.Input } = LONG
  ? { seconds: 120, settings: {} }
  : { seconds: 25, settings: { watcher: { idleTimeout: "15 seconds" } } }
// Severed connections never answer: a watch on one may only be left when its idle timeout
// fires, so the default run gives it 15 s too; the long run keeps the default (90 s) and gives
// convergence that long and more.
const sever: {
  readonly seconds: number
  readonly settings: Settings.Input
  readonly convergeWithin: number
} = LONG
  ? { seconds: 200, settings: {}, convergeWithin: seconds(240) }
  : {
      seconds: 20,
      settings: { watcher: { idleTimeout: "15 seconds" } },
      convergeWithin: seconds(90)
    }
const restartRounds = LONG ? 10 : 3
const downAtStartSeconds = LONG ? 120 : 30

layer(SuiteLive, { excludeTestServices: true, timeout: "5 minutes" })("the EVC operator", (it) => {
  it.effect("reaches the API server through the proxy as its restricted user", () =>
    Effect.gen(function* () {
      const { proxy, operatorKubeconfig } = yield* Suite
      const accepted = proxy.stats().accepted
      yield* run("smoke", {}, (s) => s.faultEnded)
      assert.isAbove(
        proxy.stats().accepted,
        accepted,
        `${operatorKubeconfig} goes through the proxy`
      )
    })
  )

  it.effect(
    `a ${blackholeSeconds} s network blackhole during a burst`,
    () =>
      run(`blackhole ${blackholeSeconds}s`, {}, (s) =>
        Effect.gen(function* () {
          const { proxy } = yield* Suite
          yield* s.create("before", 10)
          yield* proxy.setMode("blackhole")
          yield* s.create("during", 10, seconds(blackholeSeconds) / 10)
          yield* proxy.setMode("pass")
          yield* s.faultEnded
          yield* s.create("after", 10)
        })
      ),
    limit(blackholeSeconds)
  )

  it.effect(
    `a ${sever.seconds} s outage that silently kills the open connections (sever) during a burst`,
    () =>
      run(
        `sever ${sever.seconds}s`,
        { settings: sever.settings, convergeWithin: sever.convergeWithin },
        (s) =>
          Effect.gen(function* () {
            const { proxy } = yield* Suite
            yield* s.create("before", 10)
            yield* proxy.setMode("sever")
            yield* s.create("during", 10, seconds(sever.seconds) / 10)
            yield* proxy.setMode("pass")
            yield* s.faultEnded
            yield* s.create("after", 10)
          })
      ),
    limit(sever.seconds + sever.convergeWithin / 1000 - 90)
  )

  it.effect(
    `a ${stall.seconds} s stall (answers held) past the watch idle timeout`,
    () =>
      run(`stall ${stall.seconds}s`, { settings: stall.settings }, (s) =>
        Effect.gen(function* () {
          const { proxy } = yield* Suite
          yield* s.create("before", 10)
          yield* proxy.setMode("stall")
          yield* s.create("during", 10, seconds(stall.seconds) / 10)
          yield* proxy.setMode("pass")
          yield* s.faultEnded
          yield* s.create("after", 10)
        })
      ),
    limit(stall.seconds)
  )

  it.effect(
    "connections reset and refused for 5 s",
    () =>
      run("reset 5s", {}, (s) =>
        Effect.gen(function* () {
          const { proxy } = yield* Suite
          yield* s.create("before", 10)
          yield* proxy.setMode("reset")
          yield* s.create("during", 5, 1000)
          yield* proxy.setMode("pass")
          yield* s.faultEnded
          yield* s.create("after", 10)
        })
      ),
    limit(5)
  )

  it.effect(
    `kube-apiserver killed (SIGKILL) and restarted on the same etcd during a burst, ${restartRounds} times`,
    () =>
      run(`apiserver restarts x${restartRounds}`, { killsApiServer: true }, (s) =>
        Effect.gen(function* () {
          const { cluster } = yield* Suite
          const exits: Array<string> = []
          for (let round = 1; round <= restartRounds; round++) {
            const burst = yield* Effect.forkChild(s.create(`round${round}`, 8, 500))
            yield* Effect.sleep("1 second")
            yield* cluster.restart("kube-apiserver", { signal: "SIGKILL" }).pipe(Effect.orDie)
            yield* s.faultEnded
            yield* Fiber.join(burst)
            const took = yield* Effect.result(s.converged(60_000))
            const ended = s.operator().ended()
            if (ended !== undefined) {
              exits.push(`round ${round}: ${Checks.describeEnd(ended)}\n${s.operator().tail(25)}`)
              // The next round starts with a working operator again.
              yield* s.startOperator
              yield* s.converged(60_000).pipe(Effect.catch((why) => s.problem(why)))
            }
            yield* s.report(
              `apiserver restart ${round}/${restartRounds}: ${
                ended !== undefined
                  ? `the operator died (${Checks.describeEnd(ended)})`
                  : took._tag === "Success"
                    ? `survived, converged ${(took.success / 1000).toFixed(1)} s after the server was ready`
                    : "survived, but did NOT converge within 60 s"
              }`
            )
            if (ended === undefined && took._tag === "Failure") yield* s.problem(took.failure)
          }
          yield* s.report(
            `the operator survived ${restartRounds - exits.length} of ${restartRounds} API server restarts`
          )
          if (exits.length > 0) {
            yield* s.problem(
              `the operator survived ${restartRounds - exits.length} of ${restartRounds} API server restarts; it ended in:\n${exits.join("\n---\n")}`
            )
          }
        })
      ),
    limit(restartRounds * 75)
  )

  it.effect(
    "the operator killed with kill -9 mid-burst and started again",
    () =>
      run("operator kill -9", {}, (s) =>
        Effect.gen(function* () {
          const burst = yield* Effect.forkChild(s.create("burst", 20, 100))
          yield* Effect.sleep("800 millis")
          const killed = s.operator()
          killed.kill()
          yield* Effect.sleep("1 second")
          assert.strictEqual(killed.ended()?.signal, "SIGKILL")
          yield* s.startOperator
          yield* s.faultEnded
          yield* Fiber.join(burst)
          yield* s.create("after", 10)
        })
      ),
    limit(5)
  )

  it.effect(
    "its ClusterRoleBinding deleted for 10 s while EVCs are created, then restored",
    () =>
      run("permission removed 10s", {}, (s) =>
        Effect.gen(function* () {
          const { admin } = yield* Suite
          yield* s.create("before", 5)
          yield* admin.delete(bindings, BINDING).pipe(Effect.orDie)
          yield* s.create("during", 10, 1000)
          yield* admin.create(bindings, binding).pipe(Effect.orDie)
          yield* s.faultEnded
          yield* s.create("after", 5)
        })
      ),
    limit(10)
  )

  it.effect(
    `started while kube-apiserver is down (${downAtStartSeconds} s), it waits and then works`,
    () =>
      run(`started while apiserver down ${downAtStartSeconds}s`, { warmUp: false }, (s) =>
        Effect.gen(function* () {
          const { cluster } = yield* Suite
          yield* s.create("before", 10)
          yield* cluster.stop("kube-apiserver", { signal: "SIGKILL" }).pipe(Effect.orDie)
          const operator = yield* s.startOperator
          yield* Effect.sleep(seconds(downAtStartSeconds))
          const ended = operator.ended()
          yield* cluster.start("kube-apiserver").pipe(Effect.orDie)
          yield* s.faultEnded
          if (ended !== undefined) {
            yield* s.problem(
              `the operator ended while the API server was down: ${Checks.describeEnd(ended)}`
            )
          }
          yield* s.create("after", 5)
        })
      ),
    limit(downAtStartSeconds)
  )
})
