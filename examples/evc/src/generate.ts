/**
 * Writes the generated files of `deploy/`: `crd.yaml` from the EVC's schemas (`src/Evc.ts`),
 * `rbac.yaml` and `deployment.yaml` from the handlers' registry (`src/handlers.ts`), as
 * `kubefx generate crd|rbac|deploy` does.
 *
 *   sh scripts/dev.sh --filter @kubefx/example-evc generate
 *
 * A unit test fails when a file is out of date.
 */
import { writeFileSync } from "node:fs"
import type { KubeObject } from "@kubefx/core"
import { Deployment, Rbac } from "@kubefx/runtime"
import { stringify } from "yaml"
import { crd } from "./Evc.ts"
import { registry } from "./handlers.ts"

/** The ServiceAccount, roles and Deployment of the example are all named so, in this namespace. */
export const account = { name: "kubefx-evc", namespace: "kubefx-system" }

/** The port of the probes and metrics in the pod (`main.ts --health-port`). */
export const healthPort = 8080

/** The image `Dockerfile` builds (see the README). */
export const image = "kubefx-evc:0.0.0"

const header = (from: string) =>
  `# Generated from examples/evc/src/${from} by \`pnpm --filter @kubefx/example-evc generate\`; do not edit.\n`

const documents = (objects: ReadonlyArray<KubeObject.KubeObject>): string =>
  objects.map((o) => stringify(o)).join("---\n")

export const crdPath = new URL("../deploy/crd.yaml", import.meta.url)

/** `deploy/crd.yaml` as it must be. */
export const crdYaml = (): string => header("Evc.ts") + stringify(crd)

/** Each generated file and its content. */
export const files = (): ReadonlyArray<{ readonly path: URL; readonly content: string }> => [
  { path: crdPath, content: crdYaml() },
  {
    path: new URL("../deploy/rbac.yaml", import.meta.url),
    content: header("handlers.ts") + documents(Rbac.manifests(registry, account))
  },
  {
    path: new URL("../deploy/deployment.yaml", import.meta.url),
    content:
      header("handlers.ts") +
      documents(
        Deployment.manifests(registry, {
          ...account,
          image,
          args: ["--in-cluster", "--log-format", "json", "--health-port", String(healthPort)],
          healthPort,
          env: { EVC_STORAGE_CLASS: "kubefx-expandable" }
        })
      )
  }
]

if (import.meta.main) {
  for (const file of files()) {
    writeFileSync(file.path, file.content)
    console.log(`wrote ${file.path.pathname}`)
  }
}
