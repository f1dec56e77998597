/**
 * Durations in log lines, to the millisecond: jittered delays are fractional, and
 * `Duration.format` would print their nanoseconds ("192ms 733289ns").
 *
 * @internal
 */
import { Duration } from "effect"

/** `d` as `Duration.format` writes it, rounded to the millisecond. @internal */
export const duration = (d: Duration.Input): string =>
  Duration.format(Duration.millis(Math.round(Duration.toMillis(Duration.fromInputUnsafe(d)))))
