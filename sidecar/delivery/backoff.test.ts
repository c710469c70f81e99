import { describe, expect, it } from 'vitest';
import { backoffDelayMs, backoffOptionProblems } from './backoff.ts';

/** mulberry32: a small seeded PRNG, so jitter tests are repeatable. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('backoffDelayMs', () => {
  const options = { initialMs: 100, maxMs: 5000, multiplier: 2 };

  it.each([
    // the first retry waits the initial delay
    [0, 100],
    // each retry doubles the ceiling
    [1, 200],
    [2, 400],
    [5, 3200],
    // growth stops at maxMs
    [6, 5000],
    [30, 5000],
    // multiplier^retry overflowing to Infinity still yields maxMs, not NaN
    [5000, 5000],
  ])('without jitter, retry %i waits exactly %i ms', (retry, expected) => {
    expect(backoffDelayMs({ ...options, jitter: false }, retry)).toBe(expected);
  });

  it.each([
    // random 0 → no wait at all (full jitter reaches down to 0)
    [0, 3, 0],
    // random 0.5 → half the ceiling
    [0.5, 3, 400],
    // random just under 1 → the ceiling itself
    [0.9999999, 3, 800],
    // the ceiling is capped before jitter is applied
    [0.5, 20, 2500],
  ])('with random %f, retry %i waits %i ms', (r, retry, expected) => {
    expect(backoffDelayMs(options, retry, () => r)).toBe(expected);
  });

  it('keeps every jittered delay within [0, ceiling] and spreads it over the whole range', () => {
    const random = seeded(42);
    for (let retry = 0; retry <= 10; retry++) {
      const ceiling = Math.min(5000, 100 * 2 ** retry);
      const delays = Array.from({ length: 2000 }, () => backoffDelayMs(options, retry, random));
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...delays)).toBeLessThanOrEqual(ceiling);
      // full jitter: both ends of the interval are reached, the mean sits near its middle
      expect(Math.min(...delays)).toBeLessThan(ceiling * 0.01 + 1);
      expect(Math.max(...delays)).toBeGreaterThan(ceiling * 0.99 - 1);
      const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
      expect(mean / ceiling).toBeGreaterThan(0.45);
      expect(mean / ceiling).toBeLessThan(0.55);
    }
  });

  it('names every invalid option at once', () => {
    expect(backoffOptionProblems({ initialMs: 0, maxMs: -1, multiplier: 0.5 })).toEqual([
      'initialMs must be > 0 (got 0)',
      'maxMs must be >= initialMs (got -1 < 0)',
      'multiplier must be >= 1 (got 0.5)',
    ]);
  });

  it.each([[-1], [1.5], [NaN]])('refuses retry number %f', (retry) => {
    expect(() => backoffDelayMs(options, retry)).toThrow(RangeError);
  });
});
