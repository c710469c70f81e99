import { describe, expect, it } from 'vitest';
import { Policy } from '../config/schema.ts';
import type { Attempt, AttemptResult, Delivery } from './delivery.ts';
import { compileRetryPlan } from './plan.ts';
import { deliverWithRetries } from './retry.ts';
import { ManualClock, response, testDelivery as delivery } from './testing/manual-clock.ts';

/** A retry plan with exact delays (100 ms, doubling), 4 attempts, Retry-After clamped to 2 s. */
const plan = compileRetryPlan(
  Policy.parse({
    retry: {
      maxAttempts: 4,
      backoff: { initial: '100ms', max: '1s', multiplier: 2, jitter: 'none' },
      maxRetryAfter: '2s',
      syncDeadline: '30s',
    },
  }).retry,
);

/** An attempt answering `results` in order (the last one repeats), recording attempt numbers. */
function scripted(results: AttemptResult[]): Attempt & { calls: number[] } {
  const calls: number[] = [];
  const attempt = (_d: Delivery, n: number): Promise<AttemptResult> => {
    calls.push(n);
    return Promise.resolve(results[Math.min(n, results.length) - 1]!);
  };
  return Object.assign(attempt, { calls });
}

describe('deliverWithRetries (the sync retry loop)', () => {
  it('retries a 503 with the backoff delays until the attempt budget, then returns the last', async () => {
    const clock = new ManualClock();
    const attempt = scripted([response(503)]);
    const out = await deliverWithRetries(delivery(clock), attempt, plan, clock);
    expect(attempt.calls).toEqual([1, 2, 3, 4]);
    expect(clock.sleeps).toEqual([100, 200, 400]);
    expect(out).toMatchObject({ attempts: 4, result: { status: 503 } });
    expect(out.decision.verdict).toBe('retry');
  });

  it('stops at the first success', async () => {
    const clock = new ManualClock();
    const attempt = scripted([response(500), response(204)]);
    const out = await deliverWithRetries(delivery(clock), attempt, plan, clock);
    expect(out).toMatchObject({ attempts: 2, decision: { verdict: 'success' } });
    expect(clock.sleeps).toEqual([100]);
  });

  it.each([
    // a 429 asking for 1 s waits 1 s instead of the 100 ms backoff
    [response(429, { 'retry-after': '1' }), 1000],
    // a 503 asking for a minute is clamped to maxRetryAfter (2 s)
    [response(503, { 'retry-after': '60' }), 2000],
    // Retry-After never shortens the backoff: 0 s still waits 100 ms
    [response(503, { 'retry-after': '0' }), 100],
    // on a 500, Retry-After is ignored (ADR 0015: only 429 and 503)
    [response(500, { 'retry-after': '1' }), 100],
  ])('%# waits %i ms before the second attempt', async (first, wait) => {
    const clock = new ManualClock();
    await deliverWithRetries(delivery(clock), scripted([first, response(200)]), plan, clock);
    expect(clock.sleeps).toEqual([wait]);
  });

  it('never sleeps past the deadline: the app gets the last answer instead', async () => {
    const clock = new ManualClock();
    const attempt = scripted([response(429, { 'retry-after': '2' })]);
    const out = await deliverWithRetries(delivery(clock, 1500), attempt, plan, clock);
    expect(out.attempts).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it('ends at once on a final failure and on a local answer', async () => {
    const clock = new ManualClock();
    const refused = await deliverWithRetries(
      delivery(clock),
      scripted([response(400)]),
      plan,
      clock,
    );
    expect(refused).toMatchObject({ attempts: 1, decision: { verdict: 'failure' } });
    const local: AttemptResult = {
      kind: 'local',
      problem: { type: 'circuit-open', title: 'Circuit open', status: 503, detail: 'open' },
    };
    const answered = await deliverWithRetries(delivery(clock), scripted([local]), plan, clock);
    expect(answered).toMatchObject({ attempts: 1, result: { kind: 'local' } });
    expect(clock.sleeps).toEqual([]);
  });

  it('jitters the delay over [0, ceiling] with the injected random source', async () => {
    const jittered = compileRetryPlan(
      Policy.parse({ retry: { backoff: { initial: '100ms', jitter: 'full' } } }).retry,
    );
    const clock = new ManualClock();
    await deliverWithRetries(
      delivery(clock),
      scripted([response(503), response(503), response(200)]),
      jittered,
      clock,
      () => undefined,
      () => 0.25,
    );
    expect(clock.sleeps).toEqual([25, 50]);
  });
});
