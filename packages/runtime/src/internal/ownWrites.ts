/**
 * The own-write tracker: after the processor writes an object, the watch still delivers copies
 * from before that write. The tracker remembers the version the server answered and tells the
 * processor to skip older copies until the watch brings that version (or a relist, a deletion,
 * or the deadline comes first). Versions the watch delivered recently are remembered, so a
 * write the watch brought before the patch call returned is not waited for.
 *
 * Pure bookkeeping on one object's {@link Writes} record, no I/O.
 *
 * @internal
 */

/** How many recent versions of an object are remembered. */
const RECENT = 16

/** One object's own-write state. @internal */
export interface Writes {
  /** The version of our last write the watch has not delivered yet, and until when to wait. */
  expected: { readonly resourceVersion: string; readonly deadline: number } | undefined
  /** The versions the watch delivered last, oldest first. */
  readonly recent: Array<string>
}

/** A record with nothing expected. @internal */
export const empty = (): Writes => ({ expected: undefined, recent: [] })

/** The watch delivered `rv`: remembered, and the wait for it is over. @internal */
export const delivered = (writes: Writes, rv: string): void => {
  if (rv === "") return
  writes.recent.push(rv)
  if (writes.recent.length > RECENT) writes.recent.shift()
  if (writes.expected?.resourceVersion === rv) writes.expected = undefined
}

/**
 * Our write answered `rv` for an object the step read at `readAt`: wait for it until
 * `deadline`, unless it changed nothing or the watch already delivered it.
 *
 * @internal
 */
export const wrote = (writes: Writes, rv: string, readAt: string, deadline: number): void => {
  if (rv === "" || rv === readAt || writes.recent.includes(rv)) return
  writes.expected = { resourceVersion: rv, deadline }
}

/**
 * A relist brought the copy at `rv`: the wait ends (answers true: process the listed copy),
 * unless the watch had delivered that copy already, which means the list was taken before our
 * write (it raced the step that wrote); then the wait goes on.
 *
 * @internal
 */
export const relisted = (writes: Writes, rv: string): boolean => {
  if (writes.expected === undefined || writes.recent.includes(rv)) return false
  writes.expected = undefined
  return true
}

/** Stop waiting (a deletion); answers whether a write was expected. @internal */
export const clear = (writes: Writes): boolean => {
  const was = writes.expected !== undefined
  writes.expected = undefined
  return was
}

/** What to do with a copy at `rv`, at `now`. @internal */
export type Verdict =
  | { readonly _tag: "Process" }
  /** A copy from before our write: skip it, come back in `millis` at the latest. */
  | { readonly _tag: "Stale"; readonly waiting: string; readonly millis: number }
  /** Our write did not come back in time: the object is read again. */
  | { readonly _tag: "Overdue"; readonly waiting: string }

/** The verdict on a copy at `rv` (clearing the wait when it is over). @internal */
export const judge = (writes: Writes, rv: string, now: number): Verdict => {
  const wait = writes.expected
  if (wait === undefined) return { _tag: "Process" }
  writes.expected = undefined
  if (wait.resourceVersion === rv) return { _tag: "Process" }
  if (now < wait.deadline) {
    writes.expected = wait
    return { _tag: "Stale", waiting: wait.resourceVersion, millis: wait.deadline - now }
  }
  return { _tag: "Overdue", waiting: wait.resourceVersion }
}
