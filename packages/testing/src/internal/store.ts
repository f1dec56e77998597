/**
 * The simulated API server's state and semantics, as plain synchronous functions over mutable
 * maps: every operation either answers a value or throws a {@link Fail} carrying the typed
 * error the real server's answer maps to. `SimCluster` wraps these in Effects (time, faults,
 * client retries, watches as streams).
 */
import { Patch as CorePatch, type Json, type KubeObject, type Resource } from "@kubefx/core"
import { type ApiPatch, KubeError } from "@kubefx/runtime"
import * as Faults from "../Faults.ts"
import * as JsonPatch from "./jsonPatch.ts"
import * as OpenApi from "./openapi.ts"
import * as Quantity from "./quantity.ts"

export type Obj = Record<string, unknown>
type ApiResource = Resource.ApiResource

/** A failed request: the typed error the real server's answer maps to. */
export class Fail {
  readonly error: KubeError.KubeError
  constructor(error: KubeError.KubeError) {
    this.error = error
  }
}

/** A resource type the simulation serves. */
export interface Def {
  readonly key: string
  readonly group: string
  /** Served versions; the first is the storage version. */
  readonly versions: ReadonlyArray<string>
  readonly plural: string
  readonly singular: string
  readonly kind: string
  readonly namespaced: boolean
  readonly shortNames: ReadonlyArray<string>
  /** Has a `status` subresource. */
  readonly status: boolean
  /** Keeps `metadata.generation`. */
  readonly generation: boolean
  /** Custom resource (strategic merge patches refused with 415; pruning and validation). */
  readonly custom: boolean
  /** The structural schema of custom resources, per version. */
  readonly schemas: Readonly<Record<string, OpenApi.Schema | undefined>>
  /** Answers deleted objects in full (custom resources), else a Status. */
  readonly returnsDeleted: boolean
}

/** One change, as the watch cache keeps it. */
export interface Change {
  readonly rv: number
  readonly def: string
  readonly type: "ADDED" | "MODIFIED" | "DELETED"
  readonly object: Obj
  readonly old: Obj | undefined
}

/** An open watch. */
export interface Watch {
  readonly def: string
  readonly namespace: string | undefined
  readonly match: (o: unknown) => boolean
  readonly deliver: (type: "ADDED" | "MODIFIED" | "DELETED", object: Obj) => void
}

export interface ControllerOptions {
  /** Garbage collector (ownerReferences, background and foreground). */
  readonly gc: boolean
  /** Namespace controller: deletes a terminating namespace's content, then the namespace. */
  readonly namespaces: boolean
  /** Removes `kubernetes.io/pvc-protection` from deleted claims (no pods use them here). */
  readonly pvcProtection: boolean
  /** Binds pending claims whose StorageClass exists, and expands bound ones. */
  readonly provisioner: boolean
}

export interface StoreOptions {
  readonly historySize: number
  readonly seed: number
  readonly controllers: ControllerOptions
}

const clone = <A>(v: A): A => structuredClone(v)
export const metaOf = (o: Obj): Obj => {
  if (typeof o.metadata !== "object" || o.metadata === null || Array.isArray(o.metadata))
    o.metadata = {}
  return o.metadata as Obj
}
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined)
const isRecord = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

export const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) =>
    isRecord(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x
  )

export const timestamp = (now: number) => new Date(now).toISOString().replace(/\.\d+Z$/, "Z")

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** Built-in types are Go structs: empty maps and lists (`omitempty`) vanish when stored. */
const omitEmpty = (o: Obj) => {
  for (const [k, v] of Object.entries(o)) {
    if (isRecord(v)) {
      omitEmpty(v)
      if (Object.keys(v).length === 0 && k !== "spec" && k !== "status") delete o[k]
    } else if (Array.isArray(v) && v.length === 0) delete o[k]
  }
}

const builtin = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  options: Partial<Pick<Def, "namespaced" | "status" | "generation" | "shortNames">> = {}
): Def => ({
  key: `${group}/${plural}`,
  group,
  versions: [version],
  plural,
  singular: kind.toLowerCase(),
  kind,
  namespaced: options.namespaced ?? true,
  shortNames: options.shortNames ?? [],
  status: options.status ?? false,
  generation: options.generation ?? false,
  custom: false,
  schemas: {},
  returnsDeleted: false
})

/** The built-in kinds the simulation serves. */
export const builtins: ReadonlyArray<Def> = [
  builtin("", "v1", "namespaces", "Namespace", {
    namespaced: false,
    status: true,
    shortNames: ["ns"]
  }),
  builtin("", "v1", "configmaps", "ConfigMap", { shortNames: ["cm"] }),
  builtin("", "v1", "secrets", "Secret"),
  builtin("", "v1", "events", "Event", { shortNames: ["ev"] }),
  builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", {
    status: true,
    shortNames: ["pvc"]
  }),
  builtin("storage.k8s.io", "v1", "storageclasses", "StorageClass", {
    namespaced: false,
    shortNames: ["sc"]
  }),
  builtin("coordination.k8s.io", "v1", "leases", "Lease"),
  builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", {
    namespaced: false,
    status: true,
    generation: true,
    shortNames: ["crd", "crds"]
  })
]

const PVC_PROTECTION = "kubernetes.io/pvc-protection"
const FOREGROUND = "foregroundDeletion"
const ORPHAN = "orphan"

export const apiVersionOf = (group: string, version: string) =>
  group === "" ? version : `${group}/${version}`

/** The simulated server's state. */
export const make = (options: StoreOptions) => {
  const defs = new Map<string, Def>()
  const store = new Map<string, Map<string, Obj>>()
  const uids = new Map<string, { readonly def: string; readonly key: string }>()
  const history: Array<Change> = []
  const watches = new Set<Watch>()
  const names = Faults.prng(options.seed ^ 0x5eed)
  let rv = 1000
  /** Versions below this one were compacted away; nothing is, until the history overflows. */
  let floor = 0
  let uidCounter = 0
  let onChange: () => void = () => {}

  for (const d of builtins) {
    defs.set(d.key, d)
    store.set(d.key, new Map())
  }

  // ---- errors -------------------------------------------------------------------------------

  const fail = (
    req: KubeError.RequestInfo,
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
        JSON.stringify({
          kind: "Status",
          status: "Failure",
          code: status,
          reason,
          message,
          details
        }),
        0
      )
    )
  }

  const qualified = (d: Def) => (d.group === "" ? d.plural : `${d.plural}.${d.group}`)

  const notFound = (req: KubeError.RequestInfo, d: Def, name: string): never =>
    fail(req, 404, "NotFound", `${qualified(d)} "${name}" not found`, {
      name,
      group: d.group,
      kind: d.plural
    })

  const conflict = (req: KubeError.RequestInfo, d: Def, name: string, why?: string): never =>
    fail(
      req,
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${qualified(d)} "${name}": ${why ?? "the object has been modified; please apply your changes to the latest version and try again"}`
    )

  const invalid = (
    req: KubeError.RequestInfo,
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

  // ---- lookup -------------------------------------------------------------------------------

  const defFor = (
    req: KubeError.RequestInfo,
    resource: Pick<ApiResource, "group" | "version" | "plural">
  ): Def => {
    const d = defs.get(`${resource.group}/${resource.plural}`)
    if (d === undefined || !d.versions.includes(resource.version))
      return fail(req, 404, "NotFound", "the server could not find the requested resource")
    return d
  }

  const objKey = (namespace: string | undefined, name: string) =>
    namespace === undefined ? name : `${namespace}/${name}`

  const table = (d: Def) => {
    let t = store.get(d.key)
    if (t === undefined) {
      t = new Map()
      store.set(d.key, t)
    }
    return t
  }

  const lookup = (d: Def, namespace: string | undefined, name: string): Obj | undefined =>
    table(d).get(objKey(d.namespaced ? namespace : undefined, name))

  const out = (d: Def, o: Obj, version?: string): KubeObject.KubeObject => {
    const c = clone(o)
    c.apiVersion = apiVersionOf(d.group, version ?? d.versions[0]!)
    return c as KubeObject.KubeObject
  }

  // ---- commits ------------------------------------------------------------------------------

  const commit = (d: Def, type: Change["type"], object: Obj, old: Obj | undefined): Obj => {
    if (!d.custom) omitEmpty(object)
    rv++
    const m = metaOf(object)
    m.resourceVersion = String(rv)
    const key = objKey(d.namespaced ? str(m.namespace) : undefined, String(m.name))
    const uid = String(m.uid)
    if (type === "DELETED") {
      table(d).delete(key)
      uids.delete(uid)
    } else {
      table(d).set(key, object)
      uids.set(uid, { def: d.key, key })
    }
    const change: Change = { rv, def: d.key, type, object: clone(object), old }
    history.push(change)
    while (history.length > options.historySize) floor = history.shift()!.rv
    for (const w of [...watches]) deliver(w, change)
    if (d.key === "apiextensions.k8s.io/customresourcedefinitions") crdChanged(type, object)
    onChange()
    return object
  }

  const deliver = (w: Watch, c: Change) => {
    if (w.def !== c.def) return
    const ns = str(metaOf(c.object).namespace)
    if (w.namespace !== undefined && ns !== w.namespace) return
    const now = c.type !== "DELETED" && w.match(c.object)
    const before = c.type === "DELETED" ? w.match(c.object) : c.old !== undefined && w.match(c.old)
    if (c.type === "DELETED") {
      if (before) w.deliver("DELETED", c.object)
    } else if (now && before) w.deliver("MODIFIED", c.object)
    else if (now) w.deliver("ADDED", c.object)
    else if (before) w.deliver("DELETED", c.object)
  }

  // ---- identities ---------------------------------------------------------------------------

  const newUid = () => {
    uidCounter++
    const hex = (n: number) =>
      Array.from({ length: n }, () => Math.floor(names.next() * 16).toString(16)).join("")
    return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${uidCounter.toString(16).padStart(12, "0")}`
  }
  const suffix = () =>
    Array.from(
      { length: 5 },
      () => "bcdfghjklmnpqrstvwxz2456789"[Math.floor(names.next() * 27)]
    ).join("")

  // ---- CRDs ---------------------------------------------------------------------------------

  const crdDef = (crd: Obj): Def | undefined => {
    const spec = crd.spec
    if (!isRecord(spec) || !isRecord(spec.names)) return undefined
    const versions = (Array.isArray(spec.versions) ? spec.versions : []).filter(isRecord)
    const served = versions.filter((v) => v.served !== false)
    if (served.length === 0) return undefined
    const storage = served.find((v) => v.storage === true) ?? served[0]!
    const ordered = [storage, ...served.filter((v) => v !== storage)]
    const schemas: Record<string, OpenApi.Schema | undefined> = {}
    for (const v of ordered) {
      const s = isRecord(v.schema) ? v.schema.openAPIV3Schema : undefined
      schemas[String(v.name)] = isRecord(s) ? s : undefined
    }
    const names = spec.names
    const group = String(spec.group)
    const plural = String(names.plural)
    return {
      key: `${group}/${plural}`,
      group,
      versions: ordered.map((v) => String(v.name)),
      plural,
      singular: str(names.singular) ?? String(names.kind).toLowerCase(),
      kind: String(names.kind),
      namespaced: spec.scope !== "Cluster",
      shortNames: Array.isArray(names.shortNames) ? names.shortNames.map(String) : [],
      status: isRecord(storage.subresources) && isRecord(storage.subresources.status),
      generation: true,
      custom: true,
      schemas,
      returnsDeleted: true
    }
  }

  const crdChanged = (type: Change["type"], crd: Obj) => {
    const d = crdDef(crd)
    if (d === undefined) return
    if (type === "DELETED") {
      const t = table(d)
      for (const o of [...t.values()]) commit(d, "DELETED", clone(o), clone(o))
      defs.delete(d.key)
      store.delete(d.key)
    } else defs.set(d.key, d)
  }

  const crdStatus = (crd: Obj, now: number) => {
    const spec = isRecord(crd.spec) ? crd.spec : {}
    const condition = (type: string, reason: string, message: string) => ({
      type,
      status: "True",
      lastTransitionTime: timestamp(now),
      reason,
      message
    })
    crd.status = {
      conditions: [
        condition("NamesAccepted", "NoConflicts", "no conflicts found"),
        condition("Established", "InitialNamesAccepted", "the initial names have been accepted")
      ],
      acceptedNames: spec.names,
      storedVersions: [crdDef(crd)?.versions[0]].filter((v) => v !== undefined)
    }
  }

  // ---- validation ---------------------------------------------------------------------------

  /** Pruning and schema validation of custom resources; built-ins' own rules. */
  const admit = (
    req: KubeError.RequestInfo,
    d: Def,
    next: Obj,
    old: Obj | undefined,
    subresource: string | undefined
  ) => {
    const m = metaOf(next)
    const name = String(m.name)
    if (d.custom) {
      const schema = d.schemas[d.versions[0]!]
      if (schema !== undefined) {
        const props = isRecord(schema.properties) ? schema.properties : {}
        for (const key of Object.keys(next)) {
          if (key === "apiVersion" || key === "kind" || key === "metadata") continue
          const p = props[key]
          if (isRecord(p)) next[key] = OpenApi.prune(next[key], p)
          else if (schema["x-kubernetes-preserve-unknown-fields"] !== true) delete next[key]
        }
        const causes: Array<OpenApi.Cause> = []
        for (const key of Object.keys(next)) {
          if (key === "apiVersion" || key === "kind" || key === "metadata") continue
          const p = props[key]
          causes.push(...OpenApi.validate(next[key], isRecord(p) ? p : undefined, key))
        }
        if (Array.isArray(schema.required))
          for (const r of schema.required)
            if (typeof r === "string" && !Object.hasOwn(next, r))
              causes.push({ reason: "FieldValueRequired", field: r, message: "Required value" })
        if (causes.length > 0) invalid(req, d, name, causes)
      }
    }
    if (d.key === "/persistentvolumeclaims" && old !== undefined && subresource === undefined)
      admitClaimUpdate(req, d, next, old)
  }

  const storageClasses = () => table(defs.get("storage.k8s.io/storageclasses")!)

  /** `ValidatePersistentVolumeClaimUpdate`, then the `PersistentVolumeClaimResize` plugin. */
  const admitClaimUpdate = (req: KubeError.RequestInfo, d: Def, next: Obj, old: Obj) => {
    const name = String(metaOf(next).name)
    const spec = (isRecord(next.spec) ? next.spec : {}) as Obj
    const oldSpec = (isRecord(old.spec) ? old.spec : {}) as Obj
    const storage = (s: Obj) =>
      isRecord(s.resources) && isRecord(s.resources.requests)
        ? s.resources.requests.storage
        : undefined
    const bound = isRecord(old.status) && old.status.phase === "Bound"
    const a = clone(spec)
    const b = clone(oldSpec)
    if (str(b.volumeName) === undefined || b.volumeName === "") b.volumeName = a.volumeName
    if (bound) {
      if (isRecord(a.resources) && isRecord(a.resources.requests))
        a.resources.requests.storage = storage(oldSpec)
    }
    if (canonical(a) !== canonical(b))
      invalid(req, d, name, [
        {
          reason: "FieldValueForbidden",
          field: "spec",
          message:
            "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
        }
      ])
    const newSize = storage(spec)
    const oldSize = storage(oldSpec)
    if (Quantity.compare(newSize, oldSize) < 0) {
      const capacity =
        isRecord(old.status) && isRecord(old.status.capacity)
          ? old.status.capacity.storage
          : undefined
      if (Quantity.compare(newSize, capacity) <= 0)
        invalid(req, d, name, [
          {
            reason: "FieldValueForbidden",
            field: "spec.resources.requests.storage",
            message: "Forbidden: field can not be less than status.capacity"
          }
        ])
    }
    if (Quantity.compare(newSize, oldSize) > 0) {
      if (!bound)
        fail(
          req,
          403,
          "Forbidden",
          `persistentvolumeclaims "${name}" is forbidden: Only bound persistent volume claims can be expanded`
        )
      const cls = str(spec.storageClassName)
      const sc = cls === undefined ? undefined : storageClasses().get(cls)
      if (
        cls !== str(oldSpec.storageClassName) ||
        sc === undefined ||
        sc.allowVolumeExpansion !== true
      )
        fail(
          req,
          403,
          "Forbidden",
          `persistentvolumeclaims "${name}" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`
        )
    }
  }

  // ---- operations ---------------------------------------------------------------------------

  const namespaceOf = (
    req: KubeError.RequestInfo,
    d: Def,
    body: Obj | undefined,
    given: string | undefined
  ): string | undefined => {
    if (!d.namespaced) return undefined
    const inBody = body === undefined ? undefined : str(metaOf(body).namespace)
    if (given !== undefined && inBody !== undefined && inBody !== "" && inBody !== given)
      fail(
        req,
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request"
      )
    const ns = given ?? inBody
    if (ns === undefined || ns === "")
      return fail(req, 404, "NotFound", "the server could not find the requested resource")
    return ns
  }

  const create = (
    req: KubeError.RequestInfo,
    resource: ApiResource,
    body: KubeObject.KubeObject,
    namespace: string | undefined,
    now: number,
    dryRun = false
  ): KubeObject.KubeObject => {
    const d = defFor(req, resource)
    const next = clone(body) as Obj
    const m = metaOf(next)
    const ns = namespaceOf(req, d, next, namespace)
    if (ns !== undefined) {
      const nsObj = table(defs.get("/namespaces")!).get(ns)
      if (nsObj === undefined) fail(req, 404, "NotFound", `namespaces "${ns}" not found`)
      else if (metaOf(nsObj).deletionTimestamp !== undefined)
        fail(
          req,
          403,
          "Forbidden",
          `${d.plural} "${String(m.name ?? m.generateName)}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`
        )
    }
    let name = str(m.name)
    if ((name === undefined || name === "") && str(m.generateName) !== undefined)
      name = `${m.generateName}${suffix()}`
    if (name === undefined || name === "")
      invalid(req, d, "", [
        {
          reason: "FieldValueRequired",
          field: "metadata.name",
          message: "Required value: name or generateName is required"
        }
      ])
    const valid =
      d.key === "/namespaces"
        ? dns1123Label.test(name!)
        : dns1123Subdomain.test(name!) && name!.length <= 253
    if (!valid)
      invalid(req, d, name!, [
        {
          reason: "FieldValueInvalid",
          field: "metadata.name",
          message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`
        }
      ])
    if (lookup(d, ns, name!) !== undefined)
      fail(req, 409, "AlreadyExists", `${qualified(d)} "${name}" already exists`, {
        name,
        group: d.group,
        kind: d.plural
      })
    next.apiVersion = apiVersionOf(d.group, d.versions[0]!)
    next.kind = d.kind
    m.name = name
    if (ns === undefined) delete m.namespace
    else m.namespace = ns
    for (const k of [
      "resourceVersion",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "selfLink",
      "managedFields"
    ])
      delete m[k]
    m.uid = newUid()
    m.creationTimestamp = timestamp(now)
    if (d.generation) m.generation = 1
    else delete m.generation
    if (d.custom && d.status) delete next.status
    switch (d.key) {
      case "/namespaces":
        m.labels = { ...(isRecord(m.labels) ? m.labels : {}), "kubernetes.io/metadata.name": name! }
        next.spec = { finalizers: ["kubernetes"] }
        next.status = { phase: "Active" }
        break
      case "/persistentvolumeclaims": {
        const spec = (isRecord(next.spec) ? next.spec : {}) as Obj
        if (spec.volumeMode === undefined) spec.volumeMode = "Filesystem"
        next.spec = spec
        next.status = { phase: "Pending" }
        const fins = Array.isArray(m.finalizers) ? m.finalizers.map(String) : []
        if (!fins.includes(PVC_PROTECTION)) m.finalizers = [...fins, PVC_PROTECTION]
        break
      }
      case "apiextensions.k8s.io/customresourcedefinitions":
        crdStatus(next, now)
        break
      case "/events":
        if (next.eventTime === undefined) next.eventTime = null
        break
    }
    admit(req, d, next, undefined, undefined)
    if (dryRun) return out(d, next, resource.version)
    return out(d, commit(d, "ADDED", next, undefined), resource.version)
  }

  const get = (
    req: KubeError.RequestInfo,
    resource: ApiResource,
    name: string,
    namespace: string | undefined
  ): KubeObject.KubeObject => {
    const d = defFor(req, resource)
    const o = lookup(d, namespace, name)
    if (o === undefined) return notFound(req, d, name)
    return out(d, o, resource.version)
  }

  /** The common path of PUT and PATCH (main resource or `/status`). */
  const update = (
    req: KubeError.RequestInfo,
    resource: ApiResource,
    name: string,
    namespace: string | undefined,
    change: (current: Obj) => Obj,
    options: {
      readonly subresource?: string | undefined
      readonly put: boolean
      readonly dryRun?: boolean | undefined
    }
  ): KubeObject.KubeObject => {
    const d = defFor(req, resource)
    if (options.subresource === "status" && !d.status)
      fail(req, 404, "NotFound", "the server could not find the requested resource")
    const current = lookup(d, namespace, name)
    if (current === undefined) return notFound(req, d, name)
    const proposed = change(clone(current))
    if (!isRecord(proposed)) return fail(req, 400, "BadRequest", "the body must be an object")
    const pm = metaOf(proposed)
    const cm = metaOf(current)
    const want = str(pm.resourceVersion)
    if (options.put && d.custom && (want === undefined || want === ""))
      invalid(req, d, name, [
        {
          reason: "FieldValueInvalid",
          field: "metadata.resourceVersion",
          message: "Invalid value: 0x0: must be specified for an update"
        }
      ])
    if (want !== undefined && want !== "" && want !== cm.resourceVersion) conflict(req, d, name)
    if (pm.name !== undefined && pm.name !== name)
      fail(
        req,
        400,
        "BadRequest",
        `the name of the object (${String(pm.name)}) does not match the name on the URL (${name})`
      )
    if (pm.uid !== undefined && pm.uid !== cm.uid)
      conflict(
        req,
        d,
        name,
        `Precondition failed: UID in precondition: ${String(pm.uid)}, UID in object meta: ${String(cm.uid)}`
      )
    let next: Obj
    if (options.subresource === "status") {
      next = clone(current)
      if (proposed.status === undefined) delete next.status
      else next.status = proposed.status
    } else {
      next = proposed
      const m = metaOf(next)
      for (const k of [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
        "managedFields"
      ]) {
        if (cm[k] === undefined) delete m[k]
        else m[k] = cm[k]
      }
      next.apiVersion = current.apiVersion
      next.kind = current.kind
      if (d.status) {
        if (current.status === undefined) delete next.status
        else next.status = current.status
      }
      if (cm.deletionTimestamp !== undefined) {
        const before = new Set(Array.isArray(cm.finalizers) ? cm.finalizers.map(String) : [])
        const added = (Array.isArray(m.finalizers) ? m.finalizers.map(String) : []).filter(
          (f) => !before.has(f)
        )
        if (added.length > 0) {
          const cause = {
            reason: "FieldValueForbidden",
            field: "metadata.finalizers",
            message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(", ")}}`
          }
          // The real server reports it twice for custom resources (metadata is validated twice).
          invalid(req, d, name, d.custom ? [cause, cause] : [cause])
        }
      }
      if (Array.isArray(m.finalizers) && m.finalizers.length === 0) delete m.finalizers
    }
    admit(req, d, next, current, options.subresource)
    if (d.generation && options.subresource !== "status") {
      const essence = (o: Obj) => {
        const c = { ...o }
        delete c.metadata
        if (d.status) delete c.status
        return canonical(c)
      }
      if (essence(next) !== essence(current))
        metaOf(next).generation = Number(cm.generation ?? 0) + 1
    }
    if (options.dryRun) return out(d, next, resource.version)
    if (canonical(next) === canonical(current)) return out(d, current, resource.version)
    const m = metaOf(next)
    if (
      m.deletionTimestamp !== undefined &&
      (!Array.isArray(m.finalizers) || m.finalizers.length === 0)
    )
      return out(d, commit(d, "DELETED", next, current), resource.version)
    return out(d, commit(d, "MODIFIED", next, current), resource.version)
  }

  const replace = (
    req: KubeError.RequestInfo,
    resource: ApiResource,
    name: string,
    body: KubeObject.KubeObject,
    namespace: string | undefined,
    subresource: string | undefined,
    _now: number,
    dryRun = false
  ) => {
    const d = defFor(req, resource)
    const ns = namespaceOf(req, d, body as Obj, namespace)
    return update(req, resource, name, ns, () => clone(body) as Obj, {
      subresource,
      put: true,
      dryRun
    })
  }

  const patch = (
    req: KubeError.RequestInfo,
    resource: ApiResource,
    name: string,
    p: ApiPatch.Patch,
    namespace: string | undefined,
    subresource: string | undefined,
    now: number,
    dryRun = false
  ): KubeObject.KubeObject => {
    const d = defFor(req, resource)
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
      lookup(d, namespace, name) === undefined
    ) {
      const body = clone(p.body) as Obj
      const m = metaOf(body)
      if (m.name === undefined) m.name = name
      return create(req, resource, body as KubeObject.KubeObject, namespace, now, dryRun)
    }
    return update(
      req,
      resource,
      name,
      namespace,
      (current) => {
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
            if (!isRecord(p.body))
              return fail(req, 400, "BadRequest", "the patch must be an object")
            return CorePatch.apply(current as Json.Json, p.body as Json.Json) as Obj
          }
        }
      },
      { subresource, put: false, dryRun }
    )
  }

  /** Marks for deletion (finalizers) or removes; answers the object as the server does. */
  const remove = (
    req: KubeError.RequestInfo,
    resource: ApiResource,
    name: string,
    namespace: string | undefined,
    o: {
      readonly propagationPolicy?: "Orphan" | "Background" | "Foreground" | undefined
      readonly preconditions?:
        | { readonly uid?: string; readonly resourceVersion?: string }
        | undefined
      readonly dryRun?: boolean | undefined
    },
    now: number
  ): KubeObject.KubeObject => {
    const d = defFor(req, resource)
    const current = lookup(d, namespace, name)
    if (current === undefined) return notFound(req, d, name)
    const cm = metaOf(current)
    const pre = o.preconditions
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
    if (o.dryRun) return out(d, current, resource.version)
    const next = clone(current)
    const m = metaOf(next)
    const finalizers = Array.isArray(m.finalizers) ? m.finalizers.map(String) : []
    const policy = o.propagationPolicy
    if (policy === "Foreground" && !finalizers.includes(FOREGROUND)) finalizers.push(FOREGROUND)
    if (policy === "Orphan" && !finalizers.includes(ORPHAN)) finalizers.push(ORPHAN)
    if (d.key === "/namespaces") {
      if (m.deletionTimestamp === undefined) {
        m.deletionTimestamp = timestamp(now)
        m.deletionGracePeriodSeconds = 0
        next.status = { phase: "Terminating" }
        return out(d, commit(d, "MODIFIED", next, current), resource.version)
      }
      return out(d, current, resource.version)
    }
    if (finalizers.length > 0) {
      if (m.deletionTimestamp !== undefined && canonical(finalizers) === canonical(m.finalizers))
        return out(d, current, resource.version)
      m.finalizers = finalizers
      if (m.deletionTimestamp === undefined) {
        m.deletionTimestamp = timestamp(now)
        m.deletionGracePeriodSeconds = 0
        if (d.generation) m.generation = Number(m.generation ?? 0) + 1
      }
      return out(d, commit(d, "MODIFIED", next, current), resource.version)
    }
    const gone = commit(d, "DELETED", next, current)
    if (d.returnsDeleted) return out(d, gone, resource.version)
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name, group: d.group, kind: d.plural, uid: cm.uid }
    } as KubeObject.KubeObject
  }

  const list = (
    req: KubeError.RequestInfo,
    resource: ApiResource,
    namespace: string | undefined,
    match: (o: unknown) => boolean,
    bare = true
  ): { readonly items: Array<KubeObject.KubeObject>; readonly resourceVersion: string } => {
    const d = defFor(req, resource)
    const items = [...table(d).values()]
      .filter((o) => !d.namespaced || namespace === undefined || metaOf(o).namespace === namespace)
      .filter(match)
      .sort((a, b) => {
        const x = objKey(str(metaOf(a).namespace), String(metaOf(a).name))
        const y = objKey(str(metaOf(b).namespace), String(metaOf(b).name))
        return x < y ? -1 : x > y ? 1 : 0
      })
      .map((o) => {
        const c = out(d, o, resource.version) as Obj
        if (bare && !d.custom) {
          delete c.apiVersion
          delete c.kind
        }
        return c as KubeObject.KubeObject
      })
    return { items, resourceVersion: String(rv) }
  }

  /** Starts a watch: answers the events to send first, or an expiry. */
  const openWatch = (
    req: KubeError.RequestInfo,
    resource: ApiResource,
    w: Watch,
    from: string | undefined
  ):
    | { readonly _tag: "Expired" }
    | { readonly _tag: "Open"; readonly initial: ReadonlyArray<Change> } => {
    const d = defFor(req, resource)
    let initial: Array<Change> = []
    if (from === undefined || from === "" || from === "0") {
      initial = [...table(d).values()]
        .filter((o) => w.namespace === undefined || metaOf(o).namespace === w.namespace)
        .map((o) => ({ rv, def: d.key, type: "ADDED" as const, object: clone(o), old: undefined }))
    } else {
      const n = Number(from)
      if (!Number.isInteger(n) || n < floor) return { _tag: "Expired" }
      initial = history.filter((c) => c.rv > n)
    }
    watches.add(w)
    return { _tag: "Open", initial }
  }

  // ---- controllers --------------------------------------------------------------------------

  /** Finds an owner reference's object (by kind, name, namespace and uid). */
  const ownerExists = (ref: Obj, namespace: string | undefined): boolean => {
    const uid = str(ref.uid)
    if (uid === undefined) return false
    const at = uids.get(uid)
    if (at === undefined) return false
    const d = defs.get(at.def)
    const o = d === undefined ? undefined : table(d).get(at.key)
    if (d === undefined || o === undefined) return false
    if (d.kind !== ref.kind || metaOf(o).name !== ref.name) return false
    return !d.namespaced || metaOf(o).namespace === namespace
  }

  const everything = (): Array<[Def, Obj]> => {
    const all: Array<[Def, Obj]> = []
    for (const d of defs.values()) for (const o of table(d).values()) all.push([d, o])
    return all
  }

  const withoutFinalizer = (d: Def, o: Obj, finalizer: string) => {
    const next = clone(o)
    const m = metaOf(next)
    const fins = (Array.isArray(m.finalizers) ? m.finalizers.map(String) : []).filter(
      (f) => f !== finalizer
    )
    if (fins.length === 0) delete m.finalizers
    else m.finalizers = fins
    if (m.deletionTimestamp !== undefined && fins.length === 0) commit(d, "DELETED", next, o)
    else commit(d, "MODIFIED", next, o)
  }

  const internal: KubeError.RequestInfo = { method: "DELETE", path: "(controller)" }

  const controllerDelete = (d: Def, o: Obj, now: number) => {
    const m = metaOf(o)
    if (m.deletionTimestamp !== undefined) return false
    remove(
      internal,
      {
        group: d.group,
        version: d.versions[0]!,
        plural: d.plural,
        kind: d.kind,
        namespaced: d.namespaced
      },
      String(m.name),
      str(m.namespace),
      {},
      now
    )
    return true
  }

  /** One pass of the controllers; answers whether anything changed. */
  const reconcileOnce = (now: number): boolean => {
    const c = options.controllers
    for (const [d, o] of everything()) {
      const m = metaOf(o)
      const ns = str(m.namespace)
      const fins = Array.isArray(m.finalizers) ? m.finalizers.map(String) : []
      const uid = String(m.uid)
      const dependents = () =>
        everything().filter(([, x]) => {
          const refs = metaOf(x).ownerReferences
          return Array.isArray(refs) && refs.some((r) => isRecord(r) && r.uid === uid)
        })
      if (c.gc && m.deletionTimestamp !== undefined && fins.includes(ORPHAN)) {
        for (const [dd, x] of dependents()) {
          const next = clone(x)
          const xm = metaOf(next)
          const refs = (xm.ownerReferences as Array<Obj>).filter((r) => r.uid !== uid)
          if (refs.length === 0) delete xm.ownerReferences
          else xm.ownerReferences = refs
          commit(dd, "MODIFIED", next, x)
        }
        withoutFinalizer(d, o, ORPHAN)
        return true
      }
      if (c.gc && m.deletionTimestamp !== undefined && fins.includes(FOREGROUND)) {
        const deps = dependents()
        let changed = false
        for (const [dd, x] of deps) changed = controllerDelete(dd, x, now) || changed
        if (changed) return true
        if (deps.length === 0) {
          withoutFinalizer(d, o, FOREGROUND)
          return true
        }
      }
      if (c.gc && Array.isArray(m.ownerReferences) && m.ownerReferences.length > 0) {
        const refs = m.ownerReferences.filter(isRecord)
        const solid = refs.filter((r) => ownerExists(r, d.namespaced ? ns : undefined))
        if (solid.length === 0) {
          if (controllerDelete(d, o, now)) return true
        } else if (solid.length < refs.length) {
          const next = clone(o)
          metaOf(next).ownerReferences = solid
          commit(d, "MODIFIED", next, o)
          return true
        }
      }
      if (
        c.pvcProtection &&
        d.key === "/persistentvolumeclaims" &&
        m.deletionTimestamp !== undefined &&
        fins.includes(PVC_PROTECTION)
      ) {
        withoutFinalizer(d, o, PVC_PROTECTION)
        return true
      }
      if (
        c.provisioner &&
        d.key === "/persistentvolumeclaims" &&
        m.deletionTimestamp === undefined
      ) {
        const spec = (isRecord(o.spec) ? o.spec : {}) as Obj
        const status = (isRecord(o.status) ? o.status : {}) as Obj
        const requested =
          isRecord(spec.resources) && isRecord(spec.resources.requests)
            ? spec.resources.requests.storage
            : undefined
        const cls = str(spec.storageClassName)
        const sc = cls === undefined ? undefined : storageClasses().get(cls)
        if (sc !== undefined && status.phase !== "Bound") {
          const next = clone(o)
          ;(next.spec as Obj).volumeName = `pvc-${uid}`
          next.status = {
            phase: "Bound",
            accessModes: spec.accessModes ?? ["ReadWriteOnce"],
            capacity: { storage: requested }
          }
          commit(d, "MODIFIED", next, o)
          return true
        }
        const capacity = isRecord(status.capacity) ? status.capacity.storage : undefined
        if (status.phase === "Bound" && Quantity.compare(requested, capacity) > 0) {
          const next = clone(o)
          next.status = { ...status, capacity: { storage: requested } }
          commit(d, "MODIFIED", next, o)
          return true
        }
      }
      if (c.namespaces && d.key === "/namespaces" && m.deletionTimestamp !== undefined) {
        const inside = everything().filter(
          ([dd, x]) => dd.namespaced && metaOf(x).namespace === m.name
        )
        let changed = false
        for (const [dd, x] of inside) changed = controllerDelete(dd, x, now) || changed
        if (changed) return true
        if (inside.length === 0) {
          commit(d, "DELETED", clone(o), o)
          return true
        }
      }
    }
    return false
  }

  const reconcileControllers = (now: number) => {
    for (let i = 0; i < 10_000 && reconcileOnce(now); i++) {
      /* until nothing changes */
    }
  }

  return {
    defs,
    watches,
    deliver,
    create,
    get,
    replace,
    patch,
    remove,
    list,
    openWatch,
    reconcileControllers,
    defFor,
    lookup,
    out,
    currentVersion: () => String(rv),
    /** Forgets the watch history: watches from any version known so far get 410. */
    compact: () => {
      history.length = 0
      floor = rv
    },
    setOnChange: (f: () => void) => {
      onChange = f
    },
    everything
  }
}

export type Store = ReturnType<typeof make>
