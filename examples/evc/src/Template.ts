/**
 * The PVC template (`pvc.yaml`, as in Kopf's walkthrough), read with `yaml` and filled from the EVC.
 * Placeholders are replaced in the parsed document's string values, never in the YAML text,
 * so no value can change the document's structure. In label values they are replaced by the
 * values' label form (`Label.value`), since a label value holds at most 63 characters.
 */
import { readFileSync } from "node:fs"
import { Json } from "@kubefx/core"
import { parse } from "yaml"
import * as Label from "./Label.ts"

const template: Json.Json = parse(readFileSync(new URL("./pvc.yaml", import.meta.url), "utf8"))

const fill = (value: Json.Json, values: Readonly<Record<string, string>>): Json.Json => {
  if (typeof value === "string")
    return value.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole)
  if (Array.isArray(value)) return value.map((item) => fill(item, values))
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, values)]))
  return value
}

/** The PVC manifest for `name` of `size` in `storageClass` (`{name}` in a label: `Label.value`). */
export const render = (values: {
  readonly name: string
  readonly size: string
  readonly storageClass: string
}): Json.JsonObject => {
  const pvc = fill(template, values) as Json.JsonObject
  const labels = Json.get(template, "metadata.labels")
  if (labels === undefined) return pvc
  const labelValues = Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, Label.value(v)])
  )
  return Json.set(pvc, "metadata.labels", fill(labels, labelValues)) as Json.JsonObject
}
