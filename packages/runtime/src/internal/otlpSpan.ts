/**
 * Spans that hand themselves to an exporter when they end, and their OTLP/JSON form (the
 * `Span` message of OpenTelemetry's `trace.proto`, as the OTLP/HTTP JSON encoding writes it).
 *
 * @internal
 */
import { Cause, type Exit, Option, Tracer } from "effect"
import { OtlpResource } from "effect/observability"

/** A span of effect's native tracer that calls `onEnd` once, when it ends. @internal */
export class ExportedSpan extends Tracer.NativeSpan {
  readonly onEnd: (span: ExportedSpan) => void

  constructor(
    options: ConstructorParameters<typeof Tracer.NativeSpan>[0],
    onEnd: (span: ExportedSpan) => void
  ) {
    super(options)
    this.onEnd = onEnd
  }

  override end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Ended") return
    super.end(endTime, exit)
    if (this.sampled) this.onEnd(this)
  }
}

/** OTLP's span kinds, by effect's names. */
const kinds: Readonly<Record<Tracer.SpanKind, number>> = {
  internal: 1,
  server: 2,
  client: 3,
  producer: 4,
  consumer: 5
}

/** OTLP's status codes. */
const UNSET = 0
const OK = 1
const ERROR = 2

/** The status of an ended span and, for a failure, its `exception` events' attributes. */
const statusOf = (exit: Exit.Exit<unknown, unknown>) => {
  if (exit._tag === "Success") return { status: { code: OK }, exceptions: [] }
  if (Cause.hasInterruptsOnly(exit.cause)) return { status: { code: UNSET }, exceptions: [] }
  const errors = Cause.prettyErrors(exit.cause)
  return {
    status: { code: ERROR, message: errors[0]?.message ?? "failed" },
    exceptions: errors.map((e) => ({
      "exception.type": e.name,
      "exception.message": e.message,
      "exception.stacktrace": e.stack ?? ""
    }))
  }
}

const attributes = (entries: Iterable<[string, unknown]>) =>
  OtlpResource.entriesToAttributes(entries)

/**
 * The OTLP/JSON form of an ended span.
 *
 * @internal
 */
export const toOtlp = (span: ExportedSpan): Record<string, unknown> => {
  if (span.status._tag !== "Ended") throw new Error("toOtlp: the span has not ended")
  const { endTime, exit } = span.status
  const { status, exceptions } = statusOf(exit)
  const events = [
    ...(span._events ?? []).map(([name, time, attrs]) => ({
      name,
      timeUnixNano: String(time),
      attributes: attributes(Object.entries(attrs))
    })),
    ...exceptions.map((attrs) => ({
      name: "exception",
      timeUnixNano: String(endTime),
      attributes: attributes(Object.entries(attrs))
    }))
  ]
  return {
    traceId: span.traceId.padStart(32, "0"),
    spanId: span.spanId,
    ...Option.match(span.parent, {
      onNone: () => ({}),
      onSome: (parent) => ({ parentSpanId: parent.spanId })
    }),
    name: span.name,
    kind: kinds[span.kind],
    startTimeUnixNano: String(span.startTime),
    endTimeUnixNano: String(endTime),
    attributes: attributes(span._attributes ?? []),
    events,
    links: span.links.map((link) => ({
      traceId: link.span.traceId.padStart(32, "0"),
      spanId: link.span.spanId,
      attributes: attributes(Object.entries(link.attributes))
    })),
    status
  }
}
