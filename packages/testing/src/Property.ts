/**
 * Property tests whose cases are Effects: each case runs in its own scope, under a fresh
 * `TestClock`, a seeded `Random` and quiet logs, so a case's outcome depends only on its
 * generated value. A failure makes fast-check print the seed, the path and the shrunk
 * counterexample; pass them back (`{ seed, path }`) to replay exactly that case.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, type LogLevel, Random, References } from "effect"
import type * as Scope from "effect/Scope"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"

/**
 * Options of {@link check}: fast-check's parameters, plus the log level of the cases (default
 * `"None"`).
 *
 * @since 0.1.0
 * @category models
 */
export type CheckOptions<T> = fc.Parameters<[T]> & {
  readonly logLevel?: LogLevel.LogLevel | undefined
}

/**
 * Runs one case as {@link check} does (test clock, seeded random, scope); answers its exit.
 *
 * @since 0.1.0
 * @category running
 */
export const runCase = <E>(
  effect: Effect.Effect<unknown, E, Scope.Scope>,
  options: { readonly logLevel?: LogLevel.LogLevel | undefined } = {}
): Promise<Exit.Exit<unknown, E>> =>
  Effect.runPromiseExit(
    effect.pipe(
      Effect.scoped,
      Random.withSeed(0),
      Effect.provideService(References.MinimumLogLevel, options.logLevel ?? "None"),
      Effect.provide(TestClock.layer())
    )
  )

/**
 * Asserts that `property` succeeds for every generated value (a failed or dead Effect is a
 * counterexample).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as fc from "fast-check"
 * import { Property } from "@kubefx/testing"
 *
 * await Property.check(fc.nat(), (n) => (n >= 0 ? Effect.void : Effect.fail("negative")), {
 *   numRuns: 100
 * })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const check = <T, E>(
  arbitrary: fc.Arbitrary<T>,
  property: (value: T) => Effect.Effect<unknown, E, Scope.Scope>,
  options: CheckOptions<T> = {}
): Promise<void> => {
  const { logLevel, ...params } = options
  return fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      const exit = await runCase(property(value), { logLevel })
      if (Exit.isFailure(exit)) throw new Error(Cause.pretty(exit.cause))
    }),
    params
  )
}
