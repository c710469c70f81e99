import { describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  type BreakerOutcome,
  type BreakerTransition,
  type CircuitBreakerOptions,
} from './circuit-breaker.ts';

/** A breaker that records its transitions. */
function breaker(options: Omit<CircuitBreakerOptions, 'onTransition'>): {
  cb: CircuitBreaker;
  transitions: BreakerTransition[];
} {
  const transitions: BreakerTransition[] = [];
  return {
    cb: new CircuitBreaker({ ...options, onTransition: (t) => transitions.push(t) }),
    transitions,
  };
}

/** Sends one request at `now` that ends with `outcome` at the same instant. */
function send(cb: CircuitBreaker, outcome: BreakerOutcome, now: number): boolean {
  const permit = cb.acquire(now);
  if (permit.allowed) permit.release(outcome, now);
  return permit.allowed;
}

const F = 'failure' as const;
const S = 'success' as const;

describe('CircuitBreaker: opening on consecutive failures', () => {
  it.each([
    // N failures in a row open it
    [[F, F, F], 'open'],
    // N-1 are not enough
    [[F, F], 'closed'],
    // a success in between resets the count
    [[F, F, S, F, F], 'closed'],
    [[F, F, S, F, F, F], 'open'],
    // ignored outcomes (a caller gave up) neither count nor reset
    [[F, F, 'ignored', F], 'open'],
  ] as const)('%j → %s', (outcomes, state) => {
    const { cb } = breaker({ consecutiveFailures: 3, openMs: 5000 });
    outcomes.forEach((o, i) => send(cb, o, i));
    expect(cb.state).toBe(state);
  });

  it('refuses while open with the exact time left, and reports why it opened', () => {
    const { cb, transitions } = breaker({ consecutiveFailures: 2, openMs: 5000 });
    send(cb, F, 100);
    send(cb, F, 200);
    expect(cb.acquire(200)).toEqual({ allowed: false, state: 'open', retryAfterMs: 5000 });
    expect(cb.acquire(5199)).toEqual({ allowed: false, state: 'open', retryAfterMs: 1 });
    expect(transitions).toEqual([
      { from: 'closed', to: 'open', at: 200, reason: '2 consecutive failures' },
    ]);
  });
});

describe('CircuitBreaker: opening on a failure ratio', () => {
  const ratio = { threshold: 0.5, windowMs: 10_000, minRequests: 4 };

  it.each([
    // three failures out of three are below the minimum request count: no verdict yet
    [[F, F, F], 'closed'],
    // the fourth request reaches the minimum: 3 of 4 failed ≥ 50 %
    [[F, F, F, S], 'open'],
    // exactly at the threshold opens
    [[S, F, S, F], 'open'],
    // below the threshold stays closed
    [[S, S, S, F, S, F], 'closed'],
  ] as const)('%j within one window → %s', (outcomes, state) => {
    const { cb } = breaker({ failureRatio: ratio, openMs: 5000 });
    outcomes.forEach((o, i) => send(cb, o, 1000 + i));
    expect(cb.state).toBe(state);
  });

  it.each([
    // still inside the window: the old failures count, 3 of 4 failed → open
    [9_999, 'open'],
    // the window has slid past them: 1 request in the window, below the minimum
    [10_000, 'closed'],
  ])('three failures at t=0, then a success at t=%i → %s', (later, state) => {
    const { cb } = breaker({ failureRatio: ratio, openMs: 5000 });
    for (let i = 0; i < 3; i++) send(cb, F, 0);
    send(cb, S, later);
    expect(cb.state).toBe(state);
  });

  it('drops old outcomes bucket by bucket as the window slides (successes too)', () => {
    // 10 buckets of 1 s: at t=10 000 the t=0 bucket has left the window, the t=5000 one has not
    const { cb, transitions } = breaker({ failureRatio: ratio, openMs: 5000 });
    for (const o of [F, S, S, S, F]) send(cb, o, 0); // 2 of 5 failed: closed
    send(cb, S, 5000);
    send(cb, S, 5000); // 2 of 7: closed
    send(cb, F, 10_000); // t=0 gone: 1 of 3, below the minimum
    expect(cb.state).toBe('closed');
    send(cb, F, 10_000); // 2 of 4 ≥ 50 % (counting t=0 it would be 4 of 9, closed)
    expect(cb.state).toBe('open');
    expect(transitions.map((t) => t.reason)).toEqual(['2 of 4 requests failed within 10000 ms']);
  });

  it('opens on whichever rule trips first when both are set', () => {
    const { cb, transitions } = breaker({ consecutiveFailures: 2, failureRatio: ratio, openMs: 1 });
    send(cb, F, 0);
    send(cb, F, 0);
    expect(transitions.map((t) => t.reason)).toEqual(['2 consecutive failures']);
  });
});

describe('CircuitBreaker: half-open probing', () => {
  /** A breaker opened at t=0 that may probe from t=5000. */
  function opened(probes: number): ReturnType<typeof breaker> {
    const b = breaker({ consecutiveFailures: 1, openMs: 5000, halfOpenProbes: probes });
    send(b.cb, F, 0);
    return b;
  }

  it('admits exactly the configured number of probes, then refuses', () => {
    const { cb } = opened(2);
    const first = cb.acquire(5000);
    expect(cb.state).toBe('half-open');
    const second = cb.acquire(5001);
    expect([first.allowed, second.allowed]).toEqual([true, true]);
    expect(cb.acquire(5002)).toEqual({ allowed: false, state: 'half-open', retryAfterMs: 5000 });
  });

  it('closes once every probe succeeded', () => {
    const { cb, transitions } = opened(2);
    const a = cb.acquire(5000);
    const b = cb.acquire(5000);
    if (!a.allowed || !b.allowed) throw new Error('probes refused');
    a.release(S, 5100);
    expect(cb.state).toBe('half-open');
    b.release(S, 5200);
    expect(cb.state).toBe('closed');
    expect(transitions.map((t) => [t.from, t.to, t.at])).toEqual([
      ['closed', 'open', 0],
      ['open', 'half-open', 5000],
      ['half-open', 'closed', 5200],
    ]);
    expect(cb.acquire(5200).allowed).toBe(true);
  });

  it('reopens for a full period on a failed probe, and ignores the other probe after that', () => {
    const { cb, transitions } = opened(2);
    const a = cb.acquire(5000);
    const b = cb.acquire(5000);
    if (!a.allowed || !b.allowed) throw new Error('probes refused');
    a.release(F, 5300);
    expect(cb.acquire(5300)).toEqual({ allowed: false, state: 'open', retryAfterMs: 5000 });
    b.release(S, 5400); // a probe of the previous half-open phase: must not close
    expect(cb.state).toBe('open');
    expect(transitions.at(-1)).toEqual({
      from: 'half-open',
      to: 'open',
      at: 5300,
      reason: 'a half-open probe failed',
    });
  });

  it('frees a probe slot when a probe ends without a verdict', () => {
    const { cb } = opened(1);
    const probe = cb.acquire(5000);
    expect(cb.acquire(5000).allowed).toBe(false);
    if (probe.allowed) probe.release('ignored', 5001);
    expect(cb.acquire(5001).allowed).toBe(true);
  });
});

describe('CircuitBreaker: late and repeated releases', () => {
  it('ignores a success from before the breaker opened', () => {
    const { cb } = breaker({ consecutiveFailures: 1, openMs: 5000 });
    const slow = cb.acquire(0);
    send(cb, F, 10);
    if (slow.allowed) slow.release(S, 20);
    expect(cb.state).toBe('open');
  });

  it('counts a permit once even if released twice', () => {
    const { cb } = breaker({ consecutiveFailures: 2, openMs: 5000 });
    const permit = cb.acquire(0);
    if (permit.allowed) {
      permit.release(F, 0);
      permit.release(F, 0);
    }
    expect(cb.state).toBe('closed');
  });

  it('names every invalid option at once', () => {
    expect(
      () =>
        new CircuitBreaker({
          openMs: 0,
          halfOpenProbes: 0,
          failureRatio: { threshold: 1.5, windowMs: 0, minRequests: 0 },
        }),
    ).toThrow(
      'invalid circuit breaker: failureRatio.threshold must be in (0, 1] (got 1.5); failureRatio.windowMs must be > 0 (got 0); failureRatio.minRequests must be a positive integer (got 0); openMs must be > 0 (got 0); halfOpenProbes must be a positive integer (got 0)',
    );
    expect(() => new CircuitBreaker({ openMs: 1 })).toThrow(
      'set consecutiveFailures, failureRatio or both',
    );
  });
});
