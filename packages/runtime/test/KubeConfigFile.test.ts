/**
 * kubefx reads common kubeconfigs without `@kubernetes/client-node`: it must agree with
 * client-node on every case it reads, and hand the others over.
 */
import * as fs from "node:fs"
import type * as https from "node:https"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { KubeConfig } from "@kubernetes/client-node"
import { vi } from "vitest"
import { stringify } from "yaml"
import * as KubeConfigFile from "../src/internal/kubeconfig.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubefx-kubeconfig-"))
const b64 = (text: string) => Buffer.from(text).toString("base64")
fs.mkdirSync(path.join(dir, "pki"))
fs.writeFileSync(path.join(dir, "pki", "ca.crt"), "CA FROM FILE")
fs.writeFileSync(path.join(dir, "pki", "user.crt"), "CERT FROM FILE")
fs.writeFileSync(path.join(dir, "pki", "user.key"), "KEY FROM FILE")
fs.writeFileSync(path.join(dir, "token"), "token-from-file\n")

let n = 0
const kubeconfig = (cluster: object, user: object, extra: object = {}): string => {
  const file = path.join(dir, `config-${n++}`)
  fs.writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      "current-context": "main",
      contexts: [
        { name: "main", context: { cluster: "c", user: "u" } },
        { name: "other", context: { cluster: "c2", user: "u" } }
      ],
      clusters: [
        { name: "c", cluster },
        { name: "c2", cluster: { server: "https://other.example:6443" } }
      ],
      users: [{ name: "u", user }],
      ...extra
    })
  )
  return file
}

/** What a request carries, as kubefx would send it. */
const ours = (file: string, context?: string) => {
  const loaded = KubeConfigFile.readFile(file, context)
  assert.strictEqual(loaded._tag, "Read")
  if (loaded._tag !== "Read") throw new Error("unreachable")
  const { server, tls, headers } = loaded.credentials
  return { server: server.href, ...summary(tls, headers()) }
}

/** What a request carries, as client-node's KubeConfig resolves it. */
const theirs = async (file: string, context?: string) => {
  const kc = new KubeConfig()
  kc.loadFromFile(file)
  if (context !== undefined) kc.setCurrentContext(context)
  const opts: https.RequestOptions = {}
  await kc.applyToHTTPSOptions(opts)
  const headers: Record<string, string | Array<string>> = {}
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? v : String(v)
  }
  if (typeof opts.auth === "string") {
    headers.Authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`
  }
  return {
    server: new URL(kc.getCurrentCluster()?.server ?? "").href,
    ...summary(opts as https.AgentOptions, headers)
  }
}

const text = (v: unknown) => (v === undefined ? undefined : Buffer.from(v as Buffer).toString())
const summary = (tls: https.AgentOptions, headers: Record<string, unknown>) => ({
  ca: text(tls.ca),
  cert: text(tls.cert),
  key: text(tls.key),
  rejectUnauthorized: tls.rejectUnauthorized,
  servername: tls.servername,
  headers
})

describe("kubeconfig files without client-node", () => {
  const cases: ReadonlyArray<readonly [string, string, string?]> = [
    [
      "client certificate data, CA data",
      kubeconfig(
        { server: "https://127.0.0.1:6443", "certificate-authority-data": b64("CA DATA") },
        { "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY") }
      )
    ],
    [
      "files relative to the kubeconfig",
      kubeconfig(
        { server: "https://127.0.0.1:6443/", "certificate-authority": "pki/ca.crt" },
        { "client-certificate": "pki/user.crt", "client-key": "pki/user.key" }
      )
    ],
    [
      "a bearer token, insecure, a TLS server name",
      kubeconfig(
        {
          server: "https://[::1]:6443",
          "insecure-skip-tls-verify": true,
          "tls-server-name": "kubernetes"
        },
        { token: "abc.def" }
      )
    ],
    [
      "basic auth",
      kubeconfig({ server: "https://localhost:8443" }, { username: "me", password: "secret" })
    ],
    ["impersonation", kubeconfig({ server: "https://k.example" }, { token: "t", as: "someone" })],
    ["another context", kubeconfig({ server: "https://k.example" }, { token: "t" }), "other"]
  ]
  for (const [name, file, context] of cases) {
    it(`agrees with client-node: ${name}`, async () => {
      assert.deepStrictEqual(ours(file, context), await theirs(file, context))
    })
  }

  it("reads a token file (kubectl's tokenFile), and again after a minute (rotation)", () => {
    const token = path.join(dir, "rotating-token")
    fs.writeFileSync(token, "one\n")
    const file = kubeconfig({ server: "https://k.example" }, { tokenFile: "rotating-token" })
    const loaded = KubeConfigFile.readFile(file)
    if (loaded._tag !== "Read") throw new Error("expected to be read")
    vi.useFakeTimers({ toFake: ["Date"] })
    try {
      assert.deepStrictEqual(loaded.credentials.headers(), { Authorization: "Bearer one" })
      fs.writeFileSync(token, "two\n")
      vi.advanceTimersByTime(30_000)
      assert.deepStrictEqual(loaded.credentials.headers(), { Authorization: "Bearer one" })
      vi.advanceTimersByTime(31_000)
      assert.deepStrictEqual(loaded.credentials.headers(), { Authorization: "Bearer two" })
    } finally {
      vi.useRealTimers()
    }
  })

  it("hands exec plugins, auth providers and proxies to client-node", () => {
    for (const [cluster, user] of [
      [{ server: "https://k" }, { exec: { command: "aws", apiVersion: "v1" } }],
      [{ server: "https://k" }, { "auth-provider": { name: "oidc" } }],
      [{ server: "https://k", "proxy-url": "http://proxy:3128" }, { token: "t" }]
    ] as const) {
      assert.strictEqual(KubeConfigFile.readFile(kubeconfig(cluster, user))._tag, "Delegate")
    }
  })

  it("names what is wrong", () => {
    const file = kubeconfig({ server: "https://k" }, { token: "t" })
    assert.throws(
      () => KubeConfigFile.readFile(file, "nope"),
      /no context named "nope" \(known: main, other\)/
    )
    assert.throws(() => KubeConfigFile.readFile(path.join(dir, "missing")), /ENOENT/)
    const noServer = kubeconfig({}, { token: "t" })
    assert.throws(() => KubeConfigFile.readFile(noServer), /cluster "c" has no server/)
  })

  it("in a pod: the service account's CA and token", () => {
    const sa = path.join(dir, "sa")
    fs.mkdirSync(sa)
    fs.writeFileSync(path.join(sa, "ca.crt"), "SA CA")
    fs.writeFileSync(path.join(sa, "token"), "sa-token")
    const saved = { ...process.env }
    try {
      process.env.KUBERNETES_SERVICE_HOST = "fd00::1"
      process.env.KUBERNETES_SERVICE_PORT = "443"
      const creds = KubeConfigFile.inCluster(sa)
      assert.strictEqual(creds.server.href, "https://[fd00::1]/")
      assert.strictEqual(text(creds.tls.ca), "SA CA")
      assert.deepStrictEqual(creds.headers(), { Authorization: "Bearer sa-token" })
      delete process.env.KUBERNETES_SERVICE_HOST
      assert.throws(() => KubeConfigFile.inCluster(sa), /KUBERNETES_SERVICE_HOST is unset/)
    } finally {
      process.env = saved
    }
  })
})
