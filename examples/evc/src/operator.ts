/**
 * The EVC operator as `kubefx run` and `kubefx generate` load it:
 *
 *   kubefx run examples/evc/src/operator.ts -n team-a
 *
 * `registry` holds the handlers; `layer` provides the service they need (the example's
 * settings, read from the environment: see `Settings.ts`).
 */

/** The CRD with its printer columns and status Schema, which `kubefx generate crd` prints. */
export { crd } from "./Evc.ts"
export { registry } from "./handlers.ts"
export { fromEnv as layer } from "./Settings.ts"
