/**
 * The example's YAML files in `deploy/` (CRD, StorageClass, RBAC, sample EVC), as objects for
 * the runtime's `Manifests.apply`: used by the demo and the tests.
 */
import { readFileSync } from "node:fs"
import type { Resource } from "@kubefx/runtime"
import { parseAllDocuments } from "yaml"

/** The documents of a YAML file in `deploy/`. */
export const read = (file: string): ReadonlyArray<Resource.KubeObject> =>
  parseAllDocuments(readFileSync(new URL(`../deploy/${file}`, import.meta.url), "utf8"))
    .map((document) => document.toJSON() as Resource.KubeObject | null)
    .filter((object): object is Resource.KubeObject => object !== null)
