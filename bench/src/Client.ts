/**
 * A bare Kubernetes client on `node:https`: the harness's and the limit's. It reads the
 * kubeconfigs the local control plane writes (one cluster, one client-certificate user, data
 * embedded), keeps connections alive, and does nothing else: no retries beyond 429/5xx, no
 * schema, no framework. Both the harness and the bare-client limit use it, so neither pays for
 * more than HTTP and JSON.
 */
import { readFileSync } from "node:fs"
import * as https from "node:https"
import { parse } from "yaml"

export interface Response {
  readonly status: number
  readonly body: string
}

export interface WatchEvent {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR"
  readonly object: KubeObject
}

export interface KubeObject {
  readonly apiVersion?: string
  readonly kind?: string
  readonly metadata?: {
    readonly name?: string
    readonly namespace?: string
    readonly uid?: string
    readonly resourceVersion?: string
    readonly labels?: Record<string, string>
    readonly ownerReferences?: ReadonlyArray<{ readonly uid?: string }>
  }
  readonly spec?: Record<string, unknown>
  readonly status?: Record<string, unknown>
  readonly [key: string]: unknown
}

export interface Client {
  readonly server: string
  readonly request: (
    method: string,
    path: string,
    body?: unknown,
    contentType?: string
  ) => Promise<Response>
  /** Like `request`, but throws unless the answer is 2xx (or one of `ok`); answers parsed JSON. */
  readonly json: (
    method: string,
    path: string,
    body?: unknown,
    options?: { readonly contentType?: string; readonly ok?: ReadonlyArray<number> }
  ) => Promise<KubeObject & { readonly items?: ReadonlyArray<KubeObject> }>
  /**
   * One watch request: calls `onEvent` per event until the server ends it or `stop` is called;
   * resolves when it ended (with the last resourceVersion seen), rejects on a transport error.
   */
  readonly watch: (
    path: string,
    onEvent: (event: WatchEvent) => void
  ) => { readonly done: Promise<void>; readonly stop: () => void }
  readonly close: () => void
}

interface KubeconfigFile {
  clusters: Array<{ cluster: { server: string; "certificate-authority-data": string } }>
  users: Array<{ user: { "client-certificate-data": string; "client-key-data": string } }>
}

const b64 = (s: string) => Buffer.from(s, "base64")

export const MERGE = "application/merge-patch+json"

export const make = (
  kubeconfigPath: string,
  options: { readonly maxSockets?: number } = {}
): Client => {
  const config = parse(readFileSync(kubeconfigPath, "utf8")) as KubeconfigFile
  const cluster = config.clusters[0]?.cluster
  const user = config.users[0]?.user
  if (cluster === undefined || user === undefined)
    throw new Error(`bad kubeconfig ${kubeconfigPath}`)
  const url = new URL(cluster.server)
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 64,
    ca: b64(cluster["certificate-authority-data"]),
    cert: b64(user["client-certificate-data"]),
    key: b64(user["client-key-data"])
  })
  // Watches get their own agent so that they never take a socket from requests.
  const watchAgent = new https.Agent({
    keepAlive: false,
    ca: b64(cluster["certificate-authority-data"]),
    cert: b64(user["client-certificate-data"]),
    key: b64(user["client-key-data"])
  })

  const once = (method: string, path: string, body?: unknown, contentType?: string) =>
    new Promise<Response>((resolve, reject) => {
      const text =
        body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body)
      const headers: Record<string, string> = { Accept: "application/json" }
      if (text !== undefined) {
        headers["Content-Type"] = contentType ?? "application/json"
        headers["Content-Length"] = String(Buffer.byteLength(text))
      }
      const req = https.request(
        { agent, hostname: url.hostname, port: url.port, method, path, headers },
        (res) => {
          const chunks: Array<Buffer> = []
          res.on("data", (c: Buffer) => chunks.push(c))
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })
          )
          res.on("error", reject)
        }
      )
      req.on("error", reject)
      req.end(text)
    })

  const request = async (method: string, path: string, body?: unknown, contentType?: string) => {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await once(method, path, body, contentType)
        if ((res.status === 429 || res.status >= 500) && attempt < 10) {
          await new Promise((r) => setTimeout(r, 100 * 2 ** Math.min(attempt, 5)))
          continue
        }
        return res
      } catch (error) {
        const code = (error as { code?: string }).code
        if (
          attempt < 10 &&
          (code === "ECONNRESET" || code === "ECONNREFUSED" || code === "EPIPE")
        ) {
          await new Promise((r) => setTimeout(r, 100 * 2 ** Math.min(attempt, 5)))
          continue
        }
        throw error
      }
    }
  }

  const json: Client["json"] = async (method, path, body, o = {}) => {
    const res = await request(method, path, body, o.contentType)
    if ((res.status < 200 || res.status >= 300) && !(o.ok ?? []).includes(res.status)) {
      throw new Error(`${method} ${path}: ${res.status} ${res.body.slice(0, 300)}`)
    }
    return res.body === "" ? {} : JSON.parse(res.body)
  }

  const watch: Client["watch"] = (path, onEvent) => {
    let req: ReturnType<typeof https.request> | undefined
    let stopped = false
    const done = new Promise<void>((resolve, reject) => {
      req = https.request(
        {
          agent: watchAgent,
          hostname: url.hostname,
          port: url.port,
          method: "GET",
          path,
          headers: { Accept: "application/json" }
        },
        (res) => {
          if ((res.statusCode ?? 0) !== 200) {
            const chunks: Array<Buffer> = []
            res.on("data", (c: Buffer) => chunks.push(c))
            res.on("end", () =>
              reject(
                new Error(`watch ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString()}`)
              )
            )
            return
          }
          res.setEncoding("utf8")
          let buffer = ""
          res.on("data", (chunk: string) => {
            buffer += chunk
            let nl = buffer.indexOf("\n")
            while (nl >= 0) {
              const line = buffer.slice(0, nl)
              buffer = buffer.slice(nl + 1)
              if (line.trim() !== "") onEvent(JSON.parse(line) as WatchEvent)
              nl = buffer.indexOf("\n")
            }
          })
          res.on("end", () => resolve())
          res.on("error", (e) => (stopped ? resolve() : reject(e)))
          res.on("aborted", () => resolve())
        }
      )
      req.on("error", (e) => (stopped ? resolve() : reject(e)))
      req.end()
    })
    return {
      done,
      stop: () => {
        stopped = true
        req?.destroy()
      }
    }
  }

  return {
    server: cluster.server,
    request,
    json,
    watch,
    close: () => {
      agent.destroy()
      watchAgent.destroy()
    }
  }
}

/** Runs `f` over `items` with at most `concurrency` at a time. */
export const forEachConcurrent = async <A>(
  items: ReadonlyArray<A>,
  concurrency: number,
  f: (item: A, index: number) => Promise<void>
): Promise<void> => {
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      await f(items[i] as A, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}
