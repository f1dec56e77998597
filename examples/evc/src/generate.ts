/**
 * Writes `deploy/crd.yaml` from the EVC's schemas (`src/Evc.ts`).
 *
 *   sh scripts/dev.sh --filter @kubefx/example-evc generate
 *
 * A unit test fails when the file is out of date.
 */
import { writeFileSync } from "node:fs"
import { stringify } from "yaml"
import { crd } from "./Evc.ts"

export const crdPath = new URL("../deploy/crd.yaml", import.meta.url)

export const crdYaml = (): string =>
  `# Generated from examples/evc/src/Evc.ts by \`pnpm --filter @kubefx/example-evc generate\`; do not edit.\n${stringify(crd)}`

if (import.meta.main) {
  writeFileSync(crdPath, crdYaml())
  console.log(`wrote ${crdPath.pathname}`)
}
