/**
 * The `kubefx` command as a library: its commands, and the pieces they are made of.
 *
 * @since 0.1.0
 */

/**
 * The root command and the package's version.
 *
 * @since 0.1.0
 */
export * as Cli from "./Cli.ts"

/**
 * The CRDs of an operator module.
 *
 * @since 0.1.0
 */
export * as Crds from "./Crds.ts"

/**
 * The error a user's mistake ends a command with: one line.
 *
 * @since 0.1.0
 */
export * as Failure from "./Failure.ts"

/**
 * `kubefx generate crd|rbac|deploy`.
 *
 * @since 0.1.0
 */
export * as Generate from "./Generate.ts"

/**
 * `kubefx init`.
 *
 * @since 0.1.0
 */
export * as Init from "./Init.ts"

/**
 * The log level and format flags as a Layer.
 *
 * @since 0.1.0
 */
export * as Logging from "./Logging.ts"

/**
 * Loading the operator's module and finding its registry.
 *
 * @since 0.1.0
 */
export * as Module from "./Module.ts"

/**
 * `kubefx run`.
 *
 * @since 0.1.0
 */
export * as Run from "./Run.ts"

/**
 * The files of a new project.
 *
 * @since 0.1.0
 */
export * as Template from "./Template.ts"

/**
 * The versions a new project depends on.
 *
 * @since 0.1.0
 */
export * as Versions from "./Versions.ts"
