/**
 * Runs a Node program under the V8 CPU profiler and writes the profile when SIGTERM arrives,
 * before the program's own handler runs (`NodeRuntime.runMain` re-raises the signal, so
 * `node --cpu-prof` would never write its file):
 *
 *   node bench/src/profiled.ts OUT.cpuprofile PROGRAM.ts [args...]
 */

import { writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { pathToFileURL } from "node:url"

const [out, program] = process.argv.slice(2)
if (out === undefined || program === undefined) {
  console.error("usage: node bench/src/profiled.ts OUT.cpuprofile PROGRAM.ts [args...]")
  process.exit(2)
}
process.argv.splice(2, 2)
const session = new Session()
session.connect()
session.post("Profiler.enable")
session.post("Profiler.start")
let written = false
const write = () => {
  if (written) return
  written = true
  session.post("Profiler.stop", (error, result) => {
    if (error === null) writeFileSync(out, JSON.stringify(result.profile))
  })
}
process.prependListener("SIGTERM", write)
process.prependListener("SIGINT", write)
process.on("exit", write)
await import(pathToFileURL(program).href)
