/**
 * fast-check arbitraries for operator tests: objects of a Schema-typed resource (through the
 * structural schema its CRD is generated from), Kubernetes names, and sequences of user
 * actions (create, edit, delete, restart the operator, change faults, wait), with an
 * interpreter that performs an action against a cluster.
 *
 * @since 0.1.0
 */
import { Patch as CorePatch, Crd, type Json, type KubeObject, Resource } from "@kubefx/core"
import { ApiPatch, type KubeError, type KubeService } from "@kubefx/runtime"
import { Duration, Effect, type Schema } from "effect"
import * as fc from "fast-check"
import * as Faults from "./Faults.ts"
import * as Runner from "./Runner.ts"
import type { SimClusterService } from "./SimCluster.ts"

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

/**
 * Values valid for a structural OpenAPI v3 schema (as in a CRD): objects with their required
 * and optional properties, strings (matching `pattern`, within `enum`), integers and numbers
 * within bounds, booleans, arrays; `x-kubernetes-preserve-unknown-fields` objects get a few
 * free keys.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const fromJsonSchema = (schema: Crd.JsonSchema): fc.Arbitrary<Json.Json> => {
  if (Array.isArray(schema.enum) && schema.enum.length > 0)
    return fc.constantFrom(...(schema.enum as Array<Json.Json>))
  const nullable = schema.nullable === true
  const base = ((): fc.Arbitrary<Json.Json> => {
    if (schema["x-kubernetes-int-or-string"] === true)
      return fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.string({ maxLength: 8 }))
    switch (schema.type) {
      case "string": {
        if (typeof schema.pattern === "string")
          return fc
            .stringMatching(new RegExp(schema.pattern, "u"))
            .filter(
              (s) =>
                (typeof schema.maxLength !== "number" || s.length <= schema.maxLength) &&
                (typeof schema.minLength !== "number" || s.length >= schema.minLength)
            )
        return fc.string({
          ...(typeof schema.minLength === "number" ? { minLength: schema.minLength } : {}),
          maxLength: typeof schema.maxLength === "number" ? schema.maxLength : 16
        })
      }
      case "integer":
        return fc.integer({
          min: typeof schema.minimum === "number" ? schema.minimum : -1000,
          max: typeof schema.maximum === "number" ? schema.maximum : 1000
        })
      case "number":
        return fc.double({
          min: typeof schema.minimum === "number" ? schema.minimum : -1000,
          max: typeof schema.maximum === "number" ? schema.maximum : 1000,
          noNaN: true,
          noDefaultInfinity: true
        })
      case "boolean":
        return fc.boolean()
      case "array": {
        const items = isRecord(schema.items) ? fromJsonSchema(schema.items) : fc.constant(null)
        return fc.array(items, {
          ...(typeof schema.minItems === "number" ? { minLength: schema.minItems } : {}),
          maxLength: typeof schema.maxItems === "number" ? schema.maxItems : 4
        })
      }
      default: {
        const props = isRecord(schema.properties) ? schema.properties : {}
        const required = Array.isArray(schema.required) ? schema.required.map(String) : []
        const model: Record<string, fc.Arbitrary<Json.Json>> = {}
        for (const [k, v] of Object.entries(props)) if (isRecord(v)) model[k] = fromJsonSchema(v)
        const record = fc.record(model, { requiredKeys: required.filter((r) => r in model) })
        if (isRecord(schema.additionalProperties)) {
          const extra = fc.dictionary(
            fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/),
            fromJsonSchema(schema.additionalProperties),
            { maxKeys: 3 }
          )
          return fc.tuple(record, extra).map(([r, e]) => ({ ...e, ...r }) as Json.Json)
        }
        return record as fc.Arbitrary<Json.Json>
      }
    }
  })()
  return nullable ? fc.option(base, { nil: null }) : base
}

/**
 * Specs of a resource from its Effect Schema (the one its CRD is generated from): values as
 * the API server would accept them.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import * as fc from "fast-check"
 * import { Arbitraries } from "@kubefx/testing"
 *
 * const Spec = Schema.Struct({ replicas: Schema.Int, image: Schema.String })
 * const specs = Arbitraries.fromSchema(Spec)
 * fc.sample(specs, 3)
 * ```
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const fromSchema = <S extends Schema.Top>(schema: S): fc.Arbitrary<S["Encoded"]> =>
  fromJsonSchema(Crd.fromSchema(schema)) as fc.Arbitrary<S["Encoded"]>

/**
 * Kubernetes object names (RFC 1123 labels), short.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const name: fc.Arbitrary<string> = fc.stringMatching(/^[a-z]([-a-z0-9]{0,8}[a-z0-9])?$/)

/**
 * One user action on a resource's objects (or on the operator, or the cluster).
 *
 * @since 0.1.0
 * @category models
 */
export type Action<Spec> =
  | { readonly _tag: "Create"; readonly name: string; readonly spec: Spec }
  | { readonly _tag: "Edit"; readonly name: string; readonly spec: Spec }
  | { readonly _tag: "Delete"; readonly name: string }
  | { readonly _tag: "Restart"; readonly crash: boolean }
  | { readonly _tag: "Faults"; readonly faults: Faults.Faults }
  | { readonly _tag: "Wait"; readonly millis: number }

/**
 * Options of {@link actions}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ActionOptions<Spec> {
  /** The names objects get (a small set, so actions meet the same objects). */
  readonly names: ReadonlyArray<string>
  /** Specs of created objects and of edits. */
  readonly spec: fc.Arbitrary<Spec>
  /** Include operator restarts (default true). */
  readonly restarts?: boolean | undefined
  /** Include fault changes (default true); `maxFault` bounds each fraction (default 0.2). */
  readonly faults?: boolean | undefined
  readonly maxFault?: number | undefined
  /** Longest wait between actions (default 30 s); waits are in milliseconds. */
  readonly maxWait?: Duration.Input | undefined
  readonly minLength?: number | undefined
  /** Default 20. */
  readonly maxLength?: number | undefined
}

/**
 * Sequences of actions (fast-check shrinks them to a short failing one).
 *
 * @example
 * ```ts
 * import * as fc from "fast-check"
 * import { Arbitraries } from "@kubefx/testing"
 *
 * const sequences = Arbitraries.actions({
 *   names: ["a", "b"],
 *   spec: fc.record({ size: fc.constantFrom("1G", "2G") })
 * })
 * ```
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const actions = <Spec>(
  options: ActionOptions<Spec>
): fc.Arbitrary<ReadonlyArray<Action<Spec>>> => {
  const names = fc.constantFrom(...options.names)
  const maxWait = Duration.toMillis(Duration.fromInputUnsafe(options.maxWait ?? "30 seconds"))
  const weighted: Array<fc.WeightedArbitrary<Action<Spec>>> = [
    {
      weight: 4,
      arbitrary: fc.record({
        _tag: fc.constant("Create" as const),
        name: names,
        spec: options.spec
      })
    },
    {
      weight: 3,
      arbitrary: fc.record({ _tag: fc.constant("Edit" as const), name: names, spec: options.spec })
    },
    { weight: 2, arbitrary: fc.record({ _tag: fc.constant("Delete" as const), name: names }) },
    {
      weight: 3,
      arbitrary: fc.record({
        _tag: fc.constant("Wait" as const),
        millis: fc.integer({ min: 0, max: maxWait })
      })
    }
  ]
  if (options.restarts ?? true)
    weighted.push({
      weight: 1,
      arbitrary: fc.record({ _tag: fc.constant("Restart" as const), crash: fc.boolean() })
    })
  if (options.faults ?? true)
    weighted.push({
      weight: 1,
      arbitrary: fc.record({
        _tag: fc.constant("Faults" as const),
        faults: Faults.arbitrary(options.maxFault ?? 0.2)
      })
    })
  return fc.array(fc.oneof(...weighted), {
    minLength: options.minLength ?? 0,
    maxLength: options.maxLength ?? 20
  })
}

/**
 * Where {@link perform} acts: the resource, the namespace, a client (the simulation's `admin`,
 * or a real one), and optionally the runner (for restarts) and the simulation (for faults).
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly resource: Resource.ApiResource
  readonly namespace: string
  readonly kube: KubeService
  readonly runner?: Runner.Runner | undefined
  readonly sim?: SimClusterService | undefined
}

/**
 * What an action did: `ok`, or the tag of the API error it met (a create of an existing object
 * is `AlreadyExists`, an edit of a missing one `NotFound`, a refused spec `Invalid`...).
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "ok" | KubeError.KubeError["_tag"] | "NotServed"

/**
 * Performs one action: creates the object, edits its spec (a merge patch from the current spec
 * to the new one), deletes it, restarts the operator (gracefully or by a crash), changes the
 * simulation's faults, or lets time pass. API errors are answered, not failed with.
 *
 * @since 0.1.0
 * @category interpreting
 */
export const perform = <Spec extends Json.Json>(
  action: Action<Spec>,
  target: Target
): Effect.Effect<Outcome> => {
  const { resource, namespace, kube } = target
  const body = (n: string, spec: Spec): KubeObject.KubeObject => ({
    apiVersion: Resource.apiVersion(resource),
    kind: resource.kind,
    metadata: { name: n, namespace },
    spec
  })
  const attempt = <A, E extends { readonly _tag: string }>(
    effect: Effect.Effect<A, E>
  ): Effect.Effect<Outcome> =>
    effect.pipe(
      Effect.as("ok" as Outcome),
      Effect.catch((e) => Effect.succeed(e._tag as Outcome))
    )
  switch (action._tag) {
    case "Create":
      return attempt(kube.create(resource, body(action.name, action.spec), { namespace }))
    case "Edit":
      return attempt(
        Effect.flatMap(kube.get(resource, action.name, { namespace }), (current) =>
          kube.patch(
            resource,
            action.name,
            ApiPatch.merge({
              spec: CorePatch.make(current.spec as Json.Json | undefined, action.spec as Json.Json)
            }),
            { namespace }
          )
        )
      )
    case "Delete":
      return attempt(kube.delete(resource, action.name, { namespace }))
    case "Restart":
      return target.runner === undefined
        ? Effect.succeed("ok")
        : attempt(target.runner.restart({ crash: action.crash }))
    case "Faults":
      return target.sim === undefined
        ? Effect.succeed("ok")
        : Effect.as(target.sim.setFaults(action.faults), "ok" as Outcome)
    case "Wait":
      return Effect.as(Runner.advance(Duration.millis(action.millis)), "ok" as Outcome)
  }
}
