/**
 * The fault proxy on loopback, in front of an echo server that records what reached it.
 */
import { createServer, connect as netConnect, type Server, type Socket } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import { FaultProxy } from "../src/index.ts"

/** An echo server that records every byte it received, on a free port. */
const echoServer: Effect.Effect<{ port: number; received: () => string }, never, Scope.Scope> =
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ server: Server; port: number; received: () => string }>((resolve) => {
          let received = ""
          const sockets = new Set<Socket>()
          const server = createServer((socket) => {
            sockets.add(socket)
            socket.on("error", () => {})
            socket.on("close", () => sockets.delete(socket))
            socket.on("data", (chunk) => {
              received += chunk.toString()
              socket.write(chunk)
            })
          })
          server.on("close", () => {
            for (const socket of sockets) socket.destroy()
          })
          server.listen(0, "127.0.0.1", () => {
            const address = server.address()
            const port = typeof address === "object" && address !== null ? address.port : 0
            resolve({ server, port, received: () => received })
          })
        })
    ),
    ({ server }) => Effect.sync(() => server.close())
  )

/** A client of `port` that records what it received, whether it connected, and how it ended. */
const client = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const socket = netConnect(port, "127.0.0.1")
      const state = { socket, connected: false, received: "", error: "", closed: false }
      socket.on("connect", () => (state.connected = true))
      socket.on("data", (chunk) => (state.received += chunk.toString()))
      socket.on("error", (error: NodeJS.ErrnoException) => (state.error = error.code ?? "?"))
      socket.on("close", () => (state.closed = true))
      return state
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** Waits until `check` holds (checked every 20 ms), failing with `what` after 5 s. */
const until = (what: string, check: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 250; i++) {
      if (check()) return
      yield* Effect.sleep("20 millis")
    }
    return yield* Effect.die(`timed out waiting for ${what}`)
  })

/** Long enough for loopback bytes to have arrived, were they let through. */
const settle = Effect.sleep("300 millis")

const setup = Effect.gen(function* () {
  const echo = yield* echoServer
  const proxy = yield* FaultProxy.make({ host: "127.0.0.1", port: echo.port })
  return { echo, proxy }
})

describe("FaultProxy", () => {
  it.live("passes bytes both ways", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { echo, proxy } = yield* setup
        const c = yield* client(proxy.port)
        c.socket.write("ping")
        yield* until("the echo", () => c.received === "ping")
        assert.strictEqual(echo.received(), "ping")
        assert.strictEqual(proxy.stats().open, 1)
      })
    )
  )

  it.live("blackhole holds open and new connections both ways, then delivers in order", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { echo, proxy } = yield* setup
        const open = yield* client(proxy.port)
        open.socket.write("a")
        yield* until("the first echo", () => open.received === "a")

        yield* proxy.setMode("blackhole")
        open.socket.write("b")
        const fresh = yield* client(proxy.port)
        yield* until("the new connection to be accepted", () => fresh.connected)
        fresh.socket.write("c")
        fresh.socket.end()
        yield* settle
        assert.strictEqual(echo.received(), "a", "nothing reached the server")
        assert.deepStrictEqual([open.received, fresh.received], ["a", ""])
        assert.deepStrictEqual(
          [open.closed, fresh.closed, open.error, fresh.error],
          [false, false, "", ""]
        )

        yield* proxy.setMode("pass")
        yield* until("the held bytes", () => open.received === "ab" && fresh.received === "c")
        assert.sameMembers(echo.received().split(""), ["a", "b", "c"])
        assert.strictEqual(open.error, "")
      })
    )
  )

  it.live("stall forwards to the server and holds its answers until pass", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { echo, proxy } = yield* setup
        const open = yield* client(proxy.port)
        open.socket.write("a")
        yield* until("the first echo", () => open.received === "a")

        yield* proxy.setMode("stall")
        open.socket.write("b")
        const fresh = yield* client(proxy.port)
        fresh.socket.write("c")
        yield* until("the requests at the server", () => echo.received().length === 3)
        yield* settle
        assert.deepStrictEqual([open.received, fresh.received], ["a", ""], "no answer came back")

        yield* proxy.setMode("pass")
        yield* until("the held answers", () => open.received === "ab" && fresh.received === "c")
      })
    )
  )

  it.live("reset resets open connections and new ones until pass", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { echo, proxy } = yield* setup
        const open = yield* client(proxy.port)
        open.socket.write("a")
        yield* until("the first echo", () => open.received === "a")

        yield* proxy.setMode("reset")
        yield* until("the open connection's reset", () => open.error === "ECONNRESET")
        const refused = yield* client(proxy.port)
        yield* until("the new connection's reset", () => refused.error === "ECONNRESET")
        assert.strictEqual(proxy.stats().reset, 2)

        yield* proxy.setMode("pass")
        const after = yield* client(proxy.port)
        after.socket.write("d")
        yield* until("an echo after the reset", () => after.received === "d")
        assert.strictEqual(echo.received(), "ad")
      })
    )
  )

  it.live("sever kills open and new connections silently for good; later ones work", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { echo, proxy } = yield* setup
        const open = yield* client(proxy.port)
        open.socket.write("a")
        yield* until("the first echo", () => open.received === "a")

        yield* proxy.setMode("sever")
        open.socket.write("b")
        const during = yield* client(proxy.port)
        yield* until("the new connection to be accepted", () => during.connected)
        during.socket.write("c")
        yield* proxy.setMode("pass")
        open.socket.write("d")
        during.socket.write("e")
        const after = yield* client(proxy.port)
        after.socket.write("f")
        yield* until("an echo on a connection made after the fault", () => after.received === "f")
        yield* settle
        assert.strictEqual(echo.received(), "af", "nothing sent on a severed connection arrived")
        assert.deepStrictEqual([open.received, during.received], ["a", ""])
        assert.deepStrictEqual(
          [open.closed, during.closed, open.error, during.error],
          [false, false, "", ""],
          "severed connections stay open"
        )
        assert.strictEqual(proxy.stats().severed, 2)
      })
    )
  )

  it.live("resets the client when the server refuses the connection", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { echo } = yield* Effect.scoped(setup) // closed again: its port refuses
        const proxy = yield* FaultProxy.make({ host: "127.0.0.1", port: echo.port })
        const c = yield* client(proxy.port)
        c.socket.write("x")
        yield* until("the reset", () => c.error === "ECONNRESET")
      })
    )
  )
})
