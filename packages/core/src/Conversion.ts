/**
 * CRD version conversion from Effect Schemas (what Kopf does not offer): a {@link Versioned}
 * resource has several versions, each with its own spec Schema, one of them stored, and
 * conversions between them written as Effect Schema transformations. kubefx derives the CRD
 * (its versions, the storage version and the conversion webhook stanza, {@link crd}) and answers
 * the API server's `ConversionReview` (`apiextensions.k8s.io/v1`, {@link review}).
 *
 * A conversion between versions `a` and `b` ({@link between}) is a Schema whose encoded side is
 * `a`'s spec and whose type is `b`'s: `A.pipe(Schema.decodeTo(B, transformation))`. Decoding it
 * converts `a` to `b`, encoding it converts back; versions without a direct conversion convert
 * through the ones between them (the shortest path). Only `spec` is converted: `metadata` and
 * `status` (kubefx keeps its progress there) are carried over as they are, and `apiVersion` is
 * set. A spec that the Schemas do not decode fails the whole review, with a message naming the
 * object and the versions; the API server then refuses the request with it.
 *
 * For the round trip through the API server to lose nothing, each conversion must be
 * invertible on valid objects: converting `a` to `b` and back gives the same `a` (test it as a
 * property: `Conversion.convert` both ways).
 *
 * @since 0.1.0
 */
import { Cause, Data, Effect, Exit, Result, Schema } from "effect"
import * as Crd from "./Crd.ts"
import * as Json from "./Json.ts"
import * as Resource from "./Resource.ts"

/**
 * A conversion between two versions: a Schema decoding `from`'s spec (its encoded form) into
 * `to`'s spec (its type), and encoding back.
 *
 * @since 0.1.0
 * @category models
 */
export interface Edge {
  readonly from: string
  readonly to: string
  // biome-ignore lint/suspicious/noExplicitAny: the codec's two sides are the versions' specs
  readonly codec: Schema.Codec<any, any>
}

/**
 * A conversion between the versions `from` and `to` (see the module's documentation).
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 * import { Schema, SchemaTransformation } from "effect"
 *
 * const V1 = Schema.Struct({ size: Schema.String })
 * const V2 = Schema.Struct({ sizeGi: Schema.Int })
 * const v1ToV2 = Conversion.between("v1", "v2",
 *   V1.pipe(Schema.decodeTo(V2, SchemaTransformation.transform({
 *     decode: (v1) => ({ sizeGi: Number.parseInt(v1.size, 10) }),
 *     encode: (v2) => ({ size: `${v2.sizeGi}Gi` })
 *   })))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const between = <T, E, RD, RE>(
  from: string,
  to: string,
  codec: Schema.Codec<T, E, RD, RE>
): Edge => ({ from, to, codec: codec as Edge["codec"] })

/**
 * One version of a versioned resource: its name, its spec Schema, and what the CRD says of it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Version {
  readonly name: string
  readonly spec: Schema.Top
  readonly status?: Schema.Top | undefined
  readonly served?: boolean | undefined
  readonly printerColumns?: ReadonlyArray<Crd.PrinterColumn> | undefined
}

/**
 * A resource with several versions and the conversions between them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Versioned {
  readonly _tag: "Versioned"
  readonly group: string
  readonly kind: string
  readonly plural: string
  readonly scope: "Namespaced" | "Cluster"
  readonly shortNames: ReadonlyArray<string> | undefined
  /** The version the API server stores. */
  readonly storage: string
  readonly versions: ReadonlyArray<Version>
  readonly conversions: ReadonlyArray<Edge>
}

/**
 * Builds a versioned resource, or throws an `Error` naming what is wrong: a version given twice,
 * a storage version or a conversion naming a version that is not there, a version no conversion
 * reaches.
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 * import { Schema, SchemaTransformation } from "effect"
 *
 * const V1 = Schema.Struct({ size: Schema.String })
 * const V2 = Schema.Struct({ sizeGi: Schema.Int })
 * const widgets = Conversion.make({
 *   group: "example.com",
 *   kind: "Widget",
 *   plural: "widgets",
 *   storage: "v2",
 *   versions: [{ name: "v1", spec: V1 }, { name: "v2", spec: V2 }],
 *   conversions: [
 *     Conversion.between("v1", "v2", V1.pipe(Schema.decodeTo(V2, SchemaTransformation.transform({
 *       decode: (v1) => ({ sizeGi: Number.parseInt(v1.size, 10) }),
 *       encode: (v2) => ({ size: `${v2.sizeGi}Gi` })
 *     }))))
 *   ]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (definition: {
  readonly group: string
  readonly kind: string
  readonly plural: string
  readonly scope?: "Namespaced" | "Cluster" | undefined
  readonly shortNames?: ReadonlyArray<string> | undefined
  readonly storage: string
  readonly versions: ReadonlyArray<Version>
  readonly conversions: ReadonlyArray<Edge>
}): Versioned => {
  const what = `versioned resource ${definition.plural}.${definition.group}`
  const refuse = (problem: string): never => {
    throw new Error(`kubefx: ${what}: ${problem}`)
  }
  const names = definition.versions.map((v) => v.name)
  const known = new Set(names)
  if (known.size < names.length) refuse(`a version is given twice (${names.join(", ")})`)
  const check = (name: string, role: string) => {
    if (!known.has(name))
      refuse(`${role} ${JSON.stringify(name)} is not one of its versions (${names.join(", ")})`)
  }
  check(definition.storage, "the storage version")
  for (const edge of definition.conversions) {
    check(edge.from, "the conversion's version")
    check(edge.to, "the conversion's version")
  }
  const versioned: Versioned = {
    _tag: "Versioned",
    group: definition.group,
    kind: definition.kind,
    plural: definition.plural,
    scope: definition.scope ?? "Namespaced",
    shortNames: definition.shortNames,
    storage: definition.storage,
    versions: definition.versions,
    conversions: definition.conversions
  }
  const unreached = names.filter((n) => route(versioned, definition.storage, n) === undefined)
  if (unreached.length > 0)
    refuse(
      `no conversion reaches ${unreached.join(", ")} from the storage version ${definition.storage}; add Conversion.between(...) for it`
    )
  return versioned
}

/**
 * Whether a value is a versioned resource.
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 *
 * Conversion.isVersioned({ _tag: "Versioned" }) // true
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isVersioned = (u: unknown): u is Versioned =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Versioned"

/**
 * The resource of one version, with its spec Schema (what handlers select; `Resource.make`).
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 *
 * declare const widgets: Conversion.Versioned
 * const v2 = Conversion.resource(widgets, "v2")
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const resource = (versioned: Versioned, version: string): Resource.Resource<unknown> => {
  const found = versioned.versions.find((v) => v.name === version)
  if (found === undefined)
    throw new Error(
      `kubefx: ${versioned.plural}.${versioned.group} has no version ${JSON.stringify(version)}`
    )
  return Resource.make({
    group: versioned.group,
    version,
    plural: versioned.plural,
    kind: versioned.kind,
    namespaced: versioned.scope === "Namespaced",
    spec: found.spec as Schema.Decoder<unknown>
  })
}

/** One step of a route: an edge, forward (decode) or backward (encode). */
interface Step {
  readonly edge: Edge
  readonly forward: boolean
}

/** The shortest chain of conversions from one version to another (none: the same version). */
const route = (versioned: Versioned, from: string, to: string): ReadonlyArray<Step> | undefined => {
  const previous = new Map<string, { readonly at: string; readonly step: Step } | null>([
    [from, null]
  ])
  const queue = [from]
  while (queue.length > 0) {
    const at = queue.shift()!
    if (at === to) break
    for (const edge of versioned.conversions)
      for (const [a, b, forward] of [
        [edge.from, edge.to, true],
        [edge.to, edge.from, false]
      ] as const)
        if (a === at && !previous.has(b)) {
          previous.set(b, { at, step: { edge, forward } })
          queue.push(b)
        }
  }
  if (!previous.has(to)) return undefined
  const steps: Array<Step> = []
  for (let back = previous.get(to); back != null; back = previous.get(back.at))
    steps.unshift(back.step)
  return steps
}

/**
 * An object that cannot be converted: its spec does not decode, or its version is unknown.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConversionError extends Data.TaggedError("ConversionError")<{
  readonly message: string
}> {}

const issue = (cause: Cause.Cause<unknown>) => {
  const e = Cause.squash(cause)
  return e instanceof Error ? e.message : String(e)
}

/** Runs one step on a spec: forward decodes the edge then encodes `to`; backward the reverse. */
const step = (versioned: Versioned, s: Step, spec: unknown): Exit.Exit<unknown, string> => {
  const specOf = (name: string) => versioned.versions.find((v) => v.name === name)!.spec
  const target = specOf(s.edge.to) as Schema.Codec<unknown, unknown>
  const decoded = s.forward
    ? Schema.decodeUnknownExit(s.edge.codec)(spec)
    : Schema.decodeUnknownExit(target)(spec)
  if (Exit.isFailure(decoded)) return Exit.fail(issue(decoded.cause))
  const encoded = s.forward
    ? Schema.encodeUnknownExit(target)(decoded.value)
    : Schema.encodeUnknownExit(s.edge.codec)(decoded.value)
  return Exit.isFailure(encoded) ? Exit.fail(issue(encoded.cause)) : Exit.succeed(encoded.value)
}

const parseApiVersion = (apiVersion: unknown) => {
  const text = typeof apiVersion === "string" ? apiVersion : ""
  const i = text.lastIndexOf("/")
  return { group: text.slice(0, Math.max(0, i)), version: text.slice(i + 1) }
}

/**
 * Converts an object to the version `to` (a version name: `v2`), through the conversions
 * between (see the module's documentation).
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 *
 * declare const widgets: Conversion.Versioned
 * const v2 = Conversion.convert(widgets, { apiVersion: "example.com/v1", kind: "Widget", spec: { size: "3Gi" } }, "v2")
 * ```
 *
 * @since 0.1.0
 * @category converting
 */
export const convert = (
  versioned: Versioned,
  object: Json.JsonObject,
  to: string
): Effect.Effect<Json.JsonObject, ConversionError> =>
  Effect.suspend(() => {
    const meta = Json.asObject(object.metadata)
    const named = `${typeof meta.namespace === "string" ? `${meta.namespace}/` : ""}${String(meta.name ?? "")}`
    const fail = (message: string) =>
      Effect.fail(
        new ConversionError({ message: `cannot convert ${versioned.kind} ${named}: ${message}` })
      )
    const { group, version: from } = parseApiVersion(object.apiVersion)
    if (group !== versioned.group)
      return fail(`its apiVersion ${String(object.apiVersion)} is not of ${versioned.group}`)
    const steps = route(versioned, from, to)
    if (steps === undefined) return fail(`no conversion from ${from} to ${to}`)
    let spec: unknown = object.spec
    for (const s of steps) {
      const exit = step(versioned, s, spec)
      if (Exit.isFailure(exit))
        return fail(
          `from ${from} to ${to}, at ${s.forward ? s.edge.from : s.edge.to} -> ${s.forward ? s.edge.to : s.edge.from}: ${issue(exit.cause)}`
        )
      spec = exit.value
    }
    return Effect.succeed({
      ...object,
      apiVersion: `${versioned.group}/${to}`,
      spec: spec as Json.Json
    })
  })

/**
 * A `ConversionReview` (`apiextensions.k8s.io/v1`) request body.
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 * import { Schema } from "effect"
 *
 * const isReview = Schema.is(Conversion.Review)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Review = Schema.Struct({
  apiVersion: Schema.Literal("apiextensions.k8s.io/v1"),
  kind: Schema.Literal("ConversionReview"),
  request: Schema.Struct({
    uid: Schema.String,
    desiredAPIVersion: Schema.String,
    objects: Schema.Array(Schema.Record(Schema.String, Schema.Json))
  })
})

/**
 * A conversion review.
 *
 * @since 0.1.0
 * @category models
 */
export type Review = typeof Review.Type

/**
 * Decodes a review body (parsed JSON), or says what is wrong with it.
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 *
 * Conversion.decodeReview({})._tag // "Failure"
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeReview = (body: unknown): Result.Result<Review, string> =>
  Result.mapError(
    Schema.decodeUnknownResult(Review)(body),
    (issue) => `not a ConversionReview (apiextensions.k8s.io/v1): ${String(issue)}`
  )

/**
 * The `ConversionReview` answer to a review: every object converted to the desired version, in
 * order, with `result.status: "Success"`; or, when one cannot be, no objects and
 * `result.status: "Failure"` with the message.
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 *
 * declare const widgets: Conversion.Versioned
 * declare const review: Conversion.Review
 * const answer = Conversion.review(widgets, review)
 * ```
 *
 * @since 0.1.0
 * @category converting
 */
export const review = (versioned: Versioned, body: Review): Effect.Effect<Json.JsonObject> => {
  const { uid, desiredAPIVersion, objects } = body.request
  const desired = parseApiVersion(desiredAPIVersion)
  const answer = (response: Json.JsonObject): Json.JsonObject => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "ConversionReview",
    response: { uid, ...response }
  })
  const converted =
    desired.group === versioned.group
      ? Effect.forEach(objects, (o) => convert(versioned, o, desired.version))
      : Effect.fail(
          new ConversionError({
            message: `the desired apiVersion ${desiredAPIVersion} is not of ${versioned.group}`
          })
        )
  return converted.pipe(
    Effect.match({
      onSuccess: (convertedObjects) => answer({ convertedObjects, result: { status: "Success" } }),
      onFailure: (e) =>
        answer({ convertedObjects: [], result: { status: "Failure", message: e.message } })
    })
  )
}

/**
 * The CRD of a versioned resource (`Crd.make`): every version with its schema, the storage
 * version, and the conversion webhook stanza (`strategy: Webhook`, `conversionReviewVersions:
 * ["v1"]`) with `clientConfig` when given (the operator's managed webhooks set it; the API server
 * refuses a `Webhook` strategy without it, so without it the CRD has none, `strategy: None`, until
 * the operator sets it).
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 *
 * declare const widgets: Conversion.Versioned
 * const crd = Conversion.crd(widgets, {
 *   service: { namespace: "operators", name: "widgets-webhook", path: "/convert/widgets.example.com" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category generating
 */
export const crd = (versioned: Versioned, clientConfig?: Json.JsonObject) =>
  Crd.make({
    group: versioned.group,
    kind: versioned.kind,
    plural: versioned.plural,
    scope: versioned.scope,
    ...(versioned.shortNames === undefined ? {} : { shortNames: versioned.shortNames }),
    versions: versioned.versions.map((v) => ({
      name: v.name,
      spec: v.spec,
      storage: v.name === versioned.storage,
      ...(v.status === undefined ? {} : { status: v.status }),
      ...(v.served === undefined ? {} : { served: v.served }),
      ...(v.printerColumns === undefined ? {} : { printerColumns: v.printerColumns })
    })),
    ...(clientConfig === undefined ? {} : { conversion: { clientConfig } })
  })

/**
 * The path the webhook server answers a versioned resource's `ConversionReview`s at.
 *
 * @example
 * ```ts
 * import { Conversion } from "@kubefx/core"
 *
 * declare const widgets: Conversion.Versioned
 * Conversion.path(widgets) // "/convert/widgets.example.com"
 * ```
 *
 * @since 0.1.0
 * @category naming
 */
export const path = (versioned: Pick<Versioned, "plural" | "group">): string =>
  `/convert/${versioned.plural}.${versioned.group}`
