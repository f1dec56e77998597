/**
 * Reads kubeconfig files and the in-cluster service account without `@kubernetes/client-node`.
 *
 * Why: importing client-node loads its whole generated API (about 88 MiB of resident memory,
 * measured with `node -e` on Node 24), while a kubeconfig with client certificates, a bearer
 * token, a token file or basic auth needs a YAML parse and a few file reads. Those common cases
 * are read here; anything else (an `exec` or `auth-provider` user, a `proxy-url`, several
 * files in `$KUBECONFIG` to merge) is answered `Delegate`, and the caller loads client-node
 * (lazily) to do what it does. A unit test checks that both agree on the cases read here.
 *
 * @internal
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { parse } from "yaml"

/** @internal */
export type Headers = Record<string, string | Array<string>>

/** TLS material of a connection to the API server. @internal */
export interface Tls {
  readonly ca?: Buffer | undefined
  readonly cert?: Buffer | undefined
  readonly key?: Buffer | undefined
  readonly rejectUnauthorized?: boolean | undefined
  readonly servername?: string | undefined
}

/** What a connection needs: the server, its TLS material, and each request's headers. */
export interface Credentials {
  readonly server: URL
  readonly tls: Tls
  /** The headers of the next request (a token file is read again after a minute). */
  readonly headers: () => Headers
}

/** @internal */
export type Loaded =
  | { readonly _tag: "Read"; readonly credentials: Credentials }
  | { readonly _tag: "Delegate"; readonly reason: string }

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
const TOKEN_FILE_REFRESH_MS = 60_000

type Obj = Readonly<Record<string, unknown>>
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)
const str = (o: Obj, key: string): string | undefined =>
  typeof o[key] === "string" && o[key] !== "" ? (o[key] as string) : undefined

/** A token read from a file, read again when older than a minute (rotated tokens). */
const tokenFromFile = (file: string): (() => string) => {
  let token = ""
  let readAt = Number.NEGATIVE_INFINITY
  return () => {
    const now = Date.now()
    if (now - readAt > TOKEN_FILE_REFRESH_MS) {
      token = fs.readFileSync(file, "utf8").trim()
      readAt = now
    }
    return token
  }
}

const named = (list: unknown, name: string, what: string, key: string): Obj => {
  const items = Array.isArray(list) ? list.filter(isObj) : []
  const found = items.find((item) => item.name === name)
  if (found === undefined || !isObj(found[key])) {
    const known = items.map((item) => String(item.name)).join(", ") || "none"
    throw new Error(`no ${what} named "${name}" (known: ${known})`)
  }
  return found[key]
}

/**
 * Reads one kubeconfig file, in its current context or the one named. Throws an `Error` that
 * names the problem (missing file, unknown context, no server).
 *
 * @internal
 */
export const readFile = (file: string, context?: string): Loaded => {
  const doc: unknown = parse(fs.readFileSync(file, "utf8"))
  if (!isObj(doc)) throw new Error(`${file} is not a kubeconfig (not a YAML mapping)`)
  const contextName = context ?? str(doc, "current-context")
  if (contextName === undefined) throw new Error(`${file} has no current-context; pick one`)
  const ctx = named(doc.contexts, contextName, "context", "context")
  const clusterName = str(ctx, "cluster")
  if (clusterName === undefined) throw new Error(`context "${contextName}" names no cluster`)
  const cluster = named(doc.clusters, clusterName, "cluster", "cluster")
  const userName = str(ctx, "user")
  const user = userName === undefined ? {} : named(doc.users, userName, "user", "user")
  if (user.exec !== undefined) return { _tag: "Delegate", reason: "an exec credential plugin" }
  if (user["auth-provider"] !== undefined) return { _tag: "Delegate", reason: "an auth-provider" }
  if (cluster["proxy-url"] !== undefined) return { _tag: "Delegate", reason: "a proxy-url" }
  const server = str(cluster, "server")
  if (server === undefined) throw new Error(`cluster "${clusterName}" has no server`)
  const dir = path.dirname(file)
  const bytes = (fileKey: string, dataKey: string, of: Obj): Buffer | undefined => {
    const f = str(of, fileKey)
    if (f !== undefined) return fs.readFileSync(path.resolve(dir, f))
    const data = str(of, dataKey)
    return data === undefined ? undefined : Buffer.from(data, "base64")
  }
  const servername = str(cluster, "tls-server-name")
  const tls: Tls = {
    ca: bytes("certificate-authority", "certificate-authority-data", cluster),
    cert: bytes("client-certificate", "client-certificate-data", user),
    key: bytes("client-key", "client-key-data", user),
    ...(cluster["insecure-skip-tls-verify"] === true ? { rejectUnauthorized: false } : {}),
    ...(servername === undefined ? {} : { servername })
  }

  const fixed: Headers = {}
  const impersonate = str(user, "as")
  if (impersonate !== undefined) fixed["Impersonate-User"] = impersonate
  const groups = user["as-groups"]
  if (Array.isArray(groups) && groups.length > 0) fixed["Impersonate-Group"] = groups.map(String)
  const token = str(user, "token")
  const tokenFile = str(user, "tokenFile") ?? str(user, "token-file")
  const username = str(user, "username")
  const bearer =
    token !== undefined
      ? () => token
      : tokenFile !== undefined
        ? tokenFromFile(path.resolve(dir, tokenFile))
        : undefined
  if (bearer === undefined && username !== undefined) {
    const basic = Buffer.from(`${username}:${str(user, "password") ?? ""}`).toString("base64")
    fixed.Authorization = `Basic ${basic}`
  }
  return {
    _tag: "Read",
    credentials: {
      server: new URL(server.replace(/\/$/, "")),
      tls,
      headers:
        bearer === undefined
          ? () => fixed
          : () => ({ ...fixed, Authorization: `Bearer ${bearer()}` })
    }
  }
}

/**
 * The pod's service account: `KUBERNETES_SERVICE_HOST` / `_PORT`, its CA, and its token (read
 * again after a minute: projected tokens rotate).
 *
 * @internal
 */
export const inCluster = (root = SERVICE_ACCOUNT): Credentials => {
  const host = process.env.KUBERNETES_SERVICE_HOST
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443"
  if (host === undefined || host === "") {
    throw new Error("not running in a cluster (KUBERNETES_SERVICE_HOST is unset)")
  }
  const scheme = ["80", "8080", "8001"].includes(port) ? "http" : "https"
  const token = tokenFromFile(path.join(root, "token"))
  return {
    server: new URL(`${scheme}://${net.isIPv6(host) ? `[${host}]` : host}:${port}`),
    tls: { ca: fs.readFileSync(path.join(root, "ca.crt")) },
    headers: () => ({ Authorization: `Bearer ${token()}` })
  }
}

/**
 * The usual lookup, as kubectl: `$KUBECONFIG` (one file; several are merged by client-node),
 * else `~/.kube/config`, else the in-cluster service account.
 *
 * @internal
 */
export const readDefault = (): Loaded => {
  const files = (process.env.KUBECONFIG ?? "").split(path.delimiter).filter((f) => f !== "")
  if (files.length > 1) return { _tag: "Delegate", reason: "several files in $KUBECONFIG" }
  const [only] = files
  if (only !== undefined) return readFile(only)
  const home = path.join(os.homedir(), ".kube", "config")
  if (fs.existsSync(home)) return readFile(home)
  if (process.env.KUBERNETES_SERVICE_HOST === undefined) {
    throw new Error(
      "no kubeconfig found: $KUBECONFIG is unset, ~/.kube/config does not exist, and this is not a pod (KUBERNETES_SERVICE_HOST is unset)"
    )
  }
  return { _tag: "Read", credentials: inCluster() }
}
