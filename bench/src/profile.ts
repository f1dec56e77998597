/**
 * Summarizes a V8 CPU profile (from `--profile`): self time by function and by file (package).
 *
 *   node bench/src/profile.ts bench/results/logs/<stamp>-kubefx-profile/<file>.cpuprofile [top]
 */
import { readFileSync } from "node:fs"

interface Node {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<Node>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const [file, topArg] = process.argv.slice(2)
if (file === undefined) {
  console.error("usage: node bench/src/profile.ts FILE.cpuprofile [top]")
  process.exit(2)
}
const top = Number(topArg ?? "25")
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<number, number>()
profile.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
})

const where = (url: string): string => {
  if (url === "") return "(native/V8)"
  const nm = url.lastIndexOf("/node_modules/")
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split("/")
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url)
  }
  if (url.startsWith("node:")) return url
  const m = /\/(packages|examples|bench)\/([^/]+)\/src\/(.*)$/.exec(url)
  return m === null ? url : `${m[1]}/${m[2]}/${m[3]}`
}

const total = [...self.values()].reduce((a, b) => a + b, 0)
const fns = new Map<string, number>()
const files = new Map<string, number>()
for (const [id, t] of self) {
  const n = byId.get(id)
  if (n === undefined) continue
  const w = where(n.callFrame.url)
  const fn = `${n.callFrame.functionName || "(anonymous)"} ${w}:${n.callFrame.lineNumber + 1}`
  fns.set(fn, (fns.get(fn) ?? 0) + t)
  files.set(w, (files.get(w) ?? 0) + t)
}
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`)
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `${(v / 1000).toFixed(0).padStart(8)} ms ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`
    )
  }
}
console.log(`total sampled: ${(total / 1e6).toFixed(2)} s`)
print("self time by file or package", files)
print("self time by function", fns)
