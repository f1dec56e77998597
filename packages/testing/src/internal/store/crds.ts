/**
 * CRD serving: a CustomResourceDefinition object makes its resource served (from its
 * committed state on), with the storage version first and a `/status` subresource when it
 * declares one; deleting it deletes its objects and stops serving them. Objects of a custom
 * resource are pruned of the fields its structural schema does not know and validated by it.
 */
import type { KubeError } from "@kubefx/runtime"
import * as OpenApi from "../openapi.ts"
import { type Def, keys } from "./defs.ts"
import { invalid } from "./failures.ts"
import { clone, isRecord, metaOf, type Obj, str, timestamp } from "./object.ts"
import type { Objects } from "./objects.ts"

/** The type a CRD object declares, if it declares a served one. */
export const defOf = (crd: Obj): Def | undefined => {
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

/** The status a new CRD gets at once: names accepted, established, its storage version. */
export const initialStatus = (crd: Obj, now: number) => {
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
    storedVersions: [defOf(crd)?.versions[0]].filter((v) => v !== undefined)
  }
}

/** Serves the types of the store's CRDs as they are committed. */
export const serve = (objects: Objects) =>
  objects.onCommit((d, change) => {
    if (d.key !== keys.crds) return
    const served = defOf(change.object)
    if (served === undefined) return
    if (change.type !== "DELETED") return objects.serve(served)
    for (const o of [...objects.table(served).values()])
      objects.commit(served, "DELETED", clone(o), clone(o))
    objects.unserve(served)
  })

const isEnvelope = (key: string) => key === "apiVersion" || key === "kind" || key === "metadata"

/** Prunes a custom resource's unknown fields in place, then validates it (422). */
export const admit = (req: KubeError.RequestInfo, d: Def, next: Obj) => {
  const schema = d.schemas[d.versions[0]!]
  if (schema === undefined) return
  const props = isRecord(schema.properties) ? schema.properties : {}
  for (const key of Object.keys(next)) {
    if (isEnvelope(key)) continue
    const p = props[key]
    if (isRecord(p)) next[key] = OpenApi.prune(next[key], p)
    else if (schema["x-kubernetes-preserve-unknown-fields"] !== true) delete next[key]
  }
  const causes: Array<OpenApi.Cause> = []
  for (const key of Object.keys(next)) {
    if (isEnvelope(key)) continue
    const p = props[key]
    causes.push(...OpenApi.validate(next[key], isRecord(p) ? p : undefined, key))
  }
  if (Array.isArray(schema.required))
    for (const r of schema.required)
      if (typeof r === "string" && !Object.hasOwn(next, r))
        causes.push({ reason: "FieldValueRequired", field: r, message: "Required value" })
  if (causes.length > 0) invalid(req, d, String(metaOf(next).name), causes)
}
