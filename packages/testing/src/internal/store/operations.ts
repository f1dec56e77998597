/**
 * The requests of the simulated API server, as synchronous functions over the object store:
 * create, get, replace and patch (the main resource or `/status`), delete (finalizers hold it,
 * propagation policies add theirs), list and watch. Each answers the object as the real server
 * does, or throws a `Fail` (`failures.ts`).
 */
import { Patch as CorePatch, type Json, type KubeObject, type Resource } from "@kubefx/core"
import type { ApiPatch, KubeError } from "@kubefx/runtime"
import * as JsonPatch from "../jsonPatch.ts"
import * as Admission from "./admission.ts"
import { type Def, keys } from "./defs.ts"
import { badRequest, fail, notFound, notServed } from "./failures.ts"
import {
  canonical,
  clone,
  finalizersOf,
  isRecord,
  metaOf,
  type Obj,
  str,
  timestamp
} from "./object.ts"
import type { Objects, Opened, Watch } from "./objects.ts"

type Req = KubeError.RequestInfo
type ApiResource = Resource.ApiResource
type ResourceAt = Pick<ApiResource, "group" | "version" | "plural">

const FOREGROUND = "foregroundDeletion"
const ORPHAN = "orphan"

/** How a delete goes on (the parts of the runtime's delete options the simulation reads). */
export interface DeleteOptions {
  readonly propagationPolicy?: "Orphan" | "Background" | "Foreground" | undefined
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string } | undefined
  readonly dryRun?: boolean | undefined
}

/** A page of a list: the objects and the version it was read at. */
export interface Listed {
  readonly items: Array<KubeObject.KubeObject>
  readonly resourceVersion: string
}

/** What a delete does to the stored object. */
type Deletion =
  | { readonly _tag: "Unchanged" }
  | { readonly _tag: "Marked"; readonly next: Obj }
  | { readonly _tag: "Removed"; readonly next: Obj }

/** What an update does with the stored object, and how. */
interface UpdateOptions {
  readonly subresource?: string | undefined
  readonly put: boolean
  readonly dryRun?: boolean | undefined
}

/** The answer of deleting a built-in object for good: a `Status`. */
const deletedStatus = (d: Def, name: string, uid: unknown) =>
  ({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Success",
    details: { name, group: d.group, kind: d.plural, uid }
  }) as KubeObject.KubeObject

/** The change a patch makes to the stored object. */
const patched =
  (req: Req, p: ApiPatch.Patch) =>
  (current: Obj): Obj => {
    switch (p._tag) {
      case "Json":
        try {
          return JsonPatch.apply(current, p.operations) as Obj
        } catch (e) {
          return fail(
            req,
            422,
            "Invalid",
            `the server rejected our request due to an error in our request: ${e instanceof Error ? e.message : String(e)}`
          )
        }
      case "Apply":
      case "Merge":
      case "Strategic": {
        if (!isRecord(p.body)) return badRequest(req, "the patch must be an object")
        return CorePatch.apply(current as Json.Json, p.body as Json.Json) as Obj
      }
    }
  }

/** The stored object with the status a `/status` write proposes, and nothing else of it. */
const withStatus = (current: Obj, proposed: Obj): Obj => {
  const next = clone(current)
  if (proposed.status === undefined) delete next.status
  else next.status = proposed.status
  return next
}

/** The requests of the simulated API server. */
export interface Operations {
  /** The served type of a resource at a version (404 when not served). */
  readonly resolve: (req: Req, resource: ResourceAt) => Def
  readonly create: (
    req: Req,
    resource: ApiResource,
    body: KubeObject.KubeObject,
    namespace: string | undefined,
    now: number,
    dryRun?: boolean
  ) => KubeObject.KubeObject
  readonly get: (
    req: Req,
    resource: ApiResource,
    name: string,
    namespace: string | undefined
  ) => KubeObject.KubeObject
  /** PUT of the main resource or of `/status`. */
  readonly replace: (
    req: Req,
    resource: ApiResource,
    name: string,
    body: KubeObject.KubeObject,
    namespace: string | undefined,
    subresource: string | undefined,
    dryRun?: boolean
  ) => KubeObject.KubeObject
  /** PATCH of the main resource or of `/status`; an apply patch creates a missing object. */
  readonly patch: (
    req: Req,
    resource: ApiResource,
    name: string,
    p: ApiPatch.Patch,
    namespace: string | undefined,
    subresource: string | undefined,
    now: number,
    dryRun?: boolean
  ) => KubeObject.KubeObject
  /** Marks for deletion (finalizers) or removes; answers the object as the server does. */
  readonly remove: (
    req: Req,
    resource: ApiResource,
    name: string,
    namespace: string | undefined,
    options: DeleteOptions,
    now: number
  ) => KubeObject.KubeObject
  /** The matching objects, sorted; `bare` (the default) drops built-ins' apiVersion and kind. */
  readonly list: (
    req: Req,
    resource: ApiResource,
    namespace: string | undefined,
    match: (o: unknown) => boolean,
    bare?: boolean
  ) => Listed
  /** Starts a watch: answers the events to send first, or an expiry. */
  readonly openWatch: (
    req: Req,
    resource: ApiResource,
    w: Watch,
    from: string | undefined
  ) => Opened
}

/** The served type of a resource at a version (404 when not served). */
const resolve =
  (objects: Objects): Operations["resolve"] =>
  (req, resource) => {
    const d = objects.defs.get(`${resource.group}/${resource.plural}`)
    if (d === undefined || !d.versions.includes(resource.version)) return notServed(req)
    return d
  }

const create =
  (objects: Objects): Operations["create"] =>
  (req, resource, body, namespace, now, dryRun = false) => {
    const d = resolve(objects)(req, resource)
    const given = clone(body) as Obj
    const ns = Admission.namespaceOf(req, d, given, namespace)
    if (ns !== undefined) {
      Admission.namespaceOpen(req, objects, d, ns, metaOf(given))
      metaOf(given).namespace = ns
    }
    const attributes = (object: Obj) => ({
      def: d,
      version: resource.version,
      operation: "CREATE" as const,
      name: str(metaOf(object).name) ?? "",
      namespace: ns,
      subresource: undefined,
      object,
      old: undefined,
      dryRun
    })
    const next = objects.admission("mutate", attributes(given)) ?? given
    const m = metaOf(next)
    const name = Admission.nameFor(req, objects, d, ns, m)
    Admission.stamp(objects, d, next, name, ns, now)
    Admission.defaults(d, next, now)
    Admission.admit(req, objects, d, next, undefined, undefined)
    objects.admission("validate", attributes(next))
    if (dryRun) return objects.out(d, next, resource.version)
    return objects.out(d, objects.commit(d, "ADDED", next, undefined), resource.version)
  }

const get =
  (objects: Objects): Operations["get"] =>
  (req, resource, name, namespace) => {
    const d = resolve(objects)(req, resource)
    const o = objects.lookup(d, namespace, name)
    if (o === undefined) return notFound(req, d, name)
    return objects.out(d, o, resource.version)
  }

/** A write to the main resource: what the client cannot change is kept. */
const mainUpdate = (req: Req, d: Def, name: string, proposed: Obj, current: Obj): Obj => {
  Admission.keepServerFields(d, proposed, current)
  Admission.noNewFinalizers(req, d, name, proposed, current)
  const m = metaOf(proposed)
  if (Array.isArray(m.finalizers) && m.finalizers.length === 0) delete m.finalizers
  return proposed
}

/** The common path of PUT and PATCH (main resource or `/status`). */
const update = (
  objects: Objects,
  req: Req,
  resource: ApiResource,
  name: string,
  namespace: string | undefined,
  change: (current: Obj) => Obj,
  options: UpdateOptions
): KubeObject.KubeObject => {
  const d = resolve(objects)(req, resource)
  const status = options.subresource === "status"
  if (status && !d.status) notServed(req)
  const current = objects.lookup(d, namespace, name)
  if (current === undefined) return notFound(req, d, name)
  const proposed = change(clone(current))
  if (!isRecord(proposed)) return badRequest(req, "the body must be an object")
  Admission.updatePreconditions(req, d, name, proposed, current, options.put)
  const attributes = (object: Obj) => ({
    def: d,
    version: resource.version,
    operation: "UPDATE" as const,
    name,
    namespace,
    subresource: options.subresource,
    object,
    old: current,
    dryRun: options.dryRun === true
  })
  const proposedNext = status
    ? withStatus(current, proposed)
    : mainUpdate(req, d, name, proposed, current)
  const mutated = objects.admission("mutate", attributes(proposedNext))
  const next =
    mutated === undefined
      ? proposedNext
      : status
        ? withStatus(current, mutated)
        : mainUpdate(req, d, name, mutated, current)
  Admission.admit(req, objects, d, next, current, options.subresource)
  objects.admission("validate", attributes(next))
  if (!status) Admission.nextGeneration(d, next, current)
  if (options.dryRun) return objects.out(d, next, resource.version)
  if (canonical(next) === canonical(current)) return objects.out(d, current, resource.version)
  const m = metaOf(next)
  const gone = m.deletionTimestamp !== undefined && finalizersOf(m).length === 0
  return objects.out(
    d,
    objects.commit(d, gone ? "DELETED" : "MODIFIED", next, current),
    resource.version
  )
}

const replace =
  (objects: Objects): Operations["replace"] =>
  (req, resource, name, body, namespace, subresource, dryRun = false) => {
    const d = resolve(objects)(req, resource)
    const ns = Admission.namespaceOf(req, d, body as Obj, namespace)
    return update(objects, req, resource, name, ns, () => clone(body) as Obj, {
      subresource,
      put: true,
      dryRun
    })
  }

const patch =
  (objects: Objects): Operations["patch"] =>
  (req, resource, name, p, namespace, subresource, now, dryRun = false) => {
    const d = resolve(objects)(req, resource)
    if (p._tag === "Strategic" && d.custom)
      fail(
        req,
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`
      )
    if (
      p._tag === "Apply" &&
      subresource === undefined &&
      objects.lookup(d, namespace, name) === undefined
    ) {
      const body = clone(p.body) as Obj
      const m = metaOf(body)
      if (m.name === undefined) m.name = name
      return create(objects)(req, resource, body as KubeObject.KubeObject, namespace, now, dryRun)
    }
    return update(objects, req, resource, name, namespace, patched(req, p), {
      subresource,
      put: false,
      dryRun
    })
  }

/** What deleting does: nothing more, mark it (finalizers hold it), or remove it. */
const deleting = (
  d: Def,
  current: Obj,
  policy: DeleteOptions["propagationPolicy"],
  now: number
): Deletion => {
  const next = clone(current)
  const m = metaOf(next)
  const start = () => {
    m.deletionTimestamp = timestamp(now)
    m.deletionGracePeriodSeconds = 0
  }
  if (d.key === keys.namespaces) {
    if (m.deletionTimestamp !== undefined) return { _tag: "Unchanged" }
    start()
    next.status = { phase: "Terminating" }
    return { _tag: "Marked", next }
  }
  const finalizers = finalizersOf(m)
  if (policy === "Foreground" && !finalizers.includes(FOREGROUND)) finalizers.push(FOREGROUND)
  if (policy === "Orphan" && !finalizers.includes(ORPHAN)) finalizers.push(ORPHAN)
  if (finalizers.length === 0) return { _tag: "Removed", next }
  if (m.deletionTimestamp !== undefined && canonical(finalizers) === canonical(m.finalizers))
    return { _tag: "Unchanged" }
  m.finalizers = finalizers
  if (m.deletionTimestamp === undefined) {
    start()
    if (d.generation) m.generation = Number(m.generation ?? 0) + 1
  }
  return { _tag: "Marked", next }
}

const remove =
  (objects: Objects): Operations["remove"] =>
  (req, resource, name, namespace, options, now) => {
    const d = resolve(objects)(req, resource)
    const current = objects.lookup(d, namespace, name)
    if (current === undefined) return notFound(req, d, name)
    Admission.deletePreconditions(req, d, name, current, options.preconditions)
    const attributes = {
      def: d,
      version: resource.version,
      operation: "DELETE" as const,
      name,
      namespace,
      subresource: undefined,
      object: undefined,
      old: current,
      dryRun: options.dryRun === true
    }
    objects.admission("mutate", attributes)
    objects.admission("validate", attributes)
    const answer = (o: Obj) => objects.out(d, o, resource.version)
    if (options.dryRun) return answer(current)
    const deletion = deleting(d, current, options.propagationPolicy, now)
    switch (deletion._tag) {
      case "Unchanged":
        return answer(current)
      case "Marked":
        return answer(objects.commit(d, "MODIFIED", deletion.next, current))
      case "Removed": {
        const gone = objects.commit(d, "DELETED", deletion.next, current)
        return d.returnsDeleted ? answer(gone) : deletedStatus(d, name, metaOf(current).uid)
      }
    }
  }

const list =
  (objects: Objects): Operations["list"] =>
  (req, resource, namespace, match, bare = true) => {
    const d = resolve(objects)(req, resource)
    const items = objects.select(d, namespace, match).map((o) => {
      const c = objects.out(d, o, resource.version) as Obj
      if (bare && !d.custom) {
        delete c.apiVersion
        delete c.kind
      }
      return c as KubeObject.KubeObject
    })
    return { items, resourceVersion: String(objects.version()) }
  }

/** The requests, over a store. */
export const make = (objects: Objects): Operations => ({
  resolve: resolve(objects),
  create: create(objects),
  get: get(objects),
  replace: replace(objects),
  patch: patch(objects),
  remove: remove(objects),
  list: list(objects),
  openWatch: (req, resource, w, from) => objects.watch(resolve(objects)(req, resource), w, from)
})
