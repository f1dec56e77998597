/**
 * The discovery documents of the simulated cluster (`/version`, `/api`, `/apis` and each
 * group version's resource list), made from the types it serves now.
 */
import type { KubeError } from "@kubefx/runtime"
import * as Store from "../store.ts"
import { notServed } from "./attempt.ts"

type Doc = Record<string, unknown>

/** The resources (and `/status` subresources) of one group version. */
export const resources = (defs: Iterable<Store.Def>, group: string, version: string) => {
  const out: Array<Doc> = []
  for (const d of defs) {
    if (d.group !== group || !d.versions.includes(version)) continue
    out.push({
      name: d.plural,
      singularName: d.singular,
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
      ...(d.shortNames.length > 0 ? { shortNames: d.shortNames } : {})
    })
    if (d.status)
      out.push({
        name: `${d.plural}/status`,
        singularName: "",
        namespaced: d.namespaced,
        kind: d.kind,
        verbs: ["get", "patch", "update"]
      })
  }
  return out
}

/** The `APIGroupList` of the named groups (every group but the core one). */
const groupList = (defs: Iterable<Store.Def>): Doc => {
  const groups = new Map<string, Array<string>>()
  for (const d of defs) {
    if (d.group === "") continue
    const vs = groups.get(d.group) ?? []
    for (const v of d.versions) if (!vs.includes(v)) vs.push(v)
    groups.set(d.group, vs)
  }
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: [...groups].map(([name, versions]) => ({
      name,
      versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
      preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] }
    }))
  }
}

/** The group version a path (`/api/v1`, `/apis/group/version`) names, if it names one. */
const groupVersionOf = (path: string) => {
  const core = /^\/api\/([^/]+)$/.exec(path)
  if (core !== null) return { group: "", version: core[1]! }
  const named = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path)
  if (named !== null) return { group: decodeURIComponent(named[1]!), version: named[2]! }
  return undefined
}

/** The answer of a GET of a discovery path; throws a 404 `Fail` for any other request. */
export const answer = (store: Store.Store, req: KubeError.RequestInfo): unknown => {
  const path = req.path.split("?")[0]!.replace(/\/$/, "")
  if (req.method !== "GET") throw notServed(req)
  if (path === "/version")
    return { major: "1", minor: "34", gitVersion: "v1.34.0-kubefx-sim", platform: "sim" }
  if (path === "/api") return { kind: "APIVersions", versions: ["v1"] }
  if (path === "/apis") return groupList(store.served())
  const gv = groupVersionOf(path)
  if (gv === undefined) throw notServed(req)
  const found = resources(store.served(), gv.group, gv.version)
  if (found.length === 0) throw notServed(req)
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: Store.apiVersionOf(gv.group, gv.version),
    resources: found
  }
}
