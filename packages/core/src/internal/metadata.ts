/**
 * Small readers of object metadata shared by the handler and index contexts.
 *
 * @internal
 */
import { Effect } from "effect"
import type * as Handler from "../Handler.ts"
import * as Json from "../Json.ts"

/** The string entries of a map (labels, annotations); other values are left out. @internal */
export const stringMap = (value: Json.Json | undefined): Readonly<Record<string, string>> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(Json.asObject(value)))
    if (typeof v === "string") Json.assign(out, k, v)
  return out
}

/** A handler's logger: Effect's log functions, each line annotated with `annotations`. @internal */
export const logger = (annotations: Readonly<Record<string, unknown>>): Handler.Logger => {
  const log =
    (f: (message: string) => Effect.Effect<void>) =>
    (message: string): Effect.Effect<void> =>
      f(message).pipe(Effect.annotateLogs(annotations))
  return {
    debug: log(Effect.logDebug),
    info: log(Effect.logInfo),
    warn: log(Effect.logWarning),
    error: log(Effect.logError)
  }
}
