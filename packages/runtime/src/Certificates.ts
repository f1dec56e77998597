/**
 * The webhook server's TLS material (the API server calls webhooks over HTTPS only, checking
 * the serving certificate against the configuration's `caBundle`):
 *
 * - {@link files}: a certificate, its key and (optionally) the CA that signed it, read from PEM
 *   files, e.g. the `tls.crt`, `tls.key` and `ca.crt` of a Secret that cert-manager keeps and the
 *   pod mounts ({@link directory}). The server reads them again when they change.
 * - {@link generated}: for development, a new CA and a serving certificate signed by it for the
 *   given host names and IP addresses, made at start (ECDSA P-256, valid for a year) with
 *   `@peculiar/x509` on node's WebCrypto; the CA is the `caBundle`.
 *
 * @since 0.1.0
 */
import { webcrypto } from "node:crypto"
import { readFile } from "node:fs/promises"
import { isIP } from "node:net"
import { join } from "node:path"
import { Data, Duration, Effect } from "effect"

/**
 * Where the TLS material comes from.
 *
 * @example
 * ```ts
 * import { Certificates } from "@kubefx/runtime"
 *
 * const dev: Certificates.Source = Certificates.generated(["127.0.0.1", "localhost"])
 * const prod: Certificates.Source = Certificates.directory("/etc/webhook/tls")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Source =
  | {
      readonly _tag: "Files"
      readonly cert: string
      readonly key: string
      /** The CA's PEM file, for the `caBundle`; without it, the configuration gets none (e.g.
       * cert-manager's CA injector fills it in). */
      readonly ca: string | undefined
      /** How often the files are read again to notice a renewal (default 10 s). */
      readonly reloadInterval: Duration.Duration
    }
  | { readonly _tag: "Generated"; readonly hosts: ReadonlyArray<string> }

/**
 * PEM certificate chain, key and CA.
 *
 * @since 0.1.0
 * @category models
 */
export interface Material {
  readonly cert: string
  readonly key: string
  /** The CA that signed `cert`, for the webhook configurations' `caBundle`. */
  readonly ca: string | undefined
}

/**
 * The material cannot be read or made.
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateError extends Data.TaggedError("CertificateError")<{
  readonly message: string
}> {}

/**
 * Material from PEM files.
 *
 * @example
 * ```ts
 * import { Certificates } from "@kubefx/runtime"
 *
 * const source = Certificates.files({ cert: "/tls/tls.crt", key: "/tls/tls.key", ca: "/tls/ca.crt" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const files = (options: {
  readonly cert: string
  readonly key: string
  readonly ca?: string | undefined
  readonly reloadInterval?: Duration.Input | undefined
}): Source => ({
  _tag: "Files",
  cert: options.cert,
  key: options.key,
  ca: options.ca,
  reloadInterval: Duration.fromInputUnsafe(options.reloadInterval ?? "10 seconds")
})

/**
 * Material from a folder holding `tls.crt`, `tls.key` and `ca.crt`, as a Secret of type
 * `kubernetes.io/tls` that cert-manager writes is mounted.
 *
 * @example
 * ```ts
 * import { Certificates } from "@kubefx/runtime"
 *
 * const source = Certificates.directory("/etc/webhook/tls")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const directory = (dir: string): Source =>
  files({ cert: join(dir, "tls.crt"), key: join(dir, "tls.key"), ca: join(dir, "ca.crt") })

/**
 * A CA and a serving certificate made at start for these host names and IP addresses (for
 * development and tests).
 *
 * @example
 * ```ts
 * import { Certificates } from "@kubefx/runtime"
 *
 * const source = Certificates.generated(["127.0.0.1", "my-operator.operators.svc"])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const generated = (hosts: ReadonlyArray<string>): Source => ({ _tag: "Generated", hosts })

const readText = (path: string, what: string) =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (e) =>
      new CertificateError({
        message: `cannot read the webhook server's ${what} ${path}: ${e instanceof Error ? e.message : String(e)}`
      })
  })

/**
 * Reads or makes the material of a source.
 *
 * @example
 * ```ts
 * import { Certificates } from "@kubefx/runtime"
 *
 * const material = Certificates.load(Certificates.generated(["127.0.0.1"]))
 * ```
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (source: Source): Effect.Effect<Material, CertificateError> =>
  source._tag === "Generated"
    ? generate(source.hosts)
    : Effect.all({
        cert: readText(source.cert, "certificate"),
        key: readText(source.key, "key"),
        ca: source.ca === undefined ? Effect.succeed(undefined) : readText(source.ca, "CA")
      })

const { subtle } = webcrypto
const ecdsa = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" }
const year = 365 * 24 * 3600 * 1000

const newKeys = () =>
  subtle.generateKey(ecdsa, true, ["sign", "verify"]) as Promise<webcrypto.CryptoKeyPair>

const serial = () => {
  const bytes = webcrypto.getRandomValues(new Uint8Array(15))
  bytes[0] = (bytes[0] ?? 0) & 0x7f
  return Buffer.from(bytes).toString("hex")
}

const validity = () => ({
  serialNumber: serial(),
  notBefore: new Date(Date.now() - 3600 * 1000),
  notAfter: new Date(Date.now() + year),
  signingAlgorithm: ecdsa
})

/** `@peculiar/x509`, loaded when a certificate is generated (operators with files never pay for
 * it); it resolves its parts through tsyringe, which needs the Reflect metadata API first. */
const loadX509 = async () => {
  await import("reflect-metadata")
  return import("@peculiar/x509")
}

const makeMaterial = async (hosts: ReadonlyArray<string>): Promise<Material> => {
  const x509 = await loadX509()
  const caKeys = await newKeys()
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    ...validity(),
    name: "CN=kubefx-webhook-ca",
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey)
    ]
  })
  const keys = await newKeys()
  const cert = await x509.X509CertificateGenerator.create({
    ...validity(),
    subject: `CN=${hosts[0] ?? "kubefx-webhook"}`,
    issuer: ca.subject,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((value) => ({
          type: isIP(value) === 0 ? ("dns" as const) : ("ip" as const),
          value
        }))
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey)
    ]
  })
  const key = x509.PemConverter.encode(
    await subtle.exportKey("pkcs8", keys.privateKey),
    "PRIVATE KEY"
  )
  return { cert: cert.toString("pem"), key, ca: ca.toString("pem") }
}

/**
 * A new CA and a serving certificate it signed for `hosts` (DNS names and IP addresses).
 *
 * @example
 * ```ts
 * import { Certificates } from "@kubefx/runtime"
 *
 * const material = Certificates.generate(["127.0.0.1", "localhost"])
 * ```
 *
 * @since 0.1.0
 * @category loading
 */
export const generate = (
  hosts: ReadonlyArray<string>
): Effect.Effect<Material, CertificateError> =>
  hosts.length === 0
    ? Effect.fail(
        new CertificateError({
          message:
            "a generated webhook certificate needs the host names or IP addresses the API server calls"
        })
      )
    : Effect.tryPromise({
        try: () => makeMaterial(hosts),
        catch: (e) =>
          new CertificateError({
            message: `cannot make the webhook server's certificate: ${e instanceof Error ? e.message : String(e)}`
          })
      })
