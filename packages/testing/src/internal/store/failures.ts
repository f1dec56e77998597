/**
 * The simulated API server's refusals: each throws a {@link Fail} carrying the typed error the
 * real server's answer (a `Status` body) maps to, with the real server's reasons and messages.
 */
import { KubeError } from "@kubefx/runtime"
import type * as OpenApi from "../openapi.ts"
import { type Def, qualified } from "./defs.ts"

type Req = KubeError.RequestInfo

/** A failed request: the typed error the real server's answer maps to. */
export class Fail {
  readonly error: KubeError.KubeError
  constructor(error: KubeError.KubeError) {
    this.error = error
  }
}

/** Throws the error a `Status` answer of that code, reason and message maps to. */
export const fail = (
  req: Req,
  status: number,
  reason: string,
  message: string,
  details?: unknown
): never => {
  throw new Fail(
    KubeError.fromResponse(
      req,
      status,
      undefined,
      JSON.stringify({ kind: "Status", status: "Failure", code: status, reason, message, details }),
      0
    )
  )
}

/** 404 for a path nothing is served at. */
export const notServed = (req: Req): never =>
  fail(req, 404, "NotFound", "the server could not find the requested resource")

export const notFound = (req: Req, d: Def, name: string): never =>
  fail(req, 404, "NotFound", `${qualified(d)} "${name}" not found`, {
    name,
    group: d.group,
    kind: d.plural
  })

export const alreadyExists = (req: Req, d: Def, name: string): never =>
  fail(req, 409, "AlreadyExists", `${qualified(d)} "${name}" already exists`, {
    name,
    group: d.group,
    kind: d.plural
  })

export const conflict = (req: Req, d: Def, name: string, why?: string): never =>
  fail(
    req,
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(d)} "${name}": ${why ?? "the object has been modified; please apply your changes to the latest version and try again"}`
  )

export const badRequest = (req: Req, message: string): never =>
  fail(req, 400, "BadRequest", message)

export const forbidden = (req: Req, message: string): never => fail(req, 403, "Forbidden", message)

/** 422 with its causes, named as the real server names the kind. */
export const invalid = (
  req: Req,
  d: Def,
  name: string,
  causes: ReadonlyArray<OpenApi.Cause>
): never =>
  fail(
    req,
    422,
    "Invalid",
    `${d.group === "" || !d.custom ? d.kind : `${d.kind}.${d.group}`} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}`,
    {
      name,
      group: d.group,
      kind: d.kind,
      causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field }))
    }
  )

/** A 422 of one cause. */
export const invalidField = (
  req: Req,
  d: Def,
  name: string,
  reason: string,
  field: string,
  message: string
): never => invalid(req, d, name, [{ reason, field, message }])
