/**
 * The owner label's value (`src/Label.ts`) over valid EVC names: DNS subdomains of up to 253
 * characters.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Label from "../src/Label.ts"
import * as Template from "../src/Template.ts"

/** Kubernetes' rules (apimachinery's IsDNS1123Subdomain and IsValidLabelValue). */
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

const alnum = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789")
const inner = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-")
/** One DNS label: alphanumeric at both ends, `-` inside. */
const dnsLabel = fc.oneof(
  alnum,
  fc
    .tuple(
      alnum,
      fc.nat({ max: 61 }).chain((n) => fc.string({ unit: inner, minLength: n, maxLength: n })),
      alnum
    )
    .map(([first, middle, last]) => `${first}${middle}${last}`)
)
/** A DNS subdomain of up to 253 characters, biased to long names (the case that matters). */
const name = fc
  .array(dnsLabel, { minLength: 1, maxLength: 8 })
  .map((labels) =>
    labels
      .join(".")
      .slice(0, 253)
      .replace(/[-.]+$/, "")
  )
  .filter((n) => dnsSubdomain.test(n))

describe("the owner label's value", () => {
  it("is a valid label value for every valid EVC name, and the name itself when it fits", () => {
    fc.assert(
      fc.property(name, (n) => {
        const value = Label.value(n)
        assert.isAtMost(value.length, 63, n)
        assert.match(value, labelValue, n)
        if (n.length <= 63) assert.strictEqual(value, n)
        else assert.isTrue(value.startsWith(n.slice(0, 40)), n)
      }),
      { numRuns: 2000 }
    )
  })

  it("differs for distinct names, also those sharing a long prefix", () => {
    const prefix = "a".repeat(60)
    fc.assert(
      fc.property(fc.uniqueArray(name, { minLength: 2, maxLength: 50 }), (names) => {
        const prefixed = names.map((n) => `${prefix}.${n}`.slice(0, 253))
        const distinct = new Set([...names, ...prefixed].filter((n) => dnsSubdomain.test(n)))
        assert.strictEqual(new Set([...distinct].map(Label.value)).size, distinct.size)
      }),
      { numRuns: 300 }
    )
  })

  it("does not change between versions (existing PVCs carry it): SHA-256 of the name", () => {
    // printf '%s' "$(printf 'x%.0s' $(seq 100)).example.com" | sha256sum  ->  5d79ad632291...
    const long = `${"x".repeat(100)}.example.com`
    assert.strictEqual(Label.value(long), `${"x".repeat(50)}-5d79ad632291`)
  })

  it("labels the PVC from the template, with a long name as with a short one", () => {
    const long = `${"claim-".repeat(20)}end`
    const pvc = Template.render({ name: long, size: "1G", storageClass: "fast" })
    const labels = (pvc.metadata as { labels: Record<string, string> }).labels
    assert.strictEqual(labels[Label.key], Label.value(long))
    assert.strictEqual(Label.selector(long), `kopf.dev/evc=${Label.value(long)}`)
    assert.strictEqual((pvc.metadata as { name: string }).name, long)
  })
})
