import { describe, expect, it } from 'vitest';
import type { AttemptResult } from './delivery.ts';
import { Policy } from '../config/schema.ts';
import { compileRetryPlan } from './plan.ts';
import { countedAttempts, nextStep } from './schedule.ts';
import { response } from './testing/manual-clock.ts';

// Full jitter: ±10 % on each schedule entry; Retry-After clamped to 1m.
const policy = compileRetryPlan(
  Policy.parse({ retry: { schedule: ['0s', '5s', '5m'], maxRetryAfter: '1m' } }).retry,
);
const NOW = 1_767_225_600_000;

describe('nextStep', () => {
  it.each([
    // 2xx ends the delivery well
    [response(204), 1, { kind: 'delivered' }],
    // a 5xx after attempt 1 waits schedule[1] (5s; random 0.5 = no jitter)
    [response(503), 1, { kind: 'retry', at: NOW + 5_000 }],
    // a retryable failure on the last entry is dead
    [response(500), 3, { kind: 'dead' }],
    // a 400 is final at once (not in retryOn)
    [response(400), 1, { kind: 'dead' }],
    // Retry-After longer than the schedule entry wins, clamped to maxRetryAfter as in sync (ADR 0015)
    [response(429, { 'retry-after': '120' }), 1, { kind: 'retry', at: NOW + 60_000 }],
    // Retry-After on a status other than 429/503 is ignored, as in sync (ADR 0015)
    [response(500, { 'retry-after': '50' }), 1, { kind: 'retry', at: NOW + 5_000 }],
    // Retry-After shorter than the schedule does not bring the retry forward
    [response(503, { 'retry-after': '1' }), 1, { kind: 'retry', at: NOW + 5_000 }],
    // a transport error is retried
    [
      { kind: 'error', error: 'connect-error', message: 'refused', durationMs: 1 } as const,
      2,
      { kind: 'retry', at: NOW + 300_000 },
    ],
  ] satisfies [AttemptResult, number, object][])(
    '%# %o after attempt %i',
    (result, attempt, want) => {
      expect(nextStep(result, attempt, NOW - 7, NOW, policy, () => 0.5)).toMatchObject(want);
    },
  );

  it('spreads a delay by the jitter fraction', () => {
    expect(nextStep(response(500), 1, NOW, NOW, policy, () => 0)).toMatchObject({
      at: NOW + 4_500,
    });
    expect(nextStep(response(500), 1, NOW, NOW, policy, () => 0.999999)).toMatchObject({
      at: NOW + 5_500,
    });
  });

  it('defers a local refusal by its Retry-After (at least 1s) without an attempt record', () => {
    const limited: AttemptResult = {
      kind: 'local',
      problem: {
        type: 'rate-limited',
        title: 'Rate limited',
        status: 429,
        detail: 'x',
        retryAfterMs: 250,
      },
    };
    expect(nextStep(limited, 3, NOW, NOW, policy)).toEqual({
      kind: 'defer',
      at: NOW + 1000,
      reason: 'rate-limited',
    });
    const open: AttemptResult = {
      kind: 'local',
      problem: {
        type: 'circuit-open',
        title: 'Circuit open',
        status: 503,
        detail: 'x',
        retryAfterMs: 30_000,
      },
    };
    expect(nextStep(open, 1, NOW, NOW, policy)).toMatchObject({ kind: 'defer', at: NOW + 30_000 });
  });
});

describe('countedAttempts', () => {
  it('counts attempts that left the sidecar since the last replay', () => {
    const attempts = [
      { at: 1, status: 500, durationMs: 1 },
      { at: 2, error: 'rate-limited', durationMs: 0 },
      { at: 3, status: 500, durationMs: 1 },
      { at: 10, status: 500, durationMs: 1 },
    ];
    expect(countedAttempts({ attempts })).toBe(3);
    expect(countedAttempts({ attempts, lastReplayedAt: 5 })).toBe(1);
  });
});
