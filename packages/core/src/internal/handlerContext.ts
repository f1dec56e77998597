/**
 * A handler's context (`Handler.Context`; `Handler.SpawnedContext` when the run has signals)
 * whose parts that cost memory are made when first read: a daemon's context lives as long as
 * the daemon, and a handler reads a few of its fields. Every field is an own enumerable property,
 * as in a plain object, so spreading a context copies them all. Also the patch a run records
 * through `ctx.patch` ({@link PatchCell}).
 *
 * @internal
 */
import { DateTime, Duration, Effect } from "effect"
import type * as Diff from "../Diff.ts"
import type * as Handler from "../Handler.ts"
import * as Json from "../Json.ts"
import * as Patch from "../Patch.ts"
import type * as Resource from "../Resource.ts"
import { logger, stringMap } from "./metadata.ts"

/**
 * The patch of one run: what `ctx.patch` (and the run's sub-handlers) recorded.
 *
 * @internal
 */
export class PatchCell {
  value: Patch.MergePatch = Patch.empty
  #builder: Patch.Builder | undefined
  /** Reads what was recorded so far. */
  get get(): Effect.Effect<Patch.MergePatch> {
    return Effect.sync(() => this.value)
  }
  /** Records into this patch (made when first used). */
  get builder(): Patch.Builder {
    this.#builder ??= builderOf(this)
    return this.#builder
  }
}

const builderOf = (cell: PatchCell): Patch.Builder => {
  const merge = (patch: Patch.MergePatch) =>
    Effect.sync(() => {
      cell.value = Patch.combine(cell.value, patch)
    })
  return {
    merge,
    status: (fields) => merge({ status: fields }),
    labels: (labels) => merge({ metadata: { labels } }),
    annotations: (annotations) => merge({ metadata: { annotations } })
  }
}

/** What a handler's context is made of. @internal */
export interface Parts {
  readonly handler: Handler.Handler<unknown>
  readonly resource: Resource.Resource<unknown>
  readonly body: Json.JsonObject
  readonly spec: unknown
  readonly reason: string
  readonly event: Handler.EventType | undefined
  readonly change: {
    readonly old: Json.Json | undefined
    readonly new: Json.Json | undefined
    readonly diff: Diff.Diff
  }
  readonly retry: number
  /** When the first attempt started, and the clock at this one (epoch milliseconds). */
  readonly started: number
  readonly now: number
  readonly patch: PatchCell
  readonly execute: () => Handler.Context<unknown>["execute"]
  readonly signals?:
    | {
        readonly stopped: Effect.Effect<void>
        readonly isStopped: Effect.Effect<boolean>
        readonly latest: Effect.Effect<Json.JsonObject>
      }
    | undefined
}

/** What a handler's log lines are annotated with. @internal */
export const logAnnotations = (id: string, name: string, namespace: string | undefined) => ({
  handler: id,
  object: namespace === undefined ? name : `${namespace}/${name}`
})

/**
 * A handler's context (see the module's documentation).
 *
 * @internal
 */
export class HandlerContext {
  readonly id: string
  readonly resource: Resource.Resource<unknown>
  readonly body: Json.JsonObject
  readonly spec: unknown
  readonly meta: Json.JsonObject
  readonly name: string
  readonly namespace: string | undefined
  readonly uid: string | undefined
  readonly reason: string
  readonly event: Handler.EventType | undefined
  readonly retry: number
  declare readonly status: Json.JsonObject
  declare readonly labels: Readonly<Record<string, string>>
  declare readonly annotations: Readonly<Record<string, string>>
  declare readonly old: Json.Json | undefined
  declare readonly new: Json.Json | undefined
  declare readonly diff: Diff.Diff
  declare readonly started: DateTime.Utc
  declare readonly runtime: Duration.Duration
  declare readonly patch: Patch.Builder
  declare readonly logger: Handler.Logger
  declare readonly execute: Handler.Context<unknown>["execute"]
  declare readonly stopped?: Effect.Effect<void>
  declare readonly isStopped?: Effect.Effect<boolean>
  declare readonly latest?: Effect.Effect<Json.JsonObject>
  readonly #parts: Parts
  #made: Partial<Record<Lazy, unknown>> | undefined

  constructor(parts: Parts) {
    const meta = Json.asObject(parts.body.metadata)
    this.id = parts.handler.id
    this.resource = parts.resource
    this.body = parts.body
    this.spec = parts.spec
    this.meta = meta
    this.name = typeof meta.name === "string" ? meta.name : ""
    this.namespace = typeof meta.namespace === "string" ? meta.namespace : undefined
    this.uid = typeof meta.uid === "string" ? meta.uid : undefined
    this.reason = parts.reason
    this.event = parts.event
    this.retry = parts.retry
    this.#parts = parts
    Object.defineProperties(this, HandlerContext.#lazy)
    if (parts.signals !== undefined) Object.assign(this, parts.signals)
  }

  /** A part made when first read, then kept. */
  #once<A>(key: Lazy, make: (parts: Parts) => A): A {
    this.#made ??= {}
    if (!(key in this.#made)) this.#made[key] = make(this.#parts)
    return this.#made[key] as A
  }

  static #field(key: Lazy, make: (parts: Parts) => unknown): PropertyDescriptor {
    return {
      enumerable: true,
      get(this: HandlerContext) {
        return this.#once(key, make)
      }
    }
  }

  static readonly #lazy: Record<Lazy, PropertyDescriptor> = {
    status: HandlerContext.#field("status", (p) => Json.asObject(p.body.status)),
    labels: HandlerContext.#field("labels", (p) =>
      stringMap(Json.asObject(p.body.metadata).labels)
    ),
    annotations: HandlerContext.#field("annotations", (p) =>
      stringMap(Json.asObject(p.body.metadata).annotations)
    ),
    old: HandlerContext.#field("old", (p) => p.change.old),
    new: HandlerContext.#field("new", (p) => p.change.new),
    diff: HandlerContext.#field("diff", (p) => p.change.diff),
    started: HandlerContext.#field("started", (p) => DateTime.makeUnsafe(p.started)),
    runtime: HandlerContext.#field("runtime", (p) =>
      Duration.millis(Math.max(0, p.now - p.started))
    ),
    patch: HandlerContext.#field("patch", (p) => p.patch.builder),
    logger: HandlerContext.#field("logger", (p) => {
      const meta = Json.asObject(p.body.metadata)
      return logger(
        logAnnotations(
          p.handler.id,
          typeof meta.name === "string" ? meta.name : "",
          typeof meta.namespace === "string" ? meta.namespace : undefined
        )
      )
    }),
    execute: HandlerContext.#field("execute", (p) => p.execute())
  }
}

type Lazy =
  | "status"
  | "labels"
  | "annotations"
  | "old"
  | "new"
  | "diff"
  | "started"
  | "runtime"
  | "patch"
  | "logger"
  | "execute"
