/**
 * The PVC template (`pvc.yaml`, as in the seeds), read with `yaml` and filled from the EVC.
 * Placeholders are replaced in the parsed document's string values, never in the YAML text,
 * so no value can change the document's structure.
 */
import { readFileSync } from "node:fs"
import type { Json } from "@kubefx/core"
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

/** The PVC manifest for `name` of `size` in `storageClass`, labelled with `Label.value(name)`. */
export const render = (values: {
  readonly name: string
  readonly size: string
  readonly storageClass: string
}): Json.JsonObject =>
  fill(template, { ...values, nameLabel: Label.value(values.name) }) as Json.JsonObject
