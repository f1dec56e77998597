/**
 * Counting API calls at the API server, from its audit log (`--audit-log-format=json`, level
 * Metadata, one JSON line per stage). A request is counted once, at its `ResponseComplete`
 * stage; watches are counted apart (they are long-running and not per object).
 */
import { Audit } from "@kubefx/controlplane"

export interface Counts {
  /** Non-watch requests, total. */
  readonly total: number
  /** By `verb resource[/subresource]`, e.g. `patch ephemeralvolumeclaims/status`. */
  readonly byCall: Record<string, number>
  /** Watch requests that completed or started in the window. */
  readonly watches: number
  /** Requests answered with an error status (>= 400), by `verb resource code`. */
  readonly errors: Record<string, number>
}

/** The audit log's size now: a window's start or end. */
export const offset = Audit.offset

/** Counts the requests of `user` between two offsets of the log. */
export const count = (path: string, from: number, to: number, user: string): Counts => {
  const byCall: Record<string, number> = {}
  const errors: Record<string, number> = {}
  let total = 0
  let watches = 0
  const events = Audit.read(path, { from, to, line: (l) => l.includes(`"username":"${user}"`) })
  for (const entry of events) {
    if (entry.user.username !== user) continue
    const resource = `${entry.objectRef?.resource ?? "(none)"}${entry.objectRef?.subresource === undefined ? "" : `/${entry.objectRef.subresource}`}`
    if (entry.verb === "watch") {
      if (entry.stage === "ResponseStarted") watches++
      continue
    }
    if (entry.stage !== "ResponseComplete") continue
    total++
    const key = `${entry.verb} ${resource}`
    byCall[key] = (byCall[key] ?? 0) + 1
    const code = entry.responseStatus?.code ?? 0
    if (code >= 400) errors[`${key} ${code}`] = (errors[`${key} ${code}`] ?? 0) + 1
  }
  return { total, byCall, watches, errors }
}
