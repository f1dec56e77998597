/**
 * A tracer whose ended spans go to an OTLP/HTTP collector (JSON encoding) in batches, with
 * bounded memory: at most `maxQueueSize` spans wait, one batch (at most `maxBatchSize`) is in
 * flight, and a request that gets no answer within `exportTimeout` fails. A span that finds
 * the queue full, and every span of a batch that failed, is dropped and counted in
 * `kubefx_spans_dropped_total`; `kubefx_spans_queued` is the queue's length. Ending a span
 * only pushes to an array: a slow or dead collector never slows or fails the traced code.
 * A batch goes out every `exportInterval`, or as soon as a whole batch is waiting; closing
 * the scope sends what waits, for at most `exportTimeout`. Effect's own OTLP exporter keeps an
 * unbounded buffer and any number of requests in flight, hence this one.
 *
 * @internal
 */
import { type Duration, Effect, Latch, Tracer } from "effect"
import { Headers, HttpClient, HttpClientRequest } from "effect/http"
import type { OtlpResource } from "effect/observability"
import type * as Scope from "effect/Scope"
import * as Metrics from "../Metrics.ts"
import { ExportedSpan, toOtlp } from "./otlpSpan.ts"

/** @internal */
export interface ExportOptions {
  /** The collector's traces URL (`http://collector:4318/v1/traces`). */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly resource: OtlpResource.Resource
  readonly maxQueueSize: number
  readonly maxBatchSize: number
  readonly exportInterval: Duration.Duration
  readonly exportTimeout: Duration.Duration
}

/** @internal */
export interface SpanExport {
  readonly tracer: Tracer.Tracer
  /** Spans waiting now. */
  readonly queued: () => number
}

const scope = { name: "kubefx" }

/** The body of one export request. */
const body = (resource: OtlpResource.Resource, spans: ReadonlyArray<ExportedSpan>): string =>
  JSON.stringify({
    resourceSpans: [{ resource, scopeSpans: [{ scope, spans: spans.map(toOtlp) }] }]
  })

/**
 * Starts the exporter in the current scope; answers its tracer.
 *
 * @internal
 */
export const make = (
  options: ExportOptions
): Effect.Effect<SpanExport, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<never>()
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const dropped = (n: number) => Metrics.spansDropped.updateUnsafe(n, context)
    const gauge = (n: number) => Metrics.spansQueued.updateUnsafe(n, context)
    const full = Latch.makeUnsafe(false)
    let queue: Array<ExportedSpan> = []
    let failing = false

    const push = (span: ExportedSpan) => {
      if (queue.length >= options.maxQueueSize) return dropped(1)
      queue.push(span)
      gauge(queue.length)
      if (queue.length >= options.maxBatchSize) full.openUnsafe()
    }

    const request = HttpClientRequest.post(options.url, {
      headers: Headers.fromInput(options.headers)
    })
    const send = (batch: ReadonlyArray<ExportedSpan>) =>
      client
        .execute(
          HttpClientRequest.bodyText(request, body(options.resource, batch), "application/json")
        )
        .pipe(
          Effect.scoped,
          Effect.timeout(options.exportTimeout),
          Effect.matchCauseEffect({
            onSuccess: () => {
              if (!failing) return Effect.void
              failing = false
              return Effect.logInfo(`OTLP export to ${options.url} works again`)
            },
            onFailure: (cause) => {
              dropped(batch.length)
              if (failing) return Effect.void
              failing = true
              return Effect.logWarning(
                `OTLP export to ${options.url} failed; dropping spans until the collector answers (check OTEL_EXPORTER_OTLP_ENDPOINT)`,
                cause
              )
            }
          }),
          Effect.provideService(HttpClient.TracerPropagationEnabled, false),
          Effect.withTracerEnabled(false)
        )

    /** Takes the next batch off the queue and sends it. */
    const exportBatch = Effect.suspend(() => {
      const batch = queue.slice(0, options.maxBatchSize)
      queue = queue.slice(batch.length)
      gauge(queue.length)
      if (queue.length < options.maxBatchSize) full.closeUnsafe()
      return batch.length === 0 ? Effect.void : send(batch)
    })

    const loop = Effect.forever(
      Effect.andThen(
        Effect.raceFirst(Effect.sleep(options.exportInterval), full.await),
        exportBatch
      )
    )
    yield* Effect.forkScoped(loop)
    yield* Effect.addFinalizer(() =>
      Effect.timeoutOption(
        Effect.whileLoop({
          while: () => queue.length > 0,
          body: () => exportBatch,
          step: () => {}
        }),
        options.exportTimeout
      )
    )

    const tracer = Tracer.make({ span: (spanOptions) => new ExportedSpan(spanOptions, push) })
    return { tracer, queued: () => queue.length }
  })
