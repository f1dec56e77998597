/**
 * Kopf's virtualenv: created by the bench itself (never by hand) in
 * `$KUBEFX_CACHE/bench/venv` (default `~/.cache/kubefx/bench/venv`) from
 * `src/kopf/requirements.txt` (every package pinned), and re-created when that file changes.
 */
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const requirements = fileURLToPath(new URL("./kopf/requirements.txt", import.meta.url))
export const operatorFile = fileURLToPath(new URL("./kopf/ephemeral.py", import.meta.url))

const cache =
  process.env.KUBEFX_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "kubefx")
export const venv = join(cache, "bench", "venv")
export const python = join(venv, "bin", "python")

/** The pinned version of a package in the requirements file. */
export const pinned = (name: string): string => {
  const line = readFileSync(requirements, "utf8")
    .split("\n")
    .find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}==`))
  return line?.split("==")[1]?.trim() ?? "?"
}

/** Makes sure the virtualenv exists with exactly the pinned packages; answers its python. */
export const ensure = (log: (line: string) => void): string => {
  const hash = createHash("sha256").update(readFileSync(requirements)).digest("hex")
  const stamp = join(venv, ".kubefx-requirements")
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, "utf8") === hash) return python
  const system = process.env.KUBEFX_PYTHON ?? "python3"
  log(`bench: creating Kopf's virtualenv in ${venv} with ${system} (once)...`)
  rmSync(venv, { recursive: true, force: true })
  mkdirSync(join(cache, "bench"), { recursive: true })
  execFileSync(system, ["-m", "venv", venv], { stdio: "inherit" })
  execFileSync(
    python,
    [
      "-m",
      "pip",
      "install",
      "--disable-pip-version-check",
      "--quiet",
      "--no-input",
      "-r",
      requirements
    ],
    { stdio: "inherit" }
  )
  writeFileSync(stamp, hash)
  return python
}

export const pythonVersion = (): string => {
  try {
    return execFileSync(python, ["--version"]).toString().trim()
  } catch {
    return "?"
  }
}
