/**
 * RFC 6902 JSON patches (add, remove, replace, move, copy, test) on plain JSON values, as the
 * API server applies them: a failed `test` or a path that does not resolve refuses the patch.
 */
import type { ApiPatch } from "@kubefx/runtime"

type JsonPatchOperation = ApiPatch.JsonPatchOperation

type Json = unknown

/** Why a JSON patch could not be applied. */
export class JsonPatchError extends Error {}

const unescapeToken = (token: string) => token.replace(/~1/g, "/").replace(/~0/g, "~")

const parsePointer = (pointer: string): ReadonlyArray<string> => {
  if (pointer === "") return []
  if (!pointer.startsWith("/")) throw new JsonPatchError(`invalid JSON pointer ${pointer}`)
  return pointer.slice(1).split("/").map(unescapeToken)
}

const isContainer = (v: unknown): v is Record<string, unknown> | Array<unknown> =>
  typeof v === "object" && v !== null

const clone = <A>(v: A): A => (v === undefined ? v : structuredClone(v))

const parentOf = (doc: Json, tokens: ReadonlyArray<string>, path: string) => {
  let node: unknown = doc
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(t)]
    else if (isContainer(node) && Object.hasOwn(node, t))
      node = (node as Record<string, unknown>)[t]
    else throw new JsonPatchError(`doc is missing path: ${path}`)
    if (!isContainer(node)) throw new JsonPatchError(`doc is missing path: ${path}`)
  }
  return node as Record<string, unknown> | Array<unknown>
}

const get = (doc: Json, path: string): Json => {
  let node: unknown = doc
  for (const t of parsePointer(path)) {
    if (Array.isArray(node) && /^\d+$/.test(t) && Number(t) < node.length) node = node[Number(t)]
    else if (!Array.isArray(node) && isContainer(node) && Object.hasOwn(node, t))
      node = (node as Record<string, unknown>)[t]
    else throw new JsonPatchError(`doc is missing path: ${path}`)
  }
  return node
}

const index = (arr: Array<unknown>, t: string, path: string, adding: boolean) => {
  if (adding && t === "-") return arr.length
  if (!/^\d+$/.test(t)) throw new JsonPatchError(`invalid array index in ${path}`)
  const i = Number(t)
  if (i > arr.length || (!adding && i === arr.length))
    throw new JsonPatchError(`array index out of bounds in ${path}`)
  return i
}

const add = (doc: Json, path: string, value: Json): Json => {
  const tokens = parsePointer(path)
  if (tokens.length === 0) return clone(value)
  const parent = parentOf(doc, tokens, path)
  const last = tokens[tokens.length - 1]!
  if (Array.isArray(parent)) parent.splice(index(parent, last, path, true), 0, clone(value))
  else parent[last] = clone(value)
  return doc
}

const remove = (doc: Json, path: string): Json => {
  const tokens = parsePointer(path)
  if (tokens.length === 0) throw new JsonPatchError("cannot remove the whole document")
  const parent = parentOf(doc, tokens, path)
  const last = tokens[tokens.length - 1]!
  if (Array.isArray(parent)) parent.splice(index(parent, last, path, false), 1)
  else if (Object.hasOwn(parent, last)) delete parent[last]
  else
    throw new JsonPatchError(
      `unable to remove nonexistent key: ${last}; doc is missing path: ${path}`
    )
  return doc
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    isContainer(x) && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x
  )

/** Applies the operations in order to a copy of `doc`; throws {@link JsonPatchError}. */
export const apply = (doc: Json, operations: ReadonlyArray<JsonPatchOperation>): Json => {
  let out = clone(doc)
  for (const op of operations) {
    switch (op.op) {
      case "add":
        out = add(out, op.path, op.value)
        break
      case "remove":
        out = remove(out, op.path)
        break
      case "replace":
        get(out, op.path)
        out = add(remove(out, op.path), op.path, op.value)
        break
      case "move": {
        const value = get(out, op.from)
        out = add(remove(out, op.from), op.path, value)
        break
      }
      case "copy":
        out = add(out, op.path, get(out, op.from))
        break
      case "test":
        if (canonical(get(out, op.path)) !== canonical(op.value))
          throw new JsonPatchError(`testing value ${op.path} failed`)
        break
    }
  }
  return out
}
