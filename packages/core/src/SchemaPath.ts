/**
 * Paths into the values an Effect Schema describes: whether a path exists in the Schema's
 * encoded form (the JSON the API server holds), and when it does not, the closest paths that
 * do. Struct properties (optional or not) are fields; unions admit a path any member admits;
 * Records admit any key; arrays and tuples are stepped into by index segments (`"items.0.x"`);
 * `Unknown`, `Any`, `object`, declarations and Structs without fields admit anything below them.
 *
 * @since 0.1.0
 */
import { SchemaAST } from "effect"
import * as Json from "./Json.ts"
import { distance } from "./Suggest.ts"

type Node = SchemaAST.AST

/** The concrete nodes a node stands for: unions flattened, suspensions resolved. */
const expand = (node: Node, out: Array<Node> = [], depth = 0): Array<Node> => {
  if (depth > 50) return out
  if (SchemaAST.isUnion(node)) for (const t of node.types) expand(t, out, depth + 1)
  else if (SchemaAST.isSuspend(node)) expand(node.thunk(), out, depth + 1)
  else out.push(node)
  return out
}

const isOpen = (node: Node): boolean =>
  SchemaAST.isUnknown(node) ||
  SchemaAST.isAny(node) ||
  SchemaAST.isObjectKeyword(node) ||
  SchemaAST.isDeclaration(node) ||
  (SchemaAST.isObjects(node) &&
    node.propertySignatures.length === 0 &&
    node.indexSignatures.length === 0)

const stringKeyed = (parameter: Node): boolean =>
  expand(parameter).some((p) => !SchemaAST.isSymbol(p) && !SchemaAST.isUniqueSymbol(p))

/** The nodes one segment below `node`. */
const child = (node: Node, segment: string): ReadonlyArray<Node> => {
  if (SchemaAST.isObjects(node)) {
    const named = node.propertySignatures.filter((p) => p.name === segment).map((p) => p.type)
    if (named.length > 0) return named
    return node.indexSignatures.filter((i) => stringKeyed(i.parameter)).map((i) => i.type)
  }
  if (SchemaAST.isArrays(node) && Json.isIndex(segment)) {
    const i = Number(segment)
    return i < node.elements.length ? [node.elements[i]!] : node.rest
  }
  return []
}

type Walk =
  | { readonly _tag: "Found" }
  | { readonly _tag: "Missing"; readonly at: number; readonly nodes: ReadonlyArray<Node> }

const walk = (root: Node, path: Json.Path): Walk => {
  let nodes: ReadonlyArray<Node> = expand(root)
  for (let i = 0; i < path.length; i++) {
    if (nodes.some(isOpen)) return { _tag: "Found" }
    const next = nodes.flatMap((n) => child(n, path[i]!)).flatMap((n) => expand(n))
    if (next.length === 0) return { _tag: "Missing", at: i, nodes }
    nodes = next
  }
  return { _tag: "Found" }
}

/**
 * The answer of {@link check}: the path exists, or it does not and `suggestions` are the
 * closest existing paths (the longest existing prefix when nothing else is close).
 *
 * @example
 * ```ts
 * import type { SchemaPath } from "@kubefx/core"
 *
 * const r: SchemaPath.Check = { _tag: "Missing", suggestions: [["field"]] }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Check =
  | { readonly _tag: "Found" }
  | { readonly _tag: "Missing"; readonly suggestions: ReadonlyArray<Json.Path> }

/** The paths to suggest for a segment missing below the nodes `nodes`. */
const suggest = (
  nodes: ReadonlyArray<Node>,
  prefix: Json.Path,
  segment: string,
  rest: Json.Path
): ReadonlyArray<Json.Path> => {
  const complete = (node: Node, key: string): Json.Path =>
    walk(node, rest)._tag === "Found" ? [...prefix, key, ...rest] : [...prefix, key]
  const candidates: Array<{ readonly path: Json.Path; readonly cost: number }> = []
  for (const node of nodes) {
    if (SchemaAST.isObjects(node)) {
      for (const p of node.propertySignatures)
        if (typeof p.name === "string")
          candidates.push({ path: complete(p.type, p.name), cost: distance(segment, p.name) })
    } else if (SchemaAST.isArrays(node) && walk(node, ["0", segment, ...rest])._tag === "Found") {
      // An array's field written without an index: `items.size` for `items.0.size`.
      candidates.push({ path: [...prefix, "0", segment, ...rest], cost: 0 })
    }
  }
  if (candidates.length === 0) return [prefix]
  const best = Math.min(...candidates.map((c) => c.cost))
  const seen = new Set<string>()
  return candidates
    .filter((c) => c.cost === best)
    .filter((c) => !seen.has(JSON.stringify(c.path)) && seen.add(JSON.stringify(c.path)))
    .slice(0, 3)
    .map((c) => c.path)
}

/**
 * Whether `path` exists in the encoded form of a Schema (see the module's documentation), and
 * when it does not, the closest existing paths: at the first missing key, the keys there with
 * the smallest edit distance (a swap of two neighbours counts as one edit), completed with the
 * rest of the path when it exists below them.
 *
 * @example
 * ```ts
 * import { SchemaPath } from "@kubefx/core"
 * import { Schema } from "effect"
 *
 * const spec = Schema.Struct({ field: Schema.String, items: Schema.Array(Schema.Struct({ size: Schema.Number })) })
 * SchemaPath.check(spec, ["items", "0", "size"]) // { _tag: "Found" }
 * SchemaPath.check(spec, ["feild"]) // { _tag: "Missing", suggestions: [["field"]] }
 * ```
 *
 * @since 0.1.0
 * @category checking
 */
export const check = (schema: { readonly ast: SchemaAST.AST }, path: Json.Path): Check => {
  const root = SchemaAST.toEncoded(schema.ast)
  const result = walk(root, path)
  if (result._tag === "Found") return result
  const prefix = path.slice(0, result.at)
  return {
    _tag: "Missing",
    suggestions: suggest(result.nodes, prefix, path[result.at]!, path.slice(result.at + 1))
  }
}
