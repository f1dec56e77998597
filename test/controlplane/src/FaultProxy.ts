/**
 * A TCP proxy on loopback that injects network faults between a client and a server, switched
 * at run time:
 *
 * - `pass`: bytes flow both ways (TLS passes through untouched: the client talks to the server);
 * - `blackhole`: every connection, existing and new, stays open and nothing passes either way
 *   (not even a close); new connections are accepted and held too. Back in `pass`, what was held
 *   flows on in order, as TCP retransmission would deliver it after a partition heals;
 * - `stall`: client-to-server bytes pass, server-to-client bytes are held: an open watch has had
 *   its headers and then gets nothing; a new request reaches the server but gets no answer;
 * - `reset`: every connection is reset (RST), and new ones are reset as soon as they arrive;
 * - `sever`: every connection open now, and every new one made while in this mode, goes
 *   silently dead for good: it stays open, bytes either way are discarded and no close passes,
 *   also after the proxy is back in `pass` (a peer or a NAT that lost the connection without a
 *   reset). Only connections made in `pass` work again.
 *
 * @since 0.1.0
 */
import { createServer, connect as netConnect, type Server, type Socket } from "node:net"
import { Data, Effect, type Scope } from "effect"

/** How the proxy treats traffic (see the module header). @since 0.1.0 */
export type Mode = "pass" | "blackhole" | "stall" | "reset" | "sever"

/** What a running proxy offers. @since 0.1.0 */
export interface FaultProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number
  /** The current mode. */
  readonly mode: () => Mode
  /** Switches the mode; held bytes flow on as soon as their direction passes again. */
  readonly setMode: (mode: Mode) => Effect.Effect<void>
  /** Connections accepted so far, open now, reset by the proxy, and severed by it. */
  readonly stats: () => {
    readonly accepted: number
    readonly open: number
    readonly reset: number
    readonly severed: number
  }
}

/** The proxy could not listen. @since 0.1.0 */
export class FaultProxyError extends Data.TaggedError("FaultProxyError")<{
  readonly message: string
}> {}

/** What flows in one direction: bytes, the sender's FIN, or its RST. */
type Item = Buffer | "end" | "reset"

const passes = {
  toServer: (mode: Mode) => mode === "pass" || mode === "stall",
  toClient: (mode: Mode) => mode === "pass"
}

const reset = (socket: Socket | undefined) => {
  if (socket === undefined || socket.destroyed) return
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}

/** One direction of a connection: items pass at once when it is open, else wait in order;
 * once severed, everything is discarded. */
class Direction {
  readonly held: Array<Item> = []
  readonly isOpen: () => boolean
  readonly deliver: (item: Item) => void
  severed = false
  constructor(isOpen: () => boolean, deliver: (item: Item) => void) {
    this.isOpen = isOpen
    this.deliver = deliver
  }
  push(item: Item) {
    if (this.severed) return
    if (this.isOpen() && this.held.length === 0) this.deliver(item)
    else this.held.push(item)
  }
  flush() {
    while (!this.severed && this.isOpen() && this.held.length > 0) this.deliver(this.held.shift()!)
  }
  sever() {
    this.severed = true
    this.held.length = 0
  }
}

/** Writes `item` to `to`, pausing `from` while `to` is full. */
const write = (item: Item, from: Socket, to: Socket) => {
  if (to.destroyed) return
  if (item === "end") to.end()
  else if (item === "reset") reset(to)
  else if (!to.write(item)) {
    from.pause()
    to.once("drain", () => from.resume())
  }
}

interface Target {
  readonly host: string
  readonly port: number
}

/** A client connection and its (lazily opened) connection to the server. */
class Connection {
  readonly client: Socket
  upstream: Socket | undefined
  readonly toServer: Direction
  readonly toClient: Direction
  readonly target: Target
  readonly onDone: () => void
  constructor(client: Socket, target: Target, mode: () => Mode, onDone: () => void) {
    this.client = client
    this.target = target
    this.onDone = onDone
    this.toServer = new Direction(
      () => passes.toServer(mode()),
      (item) => write(item, client, this.connectUpstream())
    )
    this.toClient = new Direction(
      () => passes.toClient(mode()),
      (item) => this.upstream !== undefined && write(item, this.upstream, client)
    )
    client.setNoDelay(true)
    client.on("data", (chunk: Buffer) => this.toServer.push(chunk))
    client.on("end", () => this.toServer.push("end"))
    client.on("error", () => this.toServer.push("reset"))
    client.on("close", () => this.checkDone())
  }
  /** Done when both sockets are closed and nothing is held for the server any more. */
  checkDone() {
    if (this.toServer.severed && this.client.destroyed) this.upstream?.destroy()
    const serverSide =
      this.upstream === undefined ? this.toServer.held.length === 0 : this.upstream.destroyed
    if (this.client.destroyed && serverSide) this.onDone()
  }
  connectUpstream(): Socket {
    if (this.upstream !== undefined) return this.upstream
    const upstream = netConnect({ ...this.target, allowHalfOpen: true, noDelay: true })
    this.upstream = upstream
    upstream.on("data", (chunk: Buffer) => this.toClient.push(chunk))
    upstream.on("end", () => this.toClient.push("end"))
    // A refused or reset server connection resets the client's, as the network would.
    upstream.on("error", () => this.toClient.push("reset"))
    upstream.on("close", () => this.checkDone())
    return upstream
  }
  flush() {
    this.toServer.flush()
    this.toClient.flush()
    this.checkDone()
  }
  sever() {
    this.toServer.sever()
    this.toClient.sever()
  }
  reset() {
    this.toServer.held.length = 0
    this.toClient.held.length = 0
    reset(this.client)
    reset(this.upstream)
  }
}

const listen = (server: Server) =>
  Effect.callback<number, FaultProxyError>((resume) => {
    server.once("error", (error) =>
      resume(Effect.fail(new FaultProxyError({ message: `proxy: ${error.message}` })))
    )
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/**
 * Starts a proxy to `target` on a free port of 127.0.0.1, in `pass` mode; closing the scope
 * closes it and every connection.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { FaultProxy } from "@kubefx/controlplane"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const proxy = yield* FaultProxy.make({ host: "127.0.0.1", port: 6443 })
 *     yield* proxy.setMode("blackhole")
 *     yield* Effect.sleep("20 seconds")
 *     yield* proxy.setMode("pass")
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export const make = (target: Target): Effect.Effect<FaultProxy, FaultProxyError, Scope.Scope> =>
  Effect.gen(function* () {
    let mode: Mode = "pass"
    const connections = new Set<Connection>()
    let accepted = 0
    let resets = 0
    let severed = 0
    const server = createServer({ allowHalfOpen: true }, (client) => {
      accepted++
      if (mode === "reset") {
        resets++
        client.on("error", () => {})
        return reset(client)
      }
      const connection = new Connection(
        client,
        target,
        () => mode,
        () => connections.delete(connection)
      )
      connections.add(connection)
      if (mode === "sever") {
        severed++
        connection.sever()
      } else if (passes.toServer(mode)) connection.connectUpstream()
    })
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        server.close()
        for (const connection of connections) connection.reset()
      })
    )
    const port = yield* listen(server)
    return {
      port,
      mode: () => mode,
      setMode: (next) =>
        Effect.sync(() => {
          mode = next
          for (const connection of connections) {
            if (next === "reset") {
              resets++
              connection.reset()
            } else if (next === "sever") {
              if (!connection.toServer.severed) severed++
              connection.sever()
            } else connection.flush()
          }
        }),
      stats: () => ({ accepted, open: connections.size, reset: resets, severed })
    }
  })
