// Every published entry point, loaded: tsc checks their declarations (no skipLibCheck), and
// node proves their JavaScript loads on this Node version.
import * as ControlPlane from "@kubefx/controlplane"
import * as Core from "@kubefx/core"
import * as Runtime from "@kubefx/runtime"
import * as Testing from "@kubefx/testing"

const entries = { ControlPlane, Core, Runtime, Testing }
console.log(
  JSON.stringify(Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, Object.keys(v)])))
)
