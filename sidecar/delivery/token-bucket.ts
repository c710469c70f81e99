// The per-pod rate limit: a token bucket holding up to `burst` tokens, refilled at `rate` per
// second or minute; each request takes one. No timers: the bucket is brought up to date from the
// caller's clock on every decision, and a refusal says exactly when the next token arrives, so
// a synchronous delivery can wait for it when its deadline allows.
//
// Arithmetic is in integers so that `retryAfterMs` is exact: one token is worth `periodMs` units
// and the bucket gains `rate` units per millisecond. (10 per second in float tokens would refill
// 0.01 per ms, and 1 / 0.01 summed over calls drifts to 100.00000001 → 101 ms.) The global
// limiter's Lua script uses the same units, so both scopes decide alike.

/** A rate limit as a policy states it. */
export interface RateLimit {
  /** Tokens added per `per`; a positive integer. */
  readonly rate: number;
  readonly per: 'second' | 'minute';
  /** Bucket size: how many requests may go at once after a quiet spell; a positive integer. */
  readonly burst: number;
}

/** A limiter's answer: go, or wait `retryAfterMs` before a token can be there. */
export type RateDecision =
  { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/** What the rate-limit layer calls: per-pod buckets answer at once, global ones after Redis. */
export interface RateLimiter {
  take(now: number): RateDecision | Promise<RateDecision>;
}

/** Length of each `per` unit in milliseconds. */
export const PERIOD_MS: Readonly<Record<RateLimit['per'], number>> = {
  second: 1000,
  minute: 60_000,
};

/** Lists every problem with `limit` (empty when valid). */
export function rateLimitProblems(limit: RateLimit): string[] {
  const problems: string[] = [];
  if (!Number.isSafeInteger(limit.rate) || limit.rate < 1)
    problems.push(`rate must be a positive integer (got ${limit.rate})`);
  if (!Number.isSafeInteger(limit.burst) || limit.burst < 1)
    problems.push(`burst must be a positive integer (got ${limit.burst})`);
  if (!(limit.per in PERIOD_MS)) problems.push(`per must be second or minute (got ${limit.per})`);
  return problems;
}

/** Throws a RangeError listing every problem with `limit`. */
export function assertRateLimit(limit: RateLimit): void {
  const problems = rateLimitProblems(limit);
  if (problems.length > 0) throw new RangeError(`invalid rate limit: ${problems.join('; ')}`);
}

/** A local token bucket; starts full. Not shared between processes (see global-limiter.ts). */
export class TokenBucket implements RateLimiter {
  readonly #rate: number;
  readonly #periodMs: number;
  readonly #capacity: number;
  #units: number;
  #updatedAt: number | undefined;

  constructor(limit: RateLimit) {
    assertRateLimit(limit);
    this.#rate = limit.rate;
    this.#periodMs = PERIOD_MS[limit.per];
    this.#capacity = limit.burst * this.#periodMs;
    this.#units = this.#capacity;
  }

  /** Takes one token at `now` (epoch or monotonic milliseconds, as long as it is one clock). */
  take(now: number): RateDecision {
    this.#refill(now);
    if (this.#units >= this.#periodMs) {
      this.#units -= this.#periodMs;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil((this.#periodMs - this.#units) / this.#rate) };
  }

  /** Whole tokens available at `now`, for metrics and tests; takes nothing. */
  available(now: number): number {
    this.#refill(now);
    return Math.floor(this.#units / this.#periodMs);
  }

  #refill(now: number): void {
    const at = Math.floor(now);
    // A clock that steps back refills nothing rather than draining the bucket.
    if (this.#updatedAt !== undefined && at > this.#updatedAt) {
      // Capping the elapsed time first keeps the product exact after a long idle spell.
      const elapsed = Math.min(at - this.#updatedAt, Math.ceil(this.#capacity / this.#rate));
      this.#units = Math.min(this.#capacity, this.#units + elapsed * this.#rate);
    }
    if (this.#updatedAt === undefined || at > this.#updatedAt) this.#updatedAt = at;
  }
}
