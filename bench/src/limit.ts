/**
 * The bare-client limit: the EVC job with no framework, only the API calls it strictly needs.
 *
 *   node bench/src/limit.ts --kubeconfig PATH [--concurrency 64]
 *
 * It lists and watches EphemeralVolumeClaims in the whole cluster. For an EVC it has not seen
 * handled, it creates the PVC (the same template, labels and ownerReference as the kubefx
 * example) and writes `status.create_fn` (two calls). When `spec.size` changes from the size it
 * handled, it patches the PVC's requested storage and writes `status.update_fn` (two calls).
 * What it handled is kept in memory only (a restart trusts `status`); one object is handled at
 * a time, the newest state wins, `--concurrency` objects at once over keep-alive connections.
 * A resize refused because the PVC is not bound is tried again after `EVC_RESIZE_RETRY_SECONDS`
 * (default 30). No events, no annotations, no finalizers, no retries of its own beyond 429/5xx.
 */
import { readFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { parse } from "yaml"
import * as Client from "./Client.ts"

const { values: flags } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    concurrency: { type: "string", default: "64" }
  },
  strict: true
})
if (flags.kubeconfig === undefined) throw new Error("--kubeconfig is required")
const concurrency = Number(flags.concurrency)
const storageClass = process.env.EVC_STORAGE_CLASS ?? "kubefx-expandable"
const resizeRetryMs = Number(process.env.EVC_RESIZE_RETRY_SECONDS ?? "30") * 1000
const kube = Client.make(flags.kubeconfig, { maxSockets: concurrency })

const template = readFileSync(new URL("../../examples/evc/src/pvc.yaml", import.meta.url), "utf8")
const render = (name: string, namespace: string, uid: string, size: string): unknown => {
  const pvc = parse(
    template
      .replaceAll("{name}", name)
      .replaceAll("{size}", size)
      .replaceAll("{storageClass}", storageClass)
  ) as { metadata: Record<string, unknown> }
  pvc.metadata = {
    name,
    namespace,
    labels: { "app.kubernetes.io/managed-by": "kubefx-evc", "kopf.dev/evc": name },
    ownerReferences: [
      {
        apiVersion: "kopf.dev/v1",
        kind: "EphemeralVolumeClaim",
        name,
        uid,
        controller: true,
        blockOwnerDeletion: true
      }
    ]
  }
  return pvc
}

const EVCS = "/apis/kopf.dev/v1/ephemeralvolumeclaims"
const evcStatus = (ns: string, name: string) =>
  `/apis/kopf.dev/v1/namespaces/${ns}/ephemeralvolumeclaims/${name}/status`
const pvcPath = (ns: string, name?: string) =>
  `/api/v1/namespaces/${ns}/persistentvolumeclaims${name === undefined ? "" : `/${name}`}`

/** uid -> the size handled. */
const handled = new Map<string, string>()
/** uid -> the newest object waiting while one is being handled (null: none waiting). */
const running = new Map<string, Client.KubeObject | null>()

let permits = concurrency
const waiters: Array<() => void> = []
const acquire = (): Promise<void> => {
  if (permits > 0) {
    permits--
    return Promise.resolve()
  }
  return new Promise<void>((r) => waiters.push(r))
}
const release = () => {
  const next = waiters.shift()
  if (next !== undefined) next()
  else permits++
}

const reconcile = async (evc: Client.KubeObject): Promise<void> => {
  const name = evc.metadata?.name ?? ""
  const ns = evc.metadata?.namespace ?? "default"
  const uid = evc.metadata?.uid ?? ""
  const size = evc.spec?.size
  if (typeof size !== "string") return
  const known = handled.get(uid)
  if (known === undefined) {
    const status = evc.status as { create_fn?: unknown; update_fn?: { size?: string } } | undefined
    if (status?.create_fn !== undefined) {
      handled.set(uid, status.update_fn?.size ?? size)
      if ((status.update_fn?.size ?? size) === size) return
      return reconcile(evc)
    }
    const created = await kube.request("POST", pvcPath(ns), render(name, ns, uid, size))
    if (created.status !== 201 && created.status !== 409) {
      console.error(`create PVC ${ns}/${name}: ${created.status} ${created.body.slice(0, 200)}`)
      return
    }
    await kube.json(
      "PATCH",
      evcStatus(ns, name),
      { status: { create_fn: { pvcName: name } } },
      { contentType: Client.MERGE, ok: [404] }
    )
    handled.set(uid, size)
    return
  }
  if (known === size) return
  const resized = await kube.request(
    "PATCH",
    pvcPath(ns, name),
    { spec: { resources: { requests: { storage: size } } } },
    Client.MERGE
  )
  if (resized.status === 422 || resized.status === 403) {
    setTimeout(() => offer(evc), resizeRetryMs)
    return
  }
  if (resized.status !== 200) {
    console.error(`resize PVC ${ns}/${name}: ${resized.status} ${resized.body.slice(0, 200)}`)
    return
  }
  await kube.json(
    "PATCH",
    evcStatus(ns, name),
    { status: { update_fn: { pvcName: name, size } } },
    { contentType: Client.MERGE, ok: [404] }
  )
  handled.set(uid, size)
}

/** One object at a time; the newest state wins. */
const offer = (evc: Client.KubeObject): void => {
  const uid = evc.metadata?.uid ?? ""
  if (running.has(uid)) {
    running.set(uid, evc)
    return
  }
  running.set(uid, null)
  void (async () => {
    let current: Client.KubeObject | null = evc
    while (current !== null) {
      await acquire()
      try {
        await reconcile(current)
      } catch (error) {
        console.error(`${current.metadata?.namespace}/${current.metadata?.name}: ${String(error)}`)
      } finally {
        release()
      }
      current = running.get(uid) ?? null
      if (current === null) running.delete(uid)
      else running.set(uid, null)
    }
  })()
}

const list = async (): Promise<string> => {
  let cont: string | undefined
  let rv = ""
  do {
    const page = await kube.json(
      "GET",
      `${EVCS}?limit=500${cont === undefined ? "" : `&continue=${encodeURIComponent(cont)}`}`
    )
    const meta = page.metadata as { resourceVersion?: string; continue?: string } | undefined
    if (rv === "") rv = meta?.resourceVersion ?? ""
    for (const item of page.items ?? []) offer(item)
    cont = meta?.continue === "" ? undefined : meta?.continue
  } while (cont !== undefined)
  return rv
}

const main = async () => {
  let rv = await list()
  console.log(`limit: watching EphemeralVolumeClaims from ${rv}`)
  for (;;) {
    let expired = false
    const w = kube.watch(
      `${EVCS}?watch=true&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=${rv}`,
      (event) => {
        if (event.type === "ERROR") {
          expired = true
          return
        }
        rv = event.object.metadata?.resourceVersion ?? rv
        if (event.type === "ADDED" || event.type === "MODIFIED") offer(event.object)
        else if (event.type === "DELETED") handled.delete(event.object.metadata?.uid ?? "")
      }
    )
    await w.done.catch((e) => console.error(`watch: ${String(e)}`))
    if (expired) rv = await list()
  }
}

process.on("SIGTERM", () => process.exit(0))
process.on("SIGINT", () => process.exit(0))
void main()
