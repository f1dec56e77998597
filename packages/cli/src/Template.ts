/**
 * The files of a new operator project (`kubefx init`): a Widget resource with its Schema and
 * CRD, a create handler, a simulated-cluster test, a Dockerfile and a README with the next
 * commands. Pure: a project name and the dependencies' versions in, file contents out.
 *
 * @since 0.1.0
 */

/**
 * One file of the project, its path relative to the project's folder.
 *
 * @since 0.1.0
 * @category models
 */
export interface File {
  readonly path: string
  readonly content: string
}

/**
 * The packages a project depends on, each with the version to ask for.
 *
 * @since 0.1.0
 * @category models
 */
export type Versions = (name: string) => string

const packageJson = (name: string, version: Versions): string =>
  `${JSON.stringify(
    {
      name,
      version: "0.1.0",
      private: true,
      type: "module",
      engines: { node: ">=22.19.0" },
      scripts: {
        test: "tsc --noEmit && vitest run",
        crd: "kubefx generate crd src/operator.ts",
        start: "kubefx run src/operator.ts"
      },
      dependencies: Object.fromEntries(
        ["@kubefx/core", "@kubefx/runtime", "effect", "kubefx"].map((p) => [p, version(p)])
      ),
      devDependencies: Object.fromEntries(
        ["@effect/vitest", "@kubefx/testing", "@types/node", "typescript", "vitest"].map((p) => [
          p,
          version(p)
        ])
      )
    },
    null,
    2
  )}\n`

const tsconfig = `${JSON.stringify(
  {
    compilerOptions: {
      target: "ES2023",
      lib: ["ES2023"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      types: ["node"],
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      erasableSyntaxOnly: true,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      noEmit: true
    },
    include: ["src", "test"]
  },
  null,
  2
)}\n`

const widget = `/** The Widget resource: its spec as an Effect Schema, from which the CRD comes. */
import { Crd, Resource } from "@kubefx/core"
import { Schema } from "effect"

export const WidgetSpec = Schema.Struct({
  colour: Schema.String,
  size: Schema.optionalKey(Schema.Int)
})

export const widgets = Resource.make({
  group: "example.com",
  version: "v1",
  plural: "widgets",
  kind: "Widget",
  spec: WidgetSpec
})

/** The CRD manifest (\`npm run crd\` prints it). */
export const crd = Crd.make({
  group: widgets.group,
  kind: widgets.kind,
  plural: widgets.plural,
  versions: [{ name: widgets.version, spec: WidgetSpec }]
})
`

const operator = `/**
 * The operator: \`kubefx run src/operator.ts\` runs its \`registry\`. Export a \`layer\` too when
 * the handlers need services of your own.
 */
import { Handler, Registry } from "@kubefx/core"
import { Effect } from "effect"
import { widgets } from "./Widget.ts"

export { crd } from "./Widget.ts"

/** On creation: its result lands in \`status.paint\`. */
export const paint = Handler.onCreate(widgets, { id: "paint" }, (ctx) =>
  Effect.gen(function* () {
    yield* ctx.logger.info(\`painting \${ctx.name} \${ctx.spec.colour}\`)
    return { colour: ctx.spec.colour }
  })
)

export const registry = Registry.make(paint)
`

const test = `/** The operator against a simulated cluster, under Effect's test clock: no cluster needed. */
import { it } from "@effect/vitest"
import { Json } from "@kubefx/core"
import { Runner, SimCluster } from "@kubefx/testing"
import { Effect, Option } from "effect"
import { crd, registry } from "../src/operator.ts"
import { widgets } from "../src/Widget.ts"

it.effect("a new widget is painted", () =>
  Effect.gen(function* () {
    const sim = yield* SimCluster.SimCluster
    yield* Runner.make(registry, { namespaces: ["default"] })
    yield* sim.admin.create(widgets, {
      metadata: { name: "w", namespace: "default" },
      spec: { colour: "blue" }
    })
    yield* Runner.eventually(
      Effect.flatMap(sim.find(widgets, "w", "default"), (w) =>
        Option.isSome(w) && Json.get(w.value, "status.paint.colour") === "blue"
          ? Effect.void
          : Effect.fail("not painted yet")
      )
    )
  }).pipe(Effect.provide(SimCluster.layer({ objects: [crd] })))
)
`

const dockerfile = `FROM node:24-slim
WORKDIR /operator
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY src ./src
USER node
CMD ["node_modules/.bin/kubefx", "run", "src/operator.ts", "--in-cluster"]
`

const readme = (name: string) => `# ${name}

A Kubernetes operator written with [kubefx](https://www.npmjs.com/package/kubefx).

- \`src/Widget.ts\`: the Widget resource, its Schema and CRD
- \`src/operator.ts\`: the handlers and their registry
- \`test/operator.test.ts\`: a test against a simulated cluster

## Next

\`\`\`sh
npm install
npm test                                                 # type-check, then the tests
npx kubefx generate crd src/operator.ts | kubectl apply -f -
npx kubefx run src/operator.ts -n default                # Ctrl-C stops it
kubectl apply -f - <<EOF
apiVersion: example.com/v1
kind: Widget
metadata: { name: w, namespace: default }
spec: { colour: blue }
EOF
kubectl get widget w -o jsonpath='{.status.paint}'
\`\`\`

To deploy it: build the image (\`docker build -t ${name}:0.1.0 .\`), then
\`npx kubefx generate rbac src/operator.ts --name ${name}\` and
\`npx kubefx generate deploy src/operator.ts --name ${name} --image ${name}:0.1.0\`.
`

/**
 * The project's files.
 *
 * @example
 * ```ts
 * import { Template } from "kubefx"
 *
 * const files = Template.files("demo-op", () => "1.0.0")
 * files.map((f) => f.path) // ["package.json", "tsconfig.json", ...]
 * ```
 *
 * @since 0.1.0
 * @category templates
 */
export const files = (name: string, versions: Versions): ReadonlyArray<File> => [
  { path: "package.json", content: packageJson(name, versions) },
  { path: "tsconfig.json", content: tsconfig },
  { path: "src/Widget.ts", content: widget },
  { path: "src/operator.ts", content: operator },
  { path: "test/operator.test.ts", content: test },
  { path: "Dockerfile", content: dockerfile },
  { path: ".gitignore", content: "node_modules\n" },
  { path: "README.md", content: readme(name) }
]
