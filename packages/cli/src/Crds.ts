/**
 * The CRDs of an operator module, as `kubefx generate crd` prints them: one per custom resource
 * its handlers serve, built by core's `Crd.make` from the resources' spec Schemas (each version
 * a handler declares, the first one stored). A CRD manifest the module exports itself (a value
 * of kind `CustomResourceDefinition`, or an array of them: with printer columns, a status
 * Schema, short names) replaces the one derived for the same resource.
 *
 * @since 0.1.0
 */
import {
  Conversion,
  Crd,
  type Json,
  type KubeObject,
  type Registry,
  type Resource
} from "@kubefx/core"
import { Settings } from "@kubefx/runtime"
import type { Schema } from "effect"
import { Failure } from "./Failure.ts"

interface Served {
  readonly resource: Resource.ApiResource
  readonly versions: Map<string, Schema.Top | undefined>
}

const isCrd = (value: unknown): value is KubeObject.KubeObject =>
  typeof value === "object" &&
  value !== null &&
  (value as { kind?: unknown }).kind === "CustomResourceDefinition" &&
  typeof (value as { metadata?: { name?: unknown } }).metadata?.name === "string"

/**
 * The CRD manifests a module's exports hold (single values and arrays).
 *
 * @example
 * ```ts
 * import { Crds } from "kubefx"
 *
 * Crds.exported({ x: 1 }).length // 0
 * ```
 *
 * @since 0.1.0
 * @category reading
 */
export const exported = (
  exports: Readonly<Record<string, unknown>>
): ReadonlyArray<KubeObject.KubeObject> =>
  Object.values(exports).flatMap((value) =>
    Array.isArray(value) ? value.filter(isCrd) : isCrd(value) ? [value] : []
  )

const served = (registry: Registry.Registry<unknown>): ReadonlyArray<Served> => {
  const out = new Map<string, Served>()
  const declared = [
    ...registry.handlers.map((h) => ({ resource: h.resource, spec: h.spec })),
    ...registry.webhooks.map((w) => ({ resource: w.resource, spec: w.spec }))
  ]
  for (const handler of declared) {
    const resource = handler.resource
    if (resource === undefined || Settings.isBuiltInGroup(resource.group)) continue
    const name = `${resource.plural}.${resource.group}`
    const entry = out.get(name) ?? { resource, versions: new Map() }
    if (!entry.versions.has(resource.version) || entry.versions.get(resource.version) === undefined)
      entry.versions.set(resource.version, handler.spec as Schema.Top | undefined)
    out.set(name, entry)
  }
  return [...out.values()]
}

const derive = (entry: Served, file: string): KubeObject.KubeObject => {
  const { resource } = entry
  const versions = [...entry.versions].map(([name, spec]) => {
    if (spec === undefined)
      throw new Failure({
        message: `${resource.plural}.${resource.group}/${name} has no spec Schema, so ${file} gives no CRD for it; declare it with Resource.make({ ..., spec: Schema.Struct({ ... }) })`
      })
    return { name, spec }
  })
  return Crd.make({
    group: resource.group,
    kind: resource.kind,
    plural: resource.plural,
    scope: resource.namespaced ? "Namespaced" : "Cluster",
    versions
  }) as KubeObject.KubeObject
}

/**
 * The CRDs for a loaded module (see the module's documentation), or the line that says why
 * there are none.
 *
 * @example
 * ```ts
 * import { Handler, Registry, Resource } from "@kubefx/core"
 * import { Effect, Schema } from "effect"
 * import { Crds } from "kubefx"
 *
 * const widgets = Resource.make({
 *   group: "example.com", version: "v1", plural: "widgets", kind: "Widget",
 *   spec: Schema.Struct({ colour: Schema.String })
 * })
 * const registry = Registry.make(Handler.onCreate(widgets, () => Effect.void))
 * const crds = Crds.of(registry, {}, "src/operator.ts")
 * ```
 *
 * @since 0.1.0
 * @category generating
 */
export const of = (
  registry: Registry.Registry<unknown>,
  exports: Readonly<Record<string, unknown>>,
  file: string,
  conversionClient?: (path: string) => Json.JsonObject
): ReadonlyArray<KubeObject.KubeObject> => {
  const given = new Map(exported(exports).map((crd) => [crd.metadata?.name ?? "", crd]))
  const versioned = new Map(
    registry.conversions.map((v) => [
      `${v.plural}.${v.group}`,
      Conversion.crd(v, conversionClient?.(Conversion.path(v))) as KubeObject.KubeObject
    ])
  )
  const derived = served(registry)
    .map((entry) => `${entry.resource.plural}.${entry.resource.group}`)
    .filter((name) => !versioned.has(name))
  const crds = [
    ...[...versioned].map(([name, crd]) => given.get(name) ?? crd),
    ...served(registry)
      .filter((entry) => derived.includes(`${entry.resource.plural}.${entry.resource.group}`))
      .map(
        (entry) =>
          given.get(`${entry.resource.plural}.${entry.resource.group}`) ?? derive(entry, file)
      )
  ]
  if (crds.length === 0)
    throw new Failure({
      message: `no custom resource in ${file}: its handlers serve built-in resources or select by name only; declare a custom one with Resource.make({ group, version, plural, kind, spec })`
    })
  return crds
}
