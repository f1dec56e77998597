/**
 * The four kinds of PATCH the API server accepts, as values.
 *
 * - **merge** (`application/merge-patch+json`, RFC 7386): objects merge, `null` deletes a key,
 *   lists are replaced whole. Works for every resource, custom ones included.
 * - **json** (`application/json-patch+json`, RFC 6902): a list of operations with JSON pointers;
 *   `test` operations give optimistic concurrency without a resourceVersion.
 * - **strategic** (`application/strategic-merge-patch+json`): like merge, but lists of built-in
 *   types merge by their key (containers by name...). Not served for custom resources (415).
 * - **apply** (`application/apply-patch+yaml`, server-side apply): the full intent of one field
 *   manager; requires a `fieldManager`, `force` takes fields owned by other managers.
 *
 * @since 0.1.0
 */

/**
 * One RFC 6902 operation.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonPatchOperation =
  | { readonly op: "add" | "replace" | "test"; readonly path: string; readonly value: unknown }
  | { readonly op: "remove"; readonly path: string }
  | { readonly op: "move" | "copy"; readonly from: string; readonly path: string }

/**
 * A patch, tagged by its kind.
 *
 * @since 0.1.0
 * @category models
 */
export type Patch =
  | { readonly _tag: "Merge"; readonly body: unknown }
  | { readonly _tag: "Json"; readonly operations: ReadonlyArray<JsonPatchOperation> }
  | { readonly _tag: "Strategic"; readonly body: unknown }
  | {
      readonly _tag: "Apply"
      readonly body: unknown
      readonly fieldManager: string
      readonly force: boolean
    }

/**
 * A JSON merge patch (RFC 7386).
 *
 * @example
 * ```ts
 * import { ApiPatch } from "@kubefx/runtime"
 *
 * const addLabel = ApiPatch.merge({ metadata: { labels: { app: "x" } } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const merge = (body: unknown): Patch => ({ _tag: "Merge", body })

/**
 * A JSON patch (RFC 6902).
 *
 * @example
 * ```ts
 * import { ApiPatch } from "@kubefx/runtime"
 *
 * const bump = ApiPatch.json([{ op: "replace", path: "/spec/replicas", value: 3 }])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const json = (operations: ReadonlyArray<JsonPatchOperation>): Patch => ({
  _tag: "Json",
  operations
})

/**
 * A strategic merge patch (built-in types only).
 *
 * @example
 * ```ts
 * import { ApiPatch } from "@kubefx/runtime"
 *
 * const image = ApiPatch.strategic({ spec: { containers: [{ name: "app", image: "nginx:2" }] } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const strategic = (body: unknown): Patch => ({ _tag: "Strategic", body })

/**
 * A server-side apply of the full intent of `fieldManager` (sent as JSON, which is YAML).
 *
 * @example
 * ```ts
 * import { ApiPatch } from "@kubefx/runtime"
 *
 * const intent = ApiPatch.apply(
 *   { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "default" }, data: { a: "1" } },
 *   { fieldManager: "my-operator", force: true }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const apply = (
  body: unknown,
  options: { readonly fieldManager: string; readonly force?: boolean }
): Patch => ({
  _tag: "Apply",
  body,
  fieldManager: options.fieldManager,
  force: options.force ?? false
})

/**
 * The `Content-Type` of a patch.
 *
 * @example
 * ```ts
 * import { ApiPatch } from "@kubefx/runtime"
 *
 * ApiPatch.contentType(ApiPatch.merge({})) // => "application/merge-patch+json"
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const contentType = (patch: Patch): string => {
  switch (patch._tag) {
    case "Merge":
      return "application/merge-patch+json"
    case "Json":
      return "application/json-patch+json"
    case "Strategic":
      return "application/strategic-merge-patch+json"
    case "Apply":
      return "application/apply-patch+yaml"
  }
}

/**
 * The request body of a patch, serialised.
 *
 * @example
 * ```ts
 * import { ApiPatch } from "@kubefx/runtime"
 *
 * ApiPatch.body(ApiPatch.json([{ op: "remove", path: "/a" }])) // => '[{"op":"remove","path":"/a"}]'
 * ```
 *
 * @since 0.1.0
 * @category getters
 */
export const body = (patch: Patch): string =>
  JSON.stringify(patch._tag === "Json" ? patch.operations : patch.body)
