/**
 * The user's path, proven: every publishable package is packed, a project in a temporary folder
 * outside the workspace installs the tarballs with npm, compiles a small operator with tsc
 * (strict, NodeNext, no skipLibCheck) and runs it with plain node, on Node 22 and on Node 24,
 * against the local control plane; the operator annotates the ConfigMap it is shown. Then the
 * installed `kubefx init` writes a new project in another temporary folder, which installs the
 * tarballs and passes its own `npm test`.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@kubefx/controlplane"
import { Builtins } from "@kubefx/core"
import { Kube } from "@kubefx/runtime"
import { Effect, Layer, Schedule } from "effect"
import { Command, Pack, Toolchain } from "../src/index.ts"

/** The packages a user installs; any other package that is not `private` is packed and checked too. */
const published = [
  "@kubefx/controlplane",
  "@kubefx/core",
  "@kubefx/runtime",
  "@kubefx/testing",
  "kubefx"
]

const Cluster = Layer.effect(
  Kube,
  Effect.gen(function* () {
    const cp = yield* ControlPlane.ControlPlane
    return yield* Kube.make(yield* Kube.loadFile(cp.kubeconfig))
  })
).pipe(Layer.provideMerge(ControlPlane.layer))

/** A folder for the tarballs, removed with the scope. */
const scratch = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "kubefx-tarballs-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The package.json a tarball carries, and the files it holds. */
const inspect = (tarball: string) =>
  Effect.all({
    manifest: Command.run("tar", ["xzf", tarball, "-O", "package/package.json"]).pipe(
      Effect.map((text) => JSON.parse(text) as Record<string, unknown>)
    ),
    files: Command.run("tar", ["tzf", tarball]).pipe(Effect.map((out) => out.trim().split("\n")))
  })

const checkTarball = (name: string, tarball: string) =>
  Effect.gen(function* () {
    const { manifest, files } = yield* inspect(tarball)
    const text = JSON.stringify(manifest)
    assert.notInclude(text, "workspace:", `${name}: workspace: ranges left in ${text}`)
    assert.deepStrictEqual(manifest.exports, {
      ".": { types: "./dist/index.d.ts", default: "./dist/index.js" }
    })
    assert.strictEqual(manifest.version, "0.1.0")
    assert.deepStrictEqual(
      manifest.peerDependencies,
      // the testing package's ClusterRunner starts the local control plane when there is one
      name === "@kubefx/testing"
        ? { "@kubefx/controlplane": "^0.1.0", effect: ">=4.1.0 <5" }
        : { effect: ">=4.1.0 <5" }
    )
    assert.isUndefined(manifest.private)
    for (const file of ["LICENSE", "README.md", "CHANGELOG.md", "dist/index.js", "dist/index.d.ts"])
      assert.include(files, `package/${file}`, `${name} lacks ${file}`)
    assert.include(files, "package/dist/index.js.map")
    assert.include(files, "package/dist/index.d.ts.map")
    assert.include(files, "package/src/index.ts", `${name}: the source maps' sources`)
    assert.isFalse(
      files.some((f) => f.includes("/test/") || f.includes("tsbuildinfo")),
      `${name} ships tests or build info: ${files.join(", ")}`
    )
    return manifest
  })

const operatorProject = (tarballs: Pack.Tarballs) =>
  Pack.tempProject({
    tarballs,
    packageJson: {
      type: "module",
      scripts: { build: "tsc -p ." },
      dependencies: {
        ...Object.fromEntries(Object.keys(tarballs).map((n) => [n, "0.1.0"])),
        effect: "4.1.0"
      },
      devDependencies: { "@types/node": "24.19.2", typescript: "6.0.3" }
    },
    files: Pack.readFiles(join(import.meta.dirname, "../project"), [
      "tsconfig.json",
      "src/operator.ts",
      "src/packages.ts"
    ])
  })

/** What `dist/packages.js` prints: each entry point's export names. */
type Loaded = Record<"Core" | "Runtime" | "Testing" | "ControlPlane", Array<string>> & {
  readonly certificate: boolean
}

/** Runs the compiled operator with `node` against the cluster until it annotates a ConfigMap. */
const handlesAConfigMap = (project: Pack.Project, node: string, kubeconfig: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const kube = yield* Kube
      const version = (yield* Command.run(node, ["--version"])).trim().slice(1)
      const namespace = `install-node${version.split(".")[0]}-${Date.now().toString(36)}`
      yield* Effect.acquireRelease(
        kube.create(Builtins.namespaces, {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: namespace }
        }),
        () => kube.delete(Builtins.namespaces, namespace).pipe(Effect.ignore)
      )
      const loaded = JSON.parse(yield* project.run(node, ["dist/packages.js"])) as Loaded
      assert.include(loaded.Core, "Registry")
      assert.include(loaded.Runtime, "Operator")
      assert.include(loaded.Testing, "SimCluster")
      assert.include(loaded.ControlPlane, "ControlPlane")
      assert.include(loaded.Core, "Admission")
      assert.isTrue(loaded.certificate, "a webhook certificate is generated")
      const operator = yield* Command.background(node, ["dist/operator.js"], {
        cwd: project.dir,
        env: { ...process.env, KUBECONFIG: kubeconfig, NAMESPACE: namespace }
      })
      yield* kube.create(Builtins.configMaps, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "hello", namespace },
        data: { greeting: "hi" }
      })
      const greeted = yield* kube.get(Builtins.configMaps, "hello", { namespace }).pipe(
        Effect.flatMap((cm) => {
          const value = cm.metadata?.annotations?.["example.com/greeted-by"]
          return value === undefined
            ? Effect.fail("not yet annotated" as const)
            : Effect.succeed(value)
        }),
        Effect.retry({ schedule: Schedule.spaced("250 millis"), times: 240 }),
        Effect.catch(() =>
          Effect.die(
            new Error(`the operator on Node ${version} did not annotate:\n${operator.output()}`)
          )
        )
      )
      assert.strictEqual(greeted, `node ${version}`)
      assert.isUndefined(operator.exitCode(), `the operator exited:\n${operator.output()}`)
      return version
    })
  )

/** `kubefx init` of the installed command, then the new project's `npm install` and `npm test`. */
const initProjectPasses = (project: Pack.Project, tarballs: Pack.Tarballs) =>
  Effect.gen(function* () {
    const parent = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "kubefx-init-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const dir = join(parent, "demo-op")
    yield* project.run(join(project.dir, "node_modules/.bin/kubefx"), ["init", dir])
    yield* Pack.installFrom(dir, tarballs)
    const out = yield* Command.run("npm", ["test"], { cwd: dir })
    assert.include(out, "1 passed")
  }).pipe(Effect.scoped)

layer(Cluster, { excludeTestServices: true, timeout: "10 minutes" })("install", (it) => {
  it.effect(
    "a project outside the workspace installs the tarballs, compiles an operator with tsc and runs it on Node 22 and 24",
    () =>
      Effect.gen(function* () {
        const cp = yield* ControlPlane.ControlPlane
        const tarballs = yield* Pack.packAll(yield* scratch)
        for (const name of published) assert.isDefined(tarballs[name], `${name} was not packed`)
        for (const [name, tarball] of Object.entries(tarballs)) yield* checkTarball(name, tarball)
        const runtime = yield* checkTarball("@kubefx/runtime", tarballs["@kubefx/runtime"]!)
        assert.deepInclude(runtime.dependencies, { "@kubefx/core": "0.1.0" })
        const controlplane = yield* inspect(tarballs["@kubefx/controlplane"]!)
        assert.include(controlplane.files, "package/go/go.mod")
        assert.include(controlplane.files, "package/go/go.sum")
        assert.deepStrictEqual(controlplane.manifest.bin, {
          "kubefx-controlplane": "./bin/kubefx-controlplane.js"
        })

        const project = yield* operatorProject(tarballs)
        yield* project.run("npm", ["run", "build"])
        const node22 = yield* Toolchain.node(Toolchain.node22)
        const versions = [
          yield* handlesAConfigMap(project, node22, cp.kubeconfig),
          yield* handlesAConfigMap(project, process.execPath, cp.kubeconfig)
        ]
        assert.deepStrictEqual(
          versions.map((v) => v.split(".")[0]),
          ["22", "24"]
        )
        yield* initProjectPasses(project, tarballs)
      }),
    { timeout: 600_000 }
  )
})
