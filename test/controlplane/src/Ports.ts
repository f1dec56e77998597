/**
 * Free ports on loopback, for the servers a test starts (the control plane's, an operator's
 * health or webhook server).
 *
 * @since 0.1.0
 */
import { createServer } from "node:net"
import { Data, Effect } from "effect"

/**
 * No port could be had.
 *
 * @since 0.1.0
 * @category errors
 */
export class PortError extends Data.TaggedError("PortError")<{ readonly message: string }> {}

/**
 * A port of 127.0.0.1 that was free a moment ago (listened on once, then released).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Ports } from "@kubefx/controlplane"
 *
 * const program = Effect.map(Ports.free, (port) => `http://127.0.0.1:${port}`)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const free: Effect.Effect<number, PortError> = Effect.callback((resume) => {
  const server = createServer()
  server.unref()
  server.on("error", (error) =>
    resume(Effect.fail(new PortError({ message: `no free port: ${error.message}` })))
  )
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})
