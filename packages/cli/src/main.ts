/**
 * The `kubefx` executable (`bin/kubefx.ts` runs it in the workspace, `bin/kubefx.js` from `dist`). A user's mistake (a `Failure`) is printed as its one line by
 * `effect/cli` and ends the process with exit code 1, without a stack trace; anything else is
 * reported by the Node runtime as usual.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { Command } from "effect/cli"
import * as Cli from "./Cli.ts"

Command.run(Cli.command, { version: Cli.version }).pipe(
  Effect.provide([Cli.output, NodeServices.layer]),
  NodeRuntime.runMain
)
