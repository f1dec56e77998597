/**
 * Runs a Node program and, on SIGUSR2, collects garbage, logs `process.memoryUsage()` and the
 * V8 heap spaces, and writes a heap snapshot next to OUT (`--heap` of the bench):
 *
 *   node --expose-gc bench/src/heap.ts OUT.heapsnapshot PROGRAM.ts [args...]
 */

import { pathToFileURL } from "node:url"
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8"

const [out, program] = process.argv.slice(2)
if (out === undefined || program === undefined) {
  console.error("usage: node --expose-gc bench/src/heap.ts OUT.heapsnapshot PROGRAM.ts [args...]")
  process.exit(2)
}
process.argv.splice(2, 2)
const MiB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`
process.on("SIGUSR2", () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  const m = process.memoryUsage()
  console.error(
    `heap.ts: after gc: rss ${MiB(m.rss)}, heapTotal ${MiB(m.heapTotal)}, heapUsed ${MiB(m.heapUsed)}, external ${MiB(m.external)}, arrayBuffers ${MiB(m.arrayBuffers)}`
  )
  for (const s of getHeapSpaceStatistics())
    console.error(
      `heap.ts:   ${s.space_name}: size ${MiB(s.space_size)}, used ${MiB(s.space_used_size)}`
    )
  writeHeapSnapshot(out)
  console.error(`heap.ts: wrote ${out}`)
})
await import(pathToFileURL(program).href)
