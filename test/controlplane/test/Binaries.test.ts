/**
 * Which binaries a folder offers, and the one-line message when it lacks one. No server starts.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Binaries } from "../src/index.ts"

/** A folder holding executable files named `programs` (empty scripts), removed afterwards. */
const folderWith = (...programs: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "kubefx-bin-"))
      for (const program of programs) {
        writeFileSync(join(dir, program), "#!/bin/sh\n")
        chmodSync(join(dir, program), 0o755)
      }
      return dir
    }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

describe("Binaries.fromFolder", () => {
  it.effect("takes envtest's layout, without kube-controller-manager", () =>
    Effect.gen(function* () {
      const dir = yield* folderWith("etcd", "kube-apiserver", "kubectl")
      const binaries = yield* Binaries.fromFolder(dir, Binaries.envVar)
      assert.deepStrictEqual(binaries, {
        etcd: join(dir, "etcd"),
        kubeApiserver: join(dir, "kube-apiserver"),
        kubeControllerManager: undefined
      })
    }).pipe(Effect.scoped)
  )

  it.effect("uses kube-controller-manager when the folder has it", () =>
    Effect.gen(function* () {
      const dir = yield* folderWith("etcd", "kube-apiserver", "kube-controller-manager")
      const binaries = yield* Binaries.fromFolder(dir, "binDir")
      assert.strictEqual(binaries.kubeControllerManager, join(dir, "kube-controller-manager"))
    }).pipe(Effect.scoped)
  )

  it.effect("names the missing binary and the folder in one line", () =>
    Effect.gen(function* () {
      const dir = yield* folderWith("etcd", "kubectl")
      const error = yield* Effect.flip(Binaries.fromFolder(dir, Binaries.envVar))
      assert.strictEqual(
        error.message,
        `kubefx: no kube-apiserver in ${dir} (named by KUBEFX_CONTROLPLANE_BIN); put it there (envtest's folder has it: setup-envtest use -p path), or unset KUBEFX_CONTROLPLANE_BIN to build the control plane from Go modules`
      )
      const fromOption = yield* Effect.flip(Binaries.fromFolder(dir, "binDir"))
      assert.include(fromOption.message, "(named by the binDir option)")
      assert.include(fromOption.message, "drop the binDir option")
    }).pipe(Effect.scoped)
  )

  it.effect("says when a binary is not executable, and when the folder does not exist", () =>
    Effect.gen(function* () {
      const dir = yield* folderWith("etcd")
      writeFileSync(join(dir, "kube-apiserver"), "")
      const notExecutable = yield* Effect.flip(Binaries.fromFolder(dir, "binDir"))
      assert.strictEqual(
        notExecutable.message,
        `kubefx: ${join(dir, "kube-apiserver")} is not an executable file (named by the binDir option); chmod +x it`
      )
      const missing = join(dir, "nowhere")
      const noFolder = yield* Effect.flip(Binaries.fromFolder(missing, Binaries.envVar))
      assert.match(
        noFolder.message,
        /^kubefx: the control-plane folder .*nowhere \(named by KUBEFX_CONTROLPLANE_BIN\) does not exist;/
      )
      mkdirSync(missing)
      const empty = yield* Effect.flip(Binaries.fromFolder(missing, Binaries.envVar))
      assert.match(empty.message, /^kubefx: no etcd in /)
      assert.notInclude(empty.message, "\n")
    }).pipe(Effect.scoped)
  )

  it.effect("reads KUBEFX_CONTROLPLANE_BIN when no folder is given", () =>
    Effect.gen(function* () {
      const dir = yield* folderWith("etcd")
      const saved = process.env.KUBEFX_CONTROLPLANE_BIN
      process.env.KUBEFX_CONTROLPLANE_BIN = dir
      const error = yield* Effect.flip(Binaries.resolve()).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            if (saved === undefined) delete process.env.KUBEFX_CONTROLPLANE_BIN
            else process.env.KUBEFX_CONTROLPLANE_BIN = saved
          })
        )
      )
      assert.include(error.message, `no kube-apiserver in ${dir}`)
    }).pipe(Effect.scoped)
  )
})
