// Delay before a retry: exponential growth capped at a maximum, with AWS's "full jitter"
// (delay = random(0, min(max, initial × multiplier^attempt))). Full jitter spreads the retries of
// many senders hit by one outage over the whole interval, so a recovering receiver is not met by
// synchronised waves (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).

/** How retry delays grow. */
export interface BackoffOptions {
  /** Ceiling of the first retry's delay, in milliseconds. */
  readonly initialMs: number;
  /** No delay exceeds this, in milliseconds. */
  readonly maxMs: number;
  /** Growth factor per attempt (2 doubles the ceiling each time). */
  readonly multiplier: number;
  /** Full jitter on (default) or off: off returns the ceiling itself, for predictable schedules. */
  readonly jitter?: boolean;
}

/** A source of uniform numbers in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/** Lists every problem with `options` (empty when valid). */
export function backoffOptionProblems(options: BackoffOptions): string[] {
  const problems: string[] = [];
  if (!(options.initialMs > 0)) problems.push(`initialMs must be > 0 (got ${options.initialMs})`);
  if (!(options.maxMs >= options.initialMs))
    problems.push(`maxMs must be >= initialMs (got ${options.maxMs} < ${options.initialMs})`);
  if (!(options.multiplier >= 1))
    problems.push(`multiplier must be >= 1 (got ${options.multiplier})`);
  return problems;
}

/**
 * Delay before retry number `retry` (0 for the first), in whole milliseconds, within
 * [0, min(maxMs, initialMs × multiplier^retry)]; `random` draws the full jitter.
 */
export function backoffDelayMs(
  options: BackoffOptions,
  retry: number,
  random: RandomSource = Math.random,
): number {
  if (!Number.isInteger(retry) || retry < 0)
    throw new RangeError(`retry must be a non-negative integer (got ${retry})`);
  // multiplier^retry overflows to Infinity for large retries; min() then yields maxMs.
  const ceiling = Math.min(options.maxMs, options.initialMs * options.multiplier ** retry);
  return Math.round((options.jitter ?? true) ? random() * ceiling : ceiling);
}
