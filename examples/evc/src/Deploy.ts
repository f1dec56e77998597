/**
 * The example's YAML files in `deploy/` (CRD, StorageClass, RBAC, sample EVC), as objects for
 * the runtime's `Manifests.apply`: used by the demo and the tests.
 */
import { readFileSync } from "node:fs"
import type { KubeObject } from "@kubefx/core"
import { parseAllDocuments } from "yaml"

/** The documents of a YAML file in `deploy/`. */
export const read = (file: string): ReadonlyArray<KubeObject.KubeObject> =>
  parseAllDocuments(readFileSync(new URL(`../deploy/${file}`, import.meta.url), "utf8"))
    .map((document) => document.toJSON() as KubeObject.KubeObject | null)
    .filter((object): object is KubeObject.KubeObject => object !== null)
