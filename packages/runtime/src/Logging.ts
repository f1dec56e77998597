/**
 * The operator's log formats, as Effect loggers:
 *
 * - `plain`, for a terminal: `2026-12-02T07:22:25.819Z INFO [team-a/w1] handler count: Success`
 *   (the object in brackets as Kopf prints it; other annotations follow as `key=value`);
 * - `json`, for a log pipeline: one object a line with `time`, `level`, `message`, and when they
 *   are known `resource`, `namespace`, `name`, `uid`, `handler`, `trace_id`, `span_id` (the
 *   current span's, so a line leads to its trace), then any other annotation.
 *
 * The processor annotates every line of a step with the object's identity (`resource`,
 * `namespace`, `name`, `uid`); handler run lines carry `handler`.
 *
 * @since 0.1.0
 */
import { Cause, Context, Layer, Logger, type LogLevel, References, Tracer } from "effect"

/**
 * `plain` (a terminal) or `json` (one object a line).
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "plain" | "json"

const identityKeys = ["resource", "namespace", "name", "uid", "handler"] as const

const text = (message: unknown): string =>
  Array.isArray(message)
    ? message.map(text).join(" ")
    : typeof message === "string"
      ? message
      : String(message)

const spanOf = (fiber: { readonly context: Context.Context<never> }) => {
  const span = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
  return span === undefined ? undefined : { traceId: span.traceId, spanId: span.spanId }
}

/**
 * The JSON logger's line (a string, without the newline).
 *
 * @since 0.1.0
 * @category loggers
 */
export const json: Logger.Logger<unknown, string> = Logger.make(
  ({ message, logLevel, date, fiber, cause }) => {
    const annotations = fiber.getRef(References.CurrentLogAnnotations)
    const line: Record<string, unknown> = {
      time: date.toISOString(),
      level: logLevel.toLowerCase(),
      message: text(message)
    }
    for (const key of identityKeys) if (key in annotations) line[key] = annotations[key]
    const span = spanOf(fiber)
    if (span !== undefined) {
      line.trace_id = span.traceId
      line.span_id = span.spanId
    }
    for (const [key, value] of Object.entries(annotations)) if (!(key in line)) line[key] = value
    if (cause.reasons.length > 0) line.cause = Cause.pretty(cause)
    return JSON.stringify(line)
  }
)

/** Shown in the brackets already, or too long for a terminal. */
const hiddenInPlain = new Set(["namespace", "name", "uid", "object"])

/**
 * The plain logger's line: time, level, `[namespace/name]` (or `[name]`), message, the other
 * annotations.
 *
 * @since 0.1.0
 * @category loggers
 */
export const plain: Logger.Logger<unknown, string> = Logger.make(
  ({ message, logLevel, date, fiber, cause }) => {
    const a = fiber.getRef(References.CurrentLogAnnotations)
    const name = typeof a.name === "string" ? a.name : undefined
    const where =
      name === undefined
        ? ""
        : typeof a.namespace === "string"
          ? ` [${a.namespace}/${name}]`
          : ` [${name}]`
    const rest = Object.entries(a)
      .filter(([key]) => !hiddenInPlain.has(key))
      .map(([key, value]) => ` ${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join("")
    const failure = cause.reasons.length === 0 ? "" : `\n${Cause.pretty(cause)}`
    return `${date.toISOString()} ${logLevel.toUpperCase()}${where} ${text(message)}${rest}${failure}`
  }
)

/**
 * A layer that replaces the default logger with `format`'s (written to the console) and sets the
 * minimum level (default `Info`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Logging } from "@kubefx/runtime"
 *
 * const program = Effect.logInfo("hello").pipe(
 *   Effect.annotateLogs({ namespace: "team-a", name: "w1" }),
 *   Effect.provide(Logging.layer({ format: "json", level: "Debug" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: {
  readonly format: Format
  readonly level?: LogLevel.LogLevel | undefined
}): Layer.Layer<never> =>
  Layer.merge(
    Logger.layer([Logger.withConsoleLog(options.format === "json" ? json : plain)]),
    Layer.succeed(References.MinimumLogLevel, options.level ?? "Info")
  )
