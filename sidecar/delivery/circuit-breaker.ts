// Per-endpoint circuit breaker: stop sending to a receiver that keeps failing, so its queue of
// retries does not pile up on it (or on our deadlines), then probe it carefully.
//
//   closed ──(N consecutive failures, or failure ratio over the window)──▶ open
//   open ──(openMs elapsed, on the next acquire)──▶ half-open
//   half-open ──(every probe succeeded)──▶ closed;  ──(a probe failed)──▶ open
//
// No timers: the state advances when `acquire` is called with the current time. Outcomes of
// requests admitted before the last transition are ignored — a slow request from the closed
// phase must neither reopen nor close a breaker that has moved on.

/** The breaker's state, for metrics (`hookgate_circuit_state`) and problem bodies. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** How a request admitted by the breaker ended; `ignored` frees a probe slot without counting. */
export type BreakerOutcome = 'success' | 'failure' | 'ignored';

/** A state change, reported to `onTransition`. */
export interface BreakerTransition {
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly at: number;
  readonly reason: string;
}

/** Options for {@link CircuitBreaker}; at least one of the two opening rules is required. */
export interface CircuitBreakerOptions {
  /** Open after this many failures in a row. */
  readonly consecutiveFailures?: number;
  /** Open when failures / requests over the last `windowMs` reach `threshold` (0 < t ≤ 1). */
  readonly failureRatio?: {
    readonly threshold: number;
    readonly windowMs: number;
    /** No ratio verdict on fewer requests than this in the window. */
    readonly minRequests: number;
    /** Buckets the window slides by (default 10): old outcomes leave one bucket at a time. */
    readonly buckets?: number;
  };
  /** How long the breaker stays open before probing. */
  readonly openMs: number;
  /** Probe requests admitted in half-open; all must succeed to close (default 1). */
  readonly halfOpenProbes?: number;
  readonly onTransition?: (transition: BreakerTransition) => void;
}

/** Admission: go and report the outcome through `release`, or a refusal with a retry hint. */
export type BreakerPermit =
  | { readonly allowed: true; release(outcome: BreakerOutcome, now: number): void }
  | {
      readonly allowed: false;
      readonly state: 'open' | 'half-open';
      readonly retryAfterMs: number;
    };

/** Outcome counts of one slice of the sliding window. */
interface Bucket {
  slice: number;
  requests: number;
  failures: number;
}

/** Lists every problem with `options` (empty when valid). */
export function breakerOptionProblems(options: CircuitBreakerOptions): string[] {
  const problems: string[] = [];
  const { consecutiveFailures: n, failureRatio: ratio } = options;
  if (n === undefined && ratio === undefined)
    problems.push('set consecutiveFailures, failureRatio or both');
  if (n !== undefined && !(Number.isInteger(n) && n >= 1))
    problems.push(`consecutiveFailures must be a positive integer (got ${n})`);
  if (ratio !== undefined) {
    if (!(ratio.threshold > 0 && ratio.threshold <= 1))
      problems.push(`failureRatio.threshold must be in (0, 1] (got ${ratio.threshold})`);
    if (!(ratio.windowMs > 0))
      problems.push(`failureRatio.windowMs must be > 0 (got ${ratio.windowMs})`);
    if (!(Number.isInteger(ratio.minRequests) && ratio.minRequests >= 1))
      problems.push(
        `failureRatio.minRequests must be a positive integer (got ${ratio.minRequests})`,
      );
    const b = ratio.buckets ?? 10;
    if (!(Number.isInteger(b) && b >= 1))
      problems.push(`failureRatio.buckets must be a positive integer (got ${b})`);
  }
  if (!(options.openMs > 0)) problems.push(`openMs must be > 0 (got ${options.openMs})`);
  const probes = options.halfOpenProbes ?? 1;
  if (!(Number.isInteger(probes) && probes >= 1))
    problems.push(`halfOpenProbes must be a positive integer (got ${probes})`);
  return problems;
}

/** One receiver's breaker. */
export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions;
  readonly #probes: number;
  readonly #bucketMs: number;
  readonly #buckets: Bucket[];
  #state: BreakerState = 'closed';
  /** Bumped on every transition; permits from an older generation are ignored. */
  #generation = 0;
  #consecutive = 0;
  #openUntil = 0;
  #probesAdmitted = 0;
  #probesSucceeded = 0;

  constructor(options: CircuitBreakerOptions) {
    const problems = breakerOptionProblems(options);
    if (problems.length > 0)
      throw new RangeError(`invalid circuit breaker: ${problems.join('; ')}`);
    this.#options = options;
    this.#probes = options.halfOpenProbes ?? 1;
    const buckets = options.failureRatio?.buckets ?? 10;
    this.#bucketMs = (options.failureRatio?.windowMs ?? 1) / buckets;
    this.#buckets = Array.from({ length: buckets }, () => ({
      slice: -1,
      requests: 0,
      failures: 0,
    }));
  }

  /** The current state (open turns half-open lazily, on the next `acquire`). */
  get state(): BreakerState {
    return this.#state;
  }

  /** Asks to send one request at `now`. */
  acquire(now: number): BreakerPermit {
    if (this.#state === 'open') {
      if (now < this.#openUntil)
        return { allowed: false, state: 'open', retryAfterMs: this.#openUntil - now };
      this.#transition('half-open', now, `open for ${this.#options.openMs} ms`);
    }
    if (this.#state === 'half-open') {
      // While the probes are out there is no better hint than another open period.
      if (this.#probesAdmitted >= this.#probes)
        return { allowed: false, state: 'half-open', retryAfterMs: this.#options.openMs };
      this.#probesAdmitted += 1;
    }
    const generation = this.#generation;
    let released = false;
    return {
      allowed: true,
      release: (outcome: BreakerOutcome, at: number): void => {
        if (released) return;
        released = true;
        if (generation === this.#generation) this.#record(outcome, at);
      },
    };
  }

  #record(outcome: BreakerOutcome, now: number): void {
    if (this.#state === 'half-open') {
      if (outcome === 'failure') this.#open(now, 'a half-open probe failed');
      else if (outcome === 'ignored') this.#probesAdmitted -= 1;
      else if (++this.#probesSucceeded >= this.#probes)
        this.#transition('closed', now, `${this.#probes} half-open probe(s) succeeded`);
      return;
    }
    if (this.#state !== 'closed' || outcome === 'ignored') return;
    this.#consecutive = outcome === 'failure' ? this.#consecutive + 1 : 0;
    const n = this.#options.consecutiveFailures;
    if (n !== undefined && this.#consecutive >= n) {
      this.#open(now, `${this.#consecutive} consecutive failures`);
      return;
    }
    const ratio = this.#options.failureRatio;
    if (ratio === undefined) return;
    const bucket = this.#bucketAt(now);
    bucket.requests += 1;
    if (outcome === 'failure') bucket.failures += 1;
    const { requests, failures } = this.#windowTotals(now);
    if (requests >= ratio.minRequests && failures / requests >= ratio.threshold)
      this.#open(now, `${failures} of ${requests} requests failed within ${ratio.windowMs} ms`);
  }

  #bucketAt(now: number): Bucket {
    const slice = Math.floor(now / this.#bucketMs);
    const bucket = this.#buckets[slice % this.#buckets.length]!;
    if (bucket.slice !== slice) Object.assign(bucket, { slice, requests: 0, failures: 0 });
    return bucket;
  }

  #windowTotals(now: number): { requests: number; failures: number } {
    const current = Math.floor(now / this.#bucketMs);
    let requests = 0;
    let failures = 0;
    for (const b of this.#buckets) {
      // Only slices within the last `buckets` slices count; older ones have slid out.
      if (b.slice > current - this.#buckets.length && b.slice <= current) {
        requests += b.requests;
        failures += b.failures;
      }
    }
    return { requests, failures };
  }

  #open(now: number, reason: string): void {
    this.#openUntil = now + this.#options.openMs;
    this.#transition('open', now, reason);
  }

  #transition(to: BreakerState, now: number, reason: string): void {
    const from = this.#state;
    this.#state = to;
    this.#generation += 1;
    this.#consecutive = 0;
    this.#probesAdmitted = 0;
    this.#probesSucceeded = 0;
    for (const b of this.#buckets) Object.assign(b, { slice: -1, requests: 0, failures: 0 });
    this.#options.onTransition?.({ from, to, at: now, reason });
  }
}
