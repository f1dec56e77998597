/**
 * Type-checks the examples of the documentation, so that they cannot go stale: every ```ts
 * block of a JSDoc comment in the workspace's sources and of the READMEs becomes a module of
 * its own, and one `tsc -b` run checks them all against the packages' public APIs.
 *
 * The rules for an example:
 * - a block is a module: it imports what it uses (`@kubefx/core`, `@kubefx/runtime`,
 *   `@kubefx/testing`, `@kubefx/controlplane`, `effect`, ...); values it only talks about can be
 *   brought in with `declare const x: T`. Top-level `await` is allowed. Unused names are not
 *   errors (an example may build a value only to show how).
 * - a block that is pseudo-code is skipped when its fence says so: ```ts skip (a word after
 *   the language, which editors and GitHub ignore).
 *
 * - a README example may import the reader's operator from `../src/index.ts` (as a test file
 *   would): that is `scripts/examples/operator.ts`, a small Widget operator.
 *
 * The modules are written to a temporary folder outside the clone whose `node_modules` links
 * to the workspace packages and their dependencies; the project references the packages' own
 * projects, so the examples are checked against their declarations (`tsc -b` builds them
 * first if they are out of date). Each failure is printed as the source file and line it is
 * about, and tsc's message.
 *
 * Run: `node scripts/check-examples.ts` (Node 24; `--keep` keeps the folder and prints it).
 *
 * @since 0.1.0
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** One example: where its first code line is, and its code. */
interface Block {
  readonly file: string
  readonly line: number
  readonly code: string
}

const root = path.resolve(import.meta.dirname, "..")

/** The workspace's packages whose projects (their declarations) the examples are checked against. */
const packages: Record<string, string> = {
  "@kubefx/core": "packages/core",
  "@kubefx/runtime": "packages/runtime",
  "@kubefx/testing": "packages/testing",
  kubefx: "packages/cli",
  "@kubefx/controlplane": "test/controlplane",
  "@kubefx/install-test": "test/install",
  "@kubefx/example-evc": "examples/evc"
}

/** Workspace packages without a project others reference: examples check against their sources. */
const leaves: Record<string, string> = {}

/** The folders whose `.ts` files' JSDoc examples are checked. */
const sourceDirs = [
  "packages/core/src",
  "packages/runtime/src",
  "packages/testing/src",
  "packages/cli/src",
  "test/controlplane/src",
  "test/install/src",
  "examples/evc/src"
]

/** The READMEs whose ```ts blocks are checked. */
const readmes = [
  "README.md",
  "packages/core/README.md",
  "packages/runtime/README.md",
  "packages/testing/README.md",
  "packages/cli/README.md",
  "test/controlplane/README.md",
  "examples/evc/README.md",
  "examples/evc/test/faults/README.md",
  "test/controlplane/README.md"
]

const walk = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return walk(full)
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [full] : []
  })

const fence = /^(\s*)```(\S*)(.*)$/

/**
 * The ```ts blocks of some lines: `lines[i]` is line `first + i` of `file`. Skipped blocks
 * (```ts skip) are counted in `skipped`; a block without its closing fence is checked as far
 * as it goes.
 */
const blocksOf = (
  file: string,
  lines: ReadonlyArray<string>,
  first: number,
  skipped: { count: number }
): Array<Block> => {
  const out: Array<Block> = []
  let open: { line: number; indent: number; skip: boolean; code: Array<string> } | undefined
  lines.forEach((text, i) => {
    const m = fence.exec(text)
    if (open === undefined) {
      if (m === null || !["ts", "typescript"].includes(m[2] ?? "")) return
      const skip = /\bskip\b/.test(m[3] ?? "")
      open = { line: first + i + 1, indent: (m[1] ?? "").length, skip, code: [] }
    } else if (m !== null && m[2] === "" && (m[3] ?? "").trim() === "") {
      if (open.skip) skipped.count++
      else out.push({ file, line: open.line, code: open.code.join("\n") })
      open = undefined
    } else {
      open.code.push(text.slice(Math.min(open.indent, text.search(/\S|$/))))
    }
  })
  if (open !== undefined && !open.skip)
    out.push({ file, line: open.line, code: open.code.join("\n") })
  return out
}

/** The JSDoc comments of a source file, each as its lines without the leading ` * `. */
const jsdocBlocks = (file: string, skipped: { count: number }): Array<Block> => {
  const text = fs.readFileSync(file, "utf8")
  const out: Array<Block> = []
  for (const match of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const first = text.slice(0, match.index).split("\n").length
    const lines = match[0].split("\n").map((l) => l.replace(/^\s*\/?\*+\/?\s?/, ""))
    out.push(...blocksOf(file, lines, first, skipped))
  }
  return out
}

const markdownBlocks = (file: string, skipped: { count: number }): Array<Block> =>
  blocksOf(file, fs.readFileSync(file, "utf8").split("\n"), 1, skipped)

/** Links `name` in `modules` to the first workspace `node_modules` that has it. */
const linkDependencies = (modules: string) => {
  const seen = new Set<string>()
  for (const [name, dir] of Object.entries({ ...packages, ...leaves })) {
    seen.add(name)
    fs.mkdirSync(path.join(modules, "@kubefx"), { recursive: true })
    fs.symlinkSync(path.join(root, dir), path.join(modules, name), "dir")
  }
  const homes = [".", ...Object.values(packages), ...Object.values(leaves), "bench"]
  for (const home of homes) {
    const nm = path.join(root, home, "node_modules")
    if (!fs.existsSync(nm)) continue
    for (const entry of fs.readdirSync(nm)) {
      if (entry.startsWith(".")) continue
      const names = entry.startsWith("@")
        ? fs.readdirSync(path.join(nm, entry)).map((n) => `${entry}/${n}`)
        : [entry]
      for (const name of names) {
        if (seen.has(name)) continue
        seen.add(name)
        const target = fs.realpathSync(path.join(nm, name))
        fs.mkdirSync(path.dirname(path.join(modules, name)), { recursive: true })
        fs.symlinkSync(target, path.join(modules, name), "dir")
      }
    }
  }
}

/** The reader's operator that README examples import as `../src/index.ts`. */
const fixture = path.join(root, "scripts", "examples", "operator.ts")

/**
 * Writes the blocks as modules (`test/example<i>.ts`, beside `src/index.ts`, the fixture) and
 * the project that checks them; returns its tsconfig.
 */
const writeProject = (dir: string, blocks: ReadonlyArray<Block>): string => {
  linkDependencies(path.join(dir, "node_modules"))
  fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module", "private": true }\n')
  fs.mkdirSync(path.join(dir, "src"))
  fs.mkdirSync(path.join(dir, "test"))
  fs.copyFileSync(fixture, path.join(dir, "src", "index.ts"))
  blocks.forEach((block, i) => {
    fs.writeFileSync(path.join(dir, "test", `example${i}.ts`), `${block.code}\nexport {}\n`)
  })
  const tsconfig = path.join(dir, "tsconfig.json")
  const config = {
    extends: path.join(root, "tsconfig.base.json"),
    compilerOptions: {
      noUnusedLocals: false,
      noUnusedParameters: false,
      rewriteRelativeImportExtensions: false
    },
    include: ["src", "test"],
    references: Object.values(packages).map((p) => ({ path: path.join(root, p) }))
  }
  fs.writeFileSync(tsconfig, JSON.stringify(config, null, 2))
  return tsconfig
}

/**
 * Prints tsc's output with each diagnostic of an example moved to the source line it is about
 * (and the fixture's to the fixture); returns how many examples failed.
 */
const report = (dir: string, blocks: ReadonlyArray<Block>, output: string): number => {
  const failed = new Set<number>()
  for (const line of output.split("\n")) {
    const m = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(line)
    if (m === null) {
      if (line.trim() !== "") console.error(line.replaceAll(dir, "<examples>"))
      continue
    }
    const file = path.resolve(root, m[1] ?? "")
    const example = /^example(\d+)\.ts$/.exec(path.relative(path.join(dir, "test"), file))
    const i = example === null ? -1 : Number(example[1])
    const block = blocks[i]
    if (block !== undefined) failed.add(i)
    const source = file === path.join(dir, "src", "index.ts") ? fixture : file
    const at =
      block === undefined
        ? `${path.relative(root, source)}:${m[2]}`
        : `${path.relative(root, block.file)}:${block.line + Number(m[2]) - 1}`
    console.error(`${at}:${m[3]}: ${m[4]}`)
  }
  return failed.size
}

const main = () => {
  const keep = process.argv.includes("--keep")
  const skipped = { count: 0 }
  const sources = sourceDirs.flatMap((d) => walk(path.join(root, d))).sort()
  const blocks = sources
    .flatMap((f) => jsdocBlocks(f, skipped))
    .concat(readmes.flatMap((f) => markdownBlocks(path.join(root, f), skipped)))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubefx-examples-"))
  try {
    const tsconfig = writeProject(dir, blocks)
    const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
    const run = spawnSync(process.execPath, [tsc, "-b", tsconfig, "--pretty", "false"], {
      encoding: "utf8"
    })
    const failed = report(dir, blocks, `${run.stdout}${run.stderr}`)
    const summary = `${blocks.length} examples checked, ${skipped.count} skipped`
    if (run.status !== 0) {
      console.error(
        `kubefx: ${summary}; ${failed} failed (fix them, or mark pseudo-code \`\`\`ts skip)`
      )
      process.exitCode = 1
    } else console.log(`kubefx: ${summary}; all type-check`)
  } finally {
    if (keep) console.log(`kubefx: the examples are in ${dir}`)
    else fs.rmSync(dir, { recursive: true, force: true })
  }
}

main()
