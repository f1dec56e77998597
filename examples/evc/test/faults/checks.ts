/**
 * What every fault scenario must hold, checked from the outside: every EVC converged (its PVC
 * exists, is owned by it, and `status.create_fn.pvcName` is set), and, from the API server's
 * audit log, no PVC created twice and no handler success recorded twice.
 */
import { Audit } from "@kubefx/controlplane"
import { Builtins, Json, type KubeObject, Owner } from "@kubefx/core"
import type { KubeService } from "@kubefx/runtime"
import { Effect } from "effect"
import * as Evc from "../../src/Evc.ts"
import type * as OperatorProcess from "./OperatorProcess.ts"

export const evcs = Evc.evc
export const pvcs = Builtins.persistentVolumeClaims

type Ended = OperatorProcess.Ended

/** "exit code 1" or "killed by SIGKILL". */
export const describeEnd = (ended: Ended): string =>
  ended.signal !== null ? `killed by ${ended.signal}` : `exit code ${ended.code}`

const get = (object: KubeObject.KubeObject, path: ReadonlyArray<string>) =>
  Json.get(object as Json.Json, path)

/** Why the EVC `name` has not converged, or `undefined` when it has. */
const pendingReason = (
  name: string,
  evc: KubeObject.KubeObject | undefined,
  pvc: KubeObject.KubeObject | undefined
): string | undefined => {
  if (evc === undefined) return `${name}: the EVC is missing`
  const pvcName = get(evc, ["status", "create_fn", "pvcName"])
  const owned = pvc !== undefined && Owner.isOwnedBy(pvc, evc)
  if (owned && pvcName === name) return undefined
  const pvcState = pvc === undefined ? "no PVC" : owned ? "PVC owned" : "PVC NOT owned by it"
  return `${name}: ${pvcState}, status ${JSON.stringify(get(evc, ["status"]) ?? null)}`
}

/** The EVCs of `names` that have not converged yet, with why. */
const pending = (admin: KubeService, namespace: string, names: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const evcList = yield* admin.list(evcs, { namespace })
    const pvcList = yield* admin.list(pvcs, { namespace })
    const byName = (items: ReadonlyArray<KubeObject.KubeObject>) =>
      new Map(items.map((o) => [o.metadata?.name ?? "", o]))
    const [evcByName, pvcByName] = [byName(evcList.items), byName(pvcList.items)]
    return names.flatMap((name) => {
      const why = pendingReason(name, evcByName.get(name), pvcByName.get(name))
      return why === undefined ? [] : [why]
    })
  })

/**
 * Polls every 250 ms until every EVC of `names` has converged; fails at once when the operator
 * has ended (`ended`), and after `within` ms with the EVCs still pending.
 */
export const converge = (
  admin: KubeService,
  namespace: string,
  names: ReadonlyArray<string>,
  within: number,
  ended: () => Ended | undefined
): Effect.Effect<void, string> =>
  Effect.gen(function* () {
    const deadline = Date.now() + within
    let last: ReadonlyArray<string> = ["(the API server did not answer the admin's list)"]
    for (;;) {
      const now = yield* Effect.result(pending(admin, namespace, names))
      if (now._tag === "Success") {
        if (now.success.length === 0) return
        last = now.success
      }
      const list = `${last.length} of ${names.length} EVCs not converged:\n   ${last.slice(0, 8).join("\n   ")}`
      const end = ended()
      if (end !== undefined) {
        return yield* Effect.fail(`the operator ended (${describeEnd(end)}) with ${list}`)
      }
      if (Date.now() > deadline) {
        return yield* Effect.fail(`after ${within / 1000} s, ${list}`)
      }
      yield* Effect.sleep("250 millis")
    }
  })

/** A broken check and the EVCs it concerns. */
export interface Finding {
  readonly message: string
  readonly names: ReadonlyArray<string>
}

/**
 * The log entries (a line starting with `[hh:mm:ss.mmm]` and its continuation lines) of an
 * operator's output that mention the object `namespace/name`.
 */
export const entriesAbout = (
  lines: ReadonlyArray<string>,
  namespace: string,
  name: string
): Array<string> => {
  const entries: Array<string> = []
  for (const line of lines) {
    if (/^\[\d\d:\d\d:\d\d\.\d+\]/.test(line) || entries.length === 0) entries.push(line)
    else entries[entries.length - 1] += `\n${line}`
  }
  const needle = `${namespace}/${name}'`
  return entries.filter((entry) => entry.includes(needle))
}

/** Whether a write's body (a merge patch, a JSON patch, or a whole object) sets `status.create_fn`. */
const setsCreateFn = (body: unknown): boolean => {
  if (Array.isArray(body)) {
    return body.some((op: { path?: string; value?: { create_fn?: unknown } }) =>
      op.path === "/status" ? op.value?.create_fn != null : op.path?.startsWith("/status/create_fn")
    )
  }
  const status = (body as { status?: { create_fn?: unknown } } | undefined)?.status
  return status?.create_fn != null
}

/** The completed requests of the operator's user (or users: its replicas) in `namespace`. */
const operatorEvents = (
  path: string,
  namespace: string,
  user: string | ReadonlySet<string>,
  from: number
) =>
  Audit.read(path, { from }).filter(
    (e) =>
      e.stage === "ResponseComplete" &&
      (typeof user === "string" ? e.user.username === user : user.has(e.user.username ?? "")) &&
      e.objectRef?.namespace === namespace
  )

/** Whether an audited request is a successful write of `status.create_fn` to an EVC. */
const isResultWrite = (e: Audit.Event) =>
  (e.verb === "patch" || e.verb === "update") &&
  e.objectRef?.resource === "ephemeralvolumeclaims" &&
  setsCreateFn(e.requestObject) &&
  (e.responseStatus?.code ?? 0) >= 200 &&
  (e.responseStatus?.code ?? 0) < 300

/**
 * Who wrote each EVC's `status.create_fn` (2xx), by EVC name, from the audit log: the users of
 * `users` in `namespace`. With several replicas, which replica handled each EVC.
 */
export const resultWriters = (
  path: string,
  namespace: string,
  users: ReadonlySet<string>,
  from = 0
): Map<string, Array<string>> => {
  const out = new Map<string, Array<string>>()
  for (const e of operatorEvents(path, namespace, users, from)) {
    if (!isResultWrite(e)) continue
    const name = e.objectRef?.name ?? ""
    out.set(name, [...(out.get(name) ?? []), e.user.username ?? ""])
  }
  return out
}

/** The users of `users` that wrote anything but Leases in `namespace` (standbys must not). */
export const writers = (
  path: string,
  namespace: string,
  users: ReadonlySet<string>,
  from = 0
): ReadonlySet<string> =>
  new Set(
    operatorEvents(path, namespace, users, from)
      .filter(
        (e) =>
          ["create", "update", "patch", "delete"].includes(e.verb) &&
          e.objectRef?.resource !== "leases"
      )
      .map((e) => e.user.username ?? "")
  )

const when = (e: Audit.Event) =>
  `${e.stageTimestamp} ${e.verb} ${e.requestURI} -> ${e.responseStatus?.code}`

/** Whether writes carried one body (a request re-sent after its answer was lost) or several
 * (a handler's result written anew). */
const sameBody = (events: ReadonlyArray<Audit.Event>) =>
  new Set(events.map((e) => JSON.stringify(e.requestObject))).size === 1
    ? "the same body each time"
    : "different bodies"

/** Counts per name, of `names`, of the events `matches` selects. */
const countBy = (
  events: ReadonlyArray<Audit.Event>,
  names: ReadonlyArray<string>,
  matches: (e: Audit.Event) => boolean
) => {
  const found = new Map<string, Array<Audit.Event>>(names.map((n) => [n, []]))
  for (const e of events) if (matches(e)) found.get(e.objectRef?.name ?? "")?.push(e)
  return found
}

/**
 * The audit log's verdict on the operator's writes in `namespace`: every PVC of `names` created
 * (201) once, and `status.create_fn` written (2xx) once per EVC. A request whose connection was
 * cut may have been carried out while the server recorded no success for it (kube-apiserver
 * audits a write whose client went away as 504 even when it was committed; 5xx or no code):
 * such a cut request counts against "never", not towards "twice". With `lossy` (kube-apiserver
 * was killed while the operator worked: a request it completed may have died with its audit
 * event) none is fine, more than one is not. Answers the problems found, with the EVCs concerned.
 */
export const audit = (
  path: string,
  namespace: string,
  user: string | ReadonlySet<string>,
  names: ReadonlyArray<string>,
  lossy: boolean,
  from = 0
): Array<Finding> => {
  const events = operatorEvents(path, namespace, user, from)
  const code = (e: Audit.Event) => e.responseStatus?.code ?? 0
  const cut = (e: Audit.Event) => code(e) === 0 || code(e) >= 500
  const isCreate = (e: Audit.Event) =>
    e.verb === "create" && e.objectRef?.resource === "persistentvolumeclaims"
  const isResult = (e: Audit.Event) =>
    (e.verb === "patch" || e.verb === "update") &&
    e.objectRef?.resource === "ephemeralvolumeclaims" &&
    setsCreateFn(e.requestObject)
  const creates = countBy(events, names, (e) => isCreate(e) && code(e) === 201)
  const cutCreates = countBy(events, names, (e) => isCreate(e) && cut(e))
  const results = countBy(events, names, (e) => isResult(e) && code(e) >= 200 && code(e) < 300)
  const cutResults = countBy(events, names, (e) => isResult(e) && cut(e))
  const problems: Array<Finding> = []
  const check = (
    what: string,
    counts: Map<string, Array<Audit.Event>>,
    cuts: Map<string, Array<Audit.Event>>
  ) => {
    const twice = [...counts].filter(([, es]) => es.length > 1)
    const never = [...counts].filter(
      ([name, es]) => es.length === 0 && (cuts.get(name)?.length ?? 0) === 0
    )
    if (twice.length > 0) {
      problems.push({
        message: `${what} more than once for ${twice.length} of ${names.length} EVCs:\n  ${twice
          .slice(0, 5)
          .map(
            ([name, es]) =>
              `${name}: ${es.length} times (${sameBody(es)}): ${es.map(when).join("; ")}`
          )
          .join("\n  ")}`,
        names: twice.map(([name]) => name)
      })
    }
    if (!lossy && never.length > 0) {
      problems.push({
        message: `${what} never, in the audit log, for ${never.length} of ${names.length} EVCs: ${never
          .slice(0, 8)
          .map(([name]) => name)
          .join(", ")}`,
        names: never.map(([name]) => name)
      })
    }
  }
  check("the PVC was created (201)", creates, cutCreates)
  check("status.create_fn was written (2xx)", results, cutResults)
  return problems
}
