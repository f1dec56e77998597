/**
 * The handler DSL, as Kopf's decorators but as values: `onCreate`, `onUpdate`, `onDelete`,
 * `onResume`, `onField` and `onEvent` each build a {@link Handler} from a resource selector,
 * options and a function from the handler's context to an `Effect`. It stays one module over
 * 400 lines because the handler, its context, its options and its constructors are the one DSL
 * users read as `Handler.*`; its code is under 200 lines, the rest is this contract and the
 * documentation of its exports.
 *
 * - The function's success value (when not `undefined`) is stored at `status.<handler id>`.
 * - It fails with `Outcome.TemporaryError` (retry, optionally after its own `delay`) or
 *   `Outcome.PermanentError` (never retried for this change), or with an error that declares
 *   itself permanent (`Outcome.permanent`: the runtime's 422 Invalid and 400 BadRequest answers
 *   of the API server), which is permanent too. Catch an error in the handler to treat it
 *   otherwise. Any other failure, and any defect, is unexpected and handled per the `errors`
 *   option: `"temporary"` (default, as Kopf: retry with the backoff), `"permanent"` or
 *   `"ignored"` (counted as a success without result).
 * - A success value (or a patch written through `ctx.patch`) that JSON cannot hold (a bigint, a
 *   `Date`, a `Map`, ..., see `Json.findInvalid`) fails the handler permanently with the path of
 *   the bad value; such a patch is not applied.
 * - `field` paths are checked when the handler is built: a malformed one (`"/spec/field"`,
 *   `"spec..size"`) throws, naming the handler and the fix. Paths that the resource's spec
 *   Schema does not have are reported by `Registry.fieldWarnings`.
 * - Its spec is typed by an Effect Schema, given by the selector (a `Resource` with `spec`) or
 *   the `spec` option: `ctx.spec` is the decoded value, and a decoding failure is a permanent
 *   error with the Schema's message.
 * - `id` defaults to the function's name (`create_fn` for `function create_fn(ctx) {...}` or
 *   `const create_fn = (ctx) => ...`), else `on-<kind>`; field handlers append `/<field>`. The
 *   registry makes derived ids unique by suffixing `-2`, `-3`... in declaration order. An id must
 *   be stable across operator versions, since progress on objects refers to it: prefer named
 *   functions or explicit ids.
 *
 * @since 0.1.0
 */
import { type DateTime, Duration, type Effect, Option, type Schema } from "effect"
import * as Admission from "./Admission.ts"
import * as Backoff from "./Backoff.ts"
import type * as Diff from "./Diff.ts"
import * as Filter from "./Filter.ts"
import * as Json from "./Json.ts"
import type * as Outcome from "./Outcome.ts"
import type * as Patch from "./Patch.ts"
import * as Resource from "./Resource.ts"
import * as Selector from "./Selector.ts"

/**
 * The kinds of handlers.
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 *
 * const k: Handler.Kind = "create"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Kind =
  | "create"
  | "update"
  | "delete"
  | "resume"
  | "field"
  | "event"
  | "daemon"
  | "timer"

/**
 * How unexpected failures and defects are treated.
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 *
 * const m: Handler.ErrorsMode = "permanent"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorsMode = "temporary" | "permanent" | "ignored"

/**
 * The watch event type that brought the object, when the runtime knows it.
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 *
 * const e: Handler.EventType = "MODIFIED"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type EventType = "ADDED" | "MODIFIED" | "DELETED"

/**
 * A handler's logger: logs through Effect's logger, annotated with the handler and object.
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 *
 * const hello = (logger: Handler.Logger) => logger.info("hello")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Logger {
  readonly debug: (message: string) => Effect.Effect<void>
  readonly info: (message: string) => Effect.Effect<void>
  readonly warn: (message: string) => Effect.Effect<void>
  readonly error: (message: string) => Effect.Effect<void>
}

/**
 * What a handler receives.
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 *
 * const describe = (ctx: Handler.Context<{ readonly size: string }>) => `${ctx.name}: ${ctx.spec.size}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Context<Spec> {
  /** The handler's id. */
  readonly id: string
  readonly resource: Resource.Resource<unknown>
  /** The object, as it will be after the patches of the handlers run before in this step. */
  readonly body: Json.JsonObject
  /** The decoded spec (the raw `spec` object without a Schema). */
  readonly spec: Spec
  readonly meta: Json.JsonObject
  readonly status: Json.JsonObject
  readonly name: string
  readonly namespace: string | undefined
  readonly uid: string | undefined
  readonly labels: Readonly<Record<string, string>>
  readonly annotations: Readonly<Record<string, string>>
  /** The cause's reason, or `"event"` for event handlers. */
  readonly reason: string
  /** The watch event type, when known. */
  readonly event: EventType | undefined
  /** The old value (of the field, for field handlers; the old essence otherwise). */
  readonly old: Json.Json | undefined
  /** The new value (of the field, for field handlers; the new essence otherwise). */
  readonly new: Json.Json | undefined
  /** From `old` to `new`. */
  readonly diff: Diff.Diff
  /** The number of failed attempts before this one. */
  readonly retry: number
  /** When the first attempt started. */
  readonly started: DateTime.Utc
  /** Time since the first attempt started. */
  readonly runtime: Duration.Duration
  /** Records changes to the object itself (merged into the step's patch). */
  readonly patch: Patch.Builder
  readonly logger: Logger
  /**
   * Runs sub-handlers, in the record's order: each has its own progress on the object under
   * `<id>/<name>` (retries, delays, timeout counted from its own start, the handler's options)
   * and its result stored at `status["<id>/<name>"]`; one that is done is not run again, also
   * after a restart. Succeeds with the results (by name; none for one that returned nothing)
   * when all succeeded; fails with
   * `SubHandlersPending` while some are not done (the handler is run again when the soonest is
   * due; the code after `execute` runs once all are done) and with a `PermanentError` naming the
   * sub-handlers that failed. Sub-handlers may nest. Only change handlers (create, update,
   * field, resume, delete) have sub-handlers; elsewhere it fails with a `PermanentError`.
   */
  readonly execute: <const Subs extends SubHandlers<Spec>>(
    subs: Subs
  ) => Effect.Effect<
    Json.JsonObject & { readonly [K in keyof Subs]?: Json.Json },
    Outcome.SubHandlersPending | Outcome.PermanentError,
    SubServices<Subs>
  >
}

/**
 * Sub-handlers by name, as `ctx.execute` takes them: each a function of its own context (the
 * object as the sub-handlers before it left it). Names are unique by construction (the record's
 * keys); a name may not be empty nor contain `/`.
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const steps: Handler.SubHandlers<unknown> = {
 *   volume: () => Effect.succeed({ created: true }),
 *   claim: (ctx) => ctx.logger.info("claiming")
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type SubHandlers<Spec> = Readonly<
  // biome-ignore lint/suspicious/noExplicitAny: each sub-handler has its own error and services
  Record<string, (ctx: Context<Spec>) => Result<any, any>>
>

/**
 * The services the sub-handlers of a record need.
 *
 * @since 0.1.0
 * @category models
 */
export type SubServices<Subs> = {
  // biome-ignore lint/suspicious/noExplicitAny: only the services are inferred
  [K in keyof Subs]: Subs[K] extends (ctx: any) => Effect.Effect<any, any, infer R> ? R : never
}[keyof Subs]

/**
 * What a daemon or a timer receives: the handler's context (of the object as it was when the
 * run started), a stop signal, and the newest copy of the object the watch delivered since.
 * `stopped` completes when kubefx asks the program to stop (the object is being deleted or stops
 * matching the filters, or the operator stops); a daemon that awaits it (or polls `isStopped`)
 * ends cleanly before its `cancellationTimeout` interrupts it.
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const watch = (ctx: Handler.SpawnedContext<unknown>) =>
 *   Effect.raceFirst(ctx.stopped, Effect.forever(Effect.sleep("10 seconds")))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface SpawnedContext<Spec> extends Context<Spec> {
  /** Completes when the program is asked to stop. */
  readonly stopped: Effect.Effect<void>
  /** Whether the program has been asked to stop. */
  readonly isStopped: Effect.Effect<boolean>
  /** The newest copy of the object (`body` is the copy the run started with). */
  readonly latest: Effect.Effect<Json.JsonObject>
}

/**
 * What a handler function returns: a JSON result (or nothing) in an Effect.
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const r: Handler.Result<never, never> = Effect.succeed({ ok: true })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
// biome-ignore lint/suspicious/noConfusingVoidType: handlers that return nothing are `Effect<void>`
export type Result<E, R> = Effect.Effect<Json.Json | undefined | void, E, R>

/**
 * The options shared by all handlers. Filters (`labels`, `annotations`, `field` + `value`,
 * `old`, `new`, `when`, `filter`) are combined with "and".
 *
 * - `field`: for update and field handlers, the field whose old / new / diff the handler sees,
 *   and which must have changed; with `value`, the field's current value must match. Keys are
 *   separated by dots (or given as an array); a number indexes an array (`"spec.items.0.size"`:
 *   the handler sees that element's `size`, also when the diff reports the whole array changed).
 * - `retries`: how many retries after the first attempt (unlimited by default).
 * - `timeout`: the overall time allowed since the first attempt, across retries.
 * - `backoff`: the delays between attempts (default `Backoff.defaultBackoff`).
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 *
 * const o: Handler.Options<unknown> = { id: "resize", retries: 5, timeout: "10 minutes", errors: "permanent" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Spec> {
  readonly id?: string | undefined
  readonly retries?: number | undefined
  readonly timeout?: Duration.Input | undefined
  readonly backoff?: Backoff.Backoff | undefined
  readonly errors?: ErrorsMode | undefined
  readonly spec?: Schema.Decoder<Spec> | undefined
  readonly labels?: Readonly<Record<string, Filter.ValueMatcher>> | undefined
  readonly annotations?: Readonly<Record<string, Filter.ValueMatcher>> | undefined
  readonly field?: Json.PathInput | undefined
  readonly value?: Filter.ValueMatcher | undefined
  readonly old?: Filter.ValueMatcher | undefined
  readonly new?: Filter.ValueMatcher | undefined
  readonly when?: ((ctx: Filter.Context) => boolean) | undefined
  readonly filter?: Filter.Filter | undefined
}

/**
 * Options of delete handlers: `optional` delete handlers do not make kubefx add its finalizer
 * (they run if the deletion is seen while the finalizer is there for another reason).
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 *
 * const o: Handler.DeleteOptions<unknown> = { optional: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DeleteOptions<Spec> extends Options<Spec> {
  readonly optional?: boolean | undefined
}

/**
 * Options of daemons (see {@link daemon}):
 *
 * - `initialDelay`: wait this long after the object is first seen (or the operator starts)
 *   before starting the program (default none).
 * - `cancellationTimeout`: how long a stop waits for the program to end on its own after
 *   `ctx.stopped` completes, before interrupting it (default 10 seconds). While the object has
 *   such a daemon, kubefx keeps its finalizer on it so that the daemon stops before the object
 *   goes; `0` interrupts at once and needs no finalizer.
 *
 * `retries`, `timeout`, `backoff` and `errors` apply as for other handlers: a temporary error
 * restarts the program after its delay.
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 *
 * const o: Handler.DaemonOptions<unknown> = { initialDelay: "5 seconds", cancellationTimeout: "30 seconds" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DaemonOptions<Spec> extends Options<Spec> {
  readonly initialDelay?: Duration.Input | undefined
  readonly cancellationTimeout?: Duration.Input | undefined
}

/**
 * Options of timers (see {@link timer}):
 *
 * - `interval`: the time between runs (required, above zero).
 * - `sharp`: count the interval from the start of the last run (a fixed cadence) rather than
 *   from its end (default `false`).
 * - `idle`: run only once the object's essence (spec, labels, annotations: not its status) has
 *   been unchanged this long; a change pauses the timer until it has been idle again.
 * - `initialDelay`: the first run waits this long after the object is first seen (or the
 *   operator starts).
 *
 * @example
 * ```ts
 * import type { Handler } from "@kubefx/core"
 *
 * const o: Handler.TimerOptions<unknown> = { interval: "1 minute", idle: "5 minutes", sharp: true }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TimerOptions<Spec> extends Options<Spec> {
  readonly interval: Duration.Input
  readonly initialDelay?: Duration.Input | undefined
  readonly idle?: Duration.Input | undefined
  readonly sharp?: boolean | undefined
}

/**
 * How a daemon or a timer is run: what its options came to.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const t = Handler.timer("pods", { interval: "10 seconds" }, () => Effect.void)
 * t.spawn?._tag // "Timer"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Spawn =
  | {
      readonly _tag: "Daemon"
      readonly initialDelay: Duration.Duration
      readonly cancellationTimeout: Duration.Duration
    }
  | {
      readonly _tag: "Timer"
      readonly interval: Duration.Duration
      readonly initialDelay: Duration.Duration
      readonly idle: Duration.Duration | undefined
      readonly sharp: boolean
    }

/**
 * A declared handler. `R` is the services its Effect requires.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const h: Handler.Handler<never> = Handler.onCreate("pods", () => Effect.void)
 * h.kind // "create"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Handler<out R> {
  readonly _tag: "Handler"
  readonly kind: Kind
  readonly id: string
  /** Whether `id` was given explicitly. */
  readonly explicitId: boolean
  readonly selector: Selector.Selector
  /** The resource, when the handler was declared with a `Resource` (not a string or partial
   * selector): what tools that cannot ask an API server (RBAC generation) know of it. */
  readonly resource: Resource.ApiResource | undefined
  readonly field: Json.Path | undefined
  readonly filter: Filter.Filter
  readonly retries: number | undefined
  readonly timeout: Duration.Duration | undefined
  readonly backoff: Backoff.Backoff
  readonly errors: ErrorsMode
  readonly optional: boolean
  /** The spec's Schema, from the options or the selector's resource. */
  readonly spec: Schema.Decoder<unknown> | undefined
  /** For daemons and timers: how they are run; `undefined` for the other kinds. */
  readonly spawn: Spawn | undefined
  /** Runs the user's function on a context whose `spec` has been decoded (a
   * {@link SpawnedContext} for daemons and timers). */
  readonly run: (ctx: Context<unknown>) => Effect.Effect<unknown, unknown, R>
}

type AnyFn<Spec, E, R> = (ctx: Context<Spec>) => Result<E, R>

const make = <Spec, E, R>(
  kind: Kind,
  selector: Selector.Input<Spec>,
  options: DeleteOptions<Spec>,
  fn: AnyFn<Spec, E, R>,
  field?: Json.PathInput,
  spawnOf?: (id: string) => Spawn
): Handler<R> => {
  const fieldInput = field ?? options.field
  const fieldPath = fieldInput === undefined ? undefined : Json.path(fieldInput)
  const base = fn.name !== "" && fn.name !== "anonymous" ? fn.name : `on-${kind}`
  const derivedId = fieldPath === undefined ? base : `${base}/${Json.formatPath(fieldPath)}`
  // Thrown here rather than in Registry.make: the stack points at the handler's declaration.
  const problem = fieldInput === undefined ? undefined : Json.pathProblem(fieldInput)
  if (problem !== undefined)
    throw new Error(`kubefx: handler ${JSON.stringify(options.id ?? derivedId)}: ${problem}`)
  const filters: Array<Filter.Filter> = []
  if (options.labels !== undefined) filters.push(Filter.labels(options.labels))
  if (options.annotations !== undefined) filters.push(Filter.annotations(options.annotations))
  if (fieldPath !== undefined && options.value !== undefined)
    filters.push(Filter.field(fieldPath, options.value))
  if (options.old !== undefined) filters.push(Filter.oldValue(options.old))
  if (options.new !== undefined) filters.push(Filter.newValue(options.new))
  if (options.when !== undefined) filters.push(Filter.when(options.when))
  if (options.filter !== undefined) filters.push(options.filter)
  const declared = Resource.declaredBy(selector)
  const spec = (options.spec ?? declared?.spec) as Schema.Decoder<unknown> | undefined
  const id = options.id ?? derivedId
  return {
    _tag: "Handler",
    kind,
    id,
    explicitId: options.id !== undefined,
    selector: Selector.make(selector as Selector.Input),
    resource: declared === undefined ? undefined : Resource.apiOf(declared),
    field: fieldPath,
    filter:
      filters.length === 0
        ? Filter.all
        : filters.length === 1
          ? filters[0]!
          : Filter.and(...filters),
    retries: options.retries,
    timeout: options.timeout === undefined ? undefined : Duration.fromInputUnsafe(options.timeout),
    backoff: options.backoff ?? Backoff.defaultBackoff,
    errors: options.errors ?? "temporary",
    optional: options.optional ?? false,
    spec,
    spawn: spawnOf?.(id),
    run: fn as (ctx: Context<unknown>) => Result<unknown, R>
  }
}

/** A duration option, or a thrown error naming the handler, the option and what is wrong. */
const durationOption = (
  id: string,
  option: string,
  input: Duration.Input | undefined,
  fallback: Duration.Duration,
  positive = false
): Duration.Duration => {
  const value = input === undefined ? Option.some(fallback) : Duration.fromInput(input)
  const problem = Option.match(value, {
    onNone: () => `is not a duration (got ${JSON.stringify(String(input))}; e.g. "30 seconds")`,
    onSome: (d) =>
      positive && Duration.toMillis(d) <= 0
        ? "must be above zero"
        : Duration.isFinite(d)
          ? undefined
          : "must be finite"
  })
  if (problem !== undefined)
    throw new Error(`kubefx: handler ${JSON.stringify(id)}: option ${option} ${problem}`)
  return Option.getOrThrow(value)
}

type Args<O, Spec, E, R> = [fn: AnyFn<Spec, E, R>] | [options: O, fn: AnyFn<Spec, E, R>]

const split = <O, Spec, E, R>(
  args: Args<O, Spec, E, R>
): [O | Record<string, never>, AnyFn<Spec, E, R>] =>
  args.length === 1 ? [{}, args[0]] : [args[0], args[1]]

/**
 * The signature of `onCreate`, `onUpdate`, `onResume`, `onEvent` (with {@link Options}) and
 * `onDelete` (with {@link DeleteOptions}): a selector, optional options, the function.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 *
 * const on: Handler.Constructor = Handler.onCreate
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Constructor<O extends "options" | "delete" = "options"> {
  <Spec = Json.JsonObject, E = never, R = never>(
    selector: Selector.Input<Spec>,
    fn: AnyFn<Spec, E, R>
  ): Handler<R>
  <Spec = Json.JsonObject, E = never, R = never>(
    selector: Selector.Input<Spec>,
    options: O extends "delete" ? DeleteOptions<Spec> : Options<Spec>,
    fn: AnyFn<Spec, E, R>
  ): Handler<R>
}

const handlerOf = <O extends "options" | "delete">(kind: Kind): Constructor<O> =>
  (<Spec, E, R>(
    selector: Selector.Input<Spec>,
    ...args: Args<DeleteOptions<Spec>, Spec, E, R>
  ): Handler<R> => {
    const [options, fn] = split(args)
    return make(kind, selector, options, fn)
  }) as Constructor<O>

/**
 * A creation handler: runs once per object, when kubefx first sees it (no last-handled essence).
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const created = Handler.onCreate("ephemeralvolumeclaims", { id: "create_fn" }, (ctx) =>
 *   Effect.succeed({ pvcName: ctx.name })
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const onCreate: Constructor = handlerOf("create")

/**
 * An update handler: runs when the essence changed since last handled. With `field`, only when
 * that field changed, and `old` / `new` / `diff` are relative to it.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const resized = Handler.onUpdate("ephemeralvolumeclaims", { field: "spec.size" }, (ctx) =>
 *   ctx.logger.info(`size ${String(ctx.old)} -> ${String(ctx.new)}`)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const onUpdate: Constructor = handlerOf("update")

/**
 * A deletion handler: runs when the object is marked for deletion. Unless `optional`, kubefx
 * keeps its finalizer on the object until the delete handlers are done.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const cleanup = Handler.onDelete("ephemeralvolumeclaims", (ctx) => ctx.logger.info(`bye ${ctx.name}`))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const onDelete: Constructor<"delete"> = handlerOf("delete")

/**
 * A resume handler: runs when the operator process first sees an object it already handled and
 * that did not change since.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const resumed = Handler.onResume("ephemeralvolumeclaims", (ctx) => ctx.logger.info(`resumed ${ctx.name}`))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const onResume: Constructor = handlerOf("resume")

/**
 * A field handler: runs on creation when the field is set and on any update that changes it,
 * with `old` / `new` / `diff` relative to the field.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const sized = Handler.onField("ephemeralvolumeclaims", "spec.size", (ctx) =>
 *   ctx.logger.info(`size is now ${String(ctx.new)}`)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const onField: {
  <Spec = Json.JsonObject, E = never, R = never>(
    selector: Selector.Input<Spec>,
    field: Json.PathInput,
    fn: AnyFn<Spec, E, R>
  ): Handler<R>
  <Spec = Json.JsonObject, E = never, R = never>(
    selector: Selector.Input<Spec>,
    field: Json.PathInput,
    options: Options<Spec>,
    fn: AnyFn<Spec, E, R>
  ): Handler<R>
} = <Spec, E, R>(
  selector: Selector.Input<Spec>,
  field: Json.PathInput,
  ...args: Args<Options<Spec>, Spec, E, R>
): Handler<R> => {
  const [options, fn] = split(args)
  return make("field", selector, options, fn, field)
}

/**
 * A raw event handler: runs on every watch event of a matching object, stateless (no progress,
 * no retries, no result stored). A failure is reported as a `Failure` run of kind `"event"` in
 * the decision (the runtime logs it as "failed (not retried)") and changes nothing else.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const seen = Handler.onEvent("ephemeralvolumeclaims", (ctx) => ctx.logger.debug(`${ctx.event} ${ctx.name}`))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const onEvent: Constructor = handlerOf("event")

type SpawnedFn<Spec, E, R> = (ctx: SpawnedContext<Spec>) => Result<E, R>

/**
 * A daemon: a long-running program per matching object, started when kubefx first sees the
 * object (also after an operator restart) or when the object starts matching the filters;
 * asked to stop (`ctx.stopped`) when the object is being deleted, stops matching, or the
 * operator stops, and interrupted after `cancellationTimeout` (see {@link DaemonOptions}).
 *
 * - A program that ends with a success is not started again by this operator process (its
 *   result, if any, is stored at `status.<id>`).
 * - A temporary error (or an unexpected one, or a defect, per `errors`) restarts it after its
 *   delay or the backoff; a permanent one stops it for good: recorded in
 *   `status.kubefx.errors.<id>`, it is not started again (also by a later operator process)
 *   while that entry is there. A handled change of the object's essence clears the entry when
 *   the operator has change handlers; otherwise remove it by hand to start the daemon again.
 * - What it writes through `ctx.patch` is applied when the program ends (or fails).
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const monitor = Handler.daemon("ephemeralvolumeclaims", { id: "monitor" }, (ctx) =>
 *   Effect.raceFirst(ctx.stopped, Effect.forever(Effect.andThen(ctx.logger.info("alive"), Effect.sleep("10 seconds"))))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const daemon: {
  <Spec = Json.JsonObject, E = never, R = never>(
    selector: Selector.Input<Spec>,
    fn: SpawnedFn<Spec, E, R>
  ): Handler<R>
  <Spec = Json.JsonObject, E = never, R = never>(
    selector: Selector.Input<Spec>,
    options: DaemonOptions<Spec>,
    fn: SpawnedFn<Spec, E, R>
  ): Handler<R>
} = <Spec, E, R>(
  selector: Selector.Input<Spec>,
  ...args: [fn: SpawnedFn<Spec, E, R>] | [options: DaemonOptions<Spec>, fn: SpawnedFn<Spec, E, R>]
): Handler<R> => {
  const [options, fn]: [DaemonOptions<Spec>, SpawnedFn<Spec, E, R>] =
    args.length === 1 ? [{}, args[0]] : args
  return make("daemon", selector, options, fn as AnyFn<Spec, E, R>, undefined, (id) => ({
    _tag: "Daemon",
    initialDelay: durationOption(id, "initialDelay", options.initialDelay, Duration.zero),
    cancellationTimeout: durationOption(
      id,
      "cancellationTimeout",
      options.cancellationTimeout,
      Duration.seconds(10)
    )
  }))
}

/**
 * A timer: runs its program every `interval` while the object exists (see {@link TimerOptions}
 * for `sharp`, `idle` and `initialDelay`), never two runs at once. Errors follow the handler
 * rules: a temporary error runs it again after its delay or the backoff (the interval counts
 * again after a success); a permanent one stops the timer for the object, for this operator
 * process. Its result is stored at `status.<id>` after each run. kubefx schedules timers in
 * memory: it never patches the object to wake a timer.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const ping = Handler.timer("ephemeralvolumeclaims", { interval: "1 minute" }, (ctx) =>
 *   Effect.succeed({ pinged: ctx.name })
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const timer = <Spec = Json.JsonObject, E = never, R = never>(
  selector: Selector.Input<Spec>,
  options: TimerOptions<Spec>,
  fn: SpawnedFn<Spec, E, R>
): Handler<R> =>
  make("timer", selector, options, fn as AnyFn<Spec, E, R>, undefined, (id) => ({
    _tag: "Timer",
    interval: durationOption(id, "interval", options.interval, Duration.zero, true),
    initialDelay: durationOption(id, "initialDelay", options.initialDelay, Duration.zero),
    idle:
      options.idle === undefined
        ? undefined
        : durationOption(id, "idle", options.idle, Duration.zero),
    sharp: options.sharp ?? false
  }))

/**
 * Whether a handler takes part in a cause with the given reason.
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * Handler.handles(Handler.onField("pods", "spec.x", () => Effect.void), "create") // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const handles = (handler: Handler<unknown>, reason: string): boolean => {
  switch (handler.kind) {
    case "field":
      return reason === "create" || reason === "update"
    case "event":
    case "daemon":
    case "timer":
      return false
    default:
      return handler.kind === reason
  }
}

/**
 * Whether the handler makes kubefx keep its finalizer on the objects it serves: a non-optional
 * delete handler (on every object), or a daemon stopped gracefully (`cancellationTimeout` above
 * zero: on the objects it runs for).
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * Handler.needsFinalizer(Handler.onDelete("pods", () => Effect.void)) // true
 * Handler.needsFinalizer(Handler.onDelete("pods", { optional: true }, () => Effect.void)) // false
 * Handler.needsFinalizer(Handler.daemon("pods", { cancellationTimeout: 0 }, () => Effect.void)) // false
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const needsFinalizer = (handler: Handler<unknown>): boolean =>
  (handler.kind === "delete" && !handler.optional) ||
  (handler.spawn?._tag === "Daemon" && Duration.toMillis(handler.spawn.cancellationTimeout) > 0)

/**
 * Whether the handler is a daemon or a timer (run by kubefx beside the reconciliation steps,
 * not in them).
 *
 * @example
 * ```ts
 * import { Handler } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * Handler.isSpawned(Handler.timer("pods", { interval: "1 minute" }, () => Effect.void)) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSpawned = (handler: Handler<unknown>): boolean => handler.spawn !== undefined

type AdmissionArgs<Ctx, Spec, E, R> =
  | [fn: (ctx: Ctx) => Effect.Effect<unknown, E, R>]
  | [options: Admission.Options<Spec>, fn: (ctx: Ctx) => Effect.Effect<unknown, E, R>]

/**
 * A validating admission handler (Kopf's `@kopf.on.validate`): the API server calls it before it
 * stores a write of the resource (see `Admission.Options` for which ones); failing with
 * `Admission.AdmissionError` denies the write with its message, `ctx.warn` adds warnings the
 * client shows. It is not a reconciliation handler: it runs in the operator's webhook server,
 * with no retries. The resource must be a `Resource` (the webhook's rules need its group and
 * version).
 *
 * @example
 * ```ts
 * import { Admission, Handler, Resource } from "@kubefx/core"
 * import { Effect, Schema } from "effect"
 *
 * const widgets = Resource.make({
 *   group: "example.com", version: "v1", plural: "widgets", kind: "Widget",
 *   spec: Schema.Struct({ size: Schema.Int })
 * })
 * const sizeLimit = Handler.validate(widgets, { id: "size-limit", operations: ["CREATE", "UPDATE"] }, (ctx) =>
 *   ctx.spec.size > 10
 *     ? Effect.fail(new Admission.AdmissionError({ message: `size ${ctx.spec.size} is above 10` }))
 *     : Effect.void
 * )
 * ```
 *
 * @since 0.1.0
 * @category admission
 */
export const validate: {
  <Spec = Json.JsonObject, E = never, R = never>(
    resource: Resource.Resource<Spec>,
    fn: (ctx: Admission.Context<Spec>) => Effect.Effect<unknown, E, R>
  ): Admission.Webhook<R>
  <Spec = Json.JsonObject, E = never, R = never>(
    resource: Resource.Resource<Spec>,
    options: Admission.Options<Spec>,
    fn: (ctx: Admission.Context<Spec>) => Effect.Effect<unknown, E, R>
  ): Admission.Webhook<R>
} = <Spec, E, R>(
  resource: Resource.Resource<Spec>,
  ...args: AdmissionArgs<Admission.Context<Spec>, Spec, E, R>
): Admission.Webhook<R> =>
  args.length === 1
    ? Admission.make("validate", resource, {}, args[0])
    : Admission.make("validate", resource, args[0], args[1])

/**
 * A mutating admission handler (Kopf's `@kopf.on.mutate`): as {@link validate}, and what it
 * writes with `ctx.patch` (merge patches) changes the object before the API server stores it
 * (sent as a JSON patch). Mutating handlers run before validating ones, and the API server may
 * call them again when a later webhook changed the object: write them so that running twice
 * changes nothing more.
 *
 * @example
 * ```ts
 * import { Handler, Resource } from "@kubefx/core"
 * import { Effect } from "effect"
 *
 * const widgets = Resource.make({ group: "example.com", version: "v1", plural: "widgets", kind: "Widget" })
 * const owner = Handler.mutate(widgets, { id: "owner-label", operations: ["CREATE"] }, (ctx) =>
 *   ctx.patch.labels({ "example.com/created-by": ctx.userInfo.username ?? "unknown" })
 * )
 * ```
 *
 * @since 0.1.0
 * @category admission
 */
export const mutate: {
  <Spec = Json.JsonObject, E = never, R = never>(
    resource: Resource.Resource<Spec>,
    fn: (ctx: Admission.MutateContext<Spec>) => Effect.Effect<unknown, E, R>
  ): Admission.Webhook<R>
  <Spec = Json.JsonObject, E = never, R = never>(
    resource: Resource.Resource<Spec>,
    options: Admission.Options<Spec>,
    fn: (ctx: Admission.MutateContext<Spec>) => Effect.Effect<unknown, E, R>
  ): Admission.Webhook<R>
} = <Spec, E, R>(
  resource: Resource.Resource<Spec>,
  ...args: AdmissionArgs<Admission.MutateContext<Spec>, Spec, E, R>
): Admission.Webhook<R> =>
  args.length === 1
    ? Admission.make("mutate", resource, {}, args[0])
    : Admission.make("mutate", resource, args[0], args[1])
