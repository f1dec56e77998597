/**
 * Export of the operator's spans (`kubefx.reconcile`, `kubefx.handler`, the API requests, the
 * handlers' own) over OTLP/HTTP, configured by OpenTelemetry's standard environment variables.
 * {@link layerFromEnv} is what `Operator.run` and `Operator.start` use: without an endpoint it
 * adds nothing, and no span leaves the process. A dead or slow collector costs bounded memory
 * (spans are dropped and counted, see `internal/spanExport.ts`). docs/OPERATIONS.md lists the
 * variables.
 *
 * @since 0.1.0
 */
import { Config, Data, Duration, Effect, Layer, Option, Schema, Tracer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpResource } from "effect/observability"
import * as SpanExport from "./internal/spanExport.ts"

/**
 * What the exporter needs: where to send, with which headers and resource, and its bounds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The collector's traces URL, e.g. `http://otel-collector:4318/v1/traces`. */
  readonly url: string
  /** Headers of every export request (e.g. an API key). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** `service.name` of the resource. */
  readonly serviceName: string
  readonly serviceVersion?: string | undefined
  /** Further resource attributes (`k8s.pod.name`, ...). */
  readonly attributes?: Readonly<Record<string, unknown>> | undefined
  /** Spans that may wait for export; more are dropped (default 2048). */
  readonly maxQueueSize?: number | undefined
  /** Spans in one export request (default 512). */
  readonly maxBatchSize?: number | undefined
  /** How often a batch goes out when fewer than a batch wait (default 5 seconds). */
  readonly exportInterval?: Duration.Input | undefined
  /** How long an export request may take before its spans are dropped (default 10 seconds). */
  readonly exportTimeout?: Duration.Input | undefined
}

/**
 * A tracing variable that does not parse: its name and what is wrong with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class TracingConfigError extends Data.TaggedError("TracingConfigError")<{
  readonly message: string
}> {}

/**
 * The tracer exporting to `options.url`, for the whole program it is provided to; the spans
 * still waiting are sent when the layer's scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracing } from "@kubefx/runtime"
 *
 * const traced = Effect.log("hello").pipe(
 *   Effect.withSpan("greeting"),
 *   Effect.provide(Tracing.layer({ url: "http://localhost:4318/v1/traces", serviceName: "demo" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<never> =>
  Layer.effect(
    Tracer.Tracer,
    Effect.map(
      SpanExport.make({
        url: options.url,
        headers: options.headers ?? {},
        resource: OtlpResource.make({
          serviceName: options.serviceName,
          serviceVersion: options.serviceVersion,
          attributes: options.attributes
        }),
        maxQueueSize: Math.max(1, options.maxQueueSize ?? 2048),
        maxBatchSize: Math.max(1, options.maxBatchSize ?? 512),
        exportInterval: Duration.fromInputUnsafe(options.exportInterval ?? "5 seconds"),
        exportTimeout: Duration.fromInputUnsafe(options.exportTimeout ?? "10 seconds")
      }),
      (exporter) => exporter.tracer
    )
  ).pipe(Layer.provide(FetchHttpClient.layer))

const keyValues = (name: string) =>
  Config.Record(Schema.String, Schema.StringFromUriComponent, name, {
    trim: true,
    keepEmptyValues: true
  }).pipe(Config.option)

const optionalString = (name: string) => Config.option(Config.String(name))
const optionalInt = (name: string) => Config.option(Config.Int(name))

/** The traces URL: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, or the base endpoint's `/v1/traces`. */
const endpoint = Config.all({
  traces: optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  base: optionalString("OTEL_EXPORTER_OTLP_ENDPOINT")
}).pipe(
  Config.map(({ traces, base }) =>
    Option.orElse(
      Option.filter(traces, (url) => url !== ""),
      () =>
        Option.map(
          Option.filter(base, (url) => url !== ""),
          (url) => `${url.replace(/\/$/, "")}/v1/traces`
        )
    )
  )
)

const variables = Config.all({
  disabled: Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  exporter: Config.String("OTEL_TRACES_EXPORTER").pipe(Config.withDefault("otlp")),
  endpoint,
  headers: Config.all([
    keyValues("OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
    keyValues("OTEL_EXPORTER_OTLP_HEADERS")
  ]),
  serviceName: optionalString("OTEL_SERVICE_NAME"),
  serviceVersion: optionalString("OTEL_SERVICE_VERSION"),
  attributes: keyValues("OTEL_RESOURCE_ATTRIBUTES"),
  maxQueueSize: optionalInt("OTEL_BSP_MAX_QUEUE_SIZE"),
  maxBatchSize: optionalInt("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
  scheduleDelay: optionalInt("OTEL_BSP_SCHEDULE_DELAY"),
  timeout: Config.all([
    optionalInt("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"),
    optionalInt("OTEL_EXPORTER_OTLP_TIMEOUT")
  ])
})

/**
 * The exporter's options from the environment (the context's `ConfigProvider`), or none when
 * no endpoint is set, `OTEL_SDK_DISABLED` is true or `OTEL_TRACES_EXPORTER` is not `otlp`.
 * `defaultServiceName` applies when neither `OTEL_SERVICE_NAME` nor a `service.name` in
 * `OTEL_RESOURCE_ATTRIBUTES` is set.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracing } from "@kubefx/runtime"
 *
 * const program = Effect.gen(function*() {
 *   const options = yield* Tracing.optionsFromEnv("my-operator") // Option.none() without an endpoint
 * })
 * ```
 *
 * @since 0.1.0
 * @category configuration
 */
export const optionsFromEnv = (
  defaultServiceName: string
): Effect.Effect<Option.Option<Options>, TracingConfigError> =>
  Effect.gen(function* () {
    const v = yield* variables
    const exporters = v.exporter.split(",").map((e) => e.trim().toLowerCase())
    if (v.disabled || !exporters.includes("otlp")) return Option.none()
    return Option.map(v.endpoint, (url): Options => {
      const attributes: Record<string, unknown> = { ...Option.getOrElse(v.attributes, () => ({})) }
      const fromAttributes = (key: string) => {
        const value = attributes[key]
        delete attributes[key]
        return typeof value === "string" ? value : undefined
      }
      const namedInAttributes = fromAttributes("service.name")
      const versionInAttributes = fromAttributes("service.version")
      const timeout = Option.firstSomeOf(v.timeout)
      return {
        url,
        headers: Option.getOrElse(Option.firstSomeOf(v.headers), () => ({})),
        serviceName: Option.getOrElse(v.serviceName, () => namedInAttributes ?? defaultServiceName),
        serviceVersion: Option.getOrElse(v.serviceVersion, () => versionInAttributes),
        attributes,
        maxQueueSize: Option.getOrUndefined(v.maxQueueSize),
        maxBatchSize: Option.getOrUndefined(v.maxBatchSize),
        exportInterval: Option.getOrUndefined(Option.map(v.scheduleDelay, Duration.millis)),
        exportTimeout: Option.getOrUndefined(Option.map(timeout, Duration.millis))
      }
    })
  }).pipe(
    Effect.mapError(
      (error) =>
        new TracingConfigError({
          message: `the OpenTelemetry settings do not parse (${error.message.replace(/\s+/g, " ")}); fix or unset the OTEL_* variable it names`
        })
    )
  )

/**
 * {@link layer} with the options of {@link optionsFromEnv}, or no layer at all when the
 * environment sets no endpoint: spans then stay in the process.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracing } from "@kubefx/runtime"
 *
 * // OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318 OTEL_SERVICE_NAME=evc node main.ts
 * const traced = Effect.log("hello").pipe(
 *   Effect.withSpan("greeting"),
 *   Effect.provide(Tracing.layerFromEnv("my-operator"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromEnv = (defaultServiceName: string): Layer.Layer<never, TracingConfigError> =>
  Layer.unwrap(
    Effect.map(
      optionsFromEnv(defaultServiceName),
      Option.match({ onNone: () => Layer.empty, onSome: layer })
    )
  )
