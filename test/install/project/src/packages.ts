// Every published entry point, loaded: tsc checks their declarations (no skipLibCheck), and
// node proves their JavaScript loads on this Node version; a webhook certificate is generated
// (the runtime loads @peculiar/x509 only for that).
import * as ControlPlane from "@kubefx/controlplane"
import * as Core from "@kubefx/core"
import * as Runtime from "@kubefx/runtime"
import * as Testing from "@kubefx/testing"
import { Effect } from "effect"

const entries = { ControlPlane, Core, Runtime, Testing }
const material = await Effect.runPromise(Runtime.Certificates.generate(["127.0.0.1"]))
console.log(
  JSON.stringify({
    ...Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, Object.keys(v)])),
    certificate: material.cert.startsWith("-----BEGIN CERTIFICATE-----")
  })
)
