/**
 * The owner label of an EVC's PVC, `kopf.dev/evc: <value>`. A label value holds at most 63
 * characters, an EVC's name up to 253: a name that fits is the value itself; a longer one
 * becomes its first 50 characters (without trailing `-` or `.`), `-`, and the first 12 hex
 * digits of the SHA-256 of the whole name, so distinct names keep distinct values.
 */
import { createHash } from "node:crypto"

/**
 * The label's key.
 *
 * @example
 * ```ts
 * import { Label } from "@kubefx/example-evc"
 *
 * Label.key // "kopf.dev/evc"
 * ```
 * @since 0.1.0
 * @category labels
 */
export const key = "kopf.dev/evc"

/**
 * The label's value for the EVC named `name` (a DNS subdomain, as Kubernetes requires).
 *
 * @example
 * ```ts
 * import { Label } from "@kubefx/example-evc"
 *
 * Label.value("my-claim") // "my-claim"
 * Label.value("a".repeat(100)).length // 63
 * ```
 * @since 0.1.0
 * @category labels
 */
export const value = (name: string): string => {
  if (name.length <= 63) return name
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 12)
  return `${name.slice(0, 50).replace(/[-.]+$/, "")}-${hash}`
}

/**
 * The label selector of the PVC of the EVC named `name` (for `kubectl get pvc -l`, or a list).
 *
 * @example
 * ```ts
 * import { Label } from "@kubefx/example-evc"
 *
 * Label.selector("my-claim") // "kopf.dev/evc=my-claim"
 * ```
 * @since 0.1.0
 * @category labels
 */
export const selector = (name: string): string => `${key}=${value(name)}`
