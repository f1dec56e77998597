/**
 * The log flags of `kubefx run`: the level (`--quiet`, `--verbose`, `--debug`) and the format
 * (`--log-format plain|json`), as a Layer of the runtime's loggers (`Logging` of
 * `@kubefx/runtime`) writing to stderr (stdout stays free for what a command prints).
 *
 * @since 0.1.0
 */
import { Logging as RuntimeLogging } from "@kubefx/runtime"
import { Layer, Logger, type LogLevel, References } from "effect"

/**
 * How log lines are written: `plain` (for a terminal: time, level, `[namespace/name]`, the
 * message, the other annotations) or `json` (one JSON object a line with the object's and the
 * trace's ids, for log collectors).
 *
 * @since 0.1.0
 * @category models
 */
export type Format = RuntimeLogging.Format

/**
 * The log flags as given.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly quiet: boolean
  readonly verbose: boolean
  readonly debug: boolean
  readonly format: Format
}

/**
 * The minimum level the flags select: `--debug` every line (`All`), `--verbose` `Debug`,
 * `--quiet` `Warn`; the most talkative flag given wins. None of them: `undefined` (the level
 * stays `Info`, or what `effect/cli`'s global `--log-level` chose).
 *
 * @example
 * ```ts
 * import { Logging } from "kubefx"
 *
 * Logging.level({ quiet: false, verbose: true, debug: false, format: "plain" }) // "Debug"
 * ```
 *
 * @since 0.1.0
 * @category levels
 */
export const level = (options: Options): LogLevel.LogLevel | undefined =>
  options.debug ? "All" : options.verbose ? "Debug" : options.quiet ? "Warn" : undefined

/**
 * The loggers and the minimum level for the flags.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Logging } from "kubefx"
 *
 * const program = Effect.logInfo("hello").pipe(
 *   Effect.provide(Logging.layer({ quiet: false, verbose: false, debug: false, format: "json" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<never> => {
  const loggers = Logger.layer([
    Logger.withConsoleError(options.format === "json" ? RuntimeLogging.json : RuntimeLogging.plain)
  ])
  const minimum = level(options)
  return minimum === undefined
    ? loggers
    : Layer.merge(loggers, Layer.succeed(References.MinimumLogLevel, minimum))
}
