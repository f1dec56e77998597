/**
 * Vitest global setup of the `integration` project: builds (or finds in the cache, or checks the
 * folder `$KUBEFX_CONTROLPLANE_BIN` names) the control plane's binaries once, before any test file starts one, so that a cold build is reported once
 * with its progress instead of timing out inside a test.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Binaries from "./Binaries.ts"

export default async function setup(): Promise<void> {
  await Effect.runPromise(Binaries.resolve())
}
