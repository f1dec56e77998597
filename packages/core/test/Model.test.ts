/**
 * Model-based properties: a simulated cluster (the decision's merge patch applied to the body,
 * fed back), with steps at arbitrary times, operator restarts (the next step is a first sight;
 * the core keeps nothing in memory, so a restart only loses that flag), user edits of the spec
 * and labels, and deletion. All state lives on the object, so progress round-trips through it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option, Schedule } from "effect"
import * as fc from "fast-check"
import {
  Causes,
  Handler,
  Json,
  Outcome,
  Patch,
  type Reconcile,
  Registry,
  Storage
} from "../src/index.ts"
import { applyPatch, markDeleted, property, step, type World, widget, widgets } from "./support.ts"

type Behavior = "ok" | "temp" | "tempDelay" | "perm" | "defect" | "unexpected"

interface Spec {
  readonly kind: "create" | "update" | "delete" | "resume" | "field"
  readonly optional: boolean
  readonly retries: number
  readonly errors: Handler.ErrorsMode
  readonly script: ReadonlyArray<Behavior>
}

type Command =
  | { readonly _tag: "Step"; readonly dt: number }
  | { readonly _tag: "Restart" }
  | { readonly _tag: "Edit"; readonly size: string }
  | { readonly _tag: "Label"; readonly value: string | null }
  | { readonly _tag: "Delete" }
  | { readonly _tag: "Hold"; readonly on: boolean }

const behavior = fc.constantFrom<Behavior>(
  "ok",
  "ok",
  "temp",
  "tempDelay",
  "perm",
  "defect",
  "unexpected"
)

const spec: fc.Arbitrary<Spec> = fc.record({
  kind: fc.constantFrom("create", "update", "delete", "resume", "field"),
  optional: fc.boolean(),
  retries: fc.integer({ min: 0, max: 3 }),
  errors: fc.constantFrom<Handler.ErrorsMode>("temporary", "permanent", "ignored"),
  script: fc.array(behavior, { minLength: 1, maxLength: 4 })
})

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      _tag: fc.constant("Step" as const),
      dt: fc.integer({ min: 0, max: 90_000 })
    })
  },
  { weight: 1, arbitrary: fc.constant({ _tag: "Restart" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("Edit" as const),
      size: fc.constantFrom("1G", "2G", "3G")
    })
  },
  {
    weight: 1,
    arbitrary: fc.record({
      _tag: fc.constant("Label" as const),
      value: fc.constantFrom("gold", "silver", null)
    })
  },
  { weight: 1, arbitrary: fc.constant({ _tag: "Delete" as const }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Hold" as const), on: fc.boolean() }) }
)

/** Another controller's finalizer, added or removed (keeps a deleted object around). */
const hold = (body: Json.JsonObject, on: boolean): Json.JsonObject | undefined => {
  const current = Json.get(body, ["metadata", "finalizers"])
  const others = (Array.isArray(current) ? current : []).filter((f) => f !== "other.io/hold")
  return applyPatch(body, { metadata: { finalizers: on ? [...others, "other.io/hold"] : others } })
}

const storages: Record<string, Storage.Storage> = {
  default: Storage.defaults,
  annotations: Storage.make({
    progress: Storage.annotations({ prefix: "kubefx.dev" }),
    lastHandled: Storage.annotations({ prefix: "kubefx.dev" })
  }),
  status: Storage.make({
    progress: Storage.status({ field: "op" }),
    lastHandled: Storage.status({ field: "op" })
  })
}

const scenario = fc.record({
  specs: fc.array(spec, { minLength: 1, maxLength: 4 }),
  storage: fc.constantFrom(...Object.keys(storages)),
  commands: fc.array(command, { minLength: 1, maxLength: 40 })
})

/** Handlers whose behavior depends only on their input (so decisions are reproducible). */
const registryOf = (specs: ReadonlyArray<Spec>): Registry.Registry<never> =>
  specs.reduce<Registry.Registry<never>>((registry, s, i) => {
    const id = `h${i}-${s.kind}`
    const options = { id, retries: s.retries, errors: s.errors, optional: s.optional }
    const fn = (ctx: Handler.Context<Json.JsonObject>) => {
      switch (s.script[ctx.retry % s.script.length]!) {
        case "ok":
          return ctx.patch.status({ touched: id }).pipe(Effect.as({ retry: ctx.retry }))
        case "temp":
          return Effect.fail(new Outcome.TemporaryError({ message: "temp" }))
        case "tempDelay":
          return Effect.fail(new Outcome.TemporaryError({ message: "later", delay: "5 seconds" }))
        case "perm":
          return Effect.fail(new Outcome.PermanentError({ message: "perm" }))
        case "defect":
          return Effect.die("defect")
        case "unexpected":
          return Effect.fail(new Error("unexpected"))
      }
    }
    const handler =
      s.kind === "create"
        ? Handler.onCreate(widgets, options, fn)
        : s.kind === "update"
          ? Handler.onUpdate(widgets, options, fn)
          : s.kind === "delete"
            ? Handler.onDelete(widgets, options, fn)
            : s.kind === "resume"
              ? Handler.onResume(widgets, options, fn)
              : Handler.onField(widgets, "spec.size", options, fn)
    return Registry.add(registry, handler)
  }, Registry.empty)

/** What a decision says, as plain data (outcomes' error classes reduced to tag and message). */
const project = (d: Reconcile.Decision) => ({
  reason: d.cause.reason,
  key: d.cause.key,
  finalizer: d.cause.finalizer,
  patch: d.patch,
  events: d.events,
  requeueAfter: Option.map(d.requeueAfter, Duration.toMillis),
  runs: d.runs.map((r) => ({
    id: r.id,
    tag: r.outcome._tag,
    detail:
      r.outcome._tag === "Failure"
        ? [r.outcome.error._tag, r.outcome.error.message]
        : r.outcome._tag === "Retry"
          ? [r.outcome.delayMillis, r.outcome.message]
          : [r.outcome.result ?? null]
  })),
  done: d.done
})

const hasFinalizer = (body: Json.JsonObject) => Storage.hasFinalizer(Storage.defaults, body)
const isDeleting = (body: Json.JsonObject) => Causes.isDeleting(body)

/** What the generated scenarios exercised (checked after the property). */
const covered = new Set<string>()

describe("Model: steps, restarts, edits and deletions", () => {
  property(
    "invariants hold in every step: no handler runs again for a change it is done with; the finalizer is present exactly while a non-optional delete handler is pending; retries are bounded; the same input and clock give the same decision; and the object converges",
    scenario,
    ({ specs, storage: storageName, commands }) =>
      Effect.gen(function* () {
        const storage = storages[storageName]!
        const registry = registryOf(specs)
        const needs = specs.some((s) => s.kind === "delete" && !s.optional)
        const retriesOf = new Map(specs.map((s, i) => [`h${i}-${s.kind}`, s.retries]))
        let world: World = { body: widget(), now: 1_700_000_000_000, firstSight: true }
        let trackedKey: string | undefined
        const doneWith = new Set<string>()
        const attempts = new Map<string, number>()

        const observe = (
          before: Json.JsonObject,
          after: Json.JsonObject | undefined,
          d: Reconcile.Decision
        ) =>
          Effect.gen(function* () {
            // Determinism: the same input and clock give the same decision.
            const again = yield* step(registry, { ...world, body: before }, storage)
            assert.deepStrictEqual(project(again.decision!), project(d))

            if (d.cause.key !== trackedKey) {
              trackedKey = d.cause.key
              doneWith.clear()
              attempts.clear()
            }
            covered.add(`reason:${d.cause.reason}`)
            covered.add(`finalizer:${d.cause.finalizer}`)
            for (const r of d.runs) {
              covered.add(
                `outcome:${r.outcome._tag === "Failure" ? r.outcome.error._tag : r.outcome._tag}`
              )
              // Never again for the same change once succeeded or failed for good.
              assert.isFalse(doneWith.has(r.id), `${r.id} ran again for ${d.cause.key}`)
              if (r.outcome._tag !== "Retry") doneWith.add(r.id)
              // At most `retries + 1` attempts per change.
              const n = (attempts.get(r.id) ?? 0) + 1
              attempts.set(r.id, n)
              assert.isAtMost(n, (retriesOf.get(r.id) ?? 0) + 1, `${r.id} attempts`)
              if (r.outcome._tag === "Retry") assert.isBelow(n, (retriesOf.get(r.id) ?? 0) + 1)
              // Handlers run only while the finalizer protects the object, when one is needed.
              if (needs) assert.isTrue(hasFinalizer(before), `${r.id} ran without the finalizer`)
              // Delete handlers run only for a deletion, others never for one.
              assert.strictEqual(r.id.endsWith("-delete"), d.cause.reason === "delete")
            }
            if (d.done) {
              doneWith.clear()
              attempts.clear()
              trackedKey = undefined
            }
            // A pending change always says when to come back; a finished one never does.
            if (!d.done && d.cause.finalizer !== "add") assert.isTrue(Option.isSome(d.requeueAfter))
            if (d.done) assert.isTrue(Option.isNone(d.requeueAfter))

            // The finalizer: present exactly while needed and not yet released by a finished deletion.
            if (after !== undefined) {
              if (!needs)
                assert.isFalse(
                  hasFinalizer(after),
                  "finalizer without a non-optional delete handler"
                )
              else if (!isDeleting(after))
                assert.isTrue(hasFinalizer(after), "live object without the finalizer")
              if (hasFinalizer(before) && !hasFinalizer(after))
                assert.isTrue(
                  !needs || (d.cause.reason === "delete" && d.done),
                  "finalizer released too early"
                )
            }
            if (
              before !== undefined &&
              hasFinalizer(before) &&
              isDeleting(before) &&
              after === undefined
            )
              assert.isTrue(d.cause.reason === "delete" && d.done)
          })

        const doStep = Effect.gen(function* () {
          const before = world.body
          if (before === undefined) return undefined
          const result = yield* step(registry, world, storage)
          yield* observe(before, result.world.body, result.decision!)
          world = result.world
          return result.decision
        })

        for (const c of commands) {
          const body = world.body
          switch (c._tag) {
            case "Step":
              world = { ...world, now: world.now + c.dt }
              yield* doStep
              break
            case "Restart":
              world = { ...world, firstSight: true }
              break
            case "Edit":
              if (body !== undefined)
                world = { ...world, body: applyPatch(body, { spec: { size: c.size } }) }
              break
            case "Label":
              if (body !== undefined)
                world = {
                  ...world,
                  body: applyPatch(body, { metadata: { labels: { tier: c.value } } })
                }
              break
            case "Delete":
              if (body !== undefined) world = { ...world, body: markDeleted(body, world.now) }
              break
            case "Hold":
              if (body !== undefined) world = { ...world, body: hold(body, c.on) }
              break
          }
        }

        // Convergence: following the decisions' delays, the object reaches a fixed point.
        let settled = false
        for (let i = 0; i < 60 && !settled; i++) {
          const d = yield* doStep
          if (d === undefined) settled = true
          else if (Patch.isEmpty(d.patch) && Option.isNone(d.requeueAfter) && d.runs.length === 0)
            settled = true
          else
            world = {
              ...world,
              now:
                world.now + Option.getOrElse(Option.map(d.requeueAfter, Duration.toMillis), () => 0)
            }
        }
        assert.isTrue(settled, "no fixed point")
        if (world.body !== undefined && !isDeleting(world.body)) {
          assert.strictEqual(
            Causes.detect({ body: world.body, storage, needsFinalizer: needs }).reason,
            "noop"
          )
          assert.deepStrictEqual(Storage.readProgress(storage, world.body), {})
        }
      }),
    { numRuns: 150 }
  )

  it("the scenarios covered every reason, finalizer action and outcome", () => {
    for (const c of [
      "reason:create",
      "reason:update",
      "reason:delete",
      "reason:resume",
      "reason:noop",
      "reason:gone",
      "finalizer:add",
      "finalizer:remove",
      "finalizer:none",
      "outcome:Success",
      "outcome:Retry",
      "outcome:PermanentError",
      "outcome:RetriesExhausted"
    ])
      assert.isTrue(covered.has(c), c)
  })
})

describe("Model: retries and permanent errors", () => {
  property(
    "temporary errors retry on their schedule until the retry limit, then fail for good",
    fc.record({
      retries: fc.integer({ min: 0, max: 6 }),
      base: fc.integer({ min: 1, max: 60_000 }),
      dts: fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 30 })
    }),
    ({ retries, base, dts }) =>
      Effect.gen(function* () {
        const registry = Registry.make(
          Handler.onCreate(
            widgets,
            { id: "t", retries, backoff: Schedule.exponential(Duration.millis(base)) },
            () => Effect.fail(new Outcome.TemporaryError({ message: "not yet" }))
          )
        )
        let world: World = { body: widget(), now: 0, firstSight: true }
        const runs: Array<{ at: number; outcome: Outcome.Outcome }> = []
        const go = Effect.gen(function* () {
          const r = yield* step(registry, world)
          for (const run of r.decision?.runs ?? [])
            runs.push({ at: world.now, outcome: run.outcome })
          world = r.world
          return r.decision
        })
        for (const dt of dts) {
          world = { ...world, now: world.now + dt, firstSight: dt % 2 === 0 }
          yield* go
        }
        for (let i = 0; i < retries + 2; i++) {
          const d = yield* go
          world = {
            ...world,
            now:
              world.now + Option.getOrElse(Option.map(d!.requeueAfter, Duration.toMillis), () => 0)
          }
        }
        // Exactly retries + 1 attempts, spaced by the schedule, the last one a RetriesExhausted failure.
        assert.strictEqual(runs.length, retries + 1)
        runs.forEach((r, k) => {
          if (k > 0) assert.isAtLeast(r.at - runs[k - 1]!.at, base * 2 ** (k - 1))
          if (k < retries) {
            assert.strictEqual(r.outcome._tag, "Retry")
            if (r.outcome._tag === "Retry") assert.strictEqual(r.outcome.delayMillis, base * 2 ** k)
          } else {
            assert.strictEqual(
              r.outcome._tag === "Failure" ? r.outcome.error._tag : r.outcome._tag,
              "RetriesExhausted"
            )
          }
        })
        assert.include(String(Json.get(world.body, "status.kubefx.errors.t")), "Retries exhausted")
      })
  )

  property(
    "permanent errors run once, whatever steps, restarts and edits follow",
    fc.array(command, { maxLength: 30 }),
    (commands) =>
      Effect.gen(function* () {
        let attempts = 0
        const registry = Registry.make(
          Handler.onCreate(widgets, { id: "p" }, () =>
            Effect.suspend(() => {
              attempts++
              return Effect.fail(new Outcome.PermanentError({ message: "no" }))
            })
          )
        )
        let world: World = { body: widget(), now: 0, firstSight: true }
        world = (yield* step(registry, world)).world
        for (const c of commands) {
          const body = world.body
          if (c._tag === "Step")
            world = (yield* step(registry, { ...world, now: world.now + c.dt })).world
          else if (c._tag === "Restart") world = { ...world, firstSight: true }
          else if (c._tag === "Edit" && body)
            world = { ...world, body: applyPatch(body, { spec: { size: c.size } }) }
          else if (c._tag === "Delete" && body)
            world = { ...world, body: markDeleted(body, world.now) }
        }
        assert.strictEqual(attempts, 1)
      })
  )
})
