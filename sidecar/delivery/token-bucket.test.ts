import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('lets a full burst through at one instant, then refuses until the next token', () => {
    const bucket = new TokenBucket({ rate: 1, per: 'second', burst: 3 });
    const t = 1_700_000_000_000;
    expect([bucket.take(t), bucket.take(t), bucket.take(t)]).toEqual(
      Array(3).fill({ allowed: true }),
    );
    expect(bucket.take(t)).toEqual({ allowed: false, retryAfterMs: 1000 });
  });

  it.each([
    // 1/s: a token every 1000 ms
    [{ rate: 1, per: 'second' as const }, 1000],
    // 10/s: every 100 ms
    [{ rate: 10, per: 'second' as const }, 100],
    // 3/s does not divide 1000: the wait rounds up so a token is really there
    [{ rate: 3, per: 'second' as const }, 334],
    // 120/min: every 500 ms
    [{ rate: 120, per: 'minute' as const }, 500],
    // 1/min: every 60 s
    [{ rate: 1, per: 'minute' as const }, 60_000],
  ])('%j: an empty bucket refuses with retryAfterMs %i', (limit, wait) => {
    const bucket = new TokenBucket({ ...limit, burst: 1 });
    expect(bucket.take(0)).toEqual({ allowed: true });
    expect(bucket.take(0)).toEqual({ allowed: false, retryAfterMs: wait });
    // one millisecond early is still refused, with exactly 1 ms left
    expect(bucket.take(wait - 1)).toEqual({ allowed: false, retryAfterMs: 1 });
    expect(bucket.take(wait)).toEqual({ allowed: true });
  });

  it('keeps retryAfterMs exact over many waits: 3/s yields exactly 3 per second, no drift', () => {
    // (With burst 1 the bucket could not hold the 2/3 ms a whole-millisecond wait overshoots by,
    // so a caller would get slightly under 3/s; burst 2 keeps the remainder.)
    const bucket = new TokenBucket({ rate: 3, per: 'second', burst: 2 });
    let now = 0;
    const grants: number[] = [];
    while (now <= 10_000) {
      const decision = bucket.take(now);
      if (decision.allowed) grants.push(now);
      else now += decision.retryAfterMs;
    }
    // the burst at 0, then 334, 667, 1000, 1334, … — 2 + 30 in [0, 10 000]
    expect(grants.slice(0, 6)).toEqual([0, 0, 334, 667, 1000, 1334]);
    expect(grants).toHaveLength(32);
    expect(grants.at(-1)).toBe(10_000);
  });

  it('refills partially over time and never above burst', () => {
    const bucket = new TokenBucket({ rate: 2, per: 'second', burst: 4 });
    for (let i = 0; i < 4; i++) bucket.take(0);
    expect(bucket.available(0)).toBe(0);
    expect(bucket.available(1000)).toBe(2);
    expect(bucket.available(3_600_000)).toBe(4);
  });

  it('refills nothing when the clock steps back, and resumes from the latest time', () => {
    const bucket = new TokenBucket({ rate: 1, per: 'second', burst: 1 });
    expect(bucket.take(10_000)).toEqual({ allowed: true });
    expect(bucket.take(5_000)).toEqual({ allowed: false, retryAfterMs: 1000 });
    expect(bucket.take(11_000)).toEqual({ allowed: true });
  });

  it('names every invalid setting at once', () => {
    expect(() => new TokenBucket({ rate: 0.5, per: 'hour' as 'second', burst: 0 })).toThrow(
      'invalid rate limit: rate must be a positive integer (got 0.5); burst must be a positive integer (got 0); per must be second or minute (got hour)',
    );
  });
});
