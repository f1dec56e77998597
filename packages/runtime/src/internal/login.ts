/**
 * A connection whose credentials come from login activities (`Activity.login`), as Kopf's
 * vault keeps them: every login's credentials in declaration order, the first one not refused
 * in use; a 401 to the one in use refuses it and moves to the next; when none is left, or the
 * one in use is about to expire, every login runs again (once at a time, however many requests
 * ask). The logins themselves (Effects, with their retries) are `logIn`; this module only keeps
 * what they answered.
 *
 * @internal
 */
import * as Http from "./http.ts"
import type { Credentials } from "./kubeconfig.ts"

/** What one login activity answered. @internal */
export interface Issued {
  readonly id: string
  readonly credentials: Credentials
  /** When they expire (epoch ms), if they do. */
  readonly expiresAt: number | undefined
}

/** The connection's reports: renewals and refusals, for the operator's log. @internal */
export type Report = (level: "info" | "warning" | "error", message: string) => void

interface Entry {
  readonly issued: Issued
  readonly issuedAt: number
  readonly dispatchers: Http.Dispatchers
  readonly generation: number
  refused: boolean
}

/** Logins run again at most this often, so that logins answering refused credentials do not
 * run in a loop. */
const LOGIN_SPACING_MS = 2_000

/** How long before their expiration credentials are renewed: a minute, or a tenth of their
 * life when that is shorter. */
const renewBefore = (entry: Entry): number =>
  Math.min(60_000, Math.max(0, ((entry.issued.expiresAt ?? 0) - entry.issuedAt) / 10))

/**
 * A connection on the credentials `first` (the logins' first answers), renewed by `logIn`.
 *
 * @internal
 */
export const makeConnection = (
  first: ReadonlyArray<Issued>,
  logIn: () => Promise<ReadonlyArray<Issued>>,
  timeouts: Http.Timeouts,
  report: Report,
  now: () => number = Date.now
): Http.Connection => {
  let generation = 0
  let lastLogin = now()
  const mayLogIn = () => now() - lastLogin >= LOGIN_SPACING_MS
  const retired: Array<Http.Dispatchers> = []
  const entriesOf = (issued: ReadonlyArray<Issued>): Array<Entry> =>
    issued.map((i) => ({
      issued: i,
      issuedAt: now(),
      dispatchers: Http.dispatchers(i.credentials.tls, timeouts, undefined),
      generation: ++generation,
      refused: false
    }))
  let entries = entriesOf(first)
  let renewing: Promise<void> | undefined

  const current = (): Entry | undefined => entries.find((e) => !e.refused)
  const expiring = (e: Entry) =>
    e.issued.expiresAt !== undefined && now() >= e.issued.expiresAt - renewBefore(e)

  /** Every login again, once at a time; on failure the refused credentials stay in use. */
  const renew = (why: string): Promise<void> => {
    renewing ??= (async () => {
      lastLogin = now()
      report("info", `logging in again: ${why}`)
      try {
        const issued = await logIn()
        for (const e of entries) {
          retired.push(e.dispatchers)
          void Http.retire(e.dispatchers)
        }
        entries = entriesOf(issued)
        report("info", `logged in: ${issued.map((i) => i.id).join(", ")}`)
      } catch (error) {
        report(
          "error",
          `${error instanceof Error ? error.message : String(error)}; requests go on with the refused credentials until a login succeeds`
        )
      } finally {
        renewing = undefined
      }
    })()
    return renewing
  }

  const next = async (): Promise<Http.Next> => {
    if (renewing !== undefined) await renewing
    let entry = current()
    if (entry === undefined && mayLogIn()) {
      await renew("the API server refused every login's credentials")
      entry = current()
    } else if (entry !== undefined && expiring(entry) && mayLogIn()) {
      await renew(`the credentials of login '${entry.issued.id}' are about to expire`)
      entry = current()
    }
    // After a failed login, the last credentials are sent anyway: the server's 401 says why.
    const used = entry ?? entries[entries.length - 1]!
    return {
      dispatchers: used.dispatchers,
      headers: used.issued.credentials.headers(),
      server: used.issued.credentials.server,
      generation: used.generation
    }
  }

  const refused = async (gen: number): Promise<void> => {
    const entry = entries.find((e) => e.generation === gen)
    if (entry === undefined || entry.refused) {
      // Refused before, or replaced by a renewal already: the next request uses what is newer.
      if (renewing !== undefined) await renewing
      return
    }
    entry.refused = true
    const other = current()
    const what = `the API server refused the credentials of login '${entry.issued.id}' (401)`
    if (other !== undefined) {
      report("warning", `${what}; using those of login '${other.issued.id}'`)
      return
    }
    if (mayLogIn()) return renew(what)
    report("warning", `${what}, ${LOGIN_SPACING_MS / 1000} s after the last login: not again yet`)
  }

  return {
    server: first[0]?.credentials.server ?? new URL("https://invalid"),
    timeouts,
    next,
    refused,
    close: async () => {
      const all = [...retired, ...entries.map((e) => e.dispatchers)]
      retired.length = 0
      await Promise.all(all.map(Http.destroyAll))
    }
  }
}
