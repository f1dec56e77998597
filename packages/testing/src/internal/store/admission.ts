/**
 * What the simulated API server checks and sets on a write before it is stored: the namespace
 * (given, existing, not terminating), names (`generateName`, RFC 1123), the server-managed
 * metadata a client cannot set or change, preconditions (`resourceVersion`, uid), no new
 * finalizer on an object being deleted, `generation`, the defaults of each built-in kind, and
 * the admission of custom resources (`crds.ts`) and claims (`claims.ts`).
 */
import type { KubeError } from "@kubefx/runtime"
import * as Claims from "./claims.ts"
import * as Crds from "./crds.ts"
import { apiVersionOf, type Def, keys } from "./defs.ts"
import {
  alreadyExists,
  badRequest,
  conflict,
  fail,
  forbidden,
  invalid,
  invalidField,
  notServed
} from "./failures.ts"
import { canonical, finalizersOf, metaOf, type Obj, recordAt, str, timestamp } from "./object.ts"
import type { Objects } from "./objects.ts"

type Req = KubeError.RequestInfo

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** Metadata only the server writes: cleared on create. */
const serverSet = [
  "resourceVersion",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "selfLink",
  "managedFields"
]

/** Metadata a write cannot change: kept from the stored object on update. */
const immutable = [
  "name",
  "namespace",
  "uid",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "generation",
  "resourceVersion",
  "managedFields"
]

/** The request's namespace (none for cluster-scoped types); the body's must agree. */
export const namespaceOf = (
  req: Req,
  d: Def,
  body: Obj | undefined,
  given: string | undefined
): string | undefined => {
  if (!d.namespaced) return undefined
  const inBody = body === undefined ? undefined : str(metaOf(body).namespace)
  if (given !== undefined && inBody !== undefined && inBody !== "" && inBody !== given)
    badRequest(
      req,
      "the namespace of the provided object does not match the namespace sent on the request"
    )
  const ns = given ?? inBody
  if (ns === undefined || ns === "") return notServed(req)
  return ns
}

/** A new object's namespace must exist and not be terminating. */
export const namespaceOpen = (req: Req, objects: Objects, d: Def, ns: string, m: Obj) => {
  const nsObj = objects.table(objects.defs.get(keys.namespaces)!).get(ns)
  if (nsObj === undefined) fail(req, 404, "NotFound", `namespaces "${ns}" not found`)
  else if (metaOf(nsObj).deletionTimestamp !== undefined)
    forbidden(
      req,
      `${d.plural} "${String(m.name ?? m.generateName)}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`
    )
}

/** A new object's name: given or generated, valid, and free. */
export const nameFor = (
  req: Req,
  objects: Objects,
  d: Def,
  ns: string | undefined,
  m: Obj
): string => {
  let name = str(m.name)
  if ((name === undefined || name === "") && str(m.generateName) !== undefined)
    name = `${m.generateName}${objects.suffix()}`
  if (name === undefined || name === "")
    return invalidField(
      req,
      d,
      "",
      "FieldValueRequired",
      "metadata.name",
      "Required value: name or generateName is required"
    )
  const valid =
    d.key === keys.namespaces
      ? dns1123Label.test(name)
      : dns1123Subdomain.test(name) && name.length <= 253
  if (!valid)
    invalidField(
      req,
      d,
      name,
      "FieldValueInvalid",
      "metadata.name",
      `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`
    )
  if (objects.lookup(d, ns, name) !== undefined) alreadyExists(req, d, name)
  return name
}

/** The server-managed fields of a new object. */
export const stamp = (
  objects: Objects,
  d: Def,
  next: Obj,
  name: string,
  ns: string | undefined,
  now: number
) => {
  const m = metaOf(next)
  next.apiVersion = apiVersionOf(d.group, d.versions[0]!)
  next.kind = d.kind
  m.name = name
  if (ns === undefined) delete m.namespace
  else m.namespace = ns
  for (const k of serverSet) delete m[k]
  m.uid = objects.newUid()
  m.creationTimestamp = timestamp(now)
  if (d.generation) m.generation = 1
  else delete m.generation
  if (d.custom && d.status) delete next.status
}

/** The defaults of a new object of a built-in kind, in place. */
export const defaults = (d: Def, next: Obj, now: number) => {
  const m = metaOf(next)
  switch (d.key) {
    case keys.namespaces:
      m.labels = { ...recordAt(m, "labels"), "kubernetes.io/metadata.name": String(m.name) }
      next.spec = { finalizers: ["kubernetes"] }
      next.status = { phase: "Active" }
      break
    case keys.claims:
      Claims.defaults(next)
      break
    case keys.crds:
      Crds.initialStatus(next, now)
      break
    case keys.events:
      if (next.eventTime === undefined) next.eventTime = null
      break
  }
}

/** Custom resources: pruning and schema validation; claims: the update rules. */
export const admit = (
  req: Req,
  objects: Objects,
  d: Def,
  next: Obj,
  old: Obj | undefined,
  subresource: string | undefined
) => {
  if (d.custom) Crds.admit(req, d, next)
  if (d.key === keys.claims && old !== undefined && subresource === undefined)
    Claims.admitUpdate(req, d, next, old, (name) =>
      objects.table(objects.defs.get(keys.storageClasses)!).get(name)
    )
}

/** An update's preconditions: its `resourceVersion` (custom resources' PUT needs one), name, uid. */
export const updatePreconditions = (
  req: Req,
  d: Def,
  name: string,
  proposed: Obj,
  current: Obj,
  put: boolean
) => {
  const pm = metaOf(proposed)
  const cm = metaOf(current)
  const want = str(pm.resourceVersion)
  if (put && d.custom && (want === undefined || want === ""))
    invalidField(
      req,
      d,
      name,
      "FieldValueInvalid",
      "metadata.resourceVersion",
      "Invalid value: 0x0: must be specified for an update"
    )
  if (want !== undefined && want !== "" && want !== cm.resourceVersion) conflict(req, d, name)
  if (pm.name !== undefined && pm.name !== name)
    badRequest(
      req,
      `the name of the object (${String(pm.name)}) does not match the name on the URL (${name})`
    )
  if (pm.uid !== undefined && pm.uid !== cm.uid)
    conflict(
      req,
      d,
      name,
      `Precondition failed: UID in precondition: ${String(pm.uid)}, UID in object meta: ${String(cm.uid)}`
    )
}

/** A delete's preconditions (uid, resourceVersion). */
export const deletePreconditions = (
  req: Req,
  d: Def,
  name: string,
  current: Obj,
  pre: { readonly uid?: string; readonly resourceVersion?: string } | undefined
) => {
  const cm = metaOf(current)
  if (pre?.uid !== undefined && pre.uid !== cm.uid)
    conflict(
      req,
      d,
      name,
      `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(cm.uid)}`
    )
  if (pre?.resourceVersion !== undefined && pre.resourceVersion !== cm.resourceVersion)
    conflict(
      req,
      d,
      name,
      `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(cm.resourceVersion)}`
    )
}

/** The object a write to the main resource proposes, with what it cannot change kept. */
export const keepServerFields = (d: Def, next: Obj, current: Obj) => {
  const m = metaOf(next)
  const cm = metaOf(current)
  for (const k of immutable) {
    if (cm[k] === undefined) delete m[k]
    else m[k] = cm[k]
  }
  next.apiVersion = current.apiVersion
  next.kind = current.kind
  if (d.status) {
    if (current.status === undefined) delete next.status
    else next.status = current.status
  }
}

/** No finalizer may be added to an object being deleted (422). */
export const noNewFinalizers = (req: Req, d: Def, name: string, next: Obj, current: Obj) => {
  if (metaOf(current).deletionTimestamp === undefined) return
  const before = new Set(finalizersOf(metaOf(current)))
  const added = finalizersOf(metaOf(next)).filter((f) => !before.has(f))
  if (added.length === 0) return
  const cause = {
    reason: "FieldValueForbidden",
    field: "metadata.finalizers",
    message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(", ")}}`
  }
  // The real server reports it twice for custom resources (metadata is validated twice).
  invalid(req, d, name, d.custom ? [cause, cause] : [cause])
}

/** Bumps `generation` when anything but metadata (and a subresource's status) changed. */
export const nextGeneration = (d: Def, next: Obj, current: Obj) => {
  if (!d.generation) return
  const essence = (o: Obj) => {
    const c = { ...o }
    delete c.metadata
    if (d.status) delete c.status
    return canonical(c)
  }
  if (essence(next) !== essence(current))
    metaOf(next).generation = Number(metaOf(current).generation ?? 0) + 1
}
