/**
 * The connection model of the simulated cluster: the fault configuration in force (and its
 * PRNG), blackhole periods, what each request draws (409, 429, 5xx, slow, silent), the log of
 * fault-injected connections' requests, and the gates a request passes on its way in: a
 * closed connection (its process died) is never answered, a silenced one stays open and
 * silent.
 */
import { KubeError } from "@kubefx/runtime"
import { type Clock, Duration, Effect } from "effect"
import * as Faults from "../../Faults.ts"

type Err = KubeError.KubeError

/** A client connection, as one process has it. */
export interface Conn {
  /** Closed: the process died; nothing it sends is answered. */
  closed: boolean
  /** Gets the configured faults (the operator's connections; the admin's does not). */
  readonly faulty: boolean
  /** Retries as the real client does (`RequestPolicy`). */
  readonly retried: boolean
  /** Cuts its open watches (when it closes). */
  readonly kills: Set<() => void>
  /** Blackhole periods of this connection alone, `[from, until)` in epoch milliseconds. */
  readonly windows: Array<{ readonly from: number; readonly until: number }>
}

export const newConn = (faulty: boolean, retried: boolean): Conn => ({
  closed: false,
  faulty,
  retried,
  kills: new Set(),
  windows: []
})

/** What a request drew. */
export interface Drawn {
  readonly slow: boolean
  readonly silent: boolean
  readonly error: Err | undefined
}

/** The kinds of requests faults tell apart (only writes get injected conflicts). */
export type Kind = "read" | "write" | "create"

/** The fault state of the simulated network. */
export interface Network {
  readonly now: () => number
  /** The configuration in force. */
  readonly faults: () => Faults.Faults
  /** Replaces the configuration (and reseeds the PRNG with its seed). */
  readonly setFaults: (faults: Faults.Faults) => void
  /** Silences the operator's connections for `duration` from now. */
  readonly blackhole: (duration: Duration.Input) => void
  /** Whether a blackhole period met the connection's request sent at `since` (up to now). */
  readonly silenced: (conn: Conn, since: number) => boolean
  /** Draws a request's faults; `blackhole` is the fraction of silent ones. */
  readonly draw: (conn: Conn, req: KubeError.RequestInfo, kind: Kind, blackhole: number) => Drawn
  /** Draws whether a fault of probability `p` happens now. */
  readonly chance: (p: number) => boolean
  /** Adds a line to the request log (the last 200 stay). */
  readonly note: (line: string) => void
  /** The request log, newest last. */
  readonly requests: () => ReadonlyArray<string>
  /** The server-side cuts of the open watches (`dropWatches`). */
  readonly cuts: Set<() => void>
}

/** An error answer as the server would send it, for an injected fault. */
const injected = (req: KubeError.RequestInfo, code: number, reason: string, retryAfter?: string) =>
  KubeError.fromResponse(
    req,
    code,
    retryAfter,
    JSON.stringify({
      kind: "Status",
      code,
      reason,
      message: `injected fault: ${reason}`,
      ...(retryAfter === undefined ? {} : { details: { retryAfterSeconds: 1 } })
    }),
    0
  )

/** The error a draw `r` in `[0, 1)` gives under `faults`, if any. */
const errorOf = (
  faults: Faults.Faults,
  req: KubeError.RequestInfo,
  kind: Kind,
  r: number
): Err | undefined => {
  const conflict = faults.conflict ?? 0
  if (kind === "write") {
    if (r < conflict) return injected(req, 409, "Conflict")
    r -= conflict
  }
  const tooMany = faults.tooManyRequests ?? 0
  if (r < tooMany) return injected(req, 429, "TooManyRequests", "1")
  r -= tooMany
  const serverError = faults.serverError ?? 0
  if (r < serverError) return injected(req, r < serverError / 2 ? 500 : 503, "InternalError")
  return undefined
}

/** The network under an initial fault configuration, on a clock. */
export const make = (clock: Clock.Clock, initial: Faults.Faults): Network => {
  let faults = initial
  let rng = Faults.prng(faults.seed ?? 0)
  const now = () => clock.currentTimeMillisUnsafe()
  // Blackhole periods, `[from, until)` in epoch milliseconds: the configuration's own (cut
  // short when it is replaced) and those `blackhole` started.
  const windows: Array<{ readonly from: number; until: number }> = []
  let configWindow: { readonly from: number; until: number } | undefined
  const takeEffect = (f: Faults.Faults) => {
    const at = now()
    if (configWindow !== undefined) configWindow.until = Math.min(configWindow.until, at)
    const w = Faults.window(f, at)
    configWindow = w === undefined ? undefined : { ...w }
    if (configWindow !== undefined) windows.push(configWindow)
  }
  takeEffect(faults)
  const log: Array<string> = []
  return {
    now,
    faults: () => faults,
    setFaults: (f) => {
      faults = f
      rng = Faults.prng(f.seed ?? 0)
      takeEffect(f)
    },
    blackhole: (duration) => {
      const from = now()
      windows.push({ from, until: from + Duration.toMillis(Duration.fromInputUnsafe(duration)) })
    },
    silenced: (conn, since) => {
      if (!conn.faulty) return false
      const at = now()
      const meets = (w: { readonly from: number; readonly until: number }) =>
        w.from < w.until && w.from <= at && w.until > since
      return windows.some(meets) || conn.windows.some(meets)
    },
    draw: (conn, req, kind, blackhole) => {
      if (!conn.faulty || Faults.isNone(faults))
        return { slow: false, silent: false, error: undefined }
      const r = rng.next()
      const slow = rng.next() < (faults.slow ?? 0)
      if (blackhole > 0 && rng.next() < blackhole) return { slow, silent: true, error: undefined }
      return { slow, silent: false, error: errorOf(faults, req, kind, r) }
    },
    chance: (p) => rng.next() < p,
    note: (line) => {
      log.push(line)
      if (log.length > 200) log.shift()
    },
    requests: () => [...log],
    cuts: new Set()
  }
}

/** A connection that stays open and never answers: only the client's deadline ends it. */
export const silence = (network: Network, what: string, why: string): Effect.Effect<never> =>
  Effect.suspend(() => {
    network.note(`${what} -> silent (${why})`)
    return Effect.never
  })

/** Lets a request sent at `sent` on: a closed connection or a blackhole window keeps it. */
export const gate = (
  network: Network,
  conn: Conn,
  what: string,
  sent: number
): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (conn.closed) return Effect.never
    if (network.silenced(conn, sent)) return silence(network, what, "blackhole window")
    return Effect.void
  })

/** The slow delay of the configuration in force, if the request drew one. */
export const slowness = (network: Network, fault: Drawn): Effect.Effect<void> =>
  fault.slow ? Effect.suspend(() => Effect.sleep(Faults.slowDelay(network.faults()))) : Effect.void
