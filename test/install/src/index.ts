/**
 * `@kubefx/install-test`: the packages packed and installed as a user installs them, for the
 * tests that prove a project outside the workspace can use them.
 *
 * @since 0.1.0
 */
export * as Command from "./Command.ts"
export * as Pack from "./Pack.ts"
export * as Toolchain from "./Toolchain.ts"
