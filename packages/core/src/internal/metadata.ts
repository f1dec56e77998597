/**
 * Small readers of object metadata shared by the handler and index contexts.
 *
 * @internal
 */
import * as Json from "../Json.ts"

/** The string entries of a map (labels, annotations); other values are left out. @internal */
export const stringMap = (value: Json.Json | undefined): Readonly<Record<string, string>> => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(Json.asObject(value)))
    if (typeof v === "string") Json.assign(out, k, v)
  return out
}
