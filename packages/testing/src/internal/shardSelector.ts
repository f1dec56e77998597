/**
 * The `shardSelector` of a list or watch (KEP-5866), read as kube-apiserver v1.36.3 reads it
 * (`k8s.io/apiserver/pkg/sharding`): a CEL expression made of `shardRange(<field>, '<start>',
 * '<end>')` calls joined by `||`, parsed but never evaluated. The fields are
 * `object.metadata.uid` and `object.metadata.namespace` (all ranges on one field); the bounds are
 * `0x` and 16 lowercase hex digits (the end may be `0x10000000000000000`), `start < end`. An
 * object matches when the 64-bit FNV-1a hash of the field falls in one range.
 *
 * The CEL grammar is covered as far as selectors go (identifiers, selections, calls, string
 * and number literals, parentheses, `||`, `&&`); anything else is a syntax error, as most of it
 * is for CEL. The messages are the server's; a CEL syntax error's text after `Syntax error:`
 * is this parser's own (the real one comes from ANTLR).
 */
import { Shard } from "@kubefx/core"

/** A parsed selector: its ranges, on one field. */
export interface ShardSelector {
  readonly field: string
  readonly ranges: ReadonlyArray<Shard.Range>
}

/** Why a selector does not parse: the server's message, after `invalid shard selector: `. */
export class ShardSelectorError extends Error {}

type Expr =
  | { readonly _tag: "Ident"; readonly name: string }
  | { readonly _tag: "Select"; readonly operand: Expr; readonly field: string }
  | { readonly _tag: "Call"; readonly fn: string; readonly args: ReadonlyArray<Expr> }
  | { readonly _tag: "Literal"; readonly value: string | number; readonly type: string }

/** CEL's `ast.ExprKind` numbers, as the server's `%v` prints them. */
const kindNumber = { Call: 1, Ident: 3, Literal: 5, Select: 7 } as const

const syntax = (what: string): never => {
  throw new ShardSelectorError(`CEL parse error: Syntax error: ${what}`)
}

type Token =
  | { readonly t: "id"; readonly v: string }
  | { readonly t: "str"; readonly v: string }
  | { readonly t: "num"; readonly v: number; readonly type: string }
  | { readonly t: "op"; readonly v: string }

const tokenize = (text: string): ReadonlyArray<Token> => {
  const out: Array<Token> = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (/\s/.test(c)) {
      i++
      continue
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))
    if (word !== null) {
      out.push({ t: "id", v: word[0] })
      i += word[0].length
      continue
    }
    const num = /^(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?)u?/.exec(text.slice(i))
    if (num !== null) {
      const t = num[0]
      out.push({
        t: "num",
        v: Number(t.replace(/u$/, "")),
        type: t.endsWith("u") ? "uint64" : t.includes(".") ? "float64" : "int64"
      })
      i += t.length
      continue
    }
    if (c === "'" || c === '"') {
      let j = i + 1
      let value = ""
      while (j < text.length && text[j] !== c) {
        if (text[j] === "\\" && j + 1 < text.length) j++
        value += text[j]
        j++
      }
      if (j >= text.length) syntax(`token recognition error at: '${text.slice(i)}'`)
      out.push({ t: "str", v: value })
      i = j + 1
      continue
    }
    const two = text.slice(i, i + 2)
    if (two === "||" || two === "&&") {
      out.push({ t: "op", v: two })
      i += 2
      continue
    }
    if ("().,".includes(c)) {
      out.push({ t: "op", v: c })
      i++
      continue
    }
    syntax(`token recognition error at: '${c}'`)
  }
  return out
}

const describe = (token: Token | undefined) =>
  token === undefined ? "<EOF>" : token.t === "str" ? `'${token.v}'` : String(token.v)

/** Parses the tokens: `||` binds loosest, then `&&`, then calls and selections. */
const parseTokens = (tokens: ReadonlyArray<Token>): Expr => {
  let at = 0
  const peek = () => tokens[at]
  const isOp = (v: string) => {
    const token = peek()
    return token?.t === "op" && token.v === v
  }
  const expect = (v: string) => {
    if (!isOp(v)) syntax(`mismatched input '${describe(peek())}' expecting '${v}'`)
    at++
  }
  const binary = (op: string, fn: string, next: () => Expr) => (): Expr => {
    let left = next()
    while (isOp(op)) {
      at++
      left = { _tag: "Call", fn, args: [left, next()] }
    }
    return left
  }
  const primary = (): Expr => {
    const token = peek()
    at++
    if (token === undefined) return syntax("mismatched input '<EOF>' expecting an expression")
    if (token.t === "str") return { _tag: "Literal", value: token.v, type: "string" }
    if (token.t === "num") return { _tag: "Literal", value: token.v, type: token.type }
    if (token.t === "op" && token.v === "(") {
      const inner = or()
      expect(")")
      return inner
    }
    if (token.t !== "id") return syntax(`extraneous input '${describe(token)}'`)
    let expr: Expr = { _tag: "Ident", name: token.v }
    if (isOp("(")) {
      at++
      const args: Array<Expr> = []
      if (!isOp(")")) {
        args.push(or())
        while (isOp(",")) {
          at++
          args.push(or())
        }
      }
      expect(")")
      expr = { _tag: "Call", fn: token.v, args }
    }
    while (isOp(".")) {
      at++
      const field = peek()
      if (field?.t !== "id")
        return syntax(`mismatched input '${describe(field)}' expecting IDENTIFIER`)
      at++
      expr = { _tag: "Select", operand: expr, field: field.v }
    }
    return expr
  }
  const and = binary("&&", "_&&_", primary)
  const or: () => Expr = binary("||", "_||_", and)
  const expr = or()
  if (at < tokens.length) syntax(`extraneous input '${describe(peek())}' expecting <EOF>`)
  return expr
}

const fieldPath = (e: Expr): string => {
  if (e._tag === "Ident") return e.name
  if (e._tag === "Select") return `${fieldPath(e.operand)}.${e.field}`
  throw new ShardSelectorError(
    `shardRange() first argument: expected field path (e.g. object.metadata.uid), got expression kind ${kindNumber[e._tag]}`
  )
}

const quoted = (s: string) => JSON.stringify(s)

const hexLiteral = (e: Expr, name: string): string => {
  if (e._tag !== "Literal")
    throw new ShardSelectorError(
      `${name} must be a string literal (e.g. '0xff'), got expression kind ${kindNumber[e._tag]}`
    )
  if (typeof e.value !== "string")
    throw new ShardSelectorError(`${name} must be a string literal, got ${e.type}`)
  const s = e.value
  if (!s.startsWith("0x"))
    throw new ShardSelectorError(`${name} must have '0x' prefix, got ${quoted(s)}`)
  const hex = s.slice(2)
  if (hex === "") throw new ShardSelectorError(`${name}: hex value is required after '0x'`)
  if (hex.length > 17)
    throw new ShardSelectorError(
      `${name}: hex value too long (${hex.length} chars, max 17): ${quoted(hex)}`
    )
  for (const c of hex)
    if (!/[0-9a-f]/.test(c))
      throw new ShardSelectorError(`${name}: invalid hex character ${quoted(c)} in ${quoted(s)}`)
  if (hex.length === 17 && s !== "0x10000000000000000")
    throw new ShardSelectorError(
      `${name}: 17-digit hex value must be '0x10000000000000000' (2^64), got ${quoted(s)}`
    )
  if (hex.length < 16)
    throw new ShardSelectorError(
      `${name} must be a 0x-prefixed 16-digit hex value, got ${quoted(s)} (did you mean ${quoted(`0x${hex.padStart(16, "0")}`)}?)`
    )
  return s
}

/** `a < b` for bounds of 16 digits, or 17 for 2^64 (`HexLess`). */
const hexLess = (a: string, b: string) => (a.length !== b.length ? a.length < b.length : a < b)

const shardRange = (args: ReadonlyArray<Expr>) => {
  if (args.length !== 3)
    throw new ShardSelectorError(`shardRange() requires exactly 3 arguments, got ${args.length}`)
  const field = fieldPath(args[0]!)
  if (field !== "object.metadata.uid" && field !== "object.metadata.namespace")
    throw new ShardSelectorError(
      `unsupported field path ${quoted(field)}; supported: object.metadata.uid, object.metadata.namespace`
    )
  const start = hexLiteral(args[1]!, "hexStart")
  const end = hexLiteral(args[2]!, "hexEnd")
  if (!hexLess(start, end))
    throw new ShardSelectorError(`shard range start ${start} must be less than end ${end}`)
  return { field, range: { start, end } }
}

const walk = (e: Expr): Array<{ readonly field: string; readonly range: Shard.Range }> => {
  if (e._tag === "Call" && e.fn === "_||_") return [...walk(e.args[0]!), ...walk(e.args[1]!)]
  if (e._tag === "Call" && e.fn === "shardRange") return [shardRange(e.args)]
  if (e._tag === "Call")
    throw new ShardSelectorError(
      `unsupported function ${quoted(e.fn)}; only shardRange() and || are allowed`
    )
  throw new ShardSelectorError(
    `unexpected expression kind ${kindNumber[e._tag]}; expected shardRange() call or || operator`
  )
}

/** Parses a selector; throws a {@link ShardSelectorError} with the server's message. */
export const parse = (text: string): ShardSelector => {
  const trimmed = text.trim()
  if (trimmed === "")
    throw new ShardSelectorError(
      "empty shard selector is not allowed; omit the parameter for unfiltered lists"
    )
  const parts = walk(parseTokens(tokenize(trimmed)))
  const field = parts[0]!.field
  for (const p of parts.slice(1))
    if (p.field !== field)
      throw new ShardSelectorError(
        `all shard ranges must use the same field, got ${quoted(field)} and ${quoted(p.field)}`
      )
  return { field, ranges: parts.map((p) => p.range) }
}

/** The selector as the server echoes it (`metadata.shardInfo.selector`). */
export const format = (s: ShardSelector): string =>
  s.ranges.map((r) => `shardRange(${s.field}, '${r.start}', '${r.end}')`).join(" || ")

/** Whether an object's field hashes into one of the ranges. */
export const matches = (s: ShardSelector, object: unknown): boolean => {
  const metadata = (object as { metadata?: { uid?: string; namespace?: string } }).metadata
  const value = (s.field === "object.metadata.uid" ? metadata?.uid : metadata?.namespace) ?? ""
  const hash = `0x${Shard.hash(value)}`
  return s.ranges.some((r) => !hexLess(hash, r.start) && hexLess(hash, r.end))
}
