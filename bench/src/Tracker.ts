/**
 * The harness's view of the namespace: it lists and watches EVCs and PVCs and remembers, per
 * name, when each EVC first showed `status.create_fn`, when each PVC first appeared, and the
 * PVC's requested storage (with when it last changed). Times are `performance.now()` at the
 * moment the watch event arrived.
 */
import { performance } from "node:perf_hooks"
import type * as Client from "./Client.ts"

export interface Tracker {
  readonly handledAt: Map<string, number>
  readonly pvcAt: Map<string, number>
  readonly pvcSize: Map<string, string>
  readonly pvcSizeAt: Map<string, number>
  readonly evcCount: () => number
  readonly stop: () => void
}

type Kind = "evc" | "pvc"

const follow = (
  kube: Client.Client,
  path: string,
  onEvent: (type: string, object: Client.KubeObject) => void,
  stopped: () => boolean,
  register: (stop: () => void) => void
): Promise<void> =>
  (async () => {
    const list = async () => {
      let rv = ""
      let cont: string | undefined
      do {
        const page = await kube.json(
          "GET",
          `${path}?limit=500${cont === undefined ? "" : `&continue=${encodeURIComponent(cont)}`}`
        )
        const meta = page.metadata as { resourceVersion?: string; continue?: string } | undefined
        if (rv === "") rv = meta?.resourceVersion ?? ""
        for (const item of page.items ?? []) onEvent("ADDED", item)
        cont = meta?.continue === "" ? undefined : meta?.continue
      } while (cont !== undefined)
      return rv
    }
    let rv = await list()
    while (!stopped()) {
      let expired = false
      const w = kube.watch(
        `${path}?watch=true&allowWatchBookmarks=true&timeoutSeconds=600&resourceVersion=${rv}`,
        (event) => {
          if (event.type === "ERROR") {
            expired = true
            return
          }
          rv = event.object.metadata?.resourceVersion ?? rv
          if (event.type !== "BOOKMARK") onEvent(event.type, event.object)
        }
      )
      register(w.stop)
      await w.done.catch((e: unknown) => {
        if (!stopped()) console.error(`bench: watch ${path}: ${String(e)}`)
      })
      if (expired && !stopped()) rv = await list()
    }
  })()

export const start = async (kube: Client.Client, namespace: string): Promise<Tracker> => {
  const handledAt = new Map<string, number>()
  const pvcAt = new Map<string, number>()
  const pvcSize = new Map<string, string>()
  const pvcSizeAt = new Map<string, number>()
  const evcs = new Set<string>()
  let stopped = false
  const stops: Array<() => void> = []
  const on = (kind: Kind) => (type: string, object: Client.KubeObject) => {
    const now = performance.now()
    const name = object.metadata?.name ?? ""
    if (kind === "evc") {
      if (type === "DELETED") {
        evcs.delete(name)
        return
      }
      evcs.add(name)
      if (!handledAt.has(name) && object.status?.create_fn !== undefined) handledAt.set(name, now)
    } else {
      if (type === "DELETED") return
      if (!pvcAt.has(name)) pvcAt.set(name, now)
      const size = (object.spec as { resources?: { requests?: { storage?: string } } } | undefined)
        ?.resources?.requests?.storage
      if (size !== undefined && pvcSize.get(name) !== size) {
        pvcSize.set(name, size)
        pvcSizeAt.set(name, now)
      }
    }
  }
  void follow(
    kube,
    `/apis/kopf.dev/v1/namespaces/${namespace}/ephemeralvolumeclaims`,
    on("evc"),
    () => stopped,
    (s) => stops.push(s)
  )
  void follow(
    kube,
    `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
    on("pvc"),
    () => stopped,
    (s) => stops.push(s)
  )
  return {
    handledAt,
    pvcAt,
    pvcSize,
    pvcSizeAt,
    evcCount: () => evcs.size,
    stop: () => {
      stopped = true
      for (const s of stops) s()
    }
  }
}

export interface Wait {
  /** Whether every name met the condition before the timeout. */
  readonly complete: boolean
  readonly done: number
  readonly total: number
  /** When the last name met it (performance.now()), or the time of giving up. */
  readonly at: number
}

/**
 * Waits until `doneAt(name)` is defined for every name; answers when the last one got there.
 * Prints progress every 5 seconds.
 */
export const waitAll = async (
  names: ReadonlyArray<string>,
  doneAt: (name: string) => number | undefined,
  options: { readonly timeoutMs: number; readonly label: string }
): Promise<Wait> => {
  const started = performance.now()
  let lastPrint = started
  for (;;) {
    let done = 0
    let at = 0
    for (const name of names) {
      const t = doneAt(name)
      if (t !== undefined) {
        done++
        if (t > at) at = t
      }
    }
    const now = performance.now()
    if (done === names.length) return { complete: true, done, total: names.length, at }
    if (now - started > options.timeoutMs) {
      console.log(
        `    ${options.label}: gave up after ${Math.round((now - started) / 1000)}s at ${done}/${names.length}`
      )
      return { complete: false, done, total: names.length, at: now }
    }
    if (now - lastPrint > 5000) {
      lastPrint = now
      console.log(
        `    ${options.label}: ${done}/${names.length} (${Math.round((now - started) / 1000)}s)`
      )
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}
