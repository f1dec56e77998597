/**
 * The control plane's certificates, written in TypeScript on node's WebCrypto (the global
 * `crypto`) with `@peculiar/x509`: a CA, kube-apiserver's serving certificate (for `127.0.0.1`, `localhost`
 * and the `kubernetes` service names), client certificates for the admin, kube-controller-manager
 * and a user without rights, the service-account signing key, and more users on demand.
 *
 * Keys are ECDSA P-256 (the service-account key is RSA 2048: every Kubernetes client expects
 * RS256 tokens), written as PKCS #8 `PRIVATE KEY` PEM, which Go's TLS and node's both read.
 *
 * @since 0.1.0
 */
// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata"
import { webcrypto } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as x509 from "@peculiar/x509"
import { Data, Effect } from "effect"

/** A certificate or key could not be made or written. @since 0.1.0 */
export class PkiError extends Data.TaggedError("PkiError")<{ readonly message: string }> {}

/** The CA of a written PKI: signs client certificates for new users. @since 0.1.0 */
export interface Authority {
  /** The folder holding `ca.crt`, `serving.crt`, `sa.key`, `users/<file>.crt`, ... */
  readonly dir: string
  /**
   * Signs a client certificate for user `name` in `groups` (its Organizations), written to
   * `users/<file>.crt` and `users/<file>.key`.
   */
  readonly user: (
    file: string,
    name: string,
    groups?: ReadonlyArray<string>
  ) => Effect.Effect<void, PkiError>
}

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

const { subtle } = webcrypto
const ecdsa = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" }
const tenYears = 10 * 365 * 24 * 3600 * 1000

const newKeys = (): Promise<CryptoKeyPair> =>
  subtle.generateKey(ecdsa, true, ["sign", "verify"]) as Promise<CryptoKeyPair>

/** A random positive 120-bit serial number, in hex. */
const serial = () => {
  const bytes = webcrypto.getRandomValues(new Uint8Array(15))
  bytes[0] = (bytes[0] ?? 0) & 0x7f
  return Buffer.from(bytes).toString("hex")
}

const validity = () => ({
  serialNumber: serial(),
  notBefore: new Date(Date.now() - 3600 * 1000),
  notAfter: new Date(Date.now() + tenYears),
  signingAlgorithm: ecdsa
})

const keyUsage = (flags: number) => new x509.KeyUsagesExtension(flags, true)

interface Signer {
  readonly cert: x509.X509Certificate
  readonly key: CryptoKey
}

/** A name with one RDN per attribute: `CN=name, O=group...`. */
const name = (commonName: string, organizations: ReadonlyArray<string> = []): x509.JsonName => [
  { CN: [commonName] },
  ...organizations.map((o) => ({ O: [o] }))
]

const signed = async (
  ca: Signer,
  subject: x509.JsonName,
  extensions: ReadonlyArray<x509.Extension>
): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> => {
  const keys = await newKeys()
  const cert = await x509.X509CertificateGenerator.create({
    ...validity(),
    subject,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      ...extensions,
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey)
    ]
  })
  return { cert, key: keys.privateKey }
}

const pem = async (key: CryptoKey, format: "pkcs8" | "spki") =>
  x509.PemConverter.encode(
    await subtle.exportKey(format, key),
    format === "pkcs8" ? "PRIVATE KEY" : "PUBLIC KEY"
  )

const writePair = async (
  dir: string,
  file: string,
  pair: { cert: x509.X509Certificate; key: CryptoKey }
) => {
  writeFileSync(join(dir, `${file}.crt`), pair.cert.toString("pem"), { mode: 0o644 })
  writeFileSync(join(dir, `${file}.key`), await pem(pair.key, "pkcs8"), { mode: 0o600 })
}

const clientExtensions = () => [
  keyUsage(x509.KeyUsageFlags.digitalSignature),
  new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])
]

const newAuthority = async (): Promise<Signer> => {
  const keys = await newKeys()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    ...validity(),
    name: name("kubefx-test-ca"),
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      keyUsage(
        x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
    ]
  })
  return { cert, key: keys.privateKey }
}

const serving = (ca: Signer) =>
  signed(ca, name("kube-apiserver"), [
    keyUsage(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension([
      ...["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"].map(
        (value) => ({ type: "dns" as const, value })
      ),
      { type: "ip", value: "127.0.0.1" },
      { type: "ip", value: "10.0.0.1" }
    ])
  ])

/** The service-account token key pair: `sa.key` signs, `sa.pub` verifies. */
const writeServiceAccountKey = async (dir: string) => {
  const keys = (await subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256"
    },
    true,
    ["sign", "verify"]
  )) as CryptoKeyPair
  writeFileSync(join(dir, "sa.key"), await pem(keys.privateKey, "pkcs8"), { mode: 0o600 })
  writeFileSync(join(dir, "sa.pub"), await pem(keys.publicKey, "spki"), { mode: 0o644 })
}

/** The users every control plane has: `users/<file>` for `name` in `groups`. */
const standardUsers: ReadonlyArray<readonly [string, string, ReadonlyArray<string>]> = [
  ["admin", "kubefx-admin", ["system:masters"]],
  ["controller-manager", "system:kube-controller-manager", ["system:masters"]],
  ["restricted", "kubefx-restricted", []]
]

const failure = (what: string) => (cause: unknown) =>
  new PkiError({
    message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`
  })

/**
 * Writes a new PKI into `dir` (created if missing) and answers its {@link Authority}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pki } from "@kubefx/controlplane"
 *
 * const program = Effect.gen(function* () {
 *   const ca = yield* Pki.write("/tmp/pki")
 *   yield* ca.user("alice", "alice", ["developers"]) // /tmp/pki/users/alice.crt and .key
 * })
 * ```
 * @since 0.1.0
 */
export const write = (dir: string): Effect.Effect<Authority, PkiError> =>
  Effect.tryPromise({
    try: async () => {
      mkdirSync(join(dir, "users"), { recursive: true })
      const ca = await newAuthority()
      await writePair(dir, "ca", ca)
      await writePair(dir, "serving", await serving(ca))
      await writeServiceAccountKey(dir)
      for (const [file, user, groups] of standardUsers)
        await writePair(
          join(dir, "users"),
          file,
          await signed(ca, name(user, groups), clientExtensions())
        )
      return ca
    },
    catch: failure(`writing the control plane's certificates into ${dir}`)
  }).pipe(Effect.map((ca) => authority(dir, ca)))

const authority = (dir: string, ca: Signer): Authority => ({
  dir,
  user: (file, user, groups = []) =>
    Effect.tryPromise({
      try: async () =>
        writePair(
          join(dir, "users"),
          file,
          await signed(ca, name(user, groups), clientExtensions())
        ),
      catch: failure(`signing a client certificate for ${user}`)
    })
})

/**
 * The subject of the PEM certificate at `path`, e.g. `CN=kubefx-admin, O=system:masters`.
 *
 * @example
 * ```ts
 * import { Pki } from "@kubefx/controlplane"
 * Pki.subject("/tmp/pki/users/admin.crt")
 * ```
 * @since 0.1.0
 */
export const subject = (path: string): string =>
  new x509.X509Certificate(readFileSync(path, "utf8")).subject
